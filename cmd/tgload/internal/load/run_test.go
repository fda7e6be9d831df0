package load

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A request-count run sends exactly that many requests, the server sees
// them all, each cookie is used equally, and answers are counted by
// status: the 500s and 302s the server gives are errors, the 200s not.
func TestRunCountsAddUp(t *testing.T) {
	var hits atomic.Int64
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		mu.Lock()
		seen[r.Header.Get("Cookie")]++
		mu.Unlock()
		switch {
		case n%10 == 0:
			w.WriteHeader(http.StatusInternalServerError)
		case n%10 == 5:
			http.Redirect(w, r, "/login", http.StatusFound)
		default:
			w.Write([]byte("ok"))
		}
	}))
	defer srv.Close()
	var cookies []string
	for i := range 10 {
		cookies = append(cookies, "s="+strconv.Itoa(i))
	}
	res, err := Run(context.Background(), Config{URL: srv.URL, Connections: 8, Requests: 1000, Cookies: cookies})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 1000 || hits.Load() != 1000 {
		t.Fatalf("requests %d, server saw %d, want 1000", res.Requests, hits.Load())
	}
	if res.Status["200"] != 800 || res.Status["500"] != 100 || res.Status["302"] != 100 || len(res.Status) != 3 {
		t.Errorf("status counts %v", res.Status)
	}
	if res.OK != 800 || res.Errors != 200 || res.OK+res.Errors != res.Requests {
		t.Errorf("ok %d errors %d", res.OK, res.Errors)
	}
	for _, c := range cookies {
		if seen[c] != 100 {
			t.Errorf("cookie %s used %d times, want 100 (seen %v)", c, seen[c], seen)
		}
	}
	if !(res.P50 > 0 && res.P50 <= res.P90 && res.P90 <= res.P99 && res.P99 <= res.Max) || res.RPS <= 0 {
		t.Errorf("latencies out of order: %+v", res)
	}
}

// A duration run stops at its deadline even when the server never
// answers: requests in flight are abandoned, not waited for until their
// timeout, and not counted.
func TestRunRespectsDuration(t *testing.T) {
	release := make(chan struct{})
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) > 50 {
			select { // hang: the run's deadline must end it
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	defer close(release)
	const d = 300 * time.Millisecond
	t0 := time.Now()
	res, err := Run(context.Background(), Config{URL: srv.URL, Connections: 4, Duration: d, Timeout: time.Minute})
	elapsed := time.Since(t0)
	if err != nil {
		t.Fatal(err)
	}
	// The bound is the tool's contract, not a speed claim: a minute-long
	// request timeout would show as a run of a minute.
	if elapsed < d || elapsed > d+20*time.Second || res.Elapsed*float64(time.Second) < float64(d) {
		t.Errorf("a %s run took %s (reported %.3fs)", d, elapsed, res.Elapsed)
	}
	if res.Requests != 50 || res.OK != 50 || res.Status["200"] != 50 || res.Errors != 0 {
		t.Errorf("want the 50 answered requests only: %+v", res)
	}
}

// Bad input is refused with an error, never a panic; a host that is not
// this machine is refused.
func TestRunRefusesBadConfig(t *testing.T) {
	for _, c := range []Config{
		{URL: "http://127.0.0.1:1/", Connections: 0, Requests: 1},
		{URL: "http://127.0.0.1:1/", Connections: 1},
		{URL: "http://127.0.0.1:1/", Connections: 1, Duration: time.Hour},
		{URL: "ftp://127.0.0.1/", Connections: 1, Requests: 1},
		{URL: "http://192.0.2.1/", Connections: 1, Requests: 1},
		{URL: "http://[::ffff:10.0.0.1]/", Connections: 1, Requests: 1},
	} {
		if _, err := Run(context.Background(), c); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}

// Transport errors are counted by kind, not dropped.
func TestRunCountsTransportErrors(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close() // nothing listens there now
	res, err := Run(context.Background(), Config{URL: u, Connections: 2, Requests: 20})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 20 || res.Errors != 20 || res.Status["error: dial"] != 20 {
		t.Errorf("%+v", res)
	}
}
