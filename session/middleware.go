package session

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
)

type contextKey struct{}

// NewContext returns ctx carrying s.
func NewContext(ctx context.Context, s *Session) context.Context {
	return context.WithValue(ctx, contextKey{}, s)
}

// FromContext returns the session Middleware loaded, if the request has one.
func FromContext(ctx context.Context) (*Session, bool) {
	s, ok := ctx.Value(contextKey{}).(*Session)
	return s, ok && s != nil
}

// Middleware loads the request's session into its context (FromContext)
// and touches it when due. A request without a session goes on without
// one: deciding whether to sign in is the handler's job. When the store
// fails, the request is answered by Options.OnError (503 by default) and
// next is not called: the user is not signed out because Redis is down.
func (m *Manager) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := m.Load(r.Context(), r)
		switch {
		case err == nil:
			r = r.WithContext(NewContext(r.Context(), s))
		case errors.Is(err, ErrNoSession):
		default:
			m.o.OnError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// unavailable is the default OnError.
func (m *Manager) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	m.o.Logger.Warn("session: the session store is unavailable; answered 503", slog.String("path", r.URL.Path), slog.Any("error", err))
	w.Header().Set("Retry-After", strconv.Itoa(int(DefaultRetryAfter.Seconds())))
	http.Error(w, "The session store is unavailable. Retry in a few seconds.", http.StatusServiceUnavailable)
}
