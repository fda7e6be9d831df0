package gateway

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"

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
// remain). A signed-in request always carries one of them, so this runs
// on every request: it scans in place and builds the one kept line only.
func stripCookies(h http.Header, names []string) {
	lines := h["Cookie"]
	if len(lines) == 0 || len(names) == 0 {
		return
	}
	var kept strings.Builder
	changed := false
	for _, line := range lines {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimSpace(part)
			name, _, _ := strings.Cut(part, "=")
			// Trimmed as net/http and most frameworks read a name:
			// "tg_session =x" is tg_session to the app.
			if slices.Contains(names, strings.TrimSpace(name)) {
				changed = true
				continue
			}
			if part != "" {
				if kept.Len() > 0 {
					kept.WriteString("; ")
				}
				kept.WriteString(part)
			}
		}
	}
	if !changed {
		return
	}
	if kept.Len() == 0 {
		delete(h, "Cookie")
		return
	}
	h["Cookie"] = []string{kept.String()}
}

// identityHeaders are a session's identity header values, built once per
// stored version of the session (session.Session.Derived) and shared by
// its requests: encoding the principal costs more than the rest of a
// request's identity work, and shared values cost no allocation. The
// slices are only ever read (the transport writes them out).
type identityHeaders struct {
	principal, id, name []string
}

type identityKey struct{}

var idpAAD = []string{"aad"}

func newIdentityHeaders(s *session.Session) any {
	b, _ := json.Marshal(principal{AuthType: "aad", Claims: signin.Claims(s), NameType: "name", RoleType: "roles"})
	return &identityHeaders{
		principal: []string{base64.StdEncoding.EncodeToString(b)},
		id:        []string{s.ObjectID},
		name:      []string{s.Username},
	}
}

// setIdentity sets the identity headers of s (and the token's, if any).
func (g *Gateway) setIdentity(h http.Header, s *session.Session, tok signin.Token) {
	id := s.Derived(identityKey{}, newIdentityHeaders).(*identityHeaders)
	h[HeaderPrincipal] = id.principal
	h[HeaderPrincipalID] = id.id
	h[HeaderPrincipalName] = id.name
	h[HeaderPrincipalIDP] = idpAAD
	if g.o.PassAccessToken && tok.AccessToken != "" {
		// Made per request, not kept with the session's derived values:
		// those are bounded by an estimate of the session record's size,
		// which a token would exceed, and would keep a token in memory
		// after the token cache let it go.
		h[HeaderAccessToken] = []string{tok.AccessToken}
		h[HeaderTokenExpires] = []string{tok.ExpiresOn.UTC().Format(signin.EasyAuthTime)}
		h["Authorization"] = []string{"Bearer " + tok.AccessToken}
	}
}
