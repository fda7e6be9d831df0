package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/tenantgate/tenantgate/signin"
)

// BenchmarkProxyAnonymous is one request through the gateway's proxy on
// an anonymous path (no session work), against a fast local upstream: the
// proxying itself, its allocations above all (the load harness,
// cmd/tgload/compare, measures the whole signed-in path over processes).
func BenchmarkProxyAnonymous(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") }))
	defer up.Close()
	u, _ := url.Parse(up.URL)
	g, err := New(Options{Upstream: u, Auth: new(signin.Handler), AllowAnonymous: []string{"/"}})
	if err != nil {
		b.Fatal(err)
	}
	front := httptest.NewServer(g)
	defer front.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(front.URL + "/x")
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
