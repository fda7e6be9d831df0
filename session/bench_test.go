package session_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	scsredis "github.com/alexedwards/scs/redisstore"
	"github.com/alexedwards/scs/v2"
	"github.com/gomodule/redigo/redis"

	"github.com/tenantgate/tenantgate/internal/redistest"
	"github.com/tenantgate/tenantgate/session"
	"github.com/tenantgate/tenantgate/store/redisstore"
)

// discard is a ResponseWriter that keeps nothing, so the benchmarks
// measure the middleware and not a recorder.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

// BenchmarkMiddleware is one authenticated request through the session
// middleware: with the session in the store's L1 (tracking), with the L1
// off (one GET per request), each with and without the cache of decoded
// records (without it, every request parses and unseals), and, as the anchor, through
// github.com/alexedwards/scs/v2 with its Redis store on the same Redis:
// by default (one GET per request) and with an idle timeout (GET and SET
// per request, which is what a sliding expiry costs there).
func BenchmarkMiddleware(b *testing.B) {
	srv := redistest.Standalone(b)
	var name string
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := session.FromContext(r.Context())
		if !ok {
			b.Fatal("no session")
		}
		name = s.DisplayName
	})
	for _, bc := range []struct {
		mode    redisstore.Mode
		decoded int
	}{{redisstore.ModeTracking, 0}, {redisstore.ModeTracking, -1}, {redisstore.ModeOff, 0}, {redisstore.ModeOff, -1}} {
		label := "tenantgate-L1-" + string(bc.mode)
		if bc.decoded < 0 {
			label += "-nodecodedcache"
		}
		b.Run(label, func(b *testing.B) {
			st := openRedis(b, redisstore.Options{Addrs: []string{srv.Addr}, L1: bc.mode})
			m := newManager(b, st, session.Options{DecodedRecords: bc.decoded})
			cookie, _ := signIn(b, m, alice, nil)
			h := m.Middleware(handler)
			r := request(cookie)
			w := &discard{h: http.Header{}}
			for range 3 { // the first reads after the write fill the L1
				h.ServeHTTP(w, r)
			}
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, r)
			}
		})
	}
	for _, idleTimeout := range []time.Duration{0, time.Hour} {
		label := "scs-redis"
		if idleTimeout > 0 {
			label += "-idle"
		}
		b.Run(label, func(b *testing.B) {
			pool := &redis.Pool{MaxIdle: 16, Dial: func() (redis.Conn, error) { return redis.Dial("tcp", srv.Addr) }}
			b.Cleanup(func() { pool.Close() })
			sm := scs.New()
			sm.Store = scsredis.New(pool)
			sm.IdleTimeout = idleTimeout
			sm.Lifetime = 8 * time.Hour
			signin := sm.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				sm.Put(r.Context(), "display_name", "Alice")
			}))
			rec := httptest.NewRecorder()
			signin.ServeHTTP(rec, request(nil))
			cookies := rec.Result().Cookies()
			if len(cookies) != 1 {
				b.Fatal("scs set no cookie")
			}
			h := sm.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				name = sm.GetString(r.Context(), "display_name")
				if name != "Alice" {
					b.Fatal("no session")
				}
			}))
			r := request(cookies[0])
			w := &discard{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, r)
				clear(w.h)
			}
		})
	}
	_ = name
}
