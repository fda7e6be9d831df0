package redisstore_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/internal/redistest"
	"github.com/tenantgate/tenantgate/store"
	"github.com/tenantgate/tenantgate/store/redisstore"
)

func open(t *testing.T, o redisstore.Options) *redisstore.Store {
	t.Helper()
	if o.Logger == nil {
		o.Logger = quiet
	}
	s, err := redisstore.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// calls reads how many times the server ran cmd, from INFO commandstats:
// the server's own count, so a read served from the L1 provably sent nothing.
func calls(t *testing.T, n *redistest.Node, cmd string) int {
	t.Helper()
	stat := n.Info(t, "commandstats", "cmdstat_"+cmd) // calls=N,usec=...
	if stat == "" {
		return 0
	}
	v, _, _ := strings.Cut(strings.TrimPrefix(stat, "calls="), ",")
	c, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("commandstats of %s: %q: %v", cmd, stat, err)
	}
	return c
}

func TestL1Coherence(t *testing.T) {
	srv := redistest.Standalone(t)
	testCoherence(t, []string{srv.Addr}, srv)
}

// On a Cluster the key lives on one node and the pubsub subscriber on
// another: PUBLISH reaches every node.
func TestL1CoherenceCluster(t *testing.T) {
	c := redistest.NewCluster(t, 3)
	testCoherence(t, c.Addrs(), c.Nodes...)
}

func testCoherence(t *testing.T, addrs []string, nodes ...*redistest.Node) {
	calls := func(t *testing.T, cmd string) (n int) {
		for _, node := range nodes {
			n += calls(t, node, cmd)
		}
		return n
	}
	for _, mode := range []redisstore.Mode{redisstore.ModeTracking, redisstore.ModeBcast, redisstore.ModePubSub} {
		t.Run(string(mode), func(t *testing.T) {
			ctx := context.Background()
			a := open(t, redisstore.Options{Addrs: addrs, L1: mode})
			b := open(t, redisstore.Options{Addrs: addrs, L1: mode})
			if a.Mode() != mode {
				t.Fatalf("mode = %s, want %s", a.Mode(), mode)
			}
			key := "tg1:test:coherence:" + string(mode)
			v1, err := b.CompareAndSet(ctx, key, 0, []byte("one"), time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			// The first read may race the invalidation of B's own write and
			// is then rightly not cached; read until A serves it itself.
			waitFor(t, time.Second, func() bool {
				h := a.Stats().L1Hits
				got, _, err := a.Get(ctx, key)
				if err != nil || string(got) != "one" {
					t.Fatalf("A reads %q, %v; want one", got, err)
				}
				return a.Stats().L1Hits > h
			})

			// Unchanged: A's reads reach no Redis at all.
			gets, evals := calls(t, "get"), calls(t, "evalsha")
			hits := a.Stats().L1Hits
			for range 100 {
				if got, v, err := a.Get(ctx, key); err != nil || string(got) != "one" || v != v1 {
					t.Fatalf("A reads %q v%d, %v; want one v%d", got, v, err, v1)
				}
			}
			if g, e := calls(t, "get"), calls(t, "evalsha"); g != gets || e != evals {
				t.Fatalf("100 reads of an unchanged key sent %d GET and %d EVALSHA to Redis; want 0", g-gets, e-evals)
			}
			if d := a.Stats().L1Hits - hits; d != 100 {
				t.Fatalf("L1 hits grew by %d, want 100", d)
			}

			// B writes: A's Get sees it within 100 ms.
			if _, err := b.CompareAndSet(ctx, key, v1, []byte("two"), time.Minute); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 100*time.Millisecond, func() bool {
				got, _, err := a.Get(ctx, key)
				return err == nil && string(got) == "two"
			})

			// B deletes: A sees it gone.
			if err := b.Delete(ctx, key); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 100*time.Millisecond, func() bool {
				_, _, err := a.Get(ctx, key)
				return errors.Is(err, store.ErrNotFound)
			})

			// A writes and reads its own write, then B writes: A sees B's.
			// (Redis stops tracking a key for the client that wrote it, so
			// an L1 entry kept from A's own write would go stale.)
			va, err := a.CompareAndSet(ctx, key, 0, []byte("mine"), time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			for range 3 {
				if got, _, err := a.Get(ctx, key); err != nil || string(got) != "mine" {
					t.Fatalf("A reads its own write as %q, %v", got, err)
				}
			}
			if _, err := b.CompareAndSet(ctx, key, va, []byte("theirs"), time.Minute); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 100*time.Millisecond, func() bool {
				got, _, err := a.Get(ctx, key)
				return err == nil && string(got) == "theirs"
			})
		})
	}
}

