package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/tenantgate/tenantgate/cmd/tgload/internal/load"
)

// runResult is one target's run in one round.
type runResult struct {
	Target string      `json:"target"`
	Round  int         `json:"round"`
	Load   load.Result `json:"load"`
	// CPUPerRequest is the proxy process's CPU time (user+system, from
	// /proc) over the run divided by its requests: what one request costs
	// the proxy, whatever else shares the machine.
	CPUPerRequest float64 `json:"proxy_cpu_us_per_request"`
}

// measure warms every target up, then runs rounds: in round r the order
// starts at target r (mod n), so no target always follows the same one
// or always runs first.
func measure(ctx context.Context, o options, targets []*target, rep *report) error {
	for _, t := range targets {
		if _, err := loadOnce(ctx, o, t, o.warmup); err != nil {
			return err
		}
	}
	for r := range o.rounds {
		for i := range targets {
			t := targets[(r+i)%len(targets)]
			var profiled chan struct{}
			if r == 0 && t.pprof != "" {
				profiled = profile(t, o.duration, filepath.Join(dirOf(t), t.name+".cpu.pprof"))
			}
			res, err := loadOnce(ctx, o, t, o.duration)
			if profiled != nil {
				<-profiled
			}
			if err != nil {
				return err
			}
			res.Round = r + 1
			fmt.Fprintf(os.Stderr, "round %d %-15s %8.0f req/s  p50 %6.0fµs  p99 %6.0fµs  cpu %5.1fµs/req  errors %d %v\n",
				r+1, t.name, res.Load.RPS, res.Load.P50, res.Load.P99, res.CPUPerRequest, res.Load.Errors, res.Load.Status)
			rep.Runs = append(rep.Runs, res)
		}
	}
	for _, t := range targets {
		rep.Summary = append(rep.Summary, summarize(t.name, rep.Runs))
	}
	rep.ratios()
	return nil
}

func loadOnce(ctx context.Context, o options, t *target, d time.Duration) (runResult, error) {
	cpu0 := t.proc.cpu()
	res, err := load.Run(ctx, load.Config{URL: t.url, Connections: o.conns, Duration: d, Cookies: t.cookies})
	if err != nil {
		return runResult{}, fmt.Errorf("%s: %w", t.name, err)
	}
	if err := ctx.Err(); err != nil {
		return runResult{}, err
	}
	rr := runResult{Target: t.name, Load: res}
	if res.Requests > 0 {
		rr.CPUPerRequest = float64((t.proc.cpu() - cpu0).Microseconds()) / float64(res.Requests)
	}
	return rr, nil
}

// summary is a target's medians over its rounds.
type summary struct {
	Target string  `json:"target"`
	RPS    float64 `json:"req_per_s"`
	P50    float64 `json:"p50_us"`
	P99    float64 `json:"p99_us"`
	CPU    float64 `json:"proxy_cpu_us_per_request"`
	Errors uint64  `json:"errors"`
	Rounds int     `json:"rounds"`
}

func summarize(name string, runs []runResult) summary {
	var rps, p50, p99, cpu []float64
	s := summary{Target: name}
	for _, r := range runs {
		if r.Target != name {
			continue
		}
		rps, p50, p99, cpu = append(rps, r.Load.RPS), append(p50, r.Load.P50), append(p99, r.Load.P99), append(cpu, r.CPUPerRequest)
		s.Errors += r.Load.Errors
		s.Rounds++
	}
	s.RPS, s.P50, s.P99, s.CPU = median(rps), median(p50), median(p99), median(cpu)
	return s
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func dirOf(t *target) string { return filepath.Dir(t.proc.log) }

// profile takes a CPU profile of t over most of a run of d, in the
// background; the channel closes when the file is written.
func profile(t *target, d time.Duration, path string) chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		secs := max(1, int(d.Seconds())-1)
		resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", t.pprof, secs))
		if err != nil {
			fmt.Fprintf(os.Stderr, "compare: profile of %s: %v\n", t.name, err)
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(path)
		if err != nil {
			return
		}
		defer f.Close()
		_, _ = io.Copy(f, resp.Body)
		fmt.Fprintf(os.Stderr, "compare: CPU profile of %s in %s (go tool pprof -top %s)\n", t.name, path, path)
	}()
	return done
}
