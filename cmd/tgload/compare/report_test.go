package main

import (
	"strings"
	"testing"

	"github.com/tenantgate/tenantgate/cmd/tgload/internal/load"
)

// Medians are taken per target over its rounds, and the goals are the
// ratios of those medians, met or not as the project states them.
func TestReportMediansAndGoals(t *testing.T) {
	run := func(target string, rps, p99, cpu float64) runResult {
		return runResult{Target: target, Load: load.Result{RPS: rps, P99: p99}, CPUPerRequest: cpu}
	}
	rep := &report{Runs: []runResult{
		run("bare", 1000, 10, 50), run("bare", 3000, 30, 70), run("bare", 2000, 20, 60),
		run("tenantgate", 1900, 22, 66), run("tenantgate", 1700, 25, 60), run("tenantgate", 100, 99, 90),
		run("tenantgate-pat", 1600, 30, 80), run("tenantgate-pat", 1800, 30, 80),
		run("oauth2-proxy", 600, 50, 250),
	}}
	for _, name := range []string{"bare", "tenantgate", "tenantgate-pat", "oauth2-proxy"} {
		rep.Summary = append(rep.Summary, summarize(name, rep.Runs))
	}
	rep.ratios()
	if s, _ := rep.find("tenantgate"); s.RPS != 1700 || s.P99 != 25 || s.CPU != 66 || s.Rounds != 3 {
		t.Errorf("tenantgate medians %+v", s)
	}
	if s, _ := rep.find("tenantgate-pat"); s.RPS != 1700 {
		t.Errorf("an even count's median is the mean of the middle two: %+v", s)
	}
	want := map[string]bool{
		"tenantgate req/s ÷ bare":          false, // 0.85
		"tenantgate p99 ÷ bare p99":        false, // 25 / 20 = 1.25
		"--pass-access-token req/s ÷ bare": true,  // 0.85
		"tenantgate req/s ÷ oauth2-proxy":  false, // 2.83
	}
	for _, g := range rep.Goals {
		if w, ok := want[g.Name]; ok && g.Met != w {
			t.Errorf("%s = %.2f: met %v, want %v", g.Name, g.Value, g.Met, w)
		}
		delete(want, g.Name)
	}
	if len(want) > 0 {
		t.Errorf("goals missing: %v", want)
	}
	if md := rep.markdown(); !strings.Contains(md, "| tenantgate | 1700 |") || !strings.Contains(md, "**no**") {
		t.Errorf("markdown:\n%s", md)
	}
}
