package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The gateway's memory is mostly caches with byte budgets: the store's L1,
// the decoded session records with their identity headers, the token
// cache's hot partitions. Go's collector, left to GOGC=100, lets the heap
// grow to twice what is live before it collects, which for a process of
// caches doubles them: 100k sessions through one replica at the default
// L1 budget measured 235 MB of RSS that way and 145 MB with the limit
// below (make bench-gateway's memory phase, docs/performance.md). Cached bytes are not garbage in waiting; the
// slack is needed only for what requests allocate.
//
// So by default (--memory-limit auto) serve sets Go's soft memory limit,
// once a second, to what the runtime holds outside the heap, plus the
// live heap, plus slack for the part of it that is not cache: as much as
// that part (GOGC=100 for it), at least minSlack. The caches themselves
// get none. While the heap is small the limit is far above it and GOGC
// decides as usual; it binds only when caches are large. A limit that is
// too low costs collector CPU (which Go caps at about half of GOMAXPROCS),
// never a failure, and the next update raises it as the live heap grows.
// GOMEMLIMIT in the environment, or --memory-limit SIZE, sets a fixed
// limit instead; --memory-limit off leaves Go's default.
const (
	minSlack       = 16 << 20
	minMemoryLimit = 64 << 20
	governEvery    = time.Second
)

// memoryLimit is --memory-limit: auto, off, or a size (512MiB, 1GiB,
// 200000000).
type memoryLimit struct {
	mode  string // "auto", "off", "fixed"
	bytes int64
}

func (m *memoryLimit) String() string {
	if m.mode == "fixed" {
		return strconv.FormatInt(m.bytes, 10)
	}
	if m.mode == "" {
		return "auto"
	}
	return m.mode
}

func (m *memoryLimit) Set(v string) error {
	switch v = strings.TrimSpace(v); strings.ToLower(v) {
	case "auto", "":
		*m = memoryLimit{mode: "auto"}
		return nil
	case "off":
		*m = memoryLimit{mode: "off"}
		return nil
	}
	n, err := parseBytes(v)
	if err != nil || n < minMemoryLimit {
		return fmt.Errorf("%q: want auto, off, or a size of at least 64MiB such as 512MiB or 1GiB", v)
	}
	*m = memoryLimit{mode: "fixed", bytes: n}
	return nil
}

// parseBytes reads a size as GOMEMLIMIT writes one: 123, 123B, 64KiB,
// 512MiB, 2GiB.
func parseBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("not a size: %q", s)
	}
	return n * mult, nil
}

// governor is the process's one memory governor: the limit is
// process-wide, so several gateways in one process (tests, benchmarks)
// share one, summing what their caches hold. It runs while any of them
// does, and the last to end restores the limit it found.
var governor struct {
	sync.Mutex
	cached map[uint64]func() int64 // by registration
	nextID uint64
	stop   chan struct{} // closed when the last registration ends
	prev   int64         // the limit before the governor set one
}

// governMemory applies m until ctx ends; cached reports the bytes the
// caches hold now. getenv finds GOMEMLIMIT, which wins. When ctx ends the
// gateway's caches stop counting, and when the last gateway's does the
// limit goes back to what it was.
func governMemory(ctx context.Context, m memoryLimit, cached func() int64, getenv func(string) string, logger *slog.Logger) {
	if v := getenv("GOMEMLIMIT"); v != "" {
		logger.Info("tenantgate serve: memory limit from GOMEMLIMIT", slog.String("GOMEMLIMIT", v))
		return
	}
	switch m.mode {
	case "off":
		return
	case "fixed":
		prev := debug.SetMemoryLimit(m.bytes)
		logger.Info("tenantgate serve: memory limit", slog.Int64("bytes", m.bytes))
		context.AfterFunc(ctx, func() { debug.SetMemoryLimit(prev) })
		return
	}
	governor.Lock()
	id := governor.nextID
	governor.nextID++
	start := len(governor.cached) == 0
	if start {
		governor.cached = map[uint64]func() int64{}
		governor.stop = make(chan struct{})
		governor.prev = debug.SetMemoryLimit(-1)
	}
	governor.cached[id] = cached
	stop := governor.stop
	governor.Unlock()
	context.AfterFunc(ctx, func() {
		governor.Lock()
		defer governor.Unlock()
		delete(governor.cached, id)
		if len(governor.cached) == 0 {
			debug.SetMemoryLimit(governor.prev)
			close(governor.stop)
		}
	})
	if !start {
		return
	}
	updateLimit()
	logger.Info("tenantgate serve: memory limit follows the caches (--memory-limit auto)",
		slog.Int64("bytes", debug.SetMemoryLimit(-1)))
	go func() {
		t := time.NewTicker(governEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				updateLimit()
			}
		}
	}()
}

var memSamples = []metrics.Sample{
	{Name: "/memory/classes/total:bytes"},
	{Name: "/memory/classes/heap/released:bytes"},
	{Name: "/memory/classes/heap/objects:bytes"},
	{Name: "/memory/classes/heap/free:bytes"},
	{Name: "/gc/heap/live:bytes"},
}

// updateLimit sets the limit for the runtime as it is now and the caches
// registered; once the last registration has ended it does nothing, so
// that a tick racing the end cannot undo the restored limit.
func updateLimit() {
	governor.Lock()
	defer governor.Unlock()
	if len(governor.cached) == 0 {
		return
	}
	var cached int64
	for _, f := range governor.cached {
		cached += f()
	}
	metrics.Read(memSamples)
	v := func(i int) int64 {
		if memSamples[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return int64(memSamples[i].Value.Uint64())
	}
	total, released, objects, free, live := v(0), v(1), v(2), v(3), v(4)
	debug.SetMemoryLimit(autoLimit(total-released-objects-free, live, cached))
}

// autoLimit is the limit for a runtime holding nonHeap bytes that are not
// heap objects or free heap (stacks, metadata, fragmentation), and live
// bytes of heap, of which cached are caches: a heap goal of live plus
// slack for what is not cache, in the runtime's own terms. Under a limit
// the runtime aims the heap at about 97% of the limit less nonHeap
// (runtime/mgcpacer.go, memoryLimitHeapGoal), so the limit adds that
// headroom back.
func autoLimit(nonHeap, live, cached int64) int64 {
	rest := max(0, live-min(cached, live))
	goal := live + max(minSlack, rest)
	return max(minMemoryLimit, max(0, nonHeap)+goal+max(goal*3/97, 1<<20))
}
