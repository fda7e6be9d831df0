package ops

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tenantgate/tenantgate/session"
	"github.com/tenantgate/tenantgate/signin"
)

// principal is who makes an admin request, for the audit log, and what
// CSRF token its state-changing requests must carry ("" : none needed,
// because a browser never attaches the credential by itself).
type principal struct {
	Who  string
	Via  string // "bearer", "admin cookie", "role"
	csrf string
}

// cookieName is the admin cookie the login form sets. It is host-only and
// SameSite=Strict; it proves the admin token was typed in this browser.
const cookieName = "tg_ops"

// cookieLifetime bounds an admin cookie.
const cookieLifetime = 8 * time.Hour

// auth lets in a bearer token, the admin cookie, or a signed-in user with
// the admin role; anything else is 401 (no or a wrong credential) or 403
// (signed in without the role). A browser navigation without a credential
// goes to the login page instead.
func (h *Handler) auth(next func(http.ResponseWriter, *http.Request, principal)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, status, why := h.authenticate(r)
		if status != 0 {
			h.o.Logger.Info("ops: audit", slog.String("action", "refused"), slog.String("path", r.URL.Path),
				slog.Int("status", status), slog.String("why", why), slog.String("remote", r.RemoteAddr))
			if status == http.StatusUnauthorized && isNavigation(r) {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			if status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="tenantgate ops"`)
			}
			writeJSON(w, status, map[string]string{"error": why})
			return
		}
		next(w, r, p)
	})
}

func (h *Handler) authenticate(r *http.Request) (principal, int, string) {
	if a := r.Header.Get("Authorization"); a != "" {
		tok, ok := strings.CutPrefix(a, "Bearer ")
		if !ok || !h.tokenOK(tok) {
			return principal{}, http.StatusUnauthorized, "the bearer token is not the admin token"
		}
		return principal{Who: "admin token", Via: "bearer"}, 0, ""
	}
	if c, err := r.Cookie(cookieName); err == nil && h.o.Token != "" {
		if h.adminCookieOK(c.Value) {
			return principal{Who: "admin token", Via: "admin cookie", csrf: csrfToken(c.Value)}, 0, ""
		}
	}
	if h.o.Role == "" {
		return principal{}, http.StatusUnauthorized, "send the admin token: Authorization: Bearer <token>"
	}
	c, err := r.Cookie(h.o.Sessions.CookieName())
	if err != nil {
		return principal{}, http.StatusUnauthorized, "sign in with a user holding the admin role, or send the admin token"
	}
	s, err := h.o.Sessions.Load(r.Context(), r)
	if errors.Is(err, session.ErrNoSession) {
		return principal{}, http.StatusUnauthorized, "the session has ended: sign in again"
	}
	if err != nil {
		return principal{}, http.StatusServiceUnavailable, "the session store is unavailable: retry in a few seconds"
	}
	who := s.Username
	if who == "" {
		who = s.ObjectID
	}
	for _, cl := range signin.Claims(s) {
		if cl.Type == "roles" && cl.Value == h.o.Role {
			return principal{Who: who + " (" + s.TenantKey + ")", Via: "role", csrf: csrfToken(c.Value)}, 0, ""
		}
	}
	return principal{}, http.StatusForbidden, who + " does not hold the admin role " + h.o.Role
}

func (h *Handler) tokenOK(tok string) bool {
	return h.o.Token != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(h.o.Token)) == 1
}

// adminCookie is expiry "." MAC(token, expiry): no state to share between
// replicas, and worthless once the token is rotated.
func (h *Handler) adminCookie(exp time.Time) string {
	e := strconv.FormatInt(exp.Unix(), 10)
	return e + "." + mac(h.o.Token, "tenantgate ops cookie "+e)
}

func (h *Handler) adminCookieOK(v string) bool {
	e, _, ok := strings.Cut(v, ".")
	n, err := strconv.ParseInt(e, 10, 64)
	if !ok || err != nil || h.o.Now().After(time.Unix(n, 0)) {
		return false
	}
	return hmac.Equal([]byte(v), []byte(h.adminCookie(time.Unix(n, 0))))
}

// csrfToken is the token a cookie-authenticated form must carry: a MAC
// keyed by the cookie, which another site's page cannot read.
func csrfToken(cookieValue string) string { return mac(cookieValue, "tenantgate ops csrf") }

func mac(key, msg string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(msg))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF refuses a state change by a cookie-authenticated request that
// does not carry the token (form field csrf or header X-CSRF-Token), or
// that a browser says came from another origin.
func checkCSRF(r *http.Request, p principal) bool {
	if p.csrf == "" {
		return true
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = r.PostFormValue("csrf")
	}
	return got != "" && hmac.Equal([]byte(got), []byte(p.csrf))
}

// serveLogin takes the admin token once and leaves the admin cookie, so a
// browser can use the page without a header.
func (h *Handler) serveLogin(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet || h.o.Token == "" {
		h.render(w, http.StatusOK, "login", loginPage{SignInURL: h.o.SignInURL, Role: h.o.Role, Token: h.o.Token != ""})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if !h.tokenOK(r.PostFormValue("token")) {
		h.o.Logger.Info("ops: audit", slog.String("action", "login"), slog.String("result", "refused"), slog.String("remote", r.RemoteAddr))
		h.render(w, http.StatusUnauthorized, "login", loginPage{SignInURL: h.o.SignInURL, Role: h.o.Role, Token: true, Failed: true})
		return
	}
	exp := h.o.Now().Add(cookieLifetime)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: h.adminCookie(exp), Path: "/", Expires: exp,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	h.o.Logger.Info("ops: audit", slog.String("who", "admin token"), slog.String("via", "login form"), slog.String("action", "login"), slog.String("result", "ok"), slog.String("remote", r.RemoteAddr))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (h *Handler) serveLogout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// isNavigation reports a browser asking for a page.
func isNavigation(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.Contains(r.Header.Get("Accept"), "text/html")
}
