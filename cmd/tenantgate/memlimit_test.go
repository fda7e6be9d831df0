package main

import (
	"context"
	"log/slog"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
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
	governor.Lock()
	governor.cached = map[uint64]func() int64{0: func() int64 { return 128 * mib }}
	governor.Unlock()
	defer func() { governor.Lock(); governor.cached = nil; governor.Unlock() }()
	updateLimit()
	s := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}, {Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	goal, live := int64(s[0].Value.Uint64()), int64(s[1].Value.Uint64())
	if goal-live < minSlack-mib {
		t.Fatalf("heap goal %d MiB, live %d MiB: slack %d MiB; want at least %d MiB", goal/mib, live/mib, (goal-live)/mib, minSlack/mib)
	}
	runtime.KeepAlive(cache)
}

// The governor runs while any gateway in the process does, counts the
// caches of those still running, and the last to end restores the limit
// it found; a later gateway starts it again.
func TestGovernorOutlivesTheFirstGateway(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(prev)
	const before = 7 << 30
	debug.SetMemoryLimit(before)
	sum := func() int64 {
		governor.Lock()
		defer governor.Unlock()
		var n int64
		for _, f := range governor.cached {
			n += f()
		}
		return n
	}
	settle := func(want func() bool, what string) {
		t.Helper()
		for range 200 {
			if want() {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatal(what)
	}
	start := func(n int64) context.CancelFunc {
		ctx, cancel := context.WithCancel(context.Background())
		governMemory(ctx, memoryLimit{mode: "auto"}, func() int64 { return n }, func(string) string { return "" }, slog.New(slog.DiscardHandler))
		return cancel
	}
	a, b := start(30*mib), start(400*mib)
	if debug.SetMemoryLimit(-1) == before {
		t.Fatal("the governor set no limit")
	}
	a()
	settle(func() bool { return sum() == 400*mib }, "after the first gateway ended, its caches still count, or the second's do not")
	if debug.SetMemoryLimit(-1) == before {
		t.Fatal("the limit was restored while a gateway still runs")
	}
	b()
	settle(func() bool { return debug.SetMemoryLimit(-1) == before }, "the last gateway's end did not restore the limit")
	c, d := start(1*mib), start(2*mib)
	a() // a stale cancel changes nothing
	settle(func() bool { return sum() == 3*mib }, "a new governor's caches do not count")
	c()
	d()
	settle(func() bool { return debug.SetMemoryLimit(-1) == before }, "the second governor did not restore the limit")
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
