package main

import (
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// report is the whole run: every run, the medians, the goals, memory.
type report struct {
	Date    string        `json:"date"`
	Machine string        `json:"machine"`
	Options string        `json:"options"`
	Runs    []runResult   `json:"runs"`
	Summary []summary     `json:"summary"`
	Goals   []goal        `json:"goals"`
	Memory  *memoryResult `json:"memory,omitempty"`
}

// goal is one of the project's performance goals, checked.
type goal struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Want  string  `json:"want"`
	Met   bool    `json:"met"`
}

func (r *report) find(name string) (summary, bool) {
	for _, s := range r.Summary {
		if s.Target == name {
			return s, true
		}
	}
	return summary{}, false
}

func (r *report) ratios() {
	bare, okB := r.find("bare")
	tg, okT := r.find("tenantgate")
	pat, okP := r.find("tenantgate-pat")
	o2p, okO := r.find("oauth2-proxy")
	bh, okBH := r.find("bare-headers")
	bhp, okBHP := r.find("bare-headers-pat")
	add := func(name string, v float64, want string, met bool) {
		r.Goals = append(r.Goals, goal{Name: name, Value: v, Want: want, Met: met})
	}
	if okB && okT {
		add("tenantgate req/s ÷ bare", tg.RPS/bare.RPS, "≥ 0.90", tg.RPS/bare.RPS >= 0.9)
		add("tenantgate p99 ÷ bare p99", tg.P99/bare.P99, "≤ 1.20", tg.P99/bare.P99 <= 1.2)
	}
	if okB && okP {
		add("--pass-access-token req/s ÷ bare", pat.RPS/bare.RPS, "≥ 0.85", pat.RPS/bare.RPS >= 0.85)
	}
	if okT && okO {
		add("tenantgate req/s ÷ oauth2-proxy", tg.RPS/o2p.RPS, "≥ 3.0", tg.RPS/o2p.RPS >= 3)
	}
	// The proxy's own CPU per request does not depend on what else the
	// machine runs, as req/s on a shared machine does: shown beside the
	// goals, not as one.
	info := func(name string, v float64) {
		r.Goals = append(r.Goals, goal{Name: name, Value: v, Want: "(information)", Met: true})
	}
	if okB && okT && bare.CPU > 0 {
		info("tenantgate CPU/request ÷ bare", tg.CPU/bare.CPU)
	}
	if okB && okP && bare.CPU > 0 {
		info("--pass-access-token CPU/request ÷ bare", pat.CPU/bare.CPU)
	}
	if okT && okO && tg.CPU > 0 {
		info("oauth2-proxy CPU/request ÷ tenantgate", o2p.CPU/tg.CPU)
	}
	// The floor Easy Auth's headers set: a bare proxy sending the same
	// header bytes, made for free.
	if okB && okBH {
		info("bare with tenantgate's headers req/s ÷ bare", bh.RPS/bare.RPS)
	}
	if okT && okBH {
		info("tenantgate req/s ÷ bare with its headers", tg.RPS/bh.RPS)
	}
	if okB && okBHP {
		info("bare with --pass-access-token's headers req/s ÷ bare", bhp.RPS/bare.RPS)
	}
	if okP && okBHP {
		info("--pass-access-token req/s ÷ bare with its headers", pat.RPS/bhp.RPS)
	}
}

func (r *report) markdown() string {
	r.Date = time.Now().UTC().Format("2006-01-02 15:04 MST")
	r.Machine = machine()
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s; %s; %s\n\n", r.Date, r.Machine, r.Options)
	fmt.Fprintln(&b, "| target | req/s | p50 | p99 | proxy CPU per request | errors |")
	fmt.Fprintln(&b, "|---|---:|---:|---:|---:|---:|")
	for _, s := range r.Summary {
		fmt.Fprintf(&b, "| %s | %.0f | %.0f µs | %.0f µs | %.1f µs | %d |\n", s.Target, s.RPS, s.P50, s.P99, s.CPU, s.Errors)
	}
	fmt.Fprintln(&b, "\n| goal | measured | wanted | met |")
	fmt.Fprintln(&b, "|---|---:|---|---|")
	for _, g := range r.Goals {
		met := "yes"
		if g.Want == "(information)" {
			met = ""
		} else if !g.Met {
			met = "**no**"
		}
		fmt.Fprintf(&b, "| %s | %.2f | %s | %s |\n", g.Name, g.Value, g.Want, met)
	}
	if m := r.Memory; m != nil {
		fmt.Fprintf(&b, "\nMemory: %d live sessions of %d signed-in users swept %d× (%d requests, %d errors) through one `tenantgate serve` (L1 budget 64 MiB, L1 mode %s, GOMEMLIMIT %s): "+
			"VmRSS %.1f MB after the sweep, VmHWM (peak) %.1f MB; its L1 at shutdown: %s entries, %s bytes (%.1f MiB).\n",
			m.Sessions, m.Users, m.Passes, m.Requests, m.Errors, m.L1Mode, or(m.GoMemLimit, "unset"), mb(m.RSS), mb(m.HWM), m.L1Entries, m.L1Bytes, m.L1MiB)
	}
	return b.String()
}

func mb(v int64) float64 { return float64(v) / 1e6 }

func machine() string {
	model := "?"
	if out, err := exec.Command("sh", "-c", "lscpu | grep 'Model name' | sed 's/.*: *//'").Output(); err == nil {
		model = strings.TrimSpace(string(out))
	}
	nproc := "?"
	if out, err := exec.Command("nproc").Output(); err == nil {
		nproc = strings.TrimSpace(string(out))
	}
	return fmt.Sprintf("nproc %s, %s, %s", nproc, model, runtime.Version())
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
