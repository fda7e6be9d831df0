package storetest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/internal/redistest"
	"github.com/tenantgate/tenantgate/store"
	"github.com/tenantgate/tenantgate/store/memstore"
	"github.com/tenantgate/tenantgate/store/redisstore"
	"github.com/tenantgate/tenantgate/store/storetest"
)

// TestConformance runs the one suite against every store and every Redis
// topology users deploy.
func TestConformance(t *testing.T) {
	t.Run("memstore", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) store.Store {
			s := memstore.New(memstore.Options{SweepInterval: 50 * time.Millisecond})
			t.Cleanup(func() { s.Close() })
			return s
		})
	})
	t.Run("redis-standalone", func(t *testing.T) {
		srv := redistest.Standalone(t)
		storetest.Run(t, redis(redisstore.Options{Addrs: []string{srv.Addr}}))
		// Each L1 mode keeps its copies coherent by other means (tracking
		// pushes, broadcast prefixes, the store's own messages, none at
		// all): each must honour the whole contract, expiry included.
		for _, mode := range []redisstore.Mode{redisstore.ModeBcast, redisstore.ModePubSub, redisstore.ModeOff} {
			t.Run("l1="+string(mode), func(t *testing.T) {
				storetest.Run(t, redis(redisstore.Options{Addrs: []string{srv.Addr}, L1: mode}))
			})
		}
	})
	t.Run("redis-tls", func(t *testing.T) {
		srv := redistest.TLS(t)
		storetest.Run(t, redis(redisstore.Options{URL: srv.URL(), TLS: srv.ClientTLS()}))
	})
	t.Run("redis-cluster", func(t *testing.T) {
		c := redistest.NewCluster(t, 3)
		storetest.Run(t, redis(redisstore.Options{Addrs: c.Addrs()}))
	})
	t.Run("redis-sentinel", func(t *testing.T) {
		s := redistest.NewSentinel(t)
		newStore := redis(redisstore.Options{Addrs: s.SentinelAddrs(), SentinelMaster: s.Master})
		storetest.Run(t, newStore)
		t.Run("after-failover", func(t *testing.T) {
			before := newStore(t)
			s.Failover(t)
			storetest.Run(t, newStore)
			// A store opened before the failover follows the new primary
			// by itself, after a bounded run of ErrUnavailable.
			ctx := context.Background()
			deadline := time.Now().Add(15 * time.Second)
			for {
				_, err := before.CompareAndSet(ctx, "tg1:test:failover", 0, []byte("x"), time.Minute)
				if err == nil || errors.Is(err, store.ErrConflict) {
					break
				}
				if !errors.Is(err, store.ErrUnavailable) || time.Now().After(deadline) {
					t.Fatalf("a store opened before the failover: %v", err)
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	})
}

func redis(o redisstore.Options) func(t *testing.T) store.Store {
	return func(t *testing.T) store.Store {
		s, err := redisstore.New(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
}
