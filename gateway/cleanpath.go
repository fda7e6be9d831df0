package gateway

import (
	"errors"
	"net/http"
	"path"
	"strings"
)

var errBadPath = errors.New("gateway: the request path is refused: CONNECT, an encoded slash or backslash, or a dot segment with parameters (..;)")

// cleanRequest returns r with its path cleaned (path.Clean on the decoded
// path, a trailing slash kept), the one the anonymous check and the
// upstream both see, or errBadPath for what cannot be cleaned safely.
// The gateway is an http.Handler of its own: it cannot count on a
// ServeMux in front, which cleans only some methods' paths and never
// CONNECT's, nor on the upstream to decode %2f and ..; as it does.
func cleanRequest(r *http.Request) (*http.Request, error) {
	if r.Method == http.MethodConnect {
		return nil, errBadPath
	}
	p := r.URL.Path
	if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\\\x00") {
		return nil, errBadPath
	}
	raw := strings.ToLower(r.URL.RawPath)
	if strings.Contains(raw, "%2f") || strings.Contains(raw, "%5c") || strings.Contains(raw, "%00") {
		return nil, errBadPath
	}
	// A segment starting ".;" or "..;": p starts with "/", so every
	// segment follows one.
	if strings.Contains(p, "/.;") || strings.Contains(p, "/..;") {
		return nil, errBadPath
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	if c == p {
		return r, nil
	}
	r2 := new(http.Request)
	*r2 = *r
	u := *r.URL
	u.Path, u.RawPath = c, ""
	r2.URL = &u
	return r2, nil
}
