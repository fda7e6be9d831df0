package redisstore

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/internal/redistest"
	"github.com/tenantgate/tenantgate/store"
)

// TestConflictDropsStaleCopy: a compare-and-set that conflicts proves the
// L1's copy old, so the next Get must ask Redis. Without this, a retry
// loop (read, merge, write, conflict) spins on the stale copy until the
// invalidation arrives: under load in pubsub mode that was millions of
// retries for 8,000 increments. The invalidation still in flight is
// simulated by putting the old copy back into the L1 by hand.
func TestConflictDropsStaleCopy(t *testing.T) {
	srv := redistest.Standalone(t)
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	// The other replica writes without publishing and without being read
	// by our tracking connections, so nothing tells our L1 of its write.
	w, err := New(ctx, Options{Addrs: []string{srv.Addr}, L1: ModeOff, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, mode := range []Mode{ModeTracking, ModeBcast, ModePubSub} {
		t.Run(string(mode), func(t *testing.T) {
			s, err := New(ctx, Options{Addrs: []string{srv.Addr}, L1: mode, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			key := "tg1:test:conflict:" + string(mode)
			v1, err := w.CompareAndSet(ctx, key, 0, []byte("one"), time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			v2, err := w.CompareAndSet(ctx, key, v1, []byte("two"), time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			// An invalidation may still arrive (bcast) and evict the
			// planted copy: plant it until it stays (forgetting first,
			// or a read of v2 in between keeps v1 out).
			for i := 0; ; i++ {
				s.l1.forget(key)
				_, _, gen, _ := s.l1.get(key)
				s.l1.fill(key, []byte("one"), v1, gen, time.Time{})
				time.Sleep(10 * time.Millisecond)
				if _, v, _ := s.Get(ctx, key); v == v1 {
					break
				}
				if i == 50 {
					t.Fatal("setup: the L1 never kept the old copy")
				}
			}

			if _, err := s.CompareAndSet(ctx, key, v1, []byte("three"), time.Minute); !errors.Is(err, store.ErrConflict) {
				t.Fatalf("CompareAndSet on the old version: %v, want ErrConflict", err)
			}
			data, v, err := s.Get(ctx, key)
			if err != nil || v != v2 || string(data) != "two" {
				t.Fatalf("Get after a conflict = %q version %d, %v; want %q version %d", data, v, err, "two", v2)
			}
		})
	}
}

// TestL1StopsAtExpiry: Redis publishes nothing when a key expires, so in
// pubsub mode the L1 must learn the expiry with the value and stop serving
// it then, not after L1MaxStale.
func TestL1StopsAtExpiry(t *testing.T) {
	srv := redistest.Standalone(t)
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	w, err := New(ctx, Options{Addrs: []string{srv.Addr}, L1: ModeOff, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r, err := New(ctx, Options{Addrs: []string{srv.Addr}, L1: ModePubSub, L1MaxStale: time.Hour, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, k := range []struct {
		name  string
		write func(key string) error // the reader's own write, or another replica's
	}{
		{"read", func(key string) error {
			_, err := w.CompareAndSet(ctx, key, 0, []byte("x"), 300*time.Millisecond)
			return err
		}},
		{"own-write", func(key string) error {
			_, err := r.CompareAndSet(ctx, key, 0, []byte("x"), 300*time.Millisecond)
			return err
		}},
	} {
		t.Run(k.name, func(t *testing.T) {
			key := "tg1:test:expiry:" + k.name
			if err := k.write(key); err != nil {
				t.Fatal(err)
			}
			if _, _, err := r.Get(ctx, key); err != nil {
				t.Fatal(err)
			}
			if _, _, _, ok := r.l1.get(key); !ok {
				t.Fatal("setup: the value is not in the L1")
			}
			if until, ok := r.l1.servedUntil(key); !ok || until.After(time.Now().Add(time.Second)) {
				t.Fatalf("the L1 serves it until %v (%v): want within the key's 300ms TTL", until, ok)
			}
			deadline := time.Now().Add(5 * time.Second)
			for {
				_, _, err := r.Get(ctx, key)
				if errors.Is(err, store.ErrNotFound) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the L1 still serves a key that expired in Redis: %v", err)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

// servedUntil is until when the L1 serves key's entry.
func (c *l1) servedUntil(key string) (time.Time, bool) {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.entries[key]; e != nil && e.has {
		return e.until, true
	}
	return time.Time{}, false
}
