package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Limits keep a run bounded whatever the flags say: this is a tool for a
// developer's machine, not a stress cannon.
const (
	MaxConnections = 1024
	MaxDuration    = 10 * time.Minute
	MaxRequests    = 50_000_000
)

// Config is one load run.
type Config struct {
	URL         string
	Connections int
	// Duration or Requests bounds the run; with both, whichever comes first.
	Duration time.Duration
	Requests int64
	// Cookies are Cookie header values, one per signed-in user; request
	// number i carries Cookies[i % len]: over len requests every session is
	// used once, so a run can sweep a large set of sessions.
	Cookies []string
	// Expect is the status that counts as success (default 200).
	Expect int
	// Timeout bounds one request (default 10 s).
	Timeout time.Duration
}

// Result is what a run measured. Latencies are in microseconds in JSON.
type Result struct {
	URL         string         `json:"url"`
	Connections int            `json:"connections"`
	Elapsed     float64        `json:"elapsed_s"`
	Requests    uint64         `json:"requests"`
	OK          uint64         `json:"ok"`
	Errors      uint64         `json:"errors"`
	RPS         float64        `json:"req_per_s"`
	P50         float64        `json:"p50_us"`
	P90         float64        `json:"p90_us"`
	P99         float64        `json:"p99_us"`
	Max         float64        `json:"max_us"`
	Mean        float64        `json:"mean_us"`
	Status      map[string]int `json:"status"` // "200": n, "error: dial": n
	Sessions    int            `json:"sessions"`
}

func (c *Config) check() error {
	if c.Connections < 1 || c.Connections > MaxConnections {
		return fmt.Errorf("load: connections must be 1…%d", MaxConnections)
	}
	if c.Duration <= 0 && c.Requests <= 0 {
		return errors.New("load: give a duration or a request count")
	}
	if c.Duration > MaxDuration || c.Requests > MaxRequests {
		return fmt.Errorf("load: a run is at most %s and %d requests", MaxDuration, MaxRequests)
	}
	if c.Duration <= 0 {
		c.Duration = MaxDuration
	}
	if c.Expect == 0 {
		c.Expect = http.StatusOK
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("load: %q is not an http(s) URL", c.URL)
	}
	return Loopback(u.Hostname())
}

// Loopback refuses a host that is not this machine: the tool must never
// be pointed at someone else's service.
func Loopback(host string) error {
	ips, err := net.DefaultResolver.LookupIPAddr(context.Background(), host)
	if err != nil {
		return fmt.Errorf("load: resolving %s: %w", host, err)
	}
	for _, ip := range ips {
		if !ip.IP.IsLoopback() {
			return fmt.Errorf("load: %s is not a loopback address: tgload only runs against this machine", host)
		}
	}
	return nil
}

// worker is one connection's loop and what it saw.
type worker struct {
	hist   histogram
	status map[string]int
	ok     uint64
}

// Run sends requests until the duration or the count is reached, then
// returns what it measured. Each of the c workers has its own Transport
// with one connection (keep-alive), so there are exactly c connections
// and none is shared or pooled between workers, as in wrk and hey: a
// shared pool would let a slow server be hidden by extra connections.
// Requests still in flight at the deadline are abandoned and not counted.
func Run(ctx context.Context, c Config) (Result, error) {
	if err := c.check(); err != nil {
		return Result{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.Duration)
	defer cancel()
	var seq atomic.Int64
	workers := make([]*worker, c.Connections)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range workers {
		w := &worker{status: map[string]int{}}
		workers[i] = w
		wg.Go(func() { w.loop(ctx, &c, &seq) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	var h histogram
	res := Result{URL: c.URL, Connections: c.Connections, Elapsed: elapsed.Seconds(), Status: map[string]int{}, Sessions: len(c.Cookies)}
	for _, w := range workers {
		h.merge(&w.hist)
		res.OK += w.ok
		for k, n := range w.status {
			res.Status[k] += n
		}
	}
	res.Requests = h.n
	res.Errors = h.n - res.OK
	res.RPS = float64(h.n) / elapsed.Seconds()
	us := func(ns uint64) float64 { return float64(ns) / 1e3 }
	res.P50, res.P90, res.P99, res.Max = us(h.quantile(0.5)), us(h.quantile(0.9)), us(h.quantile(0.99)), us(h.max)
	if h.n > 0 {
		res.Mean = us(h.sum / h.n)
	}
	return res, nil
}

func (w *worker) loop(ctx context.Context, c *Config, seq *atomic.Int64) {
	tr := &http.Transport{
		Proxy: nil, MaxIdleConns: 1, MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1,
		DisableCompression: true, IdleConnTimeout: time.Minute, ForceAttemptHTTP2: false,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: c.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL, nil)
	if err != nil {
		w.status["error: request"]++
		return
	}
	for ctx.Err() == nil {
		n := seq.Add(1)
		if c.Requests > 0 && n > c.Requests {
			return
		}
		if len(c.Cookies) > 0 {
			req.Header.Set("Cookie", c.Cookies[int((n-1)%int64(len(c.Cookies)))])
		}
		t0 := time.Now()
		resp, err := client.Do(req)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		d := time.Since(t0)
		if ctx.Err() != nil {
			return // abandoned at the deadline: neither a success nor an error
		}
		w.hist.record(uint64(d))
		switch {
		case err != nil:
			w.status["error: "+errorKind(err)]++
		default:
			w.status[strconv.Itoa(resp.StatusCode)]++
			if resp.StatusCode == c.Expect {
				w.ok++
			}
		}
	}
}

// errorKind names a transport error without its addresses or URL, so
// that a report groups them.
func errorKind(err error) string {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "connection closed"
	}
	var op *net.OpError
	if errors.As(err, &op) {
		return op.Op
	}
	return "transport"
}

// Text is the report for people.
func (r Result) Text() string {
	s := fmt.Sprintf("%s  c=%d  %.1fs  sessions=%d\n", r.URL, r.Connections, r.Elapsed, r.Sessions)
	s += fmt.Sprintf("requests %d  ok %d  errors %d  %.0f req/s\n", r.Requests, r.OK, r.Errors, r.RPS)
	s += fmt.Sprintf("latency  p50 %s  p90 %s  p99 %s  max %s  mean %s\n", us(r.P50), us(r.P90), us(r.P99), us(r.Max), us(r.Mean))
	keys := make([]string, 0, len(r.Status))
	for k := range r.Status {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s += fmt.Sprintf("status %-20s %d\n", k, r.Status[k])
	}
	return s
}

func us(v float64) string {
	return (time.Duration(v * 1e3)).Round(time.Microsecond).String()
}
