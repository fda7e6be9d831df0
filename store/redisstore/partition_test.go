package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/internal/faultproxy"
	"github.com/tenantgate/tenantgate/internal/redistest"
	"github.com/tenantgate/tenantgate/store/redisstore"
)

// The chaos suite's black hole (TestChaosReplicaCut), on the store alone:
// a store whose Redis connections are black-holed (a network partition:
// nothing answers, nothing is closed) serves its L1 until it notices, and
// so serves a value another replica deleted meanwhile (a revoked session).
// It must notice within a bound of its own timeouts (OpTimeout plus
// ConnWriteTimeout: about 5 s), not L1MaxStale's minute. Measured: 5.0 s.
func TestPartitionedStoreStopsServingItsL1(t *testing.T) {
	srv := redistest.Standalone(t)
	p := faultproxy.Start(t, srv.Addr)
	cut := open(t, redisstore.Options{Addrs: []string{p.Addr}})
	other := open(t, redisstore.Options{Addrs: []string{srv.Addr}})
	ctx := context.Background()
	const key = "tg1:partition:k"
	if _, err := other.CompareAndSet(ctx, key, 0, []byte("live"), time.Hour); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second read is an L1 hit
		if v, _, err := cut.Get(ctx, key); err != nil || string(v) != "live" {
			t.Fatalf("before the partition: %q %v", v, err)
		}
	}
	p.BlackHole()
	partitioned := time.Now()
	if err := other.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	// The bound asked for: OpTimeout (2 s) + ConnWriteTimeout (3 s), with
	// room for a loaded machine; measured, not asserted, below it.
	const bound = 10 * time.Second
	var last time.Time
	for time.Since(partitioned) < 3*bound {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		v, _, err := cut.Get(rctx, key)
		cancel()
		if err != nil || string(v) != "live" {
			break // the L1 is gone: nothing can refill it in the partition
		}
		last = time.Now()
		time.Sleep(100 * time.Millisecond)
	}
	p.Heal()
	if !last.IsZero() {
		t.Logf("the partitioned store served the deleted value until %v into the partition", last.Sub(partitioned).Round(time.Millisecond))
	}
	if !last.IsZero() && last.Sub(partitioned) > bound {
		t.Errorf("the partitioned store served a value deleted during the partition %v after it began (bound %v): its L1 outlives its connection", last.Sub(partitioned).Round(time.Millisecond), bound)
	}
}
