package signin

import (
	"net/url"
	"slices"
	"strings"
)

// maxReturnURL bounds a return URL; longer ones go to "/".
const maxReturnURL = 2048

// safeReturn returns where a browser may be sent after sign-in or sign-out:
// raw when it is a same-origin relative path ("/x", never "//x", "/\x", a
// scheme or a control character), or an absolute http(s) URL whose origin
// is on allowed (e.g. "https://app.example"); "/" for anything else. The
// browser resolves what it is given, so the check is on what a browser
// would make of it, not on what url.Parse does.
func safeReturn(raw string, allowed []string) string {
	if raw == "" || len(raw) > maxReturnURL {
		return "/"
	}
	for _, r := range raw {
		// Browsers drop tabs and newlines inside URLs and treat a
		// backslash as a slash: "/\t/evil" and "/\evil" are "//evil".
		if r < 0x20 || r == 0x7f || r == '\\' {
			return "/"
		}
	}
	if raw[0] == '/' {
		if len(raw) > 1 && raw[1] == '/' {
			return "/"
		}
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
			return "/"
		}
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return "/"
	}
	origin := strings.ToLower(u.Scheme + "://" + u.Host)
	if slices.ContainsFunc(allowed, func(a string) bool { return strings.EqualFold(strings.TrimRight(a, "/"), origin) }) {
		return raw
	}
	return "/"
}
