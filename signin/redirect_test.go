package signin

import (
	"net/url"
	"strings"
	"testing"
)

func TestSafeReturn(t *testing.T) {
	allowed := []string{"https://app.example"}
	for _, tc := range []struct{ in, want string }{
		{"", "/"},
		{"/", "/"},
		{"/tasks?id=1#x", "/tasks?id=1#x"},
		{"/a/b/../c", "/a/b/../c"},
		{"//evil.example", "/"},
		{"//evil.example/path", "/"},
		{"/\\evil.example", "/"},
		{"\\\\evil.example", "/"},
		{"/\t/evil.example", "/"},
		{"/\n/evil.example", "/"},
		{"https://evil.example", "/"},
		{"http://evil.example/", "/"},
		{"javascript:alert(1)", "/"},
		{"JavaScript:alert(1)", "/"},
		{"data:text/html,hi", "/"},
		{"evil.example", "/"},
		{"https://app.example/x", "https://app.example/x"},
		{"HTTPS://APP.EXAMPLE/x", "HTTPS://APP.EXAMPLE/x"},
		{"https://app.example.evil.example/x", "/"},
		{"https://user@app.example/x", "/"},
		{"https://app.example:8443/x", "/"},
		{"/" + strings.Repeat("a", maxReturnURL), "/"},
	} {
		if got := safeReturn(tc.in, allowed); got != tc.want {
			t.Errorf("safeReturn(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzSafeReturn checks that whatever an attacker puts in
// post_login_redirect_uri, the result is "/" or, as a browser reads it, a
// path on this origin or on the allow-list.
func FuzzSafeReturn(f *testing.F) {
	for _, s := range []string{"/", "/x?y#z", "//evil", "/\\evil", "https://app.example/x", "javascript:x", "/%2F%2Fevil", "/\x00"} {
		f.Add(s)
	}
	base, _ := url.Parse("https://gateway.example/start/page")
	f.Fuzz(func(t *testing.T, raw string) {
		got := safeReturn(raw, []string{"https://app.example"})
		if got == "/" {
			return
		}
		if got != raw {
			t.Fatalf("safeReturn(%q) = %q: neither the input nor /", raw, got)
		}
		u, err := base.Parse(got)
		if err != nil {
			t.Fatalf("returned %q, which does not parse: %v", got, err)
		}
		if host := strings.ToLower(u.Host); host != "gateway.example" && host != "app.example" {
			t.Fatalf("safeReturn(%q) leads to host %q", raw, u.Host)
		}
		if s := strings.ToLower(u.Scheme); s != "https" && s != "http" {
			t.Fatalf("safeReturn(%q) leads to scheme %q", raw, u.Scheme)
		}
	})
}
