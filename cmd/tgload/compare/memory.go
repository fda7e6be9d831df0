package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tenantgate/tenantgate/cmd/tgload/internal/load"
	"github.com/tenantgate/tenantgate/seal"
	"github.com/tenantgate/tenantgate/session"
	"github.com/tenantgate/tenantgate/store/redisstore"
)

type memoryResult struct {
	Sessions   int     `json:"sessions"`
	L1Mode     string  `json:"l1_mode"`
	GoMemLimit string  `json:"gomemlimit,omitempty"`
	Users      int     `json:"users"`
	Passes     int     `json:"passes"`
	Requests   uint64  `json:"requests"`
	Errors     uint64  `json:"errors"`
	RSS        int64   `json:"vm_rss_bytes"`
	HWM        int64   `json:"vm_hwm_bytes"`
	L1Entries  string  `json:"l1_entries"`
	L1Bytes    string  `json:"l1_bytes"`
	L1MiB      float64 `json:"l1_mib"`
}

// memory creates o.memSessions sessions straight through session.Manager
// (the record a sign-in writes, without the IdP's cost), on the same Redis
// and keyring as a fresh gateway, sweeps requests over all of them twice
// through that gateway so that its L1 fills to its budget and evicts, and
// reads the process's VmRSS and VmHWM from /proc; the L1's own count comes
// from the gateway's log line at shutdown.
func (e *env) memory(ctx context.Context, o options) (*memoryResult, error) {
	var pprofAddr string
	if o.pprof {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		pprofAddr = fmt.Sprintf("127.0.0.1:%d", port)
	}
	var query string
	if o.memoryL1 != "" {
		query = "?l1=" + o.memoryL1
	}
	var env []string
	if o.memoryLimit != "" {
		env = []string{"GOMEMLIMIT=" + o.memoryLimit}
	}
	p, u, err := e.serveEnv("memory", pprofAddr, query, env)
	if err != nil {
		return nil, err
	}
	st, err := redisstore.New(ctx, redisstore.Options{URL: e.redisURL, ClientName: "tgload-compare"})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	keys, err := seal.KeysFromFile(e.keys)
	if err != nil {
		return nil, err
	}
	m, err := session.New(st, keys, session.Options{PublicURL: u})
	if err != nil {
		return nil, err
	}
	// The gateway asks the token cache for the user's token on every
	// request (signin.Authenticate), so a session needs a user with tokens:
	// o.sessions users sign in through the real flow, and the sessions are
	// spread over them (as a user's several devices are).
	signed, err := load.SignIn(ctx, load.SignInConfig{Gateway: u, LoginPath: "/.auth/login/contoso?post_login_redirect_uri=/",
		ReturnPath: "/", Users: e.users(o.sessions), N: o.sessions, Parallel: 4, IdPCA: e.caFile})
	if err != nil {
		return nil, err
	}
	// Each created session carries the values of a real one (the ID
	// token's claims, which the gateway encodes into the principal header),
	// so that records, the L1 and the decoded records are as large as a
	// sign-in makes them.
	var ids []session.Identity
	var values []map[string]string
	for _, c := range signed {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Cookie", c)
		s, err := m.Load(ctx, r)
		if err != nil {
			return nil, fmt.Errorf("reading a signed-in session: %w", err)
		}
		ids = append(ids, s.Identity)
		values = append(values, s.Values())
	}
	t0 := time.Now()
	cookies := make([]string, o.memSessions)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(cookies) || ctx.Err() != nil {
					return
				}
				c, err := create(ctx, m, ids[i%len(ids)], values[i%len(ids)])
				if err != nil {
					errs <- err
					return
				}
				cookies[i] = c
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		return nil, err
	default:
	}
	fmt.Fprintf(os.Stderr, "memory: %d sessions created in %s\n", len(cookies), time.Since(t0).Round(time.Millisecond))
	const passes = 2
	res, err := load.Run(ctx, load.Config{URL: loopbackURL(u) + "/bench", Connections: o.conns, Requests: int64(passes * len(cookies)), Cookies: cookies, Duration: 5 * time.Minute})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "memory: sweep %d requests, %.0f req/s, errors %d %v\n", res.Requests, res.RPS, res.Errors, res.Status)
	r := &memoryResult{L1Mode: o.memoryL1, GoMemLimit: o.memoryLimit, Sessions: len(cookies), Users: len(ids), Passes: passes, Requests: res.Requests, Errors: res.Errors, RSS: p.status("VmRSS"), HWM: p.status("VmHWM")}
	if pprofAddr != "" {
		heapProfile(pprofAddr, filepath.Join(e.dir, "memory.heap.pprof"))
	}
	p.stop()
	r.L1Entries, r.L1Bytes = "?", "?"
	if f, err := os.Open(p.log); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if !strings.Contains(sc.Text(), "store at shutdown") {
				continue
			}
			var line struct {
				Mode    string `json:"l1_mode"`
				Entries int    `json:"l1_entries"`
				Bytes   int64  `json:"l1_bytes"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil {
				r.L1Mode, r.L1Entries, r.L1Bytes, r.L1MiB = line.Mode, fmt.Sprint(line.Entries), fmt.Sprint(line.Bytes), float64(line.Bytes)/(1<<20)
			}
		}
	}
	return r, nil
}

// create stores a session for id with values as a sign-in does and
// returns its Cookie header.
func create(ctx context.Context, m *session.Manager, id session.Identity, values map[string]string) (string, error) {
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) tgload-compare")
	s, err := m.Create(ctx, w, r, id)
	if err != nil {
		return "", err
	}
	if err := m.SetValues(ctx, s, values); err != nil {
		return "", err
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == m.CookieName() {
			return c.Name + "=" + c.Value, nil
		}
	}
	return "", errors.New("session: Create set no cookie")
}

// heapProfile saves the gateway's heap profile (a -tags pprof build).
func heapProfile(addr, path string) {
	resp, err := http.Get("http://" + addr + "/debug/pprof/heap")
	if err != nil {
		fmt.Fprintf(os.Stderr, "compare: heap profile: %v\n", err)
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if os.WriteFile(path, b, 0o644) == nil {
		fmt.Fprintf(os.Stderr, "compare: heap profile of the memory gateway in %s\n", path)
	}
}
