package tokencache_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/devidp/devidptest"
	"github.com/tenantgate/tenantgate/internal/redistest"
	"github.com/tenantgate/tenantgate/store/redisstore"
	"github.com/tenantgate/tenantgate/tokencache"
)

// historyDelta is how long after a sign-out returned every replica must
// refuse the user's tokens: the store's coherence window, with room for a
// loaded machine.
const historyDelta = 100 * time.Millisecond

// Three replicas (this test binary started three times) over one Redis
// call AcquireTokenSilent and SignOut at random on a few users while this
// process signs them in again at random; each records what it did and saw.
// No silent call that starts historyDelta after a sign-out of its user
// returned, on any replica, may get a token, unless a sign-in of that user
// may have happened in between. In "refreshing" every access token is due,
// so every silent call goes through the refresh lock too, under strict
// refresh token rotation; no call may fail other than with ErrNoToken.
//
// TG_SEED replays a run; TG_HISTORY_DURATION sets its length (default 3s).
func TestCoherenceHistory(t *testing.T) {
	if os.Getenv("TG_HISTORY_CHILD") != "" {
		historyChild(t)
		return
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("TG_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("TG_SEED=%q: %v", s, err)
		}
	}
	t.Logf("seed %d", seed)
	duration := 3 * time.Second
	if s := os.Getenv("TG_HISTORY_DURATION"); s != "" {
		var err error
		if duration, err = time.ParseDuration(s); err != nil {
			t.Fatalf("TG_HISTORY_DURATION=%q: %v", s, err)
		}
	}
	for _, tc := range []struct {
		name string
		life devidp.Lifetimes
	}{
		{"cached", devidp.Lifetimes{}},
		{"refreshing", devidp.Lifetimes{AccessToken: 4 * time.Minute}},
	} {
		t.Run(tc.name, func(t *testing.T) { runHistory(t, seed, duration, tc.life) })
	}
}

