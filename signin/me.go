package signin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/tenantgate/tenantgate/session"
)

// Claim is one claim as Easy Auth lists it.
type Claim struct {
	Type  string `json:"typ"`
	Value string `json:"val"`
}

// meEntry is one provider's object in /.auth/me.
type meEntry struct {
	AccessToken  string  `json:"access_token,omitempty"`
	ExpiresOn    string  `json:"expires_on,omitempty"`
	IDToken      string  `json:"id_token,omitempty"`
	ProviderName string  `json:"provider_name"`
	UserClaims   []Claim `json:"user_claims"`
	UserID       string  `json:"user_id"`
}

// EasyAuthTime is the form of Easy Auth's times (expires_on,
// X-MS-TOKEN-AAD-EXPIRES-ON).
const EasyAuthTime = "2006-01-02T15:04:05.0000000Z"

// Claims returns the signed-in user's ID token claims as Easy Auth lists
// them: one entry per value, arrays (roles, groups) spread, in name order.
func Claims(s *session.Session) []Claim {
	raw, _ := s.Value(ClaimsValue)
	var all map[string]any
	if json.Unmarshal([]byte(raw), &all) != nil {
		return []Claim{}
	}
	names := make([]string, 0, len(all))
	for k := range all {
		if k != "nonce" {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	out := []Claim{}
	for _, k := range names {
		switch v := all[k].(type) {
		case []any:
			for _, e := range v {
				out = append(out, Claim{Type: k, Value: claimString(e)})
			}
		default:
			out = append(out, Claim{Type: k, Value: claimString(v)})
		}
	}
	return out
}

func claimString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return fmt.Sprintf("%.0f", v)
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

// serveMe answers Easy Auth's /.auth/me: a JSON array with one object for
// the signed-in user, or 401. Tokens only with Options.ExposeTokens, the
// refresh token never.
func (h *Handler) serveMe(w http.ResponseWriter, r *http.Request) {
	s, err := h.o.Sessions.Load(r.Context(), r)
	if errors.Is(err, session.ErrNoSession) {
		writeJSONError(w, http.StatusUnauthorized, "not signed in")
		return
	}
	if err != nil {
		h.unavailableJSON(w, err)
		return
	}
	e := meEntry{ProviderName: "aad", UserID: s.Username, UserClaims: Claims(s)}
	if e.UserID == "" {
		e.UserID = s.ObjectID
	}
	if t, terr := h.owner(s); terr == nil && len(resourceScopes(t)) > 0 {
		tok, err := h.token(r.Context(), s, nil)
		switch {
		case errors.Is(err, ErrSignInRequired):
			writeJSONError(w, http.StatusUnauthorized, "sign-in required")
			return
		case errors.As(err, new(*TransientError)):
			h.unavailableJSON(w, err)
			return
		case err == nil:
			e.ExpiresOn = tok.ExpiresOn.UTC().Format(EasyAuthTime)
			if h.o.ExposeTokens {
				e.AccessToken, e.IDToken = tok.AccessToken, tok.IDToken
			}
		}
	}
	if e.ExpiresOn == "" {
		e.ExpiresOn = s.AbsoluteExpires.UTC().Format(EasyAuthTime)
	}
	writeJSON(w, http.StatusOK, []meEntry{e})
}

// serveRefresh is Easy Auth's /.auth/refresh: the session's tokens
// renewed through the cache's single refresh, 200 with their new expiry,
// or 401 when the sign-in cannot be renewed. A tenant without resource
// scopes has no access token to renew: 200 with the session's expiry, as
// /.auth/me shows it.
func (h *Handler) serveRefresh(w http.ResponseWriter, r *http.Request) {
	s, err := h.o.Sessions.Load(r.Context(), r)
	if errors.Is(err, session.ErrNoSession) {
		writeJSONError(w, http.StatusUnauthorized, "not signed in")
		return
	}
	if err != nil {
		h.unavailableJSON(w, err)
		return
	}
	tok, err := h.token(r.Context(), s, nil)
	switch {
	case errors.Is(err, errNoResourceScope):
		writeJSON(w, http.StatusOK, map[string]string{"expires_on": s.AbsoluteExpires.UTC().Format(EasyAuthTime)})
	case errors.Is(err, ErrSignInRequired):
		writeJSONError(w, http.StatusUnauthorized, "sign-in required")
	case err != nil && errors.As(err, new(*TransientError)):
		h.unavailableJSON(w, err)
	case err != nil:
		writeJSONError(w, http.StatusBadRequest, err.Error())
	default:
		writeJSON(w, http.StatusOK, map[string]string{"expires_on": tok.ExpiresOn.UTC().Format(EasyAuthTime)})
	}
}

func (h *Handler) unavailableJSON(w http.ResponseWriter, err error) {
	h.o.Logger.Warn("signin: temporarily unavailable", "err", err)
	w.Header().Set("Retry-After", fmt.Sprint(int(h.o.RetryAfter/time.Second)))
	writeJSONError(w, http.StatusServiceUnavailable, "temporarily unavailable; you are still signed in")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
