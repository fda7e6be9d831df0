package session_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/internal/redistest"
	"github.com/tenantgate/tenantgate/session"
	"github.com/tenantgate/tenantgate/store/redisstore"
)

var allModes = []redisstore.Mode{redisstore.ModeTracking, redisstore.ModeBcast, redisstore.ModePubSub, redisstore.ModeOff}

// warm serves cookie through m until its store's L1 answers the read
// itself (in ModeOff: once), so a later refusal proves an invalidation.
func warm(t *testing.T, m *session.Manager, st *redisstore.Store, cookie *http.Cookie) {
	t.Helper()
	waitFor(t, 5*time.Second, "the session is served from the L1", func() bool {
		hits := st.Stats().L1Hits
		if code, s, _ := serve(m, cookie); code != http.StatusOK || s == nil {
			t.Fatalf("a live session answered %d with %v", code, s)
		}
		return st.Mode() == redisstore.ModeOff || st.Stats().L1Hits > hits
	})
}

// Revoked on B, refused on A within a second, in every L1 mode: one
// session, then all of a user's, then all of a tenant's, each time with
// A's L1 holding the session.
func TestRevocationReachesEveryReplica(t *testing.T) {
	srv := redistest.Standalone(t)
	for _, mode := range allModes {
		t.Run(string(mode), func(t *testing.T) { testRevocation(t, []string{srv.Addr}, mode) })
	}
}

func TestRevocationReachesEveryReplicaCluster(t *testing.T) {
	c := redistest.NewCluster(t, 3)
	for _, mode := range []redisstore.Mode{redisstore.ModeTracking, redisstore.ModePubSub} {
		t.Run(string(mode), func(t *testing.T) { testRevocation(t, c.Addrs(), mode) })
	}
}

func testRevocation(t *testing.T, addrs []string, mode redisstore.Mode) {
	ctx := context.Background()
	sa := openRedis(t, redisstore.Options{Addrs: addrs, L1: mode})
	sb := openRedis(t, redisstore.Options{Addrs: addrs, L1: mode})
	if sa.Mode() != mode {
		t.Fatalf("mode %s, want %s", sa.Mode(), mode)
	}
	a := newManager(t, sa, session.Options{Replica: "a"})
	b := newManager(t, sb, session.Options{Replica: "b"})

	one, _ := signIn(t, b, alice, nil)
	two, _ := signIn(t, b, alice, nil)
	bobs, _ := signIn(t, b, bob, nil)
	carols, _ := signIn(t, b, carol, nil)

	refused := func(what string, cookie *http.Cookie) {
		t.Helper()
		took := waitFor(t, time.Second, what+" refused on A", func() bool {
			code, s, _ := serve(a, cookie)
			if code != http.StatusOK {
				t.Fatalf("%s: A answered %d", what, code)
			}
			return s == nil
		})
		t.Logf("%s: refused on A after %v", what, took)
	}
	alive := func(who string, cookie *http.Cookie) {
		t.Helper()
		if _, s, _ := serve(a, cookie); s == nil {
			t.Fatalf("%s's session was revoked too", who)
		}
	}

	for _, c := range []*http.Cookie{one, two, bobs, carols} {
		warm(t, a, sa, c)
	}
	s1, err := b.Load(ctx, request(one))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Revoke(ctx, s1.Handle); err != nil {
		t.Fatal(err)
	}
	refused("one session", one)
	alive("alice's other", two)

	if n, err := b.RevokeUser(ctx, alice.TenantID, alice.HomeAccountID); err != nil || n != 1 {
		t.Fatalf("RevokeUser: %d, %v; want 1", n, err)
	}
	refused("a user's sessions", two)
	alive("bob", bobs)

	if n, err := b.RevokeTenant(ctx, alice.TenantID); err != nil || n != 1 {
		t.Fatalf("RevokeTenant: %d, %v; want 1 (bob's)", n, err)
	}
	refused("a tenant's sessions", bobs)
	alive("carol, in another tenant", carols)
	if _, err := a.Load(ctx, request(one)); !errors.Is(err, session.ErrNoSession) {
		t.Fatalf("revoked session: %v", err)
	}
}

// A steady authenticated request costs the server nothing: the session is
// read from the L1 and not touched. Counted by the server itself.
func TestSteadyRequestsSendNothing(t *testing.T) {
	srv := redistest.Standalone(t)
	for _, mode := range []redisstore.Mode{redisstore.ModeTracking, redisstore.ModeBcast, redisstore.ModePubSub} {
		t.Run(string(mode), func(t *testing.T) {
			if n := steadyRequests(t, srv, mode); n != 0 {
				t.Fatalf("100 steady requests sent %d commands to Redis; want 0", n)
			}
		})
	}
}

// The same measure with the L1 off sees every read: the 0 above is the
// L1's doing, not a counter that sees nothing.
func TestSteadyRequestsWithL1OffReachRedis(t *testing.T) {
	srv := redistest.Standalone(t)
	if n := steadyRequests(t, srv, redisstore.ModeOff); n < 100 {
		t.Fatalf("100 requests with the L1 off sent %d commands; want at least 100", n)
	}
}

func steadyRequests(t *testing.T, srv *redistest.Node, mode redisstore.Mode) int {
	st := openRedis(t, redisstore.Options{Addrs: []string{srv.Addr}, L1: mode})
	other := openRedis(t, redisstore.Options{Addrs: []string{srv.Addr}, L1: mode})
	a := newManager(t, st, session.Options{})
	b := newManager(t, other, session.Options{})
	cookie, _ := signIn(t, b, alice, nil) // signed in on another replica
	warm(t, a, st, cookie)
	before := commands(t, srv)
	for range 100 {
		if code, s, _ := serve(a, cookie); code != http.StatusOK || s == nil || s.Identity != alice {
			t.Fatalf("request answered %d with %v", code, s)
		}
	}
	n := commands(t, srv) - before
	t.Logf("L1 %s: 100 requests, %d commands, touches %d", mode, n, a.Stats().Touched)
	return n
}

// Values written on B are what A serves next, although A had the record
// decoded and in its L1.
func TestValuesWrittenOnBSeenOnA(t *testing.T) {
	srv := redistest.Standalone(t)
	for _, mode := range []redisstore.Mode{redisstore.ModeTracking, redisstore.ModePubSub} {
		t.Run(string(mode), func(t *testing.T) {
			sa := openRedis(t, redisstore.Options{Addrs: []string{srv.Addr}, L1: mode})
			sb := openRedis(t, redisstore.Options{Addrs: []string{srv.Addr}, L1: mode})
			a, b := newManager(t, sa, session.Options{}), newManager(t, sb, session.Options{})
			cookie, _ := signIn(t, a, alice, nil)
			warm(t, a, sa, cookie)
			s, err := b.Load(context.Background(), request(cookie))
			if err != nil {
				t.Fatal(err)
			}
			if err := b.SetValues(context.Background(), s, map[string]string{"theme": "dark"}); err != nil {
				t.Fatal(err)
			}
			took := waitFor(t, time.Second, "B's value served by A", func() bool {
				_, s, _ := serve(a, cookie)
				if s == nil {
					t.Fatal("A lost the session")
				}
				v, _ := s.Value("theme")
				return v == "dark"
			})
			t.Logf("seen on A after %v", took)
		})
	}
}
