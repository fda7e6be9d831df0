package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/devidp/devidptest"
	"github.com/tenantgate/tenantgate/gateway"
	"github.com/tenantgate/tenantgate/internal/redistest"
	"github.com/tenantgate/tenantgate/seal"
)

// BenchmarkServe is one signed-in request through the built gateway
// (build: everything `tenantgate serve` wires, ops included) on a real
// Redis with its L1, next to a bare httputil.ReverseProxy in front of the
// same upstream, all in this process on the same cores, as the load
// harness (cmd/tgload/compare) runs them in processes. The ns/op ratio of
// two sub-benchmarks is the inverse of their throughput ratio on a
// machine the three share, which is what the gateway's goals compare; it
// is the A/B instrument for changes to the request path (benchstat over
// -count runs), while docs/performance.md's figures come from the harness.
//
//	go test -run '^$' -bench Serve -benchmem -count 6 ./cmd/tenantgate/
func BenchmarkServe(b *testing.B) {
	idp := devidptest.Start(b)
	redis := redistest.Standalone(b)
	body := []byte("ok\n")
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(body)
	}))
	b.Cleanup(up.Close)
	dir := b.TempDir()
	tenants, keys, ca := benchFiles(b, idp, dir)
	getenv := func(k string) string {
		if k == "TG_E2E_SECRET" {
			return idp.Secret()
		}
		return ""
	}
	gw := func(extra ...string) string {
		args := append([]string{"--listen", "127.0.0.1:0", "--tenants", tenants, "--keys", keys, "--ca-file", ca,
			"--redis-url", "redis://" + redis.Addr, "--upstream", up.URL, "--default-tenant", "contoso"}, extra...)
		var c serveConfig
		s := newServeFlags(&c, io.Discard)
		if err := s.fs.Parse(args); err != nil {
			b.Fatal(err)
		}
		if err := s.resolve("", getenv); err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		logger := slog.New(slog.DiscardHandler)
		a, err := build(ctx, c, getenv, logger)
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan struct{})
		go func() { a.serve(ctx, c, io.Discard, logger); close(done) }()
		b.Cleanup(func() { cancel(); <-done; a.close() })
		return a.public
	}
	plain, pat := gw(), gw("--pass-access-token")
	cookies := map[string][]string{plain: benchSessions(b, idp, plain, 16), pat: benchSessions(b, idp, pat, 16)}
	bare := benchBare(b, up.URL)
	cookies[bare] = cookies[plain]

	for _, v := range []struct{ name, url string }{{"bare", bare}, {"tenantgate", plain}, {"tenantgate-pat", pat}} {
		b.Run(v.name, func(b *testing.B) {
			target := strings.Replace(v.url, "localhost", "127.0.0.1", 1) + "/"
			jar := cookies[v.url]
			var worker atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(16) // 32 connections on 2 cores, as the harness's c=32
			cpu0 := cpuTime()
			defer func() { b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op") }()
			b.RunParallel(func(pb *testing.PB) {
				w := int(worker.Add(1))
				client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}
				defer client.CloseIdleConnections()
				for i := w; pb.Next(); i++ {
					req, _ := http.NewRequest(http.MethodGet, target, nil)
					req.Header.Set("Cookie", jar[i%len(jar)])
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("%s: %d", v.name, resp.StatusCode)
						return
					}
				}
			})
		})
	}
}

// cpuTime is this process's user and system CPU time: per request, it is
// what the machine spends whatever else runs on it, which the wall time
// per request (ns/op) is not when other processes share the cores.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchFiles writes the tenant file, keyring and CA of the benchmark.
func benchFiles(b *testing.B, idp *devidptest.Server, dir string) (tenants, keys, ca string) {
	scope := "api://" + idp.ClientID() + "/access_as_user"
	yaml := fmt.Sprintf("tenants:\n  contoso:\n    tenantId: %s\n    authorityHost: %s\n    clientId: %s\n    credential: {secret: {env: TG_E2E_SECRET}}\n    scopes: [%q]\n",
		devidp.DemoContosoID, idp.URL, idp.ClientID(), scope)
	k, err := seal.GenerateKey("bench")
	if err != nil {
		b.Fatal(err)
	}
	tenants, keys, ca = filepath.Join(dir, "tenants.yaml"), filepath.Join(dir, "keys.txt"), filepath.Join(dir, "ca.pem")
	for path, data := range map[string][]byte{tenants: []byte(yaml), keys: []byte(k.Encode() + "\n"), ca: idp.CACertPEM()} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	return tenants, keys, ca
}

// benchSessions signs n sessions in through gateway g (alice and bob in
// turn) and returns each one's Cookie header.
func benchSessions(b *testing.B, idp *devidptest.Server, g string, n int) []string {
	var out []string
	for i := range n {
		br := browser(idp)
		user := []string{"alice", "bob"}[i%2] + "@contoso.onmicrosoft.com"
		req := func(method, u string, body io.Reader, ct string) *http.Response {
			r, _ := http.NewRequest(method, u, body)
			if ct != "" {
				r.Header.Set("Content-Type", ct)
			}
			resp, err := br.Do(r)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp
		}
		resp := req(http.MethodGet, g+"/.auth/login/contoso?post_login_redirect_uri=/", nil, "")
		form, err := idp.SignIn(br, resp.Header.Get("Location"), user)
		if err != nil {
			b.Fatal(err)
		}
		resp = req(http.MethodPost, g+"/.auth/login/aad/callback", strings.NewReader(form.Encode()), "application/x-www-form-urlencoded")
		resp = req(http.MethodGet, g+resp.Header.Get("Location"), nil, "")
		if resp.StatusCode != http.StatusFound {
			b.Fatalf("sign-in of %s: %d", user, resp.StatusCode)
		}
		var parts []string
		for _, c := range cookieFor(br, g) {
			parts = append(parts, c.Name+"="+c.Value)
		}
		out = append(out, strings.Join(parts, "; "))
	}
	return out
}

// benchBare is cmd/tgload/bareproxy in this process.
func benchBare(b *testing.B, upstream string) string {
	u, _ := url.Parse(upstream)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.SetXForwarded()
			pr.Out.Host = pr.In.Host
		},
		Transport:  gateway.NewTransport(),
		BufferPool: gateway.NewBufferPool(),
	}
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}
