package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/tenantgate/tenantgate/signin"
)

// BenchmarkProxyAnonymous is one request through the gateway's proxy on
// an anonymous path (no session work), against a fast local upstream: the
// proxying itself, its allocations above all (the load harness,
// cmd/tgload/compare, measures the whole signed-in path over processes).
// headers=5KB sends what --pass-access-token adds: an access token twice
// (Authorization and X-MS-TOKEN-AAD-ACCESS-TOKEN) and a principal.
func BenchmarkProxyAnonymous(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") }))
	defer up.Close()
	u, _ := url.Parse(up.URL)
	token := strings.Repeat("t", 1500)
	for _, hc := range []struct {
		name   string
		header http.Header
	}{
		{"headers=small", http.Header{}},
		{"headers=5KB", http.Header{"Authorization": {"Bearer " + token}, "X-Access-Token": {token}, "X-Principal": {strings.Repeat("p", 1200)}}},
	} {
		b.Run(hc.name, func(b *testing.B) {
			g, err := New(Options{Upstream: u, Auth: new(signin.Handler), AllowAnonymous: []string{"/"}})
			if err != nil {
				b.Fatal(err)
			}
			front := httptest.NewServer(g)
			defer front.Close()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, WriteBufferSize: 16 << 10}}
			defer client.CloseIdleConnections()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodGet, front.URL+"/x", nil)
					req.Header = hc.header.Clone()
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		})
	}
}
