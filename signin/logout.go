package signin

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/tenantgate/tenantgate/session"
)

// serveLogout ends this session (the user's others stay: operations sign
// a user out everywhere with session.Manager.RevokeUser), deletes the
// user's tokens when no other session of theirs lives, and lands on
// /.auth/logout/complete (or post_logout_redirect_uri). A cross-site page
// must not sign a user out: a GET does so only when the browser says it
// is same-origin or typed (Sec-Fetch-Site), otherwise it shows a
// confirmation whose POST carries a token derived from the session cookie;
// a POST needs that token or a same-origin Origin.
func (h *Handler) serveLogout(w http.ResponseWriter, r *http.Request) {
	ret := "/.auth/logout/complete"
	if v := r.URL.Query().Get("post_logout_redirect_uri"); v != "" {
		ret = safeReturn(v, h.o.AllowedReturnOrigins)
	}
	cookie, _ := r.Cookie(h.o.Sessions.CookieName())
	switch r.Method {
	case http.MethodGet:
		site := r.Header.Get("Sec-Fetch-Site")
		if site != "same-origin" && site != "none" {
			if cookie == nil {
				http.Redirect(w, r, ret, http.StatusFound)
				return
			}
			render(w, http.StatusOK, confirmTmpl, confirmPage{Action: LogoutPath + "?post_logout_redirect_uri=" + url.QueryEscape(ret), Token: csrfToken(cookie.Value)})
			return
		}
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
		_ = r.ParseForm()
		ok := r.Header.Get("Origin") == h.origin()
		if !ok && cookie != nil {
			ok = hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(csrfToken(cookie.Value)))
		}
		if !ok {
			h.fail(w, r, errors.New("signin: sign-out refused: the request came from another site; use the sign-out button of this app"))
			return
		}
	}
	s, err := h.o.Sessions.Load(r.Context(), r)
	switch {
	case err == nil:
		if t, terr := h.owner(s); terr == nil {
			others, err := h.otherSessions(r.Context(), s)
			if err != nil {
				h.unavailable(w, r, err)
				return
			}
			if !others {
				if err := t.Client().SignOut(r.Context(), s.HomeAccountID); err != nil {
					h.unavailable(w, r, err)
					return
				}
			}
		}
		if err := h.o.Sessions.Destroy(r.Context(), w, r); err != nil {
			h.unavailable(w, r, err)
			return
		}
		h.o.Logger.Info("signin: signed out", slog.String("session", s.Short()), slog.String("tid", s.TenantID))
		h.emit(Event{Kind: EventSignOut, Result: "ok", TenantKey: s.TenantKey, TenantID: s.TenantID, Session: s.Short()})
	case errors.Is(err, session.ErrNoSession):
	default:
		h.unavailable(w, r, err)
		return
	}
	http.Redirect(w, r, ret, http.StatusFound)
}

// otherSessions reports whether the user of s has a live session besides
// s: their token partition is shared by all of them, so deleting it would
// end the others at their next request. List drops dead index members on
// the way, so a page may come back short; it goes on while it says more.
func (h *Handler) otherSessions(ctx context.Context, s *session.Session) (bool, error) {
	q := session.Query{TenantID: s.TenantID, HomeAccountID: s.HomeAccountID, Limit: 2}
	for range 8 {
		p, err := h.o.Sessions.List(ctx, q)
		if err != nil {
			return false, err
		}
		for _, o := range p.Sessions {
			if o.Handle != s.Handle {
				return true, nil
			}
		}
		if p.Next == "" {
			return false, nil
		}
		q.Cursor = p.Next
	}
	// Many dead members in a row: keep the tokens rather than guess; they
	// expire with their TTL and no session of this one can use them.
	return true, nil
}

// csrfToken is the sign-out confirmation's token: a MAC of the session
// cookie, which a cross-site page cannot read, and which is no use to
// someone who can read Redis (Redis holds only the cookie's hash).
func csrfToken(cookieValue string) string {
	m := hmac.New(sha256.New, []byte(cookieValue))
	m.Write([]byte("tenantgate sign-out"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (h *Handler) origin() string { return h.public.Scheme + "://" + h.public.Host }

func (h *Handler) serveLoggedOut(w http.ResponseWriter, r *http.Request) {
	page(w, http.StatusOK, "Signed out", "You have signed out.")
}
