//go:build scale

package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/devidp/devidptest"
	"github.com/tenantgate/tenantgate/internal/redistest"
	"github.com/tenantgate/tenantgate/seal"
	"github.com/tenantgate/tenantgate/session"
	"github.com/tenantgate/tenantgate/store/redisstore"
)

// TestScale measures, it does not assert speed: 100k sessions of 10k users
// over 3 tenants created through session.Manager against Redis, then a
// gateway replica driven over all of them. Run it with make scale
// (go test -tags scale -run TestScale -v ./cmd/tenantgate); the figures
// are logged as "SCALE| name | value |" for docs/reliability.md.
func TestScale(t *testing.T) {
	sessions, users := 100_000, 10_000
	if s := os.Getenv("TENANTGATE_SCALE_SESSIONS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 10 {
			t.Fatalf("TENANTGATE_SCALE_SESSIONS=%q: want a number ≥ 10", s)
		}
		sessions, users = n, max(n/10, 1)
	}
	srv := redistest.Standalone(t, redistest.WithConfig("maxmemory-policy noeviction"))
	idp := devidptest.Start(t)
	f := newScaleFixture(t, idp)
	ctx := context.Background()
	st, err := redisstore.New(ctx, redisstore.Options{URL: "redis://" + srv.Addr, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys, err := seal.KeysFromFile(f.keys)
	if err != nil {
		t.Fatal(err)
	}
	m, err := session.New(st, keys, session.Options{PublicURL: "http://localhost", Replica: "scale", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	figure := func(name string, v any) { t.Logf("SCALE| %s | %v |", name, v) }

	// Tenants in proportion 5:3:2, so contoso holds half the sessions.
	tenants := []struct{ key, id string }{{"contoso", devidp.DemoContosoID}, {"fabrikam", devidp.DemoFabrikamID}, {"woodgrove", devidp.DemoWoodgroveID}}
	tenantOf := func(user int) int {
		switch p := user * 10 / users; {
		case p < 5:
			return 0
		case p < 8:
			return 1
		default:
			return 2
		}
	}
	before := usedMemory(t, srv)
	cookies := make([]*http.Cookie, sessions)
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	var createErr atomic.Value
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= sessions {
					return
				}
				u := i % users
				tn := tenants[tenantOf(u)]
				oid := fmt.Sprintf("5ca1e000-0000-4000-8000-%012d", u)
				id := session.Identity{TenantKey: tn.key, TenantID: tn.id, HomeAccountID: oid + "." + tn.id, ObjectID: oid,
					Username: fmt.Sprintf("user%d@%s.example", u, tn.key), DisplayName: fmt.Sprintf("User %d", u)}
				w := httptest.NewRecorder()
				r := httptest.NewRequest(http.MethodGet, "http://localhost/", nil)
				if _, err := m.Create(ctx, w, r, id); err != nil {
					createErr.Store(err)
					return
				}
				for _, c := range w.Result().Cookies() {
					if c.Name == m.CookieName() {
						cookies[i] = c
					}
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := createErr.Load().(error); err != nil {
		t.Fatal(err)
	}
	created := time.Since(start)
	after := usedMemory(t, srv)
	figure("sessions created (64 goroutines, one process)", sessions)
	figure("creation rate, sessions/s", int(float64(sessions)/created.Seconds()))
	figure("Redis used_memory delta / sessions, bytes (record + tenant and user index entries)", (after-before)/int64(sessions))
	figure("Redis MEMORY USAGE of a session record, bytes (median of 200)", sampleRecordBytes(t, srv, 200))

	// The L1 of a process that has read every session once, and the heap
	// it retains (L1, rueidis's cache, decoded records).
	heapBefore := liveHeap()
	st2, err := redisstore.New(ctx, redisstore.Options{URL: "redis://" + srv.Addr, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	m2, err := session.New(st2, keys, session.Options{PublicURL: "http://localhost", Replica: "scale2", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	forEach(sessions, 32, func(i int) {
		r := httptest.NewRequest(http.MethodGet, "http://localhost/", nil)
		r.AddCookie(cookies[i])
		if _, err := m2.Load(ctx, r); err != nil {
			createErr.Store(err)
		}
	})
	if err, _ := createErr.Load().(error); err != nil {
		t.Fatal(err)
	}
	s2 := st2.Stats()
	figure("heap retained by a store + session.Manager that read every session once, MiB", (int64(liveHeap())-int64(heapBefore))>>20)
	runtime.KeepAlive(m2)
	figure("store L1 after reading every session once: entries", s2.L1Entries)
	figure("store L1 after reading every session once: MiB (bound 64)", fmt.Sprintf("%.1f", float64(s2.L1Bytes)/(1<<20)))
	if s2.L1Entries > 0 {
		figure("store L1 bytes per entry", s2.L1Bytes/int64(s2.L1Entries))
	}

	// Listing contoso's sessions, 100 and 1000 a page.
	for _, limit := range []int{100, 1000} {
		var durs []time.Duration
		total, cursor := 0, ""
		for {
			t0 := time.Now()
			p, err := m.List(ctx, session.Query{TenantID: devidp.DemoContosoID, Cursor: cursor, Limit: limit})
			durs = append(durs, time.Since(t0))
			if err != nil {
				t.Fatal(err)
			}
			total += len(p.Sessions)
			if p.Next == "" {
				break
			}
			cursor = p.Next
		}
		slices.Sort(durs)
		figure(fmt.Sprintf("List contoso (%d sessions), %d a page: pages", total, limit), len(durs))
		figure(fmt.Sprintf("List, %d a page: median / p99 / max page", limit), fmt.Sprintf("%v / %v / %v",
			durs[len(durs)/2].Round(time.Microsecond), durs[len(durs)*99/100].Round(time.Microsecond), durs[len(durs)-1].Round(time.Microsecond)))
	}

	// A gateway replica driven over every session.
	up := echoUpstream(t)
	g := startServe(t, f.args("redis://"+srv.Addr, up.URL), f.env()...)
	pid := g.cmd.Process.Pid
	idle, _ := procStatus(pid, "VmRSS")
	figure("gateway RSS at start, MiB", idle/1024)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
	var statuses sync.Map
	start = time.Now()
	forEach(sessions, 32, func(i int) {
		req, _ := http.NewRequest(http.MethodGet, g.URL+"/scale", nil)
		req.AddCookie(cookies[i])
		resp, err := client.Do(req)
		code := 0
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			code = resp.StatusCode
		}
		n, _ := statuses.LoadOrStore(code, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
	})
	drove := time.Since(start)
	got := map[int]int64{}
	statuses.Range(func(k, v any) bool { got[k.(int)] = v.(*atomic.Int64).Load(); return true })
	if got[http.StatusOK] != int64(sessions) {
		t.Errorf("requests over every session: %v, want %d × 200", got, sessions)
	}
	rss, _ := procStatus(pid, "VmRSS")
	hwm, _ := procStatus(pid, "VmHWM")
	threads, _ := procStatus(pid, "Threads")
	figure("gateway: one request per session, requests/s (32 in flight, this machine)", int(float64(sessions)/drove.Seconds()))
	figure("gateway RSS after one request per session, MiB (VmRSS)", rss/1024)
	figure("gateway peak RSS, MiB (VmHWM)", hwm/1024)
	figure("gateway threads", threads)
}

// newScaleFixture is the deployment of TestScale: three sign-in-only
// tenants (no scopes, so a request needs a session and no token: the
// sessions are made without the IdP).
func newScaleFixture(t *testing.T, idp *devidptest.Server) *fixture {
	t.Helper()
	f := newFixture(t, idp)
	yaml := ""
	for _, tn := range []struct{ key, id, kind string }{{"contoso", devidp.DemoContosoID, "workforce"}, {"fabrikam", devidp.DemoFabrikamID, "workforce"}, {"woodgrove", devidp.DemoWoodgroveID, "ciam"}} {
		yaml += fmt.Sprintf("  %s:\n    tenantId: %s\n    kind: %s\n    authorityHost: %s\n    clientId: %s\n    credential: {secret: {env: TG_E2E_SECRET}}\n", tn.key, tn.id, tn.kind, idp.URL, idp.ClientID())
	}
	if err := os.WriteFile(f.tenants, []byte("tenants:\n"+yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func forEach(n, workers int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				f(i)
			}
		}()
	}
	wg.Wait()
}

func usedMemory(t *testing.T, n *redistest.Node) int64 {
	t.Helper()
	v, err := strconv.ParseInt(n.Info(t, "memory", "used_memory"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// sampleRecordBytes is the median MEMORY USAGE of n session records.
func sampleRecordBytes(t *testing.T, n *redistest.Node, count int) int64 {
	t.Helper()
	var sizes []int64
	cursor := "0"
	for len(sizes) < count {
		reply, _ := n.Do(t, "SCAN", cursor, "MATCH", "tg1:s:????????????????????????????????????????????????????????????????", "COUNT", "1000").([]any)
		if len(reply) != 2 {
			t.Fatalf("SCAN: %v", reply)
		}
		cursor = fmt.Sprint(reply[0])
		keys, _ := reply[1].([]any)
		for _, k := range keys {
			if v, ok := n.Do(t, "MEMORY", "USAGE", fmt.Sprint(k)).(int64); ok {
				sizes = append(sizes, v)
			}
		}
		if cursor == "0" {
			break
		}
	}
	if len(sizes) == 0 {
		t.Fatal("no session record found by SCAN")
	}
	slices.Sort(sizes)
	return sizes[len(sizes)/2]
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
