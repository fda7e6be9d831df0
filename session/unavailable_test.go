package session_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/internal/redistest"
	"github.com/tenantgate/tenantgate/session"
	"github.com/tenantgate/tenantgate/store"
	"github.com/tenantgate/tenantgate/store/redisstore"
)

// Redis paused is not "signed out": Load fails with store.ErrUnavailable,
// the middleware answers 503 with Retry-After and does not call the
// handler, sign-in and sign-out fail rather than pretend; once Redis is
// back the same cookie works.
func TestStorePausedIsUnavailableNotSignedOut(t *testing.T) {
	for _, mode := range []redisstore.Mode{redisstore.ModeTracking, redisstore.ModeOff} {
		t.Run(string(mode), func(t *testing.T) {
			ctx := context.Background()
			srv := redistest.Standalone(t)
			o := redisstore.Options{Addrs: []string{srv.Addr}, L1: mode, OpTimeout: 300 * time.Millisecond}
			a := newManager(t, openRedis(t, o), session.Options{})
			// B has never read the session: its L1 cannot answer for Redis.
			b := newManager(t, openRedis(t, o), session.Options{})
			cookie, _ := signIn(t, a, alice, nil)

			srv.Pause(t)
			_, err := b.Load(ctx, request(cookie))
			if !errors.Is(err, store.ErrUnavailable) || errors.Is(err, session.ErrNoSession) {
				t.Fatalf("Load with Redis paused: %v; want store.ErrUnavailable, not ErrNoSession", err)
			}
			called := false
			h := b.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, request(cookie))
			if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" || called {
				t.Fatalf("middleware with Redis paused: %d, Retry-After %q, handler called %v; want 503 with Retry-After, not called",
					w.Code, w.Header().Get("Retry-After"), called)
			}
			if len(w.Result().Cookies()) != 0 {
				t.Fatal("the middleware touched the cookie while Redis was paused")
			}
			w = httptest.NewRecorder()
			if err := b.Destroy(ctx, w, request(cookie)); !errors.Is(err, store.ErrUnavailable) || len(w.Result().Cookies()) != 0 {
				t.Fatalf("sign-out with Redis paused: %v, cookies %v; want ErrUnavailable and the cookie kept", err, w.Result().Cookies())
			}
			w = httptest.NewRecorder()
			if _, err := b.Create(ctx, w, request(nil), bob); !errors.Is(err, store.ErrUnavailable) || len(w.Result().Cookies()) != 0 {
				t.Fatalf("sign-in with Redis paused: %v, cookies %v; want ErrUnavailable and no cookie", err, w.Result().Cookies())
			}
			srv.Resume(t)

			waitFor(t, 10*time.Second, "the same cookie works again", func() bool {
				code, s, _ := serve(b, cookie)
				return code == http.StatusOK && s != nil && s.Identity == alice
			})
		})
	}
}

// OnError lets the caller answer a store failure its own way.
func TestOnError(t *testing.T) {
	st := openMem(t, nil)
	var got error
	m := newManager(t, st, session.Options{OnError: func(w http.ResponseWriter, r *http.Request, err error) {
		got = err
		w.WriteHeader(http.StatusTeapot)
	}})
	cookie, _ := signIn(t, m, alice, nil)
	st.Close() // a closed memstore is unavailable
	if code, _, _ := serve(m, cookie); code != http.StatusTeapot || !errors.Is(got, store.ErrUnavailable) {
		t.Fatalf("answered %d with %v; want OnError's 418 with ErrUnavailable", code, got)
	}
}

// A read the L1 answers while Redis hangs is served even when its touch is
// due: the touch fails, is counted, and the session is kept.
func TestTouchFailsWhileServedFromL1(t *testing.T) {
	srv := redistest.Standalone(t)
	clk := newClock()
	st := openRedis(t, redisstore.Options{Addrs: []string{srv.Addr}, L1: redisstore.ModeTracking})
	m := newManager(t, st, session.Options{Now: clk.Now})
	cookie, _ := signIn(t, m, alice, nil)
	warm(t, m, st, cookie)
	srv.Pause(t)
	clk.Advance(idle / 5)
	code, s, _ := serve(m, cookie)
	srv.Resume(t)
	if code != http.StatusOK || s == nil {
		t.Fatalf("answered %d with %v; want the session served from the L1", code, s)
	}
	if m.Stats().TouchFailed != 1 {
		t.Fatalf("touch failures %d, want 1", m.Stats().TouchFailed)
	}
	// The timed-out write may still land once Redis resumes; either it or
	// a later touch records this request.
	waitFor(t, 10*time.Second, "last-seen written once Redis is back", func() bool {
		_, s, _ := serve(m, cookie)
		return s != nil && s.LastSeen.Equal(clk.Now())
	})
}