func waitFor(t *testing.T, within time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", within)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Azure Cache for Redis and ACL-restricted users refuse CLIENT TRACKING; auto
// must then fall back to pubsub, not fail.
func TestAutoPicksPubSubWhenTrackingRefused(t *testing.T) {
	srv := redistest.TLS(t, redistest.WithACL("~*", "&*", "+@all", "-client"))
	s := open(t, redisstore.Options{URL: srv.URL(), TLS: srv.ClientTLS()})
	if s.Mode() != redisstore.ModePubSub {
		t.Fatalf("auto chose %s for a user that may not run CLIENT; want pubsub", s.Mode())
	}
	if got := calls(t, srv.Node, "client|tracking"); got != 0 {
		t.Fatalf("CLIENT TRACKING ran %d times for a user without CLIENT", got)
	}
}

func TestAutoPicksTracking(t *testing.T) {
	srv := redistest.Standalone(t)
	if s := open(t, redisstore.Options{Addrs: []string{srv.Addr}}); s.Mode() != redisstore.ModeTracking {
		t.Fatalf("auto chose %s on Redis 7; want tracking", s.Mode())
	}
}

// A killed subscriber may have missed invalidations: the L1 must be emptied,
// not trusted, and come back once resubscribed.
func TestPubSubSubscriberKilledFlushesL1(t *testing.T) {
	srv := redistest.Standalone(t)
	ctx := context.Background()
	a := open(t, redisstore.Options{Addrs: []string{srv.Addr}, L1: redisstore.ModePubSub, ClientName: "reader"})
	b := open(t, redisstore.Options{Addrs: []string{srv.Addr}, L1: redisstore.ModeOff})
	key := "tg1:test:flush"
	if _, err := b.CompareAndSet(ctx, key, 0, []byte("old"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := a.Get(ctx, key); string(got) != "old" {
		t.Fatalf("got %q", got)
	}
	if st := a.Stats(); st.L1Entries == 0 {
		t.Fatal("value not cached")
	}
	// B writes without publishing (mode off): the message A would have
	// received while its subscriber was down is lost, so A's copy is stale.
	_, ver, _ := b.Get(ctx, key)
	if _, err := b.CompareAndSet(ctx, key, ver, []byte("new"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := a.Get(ctx, key); string(got) != "old" {
		t.Fatalf("A read %q before any invalidation; the test needs a stale L1 entry", got)
	}
	flushes := a.Stats().Flushes
	if killed, _ := srv.Do(t, "CLIENT", "KILL", "TYPE", "pubsub").(int64); killed < 1 {
		t.Fatalf("CLIENT KILL TYPE pubsub killed %d connections", killed)
	}
	waitFor(t, 2*time.Second, func() bool { return a.Stats().Flushes > flushes })
	if got, _, _ := a.Get(ctx, key); string(got) != "new" {
		t.Fatalf("after its subscriber was killed A served %q; want new", got)
	}
	// Resubscribed, the L1 serves again.
	waitFor(t, 2*time.Second, func() bool {
		h := a.Stats().L1Hits
		a.Get(ctx, key)
		return a.Stats().L1Hits > h
	})
}