func runHistory(t *testing.T, seed uint64, duration time.Duration, life devidp.Lifetimes) {
	const users, procs = 4, 3
	srv := redistest.Standalone(t)
	idp := devidptest.Start(t, withUsers(t, users))
	idp.IdP().SetStrictRefreshRotation(true)
	idp.IdP().SetLifetimes(life)
	cl := newClient(t, newCache(t, openRedis(t, redisstore.Options{Addrs: []string{srv.Addr}}), tokencache.Options{}), idp, "contoso")
	scope := apiScope(idp, "access_as_user")
	names := make([]string, users)
	homes := make([]string, users)
	var hist []historyOp
	for i := range users {
		names[i] = fmt.Sprintf("user%04d@contoso.onmicrosoft.com", i)
		start := time.Now().UnixNano()
		homes[i] = signIn(t, idp, cl, names[i], []string{scope}).Account.HomeAccountID
		hist = append(hist, historyOp{proc: -1, kind: opSignIn, user: i, start: start, end: time.Now().UnixNano(), ok: true})
	}

	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, idp.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	children := make([]*exec.Cmd, procs)
	outs := make([]*syncBuffer, procs)
	gos := make([]io.WriteCloser, procs)
	for i := range children {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCoherenceHistory$", "-test.count=1")
		cmd.Env = append(os.Environ(), "TG_HISTORY_CHILD=1",
			"TG_REDIS="+srv.Addr, "TG_AUTHORITY="+idp.Authority("contoso"), "TG_CA="+ca,
			"TG_CLIENT_ID="+idp.ClientID(), "TG_SECRET="+idp.Secret(), "TG_KEY="+testKey.Encode(),
			"TG_HOMES="+strings.Join(homes, ","), "TG_SCOPE="+scope, "TG_APP_SCOPE="+apiScope(idp, ".default"),
			"TG_PROC="+strconv.Itoa(i), "TG_SEED="+strconv.FormatUint(seed, 10), "TG_HISTORY_DURATION="+duration.String())
		outs[i] = new(syncBuffer)
		cmd.Stdout, cmd.Stderr = outs[i], outs[i]
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		children[i], gos[i] = cmd, stdin
	}
	deadline := time.Now().Add(2 * time.Minute)
	for i := range children {
		for !strings.Contains(outs[i].String(), "READY") {
			if time.Now().After(deadline) {
				t.Fatalf("replica %d not ready:\n%s", i, outs[i])
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	for _, w := range gos {
		w.Close()
	}
	waitErrs := make([]error, procs)
	var wg sync.WaitGroup
	for i, cmd := range children {
		wg.Go(func() { waitErrs[i] = cmd.Wait() })
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	// Meanwhile this process signs users in again, at random.
	r := rand.New(rand.NewPCG(seed, 1<<32))
signing:
	for {
		select {
		case <-done:
			break signing
		case <-time.After(time.Duration(30+r.IntN(70)) * time.Millisecond):
		}
		i := r.IntN(users)
		start := time.Now().UnixNano()
		signIn(t, idp, cl, names[i], []string{scope})
		hist = append(hist, historyOp{proc: -1, kind: opSignIn, user: i, start: start, end: time.Now().UnixNano(), ok: true})
	}
	for i, err := range waitErrs {
		if err != nil {
			t.Fatalf("replica %d: %v\n%s", i, err, outs[i])
		}
	}
	for i := range children {
		ops, err := parseHistory(i, outs[i].String())
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		hist = append(hist, ops...)
	}

	var n struct{ got, denied, signOuts, signIns, other int }
	firstOther := ""
	for _, o := range hist {
		switch {
		case o.kind == opSignIn:
			n.signIns++
		case o.kind == opSignOut:
			n.signOuts++
		case o.ok:
			n.got++
		case o.err == "notoken":
			n.denied++
		default:
			n.other++
			if firstOther == "" {
				firstOther = o.err
			}
		}
	}
	t.Logf("%d silent calls got a token, %d were refused (signed out), %d failed otherwise; %d sign-outs, %d sign-ins; %d refresh_token grants",
		n.got, n.denied, n.other, n.signOuts, n.signIns, idp.IdP().Count("token", "refresh_token"))
	if bad := checkHistory(hist, historyDelta); len(bad) > 0 {
		for _, b := range bad[:min(len(bad), 10)] {
			t.Error(b)
		}
		t.Fatalf("%d silent calls got a token after their user signed out (seed %d)", len(bad), seed)
	}
	if n.other > 0 {
		t.Fatalf("%d silent calls failed other than with ErrNoToken (seed %d); first: %s", n.other, seed, firstOther)
	}
	if n.got == 0 || n.denied == 0 || n.signOuts == 0 {
		t.Fatalf("the history has no tokens, no refusals or no sign-outs: it proves nothing (seed %d)", seed)
	}
}

// historyChild is one replica: four goroutines call AcquireTokenSilent
// (49 in 50) or SignOut on random users, with a pause between calls, and
// print every call as "H kind user start end result".
func historyChild(t *testing.T) {
	env := os.Getenv
	cl, _ := childClient(t)
	homes := strings.Split(env("TG_HOMES"), ",")
	scopes := []string{env("TG_SCOPE")}
	proc, _ := strconv.Atoi(env("TG_PROC"))
	seed, _ := strconv.ParseUint(env("TG_SEED"), 10, 64)
	duration, _ := time.ParseDuration(env("TG_HISTORY_DURATION"))
	fmt.Println("READY")
	_, _ = io.ReadAll(os.Stdin)

	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	end := time.Now().Add(duration)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(seed, uint64(proc*16+g)))
			for time.Now().Before(end) {
				time.Sleep(time.Duration(5+r.IntN(25)) * time.Millisecond)
				u := r.IntN(len(homes))
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				kind, result := opSilent, "ok"
				start := time.Now().UnixNano()
				var err error
				if r.IntN(50) == 0 {
					kind = opSignOut
					err = cl.SignOut(ctx, homes[u])
				} else {
					_, err = cl.AcquireTokenSilent(ctx, homes[u], scopes)
				}
				stop := time.Now().UnixNano()
				cancel()
				switch {
				case errors.Is(err, tokencache.ErrNoToken):
					result = "notoken"
				case err != nil:
					result = "error:" + strings.Join(strings.Fields(err.Error()), "_")
				}
				mu.Lock()
				fmt.Fprintf(out, "H %s %d %d %d %s\n", kind, u, start, stop, result)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	out.Flush()
}

const (
	opSilent  = "silent"
	opSignOut = "signout"
	opSignIn  = "signin"
)

// historyOp is one call as a replica saw it; times are Unix nanoseconds of
// one machine's clock, comparable across its processes.
type historyOp struct {
	proc       int // -1: the parent
	kind       string
	user       int
	start, end int64
	ok         bool
	err        string // "notoken", or the error
}

func parseHistory(proc int, out string) ([]historyOp, error) {
	var ops []historyOp
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 6 || f[0] != "H" {
			continue
		}
		u, err1 := strconv.Atoi(f[2])
		start, err2 := strconv.ParseInt(f[3], 10, 64)
		end, err3 := strconv.ParseInt(f[4], 10, 64)
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("bad history line %q: %w", sc.Text(), err)
		}
		o := historyOp{proc: proc, kind: f[1], user: u, start: start, end: end, ok: f[5] == "ok"}
		if !o.ok {
			o.err = f[5]
		}
		ops = append(ops, o)
	}
	return ops, sc.Err()
}

// checkHistory returns the silent calls that got a token although they
// started delta or more after a sign-out of their user returned, with no
// sign-in of that user that may have landed in between: one that had not
// ended before the sign-out began, and began before the call ended.
func checkHistory(ops []historyOp, delta time.Duration) []string {
	byUser := map[int][]historyOp{}
	for _, o := range ops {
		byUser[o.user] = append(byUser[o.user], o)
	}
	var bad []string
	users := make([]int, 0, len(byUser))
	for u := range byUser {
		users = append(users, u)
	}
	sort.Ints(users)
	for _, u := range users {
		var outs, ins []historyOp
		for _, o := range byUser[u] {
			switch {
			case o.kind == opSignOut && o.ok:
				outs = append(outs, o)
			case o.kind == opSignIn:
				ins = append(ins, o)
			}
		}
		for _, s := range byUser[u] {
			if s.kind != opSilent || !s.ok {
				continue
			}
			for _, o := range outs {
				if o.end+int64(delta) > s.start {
					continue
				}
				signedIn := false
				for _, in := range ins {
					if in.end > o.start && in.start < s.end {
						signedIn = true
						break
					}
				}
				if !signedIn {
					bad = append(bad, fmt.Sprintf("user %d: a silent call on replica %d at %s got a token %s after a sign-out on replica %d returned",
						u, s.proc, time.Unix(0, s.start).UTC().Format("15:04:05.000000"), time.Duration(s.start-o.end), o.proc))
					break
				}
			}
		}
	}
	return bad
}

// The checker finds a token served after a sign-out, and accepts one
// after a sign-in or within delta.
func TestCheckHistory(t *testing.T) {
	ms := func(n int) int64 { return int64(n) * int64(time.Millisecond) }
	signOut := historyOp{proc: 0, kind: opSignOut, user: 1, start: ms(0), end: ms(10), ok: true}
	for _, tc := range []struct {
		name string
		ops  []historyOp
		bad  int
	}{
		{"token after sign-out", []historyOp{signOut, {proc: 1, kind: opSilent, user: 1, start: ms(200), end: ms(201), ok: true}}, 1},
		{"refused after sign-out", []historyOp{signOut, {proc: 1, kind: opSilent, user: 1, start: ms(200), end: ms(201), err: "notoken"}}, 0},
		{"within delta", []historyOp{signOut, {proc: 1, kind: opSilent, user: 1, start: ms(50), end: ms(51), ok: true}}, 0},
		{"another user", []historyOp{signOut, {proc: 1, kind: opSilent, user: 2, start: ms(200), end: ms(201), ok: true}}, 0},
		{"signed in again", []historyOp{signOut,
			{proc: -1, kind: opSignIn, user: 1, start: ms(100), end: ms(150), ok: true},
			{proc: 1, kind: opSilent, user: 1, start: ms(200), end: ms(201), ok: true}}, 0},
		{"sign-in racing the sign-out", []historyOp{signOut,
			{proc: -1, kind: opSignIn, user: 1, start: ms(-5), end: ms(5), ok: true},
			{proc: 1, kind: opSilent, user: 1, start: ms(200), end: ms(201), ok: true}}, 0},
		{"sign-in before the sign-out", []historyOp{
			{proc: -1, kind: opSignIn, user: 1, start: ms(-20), end: ms(-10), ok: true}, signOut,
			{proc: 1, kind: opSilent, user: 1, start: ms(200), end: ms(201), ok: true}}, 1},
		{"sign-in after the call", []historyOp{signOut,
			{proc: 1, kind: opSilent, user: 1, start: ms(200), end: ms(201), ok: true},
			{proc: -1, kind: opSignIn, user: 1, start: ms(300), end: ms(350), ok: true}}, 1},
		{"failed sign-out", []historyOp{{proc: 0, kind: opSignOut, user: 1, start: ms(0), end: ms(10), err: "error:store"},
			{proc: 1, kind: opSilent, user: 1, start: ms(200), end: ms(201), ok: true}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if bad := checkHistory(tc.ops, historyDelta); len(bad) != tc.bad {
				t.Fatalf("%d violations, want %d: %v", len(bad), tc.bad, bad)
			}
		})
	}
}
