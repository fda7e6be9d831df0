//go:build soak

package main

import (
	"bufio"
	csvpkg "encoding/csv"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/internal/redistest"
)

// TestSoak runs three replicas at half the throughput they reach flat out,
// with access tokens due every few minutes, for TENANTGATE_SOAK (default
// 30m), and samples each replica's RSS (VmRSS), OS threads (Threads) and
// goroutines (go_goroutines from the admin listener's /metrics) every
// TENANTGATE_SOAK_EVERY (default 5s). It requires 0 errors and, after the
// warm-up (the first fifth), RSS and goroutines to grow less than 10% by
// their least-squares trend and by the median of the last tenth over the
// first (flatSeries: goroutines swing with the requests in flight; threads
// are reported). It writes the samples to
// TENANTGATE_SOAK_OUT/soak.csv and a plot to soak.svg (default
// docs/). Run it with make soak.
func TestSoak(t *testing.T) {
	total := envDuration(t, "TENANTGATE_SOAK", 30*time.Minute)
	every := envDuration(t, "TENANTGATE_SOAK_EVERY", 5*time.Second)
	due := envDuration(t, "TENANTGATE_SOAK_DUE", 3*time.Minute)
	out := os.Getenv("TENANTGATE_SOAK_OUT")
	if out == "" {
		out = filepath.Join("..", "..", "docs")
	}
	srv := redistest.Standalone(t)
	// MSAL renews 5 minutes before expiry: a token of 5m+due is due after due.
	tokenFile := filepath.Join(t.TempDir(), "admin-token")
	if err := os.WriteFile(tokenFile, []byte(testAdminToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newChaosEnv(t, devidp.Lifetimes{AccessToken: 5*time.Minute + due, IDToken: time.Hour}, "", "redis://"+srv.Addr,
		"--admin-listen", "127.0.0.1:0", "--admin-token-file", tokenFile)
	var admins [3]string
	for i, r := range e.replicas {
		admins[i] = adminURL(t, r.proc)
	}

	maxRate := e.flatOut(10 * time.Second)
	rate := max(maxRate/2, 1)
	t.Logf("SOAK| flat out: %d requests/s over 3 replicas; soak at %d/s for %v, tokens due every %v |", maxRate, rate, total, due)

	l := e.startLoadCounting(rate, chaosSeed(t), true)
	type sample struct {
		at             time.Duration
		rss, threads   [3]int64
		goroutines     [3]int64
		requests, errs int64
	}
	var samples []sample
	start := time.Now()
	for time.Since(start) < total {
		time.Sleep(every)
		s := sample{at: time.Since(start)}
		for i, r := range e.replicas {
			s.rss[i], _ = procStatus(r.cmd.Process.Pid, "VmRSS")
			s.threads[i], _ = procStatus(r.cmd.Process.Pid, "Threads")
			s.goroutines[i] = goroutines(t, admins[i])
		}
		for k, n := range l.countsNow() {
			s.requests += n
			if k != "200" {
				s.errs += n
			}
		}
		samples = append(samples, s)
	}
	l.halt()
	elapsed := time.Since(start)
	counts := l.countsNow()
	var sent int64
	for _, n := range counts {
		sent += n
	}
	// The ticker drops ticks when the machine cannot keep up: report
	// the rate reached, not only the one asked for.
	t.Logf("SOAK| requests by status: %v; %d/s reached; ticks skipped at %d in flight: %d |", counts, int(float64(sent)/elapsed.Seconds()), maxInFlight, l.skipped.Load())
	for k, n := range counts {
		if k != "200" {
			t.Errorf("soak: %d requests answered %s", n, k)
		}
	}

	var csv strings.Builder
	csv.WriteString("seconds,requests,errors,rss_kib_r1,rss_kib_r2,rss_kib_r3,threads_r1,threads_r2,threads_r3,goroutines_r1,goroutines_r2,goroutines_r3\n")
	for _, s := range samples {
		fmt.Fprintf(&csv, "%.0f,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d\n", s.at.Seconds(), s.requests, s.errs, s.rss[0], s.rss[1], s.rss[2],
			s.threads[0], s.threads[1], s.threads[2], s.goroutines[0], s.goroutines[1], s.goroutines[2])
	}
	if err := os.WriteFile(filepath.Join(out, "soak.csv"), []byte(csv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	title := fmt.Sprintf("tenantgate soak: 3 replicas, %d req/s asked, %d reached, %v (2 cores, nothing else running)", rate, int(float64(sent)/elapsed.Seconds()), total.Round(time.Second))
	rows, err := csvpkg.NewReader(strings.NewReader(csv.String())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "soak.svg"), []byte(soakPlot(title, rows)), 0o644); err != nil {
		t.Fatal(err)
	}

	warm := len(samples) / 5
	if len(samples) < 5 {
		t.Fatalf("soak: %d samples; run longer than 5 × TENANTGATE_SOAK_EVERY", len(samples))
	}
	for i := range 3 {
		for _, m := range []struct {
			name  string
			v     func(sample) int64
			limit bool
		}{{"RSS", func(s sample) int64 { return s.rss[i] }, true}, {"goroutines", func(s sample) int64 { return s.goroutines[i] }, true},
			{"threads", func(s sample) int64 { return s.threads[i] }, false}} {
			var ys []int64
			peak := int64(0)
			for _, s := range samples[warm:] {
				ys = append(ys, m.v(s))
				peak = max(peak, m.v(s))
			}
			trend, level, ok := flatSeries(ys)
			t.Logf("SOAK| replica %d %s after warm-up: %d at its start, peak %d, trend %+.1f%%, last tenth's median %+.1f%% over the first's |", i+1, m.name, ys[0], peak, trend*100, level*100)
			if m.limit && !ok {
				t.Errorf("soak: replica %d's %s grew after the warm-up: trend %+.1f%%, level %+.1f%%", i+1, m.name, trend*100, level*100)
			}
		}
	}
}

// goroutines reads go_goroutines from a replica's /metrics.
func goroutines(t *testing.T, admin string) int64 {
	req, _ := http.NewRequest(http.MethodGet, admin+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Logf("soak: scraping %s: %v", admin, err)
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			n, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int64(n)
		}
	}
	return 0
}

// flatOut is the throughput of the three replicas under a closed loop of
// 32 clients for d: what "half the maximum" halves.
func (e *chaosEnv) flatOut(d time.Duration) int {
	l := &load{e: e, revokedAt: make([]atomic.Int64, len(e.users)), clientLimit: 20 * time.Second}
	var n atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; time.Now().Before(stop); i++ {
				if o := l.do(i%len(e.users), i%3, "/flat-out"); o.status == http.StatusOK {
					n.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return int(float64(n.Load()) / d.Seconds())
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a duration such as 3m", name, s)
	}
	return d
}
