package gateway

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/tenantgate/tenantgate/session"
	"github.com/tenantgate/tenantgate/signin"
)

// serveVerify is forward-auth: 200 with the identity headers (and the
// token's, with PassAccessToken) when the request's cookie is a live
// session, else 401, which is all nginx's auth_request can pass on (it
// treats any other status as an error, and does the redirect itself with
// error_page 401). Traefik and Caddy hand the response to the client, so
// ?redirect=true answers a browser navigation with a 302 to sign-in, its
// return URL rebuilt from X-Forwarded-Proto, -Host and -Uri. The proxy is
// never guessed from headers.
func (g *Gateway) serveVerify(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	s, tok, err := g.o.Auth.Authenticate(r, g.o.PassAccessToken)
	if err == nil {
		g.setIdentity(w.Header(), s, tok)
		w.WriteHeader(http.StatusOK)
		return
	}
	var te *signin.TransientError
	if errors.As(err, &te) {
		g.o.Auth.Challenge(w, r, err)
		return
	}
	if r.URL.Query().Get("redirect") == "true" && isNavigation(r) && (errors.Is(err, session.ErrNoSession) || errors.Is(err, signin.ErrSignInRequired)) {
		http.Redirect(w, r, g.o.Auth.LoginURL(g.returnURL(r), ""), http.StatusFound)
		return
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="tenantgate", error="invalid_token"`)
	http.Error(w, "sign-in required", http.StatusUnauthorized)
}

// isNavigation reports a browser asking for a page, by the method the
// proxy forwarded (X-Forwarded-Method) or the request's own.
func isNavigation(r *http.Request) bool {
	m := r.Header.Get("X-Forwarded-Method")
	if m == "" {
		m = r.Method
	}
	return (m == http.MethodGet || m == http.MethodHead) && strings.Contains(r.Header.Get("Accept"), "text/html")
}

// returnURL is where the browser was going: X-Forwarded-Uri (or nginx's
// X-Original-URI) as a relative path, made absolute with the forwarded
// scheme and host only when that host is allowed. Signin checks it again.
func (g *Gateway) returnURL(r *http.Request) string {
	uri := r.Header.Get("X-Forwarded-Uri")
	if uri == "" {
		uri = r.Header.Get("X-Original-URI")
	}
	if u, err := url.ParseRequestURI(uri); err != nil || u.Host != "" || !strings.HasPrefix(uri, "/") || strings.HasPrefix(uri, "//") || strings.ContainsAny(uri, "\\\x00\t\r\n") {
		uri = "/"
	}
	host := r.Header.Get("X-Forwarded-Host")
	proto := r.Header.Get("X-Forwarded-Proto")
	if host != "" && (proto == "https" || proto == "http") && slices.ContainsFunc(g.o.AllowedRedirectHosts, func(h string) bool { return strings.EqualFold(h, host) }) {
		return (&url.URL{Scheme: proto, Host: host}).String() + uri
	}
	return uri
}
