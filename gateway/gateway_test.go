package gateway

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// Header names arrive in any case; http.Header canonicalizes them, and
// every identity header goes, however it was spelt.
func TestStripIdentityRemovesEverySpelling(t *testing.T) {
	h := http.Header{}
	for _, name := range []string{"X-MS-CLIENT-PRINCIPAL", "x-ms-client-principal-id", "X-Ms-Client-Principal-Name", "X-MS-CLIENT-PRINCIPAL-IDP", "x-ms-token-aad-access-token", "X-MS-TOKEN-AAD-REFRESH-TOKEN", "X-MS-TOKEN-GOOGLE-ID-TOKEN", "X_MS_CLIENT_PRINCIPAL_NAME", "x_ms_token_aad_access_token", "X-Ms_Client-Principal"} {
		h.Add(name, "forged")
	}
	h.Add("X-Ms-Other", "kept")
	h.Add("Authorization", "Bearer app-own")
	stripIdentity(h)
	if len(h) != 2 || h.Get("X-Ms-Other") != "kept" || h.Get("Authorization") == "" {
		t.Fatalf("after stripping: %v", h)
	}
}

func TestReturnURL(t *testing.T) {
	g := &Gateway{o: Options{AllowedRedirectHosts: []string{"app.example"}}}
	for _, tc := range []struct {
		header []string
		want   string
	}{
		{[]string{"X-Forwarded-Proto", "https", "X-Forwarded-Host", "app.example", "X-Forwarded-Uri", "/r?x=1"}, "https://app.example/r?x=1"},
		{[]string{"X-Forwarded-Proto", "https", "X-Forwarded-Host", "evil.example", "X-Forwarded-Uri", "/r"}, "/r"},
		{[]string{"X-Forwarded-Proto", "javascript", "X-Forwarded-Host", "app.example", "X-Forwarded-Uri", "/r"}, "/r"},
		{[]string{"X-Forwarded-Uri", "//evil.example/x"}, "/"},
		{[]string{"X-Original-URI", "/nginx?q"}, "/nginx?q"},
		{nil, "/"},
	} {
		r, _ := http.NewRequest(http.MethodGet, "http://gateway/.auth/verify", nil)
		for i := 0; i+1 < len(tc.header); i += 2 {
			r.Header.Set(tc.header[i], tc.header[i+1])
		}
		if got := g.returnURL(r); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.header, got, tc.want)
		}
	}
}

// FuzzReturnURL: whatever a proxy (or a client through it) puts in the
// forwarded headers, forward-auth's return URL is a path on this origin
// or on an allowed host, never elsewhere.
func FuzzReturnURL(f *testing.F) {
	f.Add("https", "app.example", "/x?y=1")
	f.Add("https", "evil.example", "//evil.example")
	f.Add("javascript", "app.example", "/\\evil")
	f.Add("http", "APP.EXAMPLE", "/%2F%2Fevil")
	g := &Gateway{o: Options{AllowedRedirectHosts: []string{"app.example"}}}
	f.Fuzz(func(t *testing.T, proto, host, uri string) {
		r, _ := http.NewRequest(http.MethodGet, "http://gateway/.auth/verify", nil)
		r.Header["X-Forwarded-Proto"] = []string{proto}
		r.Header["X-Forwarded-Host"] = []string{host}
		r.Header["X-Forwarded-Uri"] = []string{uri}
		got := g.returnURL(r)
		if strings.HasPrefix(got, "/") {
			if strings.HasPrefix(got, "//") {
				t.Fatalf("return URL %q is protocol-relative", got)
			}
			return
		}
		u, err := url.Parse(got)
		if err != nil || !strings.EqualFold(u.Host, "app.example") || (u.Scheme != "https" && u.Scheme != "http") {
			t.Fatalf("return URL %q from (%q, %q, %q)", got, proto, host, uri)
		}
	})
}

// The gateway's own cookies never reach the upstream, however the client
// spaced them; the app's own stay, in order.
func TestStripCookiesKeepsOnlyTheAppsOwn(t *testing.T) {
	own := []string{"tg_session", "tg_binding"}
	for _, c := range []struct {
		in   []string
		want []string
	}{
		{[]string{"a=1; tg_session=x; b=2"}, []string{"a=1; b=2"}},
		{[]string{"a=1; tg_session =x"}, []string{"a=1"}},
		{[]string{" tg_binding=y ", "tg_session=x"}, nil},
		{[]string{"a=1", "b=2; tg_session=x"}, []string{"a=1; b=2"}},
		{[]string{"a=1; b=2"}, []string{"a=1; b=2"}},
		{[]string{"xtg_session=1; tg_sessionx=2"}, []string{"xtg_session=1; tg_sessionx=2"}},
	} {
		h := http.Header{"Cookie": c.in}
		stripCookies(h, own)
		if got := h["Cookie"]; !slices.Equal(got, c.want) {
			t.Errorf("Cookie %q: %q; want %q", c.in, got, c.want)
		}
	}
}
