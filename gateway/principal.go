package gateway

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/tenantgate/tenantgate/session"
	"github.com/tenantgate/tenantgate/signin"
)

// The identity headers, as Easy Auth names them.
const (
	HeaderPrincipal     = "X-MS-CLIENT-PRINCIPAL"
	HeaderPrincipalID   = "X-MS-CLIENT-PRINCIPAL-ID"
	HeaderPrincipalName = "X-MS-CLIENT-PRINCIPAL-NAME"
	HeaderPrincipalIDP  = "X-MS-CLIENT-PRINCIPAL-IDP"
	HeaderAccessToken   = "X-MS-TOKEN-AAD-ACCESS-TOKEN"
	HeaderTokenExpires  = "X-MS-TOKEN-AAD-EXPIRES-ON"
)

// principal is X-MS-CLIENT-PRINCIPAL's JSON. Claim types are the ID
// token's claim names, so name_typ and role_typ name those claims.
type principal struct {
	AuthType string         `json:"auth_typ"`
	Claims   []signin.Claim `json:"claims"`
	NameType string         `json:"name_typ"`
	RoleType string         `json:"role_typ"`
}

// isIdentityHeader reports a header only the gateway may set, however it
// is spelt: http.Header leaves names with "_" uncanonicalized, and some
// servers and frameworks (CGI, PHP, WSGI, Rack) read "_" as "-", so
// X_MS_CLIENT_PRINCIPAL_NAME would reach the app as the identity.
func isIdentityHeader(name string) bool {
	return hasHeaderPrefix(name, "X-MS-CLIENT-PRINCIPAL") || hasHeaderPrefix(name, "X-MS-TOKEN-")
}

// hasHeaderPrefix reports whether name starts with prefix (upper case,
// dashes), case-insensitively and with "_" read as "-", without
// allocating: it runs for every header of every request.
func hasHeaderPrefix(name, prefix string) bool {
	if len(name) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := name[i]
		switch {
		case c == '_':
			c = '-'
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

// stripIdentity removes every identity header a client sent. Header names
// are canonical in http.Header, whatever case the client used.
func stripIdentity(h http.Header) {
	for name := range h {
		if isIdentityHeader(name) {
			delete(h, name)
		}
	}
}

// stripCookies removes the cookies named in names from the Cookie
// header, keeping the app's others (and the header itself only if any
// remain).
func stripCookies(h http.Header, names []string) {
	lines := h["Cookie"]
	if len(lines) == 0 || len(names) == 0 {
		return
	}
	var kept []string
	changed := false
	for _, line := range lines {
		for _, part := range strings.Split(line, ";") {
			name, _, _ := strings.Cut(strings.TrimSpace(part), "=")
			if slices.Contains(names, name) {
				changed = true
				continue
			}
			if p := strings.TrimSpace(part); p != "" {
				kept = append(kept, p)
			}
		}
	}
	if !changed {
		return
	}
	if len(kept) == 0 {
		delete(h, "Cookie")
		return
	}
	h["Cookie"] = []string{strings.Join(kept, "; ")}
}

// principals caches each session's encoded principal: the claims change
// only at sign-in, and encoding them costs more than the rest of a
// request's identity work.
type principals struct {
	mu sync.Mutex
	m  map[string]cachedPrincipal // by session handle
}

type cachedPrincipal struct {
	claims string // the session's claims value it was made from
	header string
}

// maxPrincipals bounds the cache; past it, it starts again.
const maxPrincipals = 1 << 16

func (p *principals) header(s *session.Session) string {
	raw, _ := s.Value(signin.ClaimsValue)
	p.mu.Lock()
	c, ok := p.m[s.Handle]
	p.mu.Unlock()
	if ok && c.claims == raw {
		return c.header
	}
	b, _ := json.Marshal(principal{AuthType: "aad", Claims: signin.Claims(s), NameType: "name", RoleType: "roles"})
	h := base64.StdEncoding.EncodeToString(b)
	p.mu.Lock()
	if p.m == nil || len(p.m) >= maxPrincipals {
		p.m = map[string]cachedPrincipal{}
	}
	p.m[s.Handle] = cachedPrincipal{claims: raw, header: h}
	p.mu.Unlock()
	return h
}

// setIdentity sets the identity headers of s (and the token's, if any).
func (g *Gateway) setIdentity(h http.Header, s *session.Session, tok signin.Token) {
	h[HeaderPrincipal] = []string{g.principals.header(s)}
	h[HeaderPrincipalID] = []string{s.ObjectID}
	h[HeaderPrincipalName] = []string{s.Username}
	h[HeaderPrincipalIDP] = []string{"aad"}
	if g.o.PassAccessToken && tok.AccessToken != "" {
		h[HeaderAccessToken] = []string{tok.AccessToken}
		h[HeaderTokenExpires] = []string{tok.ExpiresOn.UTC().Format(signin.EasyAuthTime)}
		h["Authorization"] = []string{"Bearer " + tok.AccessToken}
	}
}
