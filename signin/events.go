package signin

// EventKind names what happened to a sign-in.
type EventKind string

// The events Options.OnEvent receives.
const (
	// EventSignIn is a completed or failed sign-in (the callback).
	EventSignIn EventKind = "sign_in"
	// EventSignOut is a sign-out through /.auth/logout.
	EventSignOut EventKind = "sign_out"
	// EventSessionEnded is a natural logout: the refresh token was
	// refused, or the session's tenant is no longer served.
	EventSessionEnded EventKind = "session_ended"
)

// Event is one sign-in lifecycle event, for metrics and live views. It
// carries identifiers only, never a token, code or cookie.
type Event struct {
	Kind EventKind
	// Result is "ok" or a short reason: "refused" (the IdP's error or a
	// failed check), "unavailable" (the store or the IdP did not answer),
	// "sign_in_required" (a natural logout).
	Result    string
	TenantKey string
	TenantID  string
	// Session is the session's short handle (Info.Short), if there is one.
	Session string
}

// emit calls Options.OnEvent, if set.
func (h *Handler) emit(e Event) {
	if h.o.OnEvent != nil {
		h.o.OnEvent(e)
	}
}
