package session_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/internal/redistest"
	"github.com/tenantgate/tenantgate/session"
	"github.com/tenantgate/tenantgate/store/redisstore"
)

const idle, absolute = time.Hour, 8 * time.Hour

// clocked is a manager on an injected clock, over memstore (which shares
// the clock, so keys expire by it) or Redis (whose keys expire in real
// time, so the record's own times must refuse a late session).
type clocked struct {
	name string
	open func(t *testing.T, clk *clock) (*session.Manager, func(key string) time.Duration)
}

var clockedBackends = []clocked{
	{"memstore", func(t *testing.T, clk *clock) (*session.Manager, func(string) time.Duration) {
		return newManager(t, openMem(t, clk.Now), session.Options{Now: clk.Now}), nil
	}},
	{"redis", func(t *testing.T, clk *clock) (*session.Manager, func(string) time.Duration) {
		srv := redistest.Standalone(t)
		st := openRedis(t, redisstore.Options{Addrs: []string{srv.Addr}})
		pttl := func(key string) time.Duration {
			ms, err := st.Client().Do(context.Background(), st.Client().B().Pttl().Key(key).Build()).AsInt64()
			if err != nil {
				t.Fatal(err)
			}
			return time.Duration(ms) * time.Millisecond
		}
		return newManager(t, st, session.Options{Now: clk.Now}), pttl
	}},
}

func TestIdleExpiry(t *testing.T) {
	for _, be := range clockedBackends {
		t.Run(be.name, func(t *testing.T) {
			clk := newClock()
			m, _ := be.open(t, clk)
			cookie, _ := signIn(t, m, alice, nil)
			clk.Advance(idle - time.Millisecond)
			if _, s, _ := serve(m, cookie); s == nil {
				t.Fatal("refused just before the idle timeout")
			}
			// That request touched it: idle counts from now.
			clk.Advance(idle - time.Millisecond)
			if _, s, _ := serve(m, cookie); s == nil {
				t.Fatal("a touched session expired early")
			}
			clk.Advance(idle)
			if code, s, _ := serve(m, cookie); code != http.StatusOK || s != nil {
				t.Fatalf("after an idle hour: %d, %v; want 200 without a session", code, s)
			}
			if m.Stats().Expired == 0 && be.name == "redis" {
				t.Fatal("expiry not counted")
			}
		})
	}
}

// However active, a session ends at its absolute expiry, and no touch
// carries its idle expiry (or its key's TTL) past it.
func TestAbsoluteExpiry(t *testing.T) {
	for _, be := range clockedBackends {
		t.Run(be.name, func(t *testing.T) {
			clk := newClock()
			m, pttl := be.open(t, clk)
			cookie, created := signIn(t, m, alice, nil)
			for elapsed := time.Duration(0); elapsed < absolute-idle/2; elapsed += idle / 2 {
				clk.Advance(idle / 2)
				_, s, _ := serve(m, cookie)
				if s == nil {
					t.Fatalf("refused %v after sign-in, active every half hour", elapsed+idle/2)
				}
				if s.IdleExpires.After(created.AbsoluteExpires) || !s.AbsoluteExpires.Equal(created.AbsoluteExpires) {
					t.Fatalf("idle expiry %v past absolute %v (created %v)", s.IdleExpires, s.AbsoluteExpires, created.AbsoluteExpires)
				}
				if pttl != nil {
					// The TTL was set at the last write (last-seen) to end
					// at the idle expiry; Redis's clock has barely moved.
					want := s.IdleExpires.Sub(s.LastSeen)
					if got := pttl("tg1:s:" + s.Handle); got > want || got < want-5*time.Second {
						t.Fatalf("%v in: PTTL %v; want about %v", elapsed, got, want)
					}
				}
			}
			clk.Advance(created.AbsoluteExpires.Sub(clk.Now()))
			if _, s, _ := serve(m, cookie); s != nil {
				t.Fatal("served at its absolute expiry")
			}
		})
	}
}

// The key's TTL is the idle timeout, and follows each touch.
func TestKeyTTLFollowsExpiry(t *testing.T) {
	srv := redistest.Standalone(t)
	clk := newClock()
	st := openRedis(t, redisstore.Options{Addrs: []string{srv.Addr}})
	m := newManager(t, st, session.Options{Now: clk.Now})
	pttl := func(key string) time.Duration {
		ms, err := st.Client().Do(context.Background(), st.Client().B().Pttl().Key(key).Build()).AsInt64()
		if err != nil {
			t.Fatal(err)
		}
		return time.Duration(ms) * time.Millisecond
	}
	cookie, s := signIn(t, m, alice, nil)
	key := "tg1:s:" + s.Handle
	if got := pttl(key); got > idle || got < idle-5*time.Second {
		t.Fatalf("new session's PTTL %v; want about %v", got, idle)
	}
	// Shorten the TTL as half an hour of Redis's own time would; the touch
	// due after that half hour must set it again.
	srv.Do(t, "PEXPIRE", key, strconv.FormatInt((idle/2).Milliseconds(), 10))
	clk.Advance(idle / 2)
	if _, s, _ := serve(m, cookie); s == nil {
		t.Fatal("refused")
	}
	if got := pttl(key); got < idle-5*time.Second {
		t.Fatalf("PTTL after a touch %v; want about %v again", got, idle)
	}
}

// Requests within a tenth of the idle timeout write nothing; each tenth
// costs at most one write. Counted on the server (compare-and-set is one
// EVALSHA).
func TestTouchThrottled(t *testing.T) {
	srv := redistest.Standalone(t)
	clk := newClock()
	st := openRedis(t, redisstore.Options{Addrs: []string{srv.Addr}})
	m := newManager(t, st, session.Options{Now: clk.Now})
	cookie, _ := signIn(t, m, alice, nil)
	writes := func() int { return calls(t, "evalsha", srv) + calls(t, "eval", srv) }
	before := writes()
	// 30 requests idle/100 apart: three tenths of the idle timeout.
	for range 30 {
		clk.Advance(idle / 100)
		if _, s, _ := serve(m, cookie); s == nil {
			t.Fatal("refused")
		}
	}
	got := writes() - before
	if got > 3 || got != int(m.Stats().Touched) {
		t.Fatalf("30 requests over 3/10 of the idle timeout wrote %d times (touches counted %d); want at most 3", got, m.Stats().Touched)
	}
	t.Logf("30 requests over 18 minutes: %d writes", got)
	before = writes()
	for range 50 {
		if _, s, _ := serve(m, cookie); s == nil {
			t.Fatal("refused")
		}
	}
	if got := writes() - before; got != 0 {
		t.Fatalf("50 requests at one instant wrote %d times; want 0", got)
	}
}

func TestExpiredIsNoSessionNotError(t *testing.T) {
	clk := newClock()
	m := newManager(t, openMem(t, clk.Now), session.Options{Now: clk.Now})
	cookie, _ := signIn(t, m, alice, nil)
	clk.Advance(absolute)
	if _, err := m.Load(context.Background(), request(cookie)); !errors.Is(err, session.ErrNoSession) {
		t.Fatalf("expired: %v; want ErrNoSession", err)
	}
}
