package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
)

const mib = 1 << 20

// heapGoalUnder is the heap goal Go aims at under limit with nonHeap
// bytes outside the heap (runtime/mgcpacer.go, memoryLimitHeapGoal: 3%
// headroom).
func heapGoalUnder(limit, nonHeap int64) int64 { return (limit - nonHeap) * 97 / 100 }

func TestAutoLimitLeavesCachesNoSlack(t *testing.T) {
	for _, c := range []struct {
		name                         string
		nonHeap, live, cached, slack int64
	}{
		{"caches full, little else", 12 * mib, 110 * mib, 95 * mib, minSlack},
		{"large caches keep their slack", 40 * mib, 1024 * mib, 1024 * mib, minSlack},
		{"much that is not cache: as much again", 12 * mib, 300 * mib, 100 * mib, 200 * mib},
		{"caches estimated above the live heap", 12 * mib, 50 * mib, 80 * mib, minSlack},
	} {
		limit := autoLimit(c.nonHeap, c.live, c.cached)
		if goal := heapGoalUnder(limit, c.nonHeap); goal < c.live+c.slack-mib {
			t.Errorf("%s: limit %d MiB gives a heap goal of %d MiB; want at least live %d + slack %d MiB", c.name, limit/mib, goal/mib, c.live/mib, c.slack/mib)
		}
		if limit > c.nonHeap+c.live+c.slack+(c.live+c.slack)/20+mib {
			t.Errorf("%s: limit %d MiB: more than the slack asked for", c.name, limit/mib)
		}
	}
	if got := autoLimit(0, 1, 0); got != minMemoryLimit {
		t.Errorf("a tiny heap: %d; want the minimum %d", got, minMemoryLimit)
	}
}

// Under the limit updateLimit sets, the runtime's own heap goal leaves at
// least minSlack above the live heap when it is all cache.
func TestUpdateLimitLeavesTheSlackToTheRuntime(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(prev)
	cache := make([][]byte, 128)
	for i := range cache {
		cache[i] = make([]byte, mib)
	}
	runtime.GC()
	updateLimit(128 * mib)
	s := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}, {Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	goal, live := int64(s[0].Value.Uint64()), int64(s[1].Value.Uint64())
	if goal-live < minSlack-mib {
		t.Fatalf("heap goal %d MiB, live %d MiB: slack %d MiB; want at least %d MiB", goal/mib, live/mib, (goal-live)/mib, minSlack/mib)
	}
	runtime.KeepAlive(cache)
}

func TestMemoryLimitFlag(t *testing.T) {
	for in, want := range map[string]memoryLimit{
		"auto": {mode: "auto"}, "OFF": {mode: "off"}, "512MiB": {mode: "fixed", bytes: 512 << 20},
		"1GiB": {mode: "fixed", bytes: 1 << 30}, "100000000": {mode: "fixed", bytes: 100000000},
	} {
		var m memoryLimit
		if err := m.Set(in); err != nil || m != want {
			t.Errorf("Set(%q) = %+v, %v; want %+v", in, m, err, want)
		}
	}
	for _, in := range []string{"1MiB", "lots", "-5GiB", "12TB", "0"} {
		var m memoryLimit
		if err := m.Set(in); err == nil {
			t.Errorf("Set(%q) accepted: %+v", in, m)
		}
	}
}
