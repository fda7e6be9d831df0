package redisstore_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/internal/redistest"
	"github.com/tenantgate/tenantgate/store/redisstore"
)

// Found by make scale (cmd/tenantgate TestScale): a gateway replica that
// had served 100k sessions held 410 MiB of RSS with the 64 MiB L1 full.
// In tracking mode every read goes through rueidis's DoCache, whose
// client-side cache is sized CacheSizeEachConn = L1MaxBytes per
// connection, so a value is held twice (L1 and rueidis), and the process
// retains up to L1MaxBytes × (1 + connections), not L1MaxBytes.
// L1MaxBytes must bound what the store keeps: here, at most twice it
// (slack for maps and the GC). Measured: tracking retains 9.5 MiB for a
// 4 MiB L1; the same test in pubsub mode (no rueidis cache) 4.4 MiB.
func TestL1MaxBytesBoundsTheStoresMemory(t *testing.T) {
	srv := redistest.Standalone(t)
	const l1 = 4 << 20
	const values, size = 4000, 8 << 10 // 32 MiB of distinct values, 8× the L1
	s := open(t, redisstore.Options{Addrs: []string{srv.Addr}, L1: redisstore.ModeTracking, L1MaxBytes: l1})
	writer := open(t, redisstore.Options{Addrs: []string{srv.Addr}, L1: redisstore.ModeOff})
	ctx := context.Background()
	val := []byte(strings.Repeat("v", size))
	for i := range values {
		if _, err := writer.CompareAndSet(ctx, fmt.Sprintf("tg1:mem:%d", i), 0, val, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	for range 2 {
		for i := range values {
			if _, _, err := s.Get(ctx, fmt.Sprintf("tg1:mem:%d", i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	retained := int64(heap()) - int64(before)
	st := s.Stats()
	t.Logf("L1 %d entries, %.1f MiB (bound %.0f MiB); heap retained by the store: %.1f MiB", st.L1Entries, float64(st.L1Bytes)/(1<<20), float64(l1)/(1<<20), float64(retained)/(1<<20))
	runtime.KeepAlive(s)
	if retained > 2*l1 {
		t.Errorf("the store retains %.1f MiB after reading %d MiB of values with L1MaxBytes %d MiB: more than twice its bound (rueidis's client-side cache holds the values again, CacheSizeEachConn per connection)",
			float64(retained)/(1<<20), values*size>>20, l1>>20)
	}
}
