package tokencache_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/devidp/devidptest"
	"github.com/tenantgate/tenantgate/internal/redistest"
	"github.com/tenantgate/tenantgate/seal"
	"github.com/tenantgate/tenantgate/store/redisstore"
	"github.com/tenantgate/tenantgate/tokencache"
)

// Three replicas (this test binary started three times) call
// AcquireTokenSilent 64 at a time for users whose access tokens are due,
// against an IdP that rotates refresh tokens strictly: a refresh token
// redeemed twice revokes the user's whole sign-in. Each user's refresh
// token must be redeemed exactly once, and no call may fail.
//
// The slow variant makes the IdP take 1 s to answer while the lock's TTL
// is 300 ms: without renewal the lease lapses mid-refresh and a second
// replica redeems the same token (oauth2-proxy's fixed 2 s lock, their
// issues #1006 and #1992).
func TestOneRefreshAcrossProcesses(t *testing.T) {
	if os.Getenv("TG_REFRESH_CHILD") != "" {
		refreshChild(t)
		return
	}
	for _, tc := range []struct {
		name    string
		users   int
		latency time.Duration
		lockTTL time.Duration
	}{
		{name: "one user", users: 1},
		{name: "50 users", users: 50},
		{name: "slow IdP, lock renewed", users: 1, latency: time.Second, lockTTL: 300 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runReplicas(t, replicaRun{
				test: "TestOneRefreshAcrossProcesses", env: "TG_REFRESH_CHILD",
				users: tc.users, procs: 3, goroutines: 64, latency: tc.latency, lockTTL: tc.lockTTL,
			})
			t.Logf("grants %d, calls %d, errors %d, invalid_grant %d, %s", r.grants, r.ok+r.errors, r.errors, r.invalidGrant, r.stats)
			if r.errors != 0 {
				t.Errorf("%d silent calls failed; first: %s", r.errors, r.firstErr)
			}
			if r.invalidGrant != 0 {
				t.Errorf("the IdP refused %d reused refresh tokens", r.invalidGrant)
			}
			if r.grants != tc.users {
				t.Errorf("%d refresh_token grants for %d users; want one each", r.grants, tc.users)
			}
			for home, tokens := range r.tokens {
				if len(tokens) != 1 {
					t.Errorf("user %s got %d different access tokens across replicas; want the one refreshed", home, len(tokens))
				}
			}
		})
	}
}

// replicaRun is one run of child processes over one Redis and one IdP.
type replicaRun struct {
	test, env         string // the test the children re-run, and the variable that makes them children
	users             int
	procs, goroutines int
	latency           time.Duration // IdP latency once the children are ready
	lockTTL           time.Duration
}

type replicaResult struct {
	ok, errors   int
	firstErr     string
	grants       int                            // refresh_token grants the IdP served
	invalidGrant int                            // token requests the IdP refused
	tokens       map[string]map[string]struct{} // home account ID → hashes of the access tokens the replicas got
	stats        string
}

// runReplicas signs users in with access tokens MSAL treats as expired (4
// minutes left; the refreshed ones live an hour), then starts the child
// processes and releases them together.
func runReplicas(t *testing.T, run replicaRun) replicaResult {
	srv := redistest.Standalone(t)
	idp := devidptest.Start(t, withUsers(t, run.users))
	idp.IdP().SetStrictRefreshRotation(true)
	cl := newClient(t, newCache(t, openRedis(t, redisstore.Options{Addrs: []string{srv.Addr}}), tokencache.Options{}), idp, "contoso")
	scope := apiScope(idp, "access_as_user")

	idp.IdP().SetLifetimes(devidp.Lifetimes{AccessToken: 4 * time.Minute})
	homes := make([]string, run.users)
	for i := range homes {
		homes[i] = signIn(t, idp, cl, fmt.Sprintf("user%04d@contoso.onmicrosoft.com", i), []string{scope}).Account.HomeAccountID
	}
	idp.IdP().SetLifetimes(devidp.Lifetimes{})
	before := idp.IdP().Count("token", "refresh_token")

	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, idp.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	children := make([]*exec.Cmd, run.procs)
	outs := make([]*syncBuffer, run.procs)
	gos := make([]io.WriteCloser, run.procs)
	for i := range children {
		cmd := exec.Command(os.Args[0], "-test.run=^"+run.test+"$", "-test.count=1")
		cmd.Env = append(os.Environ(), run.env+"=1",
			"TG_REDIS="+srv.Addr, "TG_AUTHORITY="+idp.Authority("contoso"), "TG_CA="+ca,
			"TG_CLIENT_ID="+idp.ClientID(), "TG_SECRET="+idp.Secret(), "TG_KEY="+testKey.Encode(),
			"TG_HOMES="+strings.Join(homes, ","), "TG_SCOPE="+scope, "TG_APP_SCOPE="+apiScope(idp, ".default"),
			"TG_GOROUTINES="+strconv.Itoa(run.goroutines), "TG_LOCK_TTL="+run.lockTTL.String(), "TG_PROC="+strconv.Itoa(i))
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
	idp.IdP().SetLatency(run.latency)
	for _, w := range gos {
		w.Close()
	}
	r := replicaResult{tokens: map[string]map[string]struct{}{}}
	var stats []string
	for i, cmd := range children {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("replica %d: %v\n%s", i, err, outs[i])
		}
		sc := bufio.NewScanner(strings.NewReader(outs[i].String()))
		for sc.Scan() {
			line := sc.Text()
			f := strings.Fields(line)
			switch {
			case len(f) == 3 && f[0] == "RESULT":
				ok, _ := strconv.Atoi(f[1])
				bad, _ := strconv.Atoi(f[2])
				r.ok += ok
				r.errors += bad
			case len(f) == 3 && f[0] == "TOKEN":
				if r.tokens[f[1]] == nil {
					r.tokens[f[1]] = map[string]struct{}{}
				}
				r.tokens[f[1]][f[2]] = struct{}{}
			case strings.HasPrefix(line, "ERROR ") && r.firstErr == "":
				r.firstErr = strings.TrimPrefix(line, "ERROR ")
			case strings.HasPrefix(line, "STATS "):
				stats = append(stats, fmt.Sprintf("replica %d: %s", i, strings.TrimPrefix(line, "STATS ")))
			}
		}
	}
	r.stats = strings.Join(stats, "; ")
	r.grants = idp.IdP().Count("token", "refresh_token") - before
	for _, req := range idp.IdP().Requests() {
		if req.Endpoint == "token" && req.Grant == "refresh_token" && req.Error != "" {
			r.invalidGrant++
		}
	}
	return r
}

// refreshChild is one replica: when released, TG_GOROUTINES goroutines
// each ask for every user's token once, in their own order. It prints how
// many calls succeeded and failed, a hash of each token it got (never the
// token) and its counters.
func refreshChild(t *testing.T) {
	env := os.Getenv
	cl, c := childClient(t)
	homes := strings.Split(env("TG_HOMES"), ",")
	scopes := []string{env("TG_SCOPE")}
	n, _ := strconv.Atoi(env("TG_GOROUTINES"))
	proc, _ := strconv.Atoi(env("TG_PROC"))
	fmt.Println("READY")
	_, _ = io.ReadAll(os.Stdin) // the parent closes it to start every replica at once

	var ok, bad atomic.Int64
	var mu sync.Mutex
	firstErr := ""
	tokens := map[string]map[string]struct{}{}
	var wg sync.WaitGroup
	for g := range n {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(proc), uint64(g)))
			order := r.Perm(len(homes))
			for _, i := range order {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				res, err := cl.AcquireTokenSilent(ctx, homes[i], scopes)
				cancel()
				mu.Lock()
				if err != nil {
					bad.Add(1)
					if firstErr == "" {
						firstErr = err.Error()
					}
				} else {
					ok.Add(1)
					if tokens[homes[i]] == nil {
						tokens[homes[i]] = map[string]struct{}{}
					}
					tokens[homes[i]][tokenHash(res.AccessToken)] = struct{}{}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	fmt.Printf("RESULT %d %d\n", ok.Load(), bad.Load())
	if firstErr != "" {
		fmt.Printf("ERROR %s\n", strings.ReplaceAll(firstErr, "\n", " "))
	}
	for home, hs := range tokens {
		for h := range hs {
			fmt.Printf("TOKEN %s %s\n", home, h)
		}
	}
	st := c.Stats()
	fmt.Printf("STATS locks=%d waits=%d elsewhere=%d lockFailures=%d lost=%d\n",
		st.RefreshLocks, st.RefreshWaits, st.RefreshedElsewhere, st.RefreshLockFailures, st.RefreshLockLost)
}

// childClient is a replica's client, from the environment the parent set.
func childClient(t *testing.T) (*tokencache.Client, *tokencache.Cache) {
	t.Helper()
	env := os.Getenv
	ring, err := seal.ParseKeys(env("TG_KEY"))
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(env("TG_CA"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, MaxIdleConnsPerHost: 64}}
	ttl, _ := time.ParseDuration(env("TG_LOCK_TTL"))
	c := tokencache.New(openRedis(t, redisstore.Options{Addrs: []string{env("TG_REDIS")}}), ring, tokencache.Options{Logger: quiet, RefreshLockTTL: ttl})
	t.Cleanup(func() { c.Close() })
	cred, err := confidential.NewCredFromSecret(env("TG_SECRET"))
	if err != nil {
		t.Fatal(err)
	}
	cl, err := c.NewClient(tokencache.ClientConfig{Authority: env("TG_AUTHORITY"), ClientID: env("TG_CLIENT_ID"), Credential: cred, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	// Resolve the authority now (an app token, another partition), so the
	// replicas start on an equal footing.
	if _, err := cl.AcquireTokenByCredential(context.Background(), []string{env("TG_APP_SCOPE")}); err != nil {
		t.Fatal(err)
	}
	return cl, c
}

// tokenHash names a token in a child's output without showing it.
func tokenHash(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:8])
}

// One process, the pool off (a new MSAL client per call, so calls of one
// partition do not wait for each other's entry): 64 concurrent calls for a
// due token still send one refresh_token grant.
func TestOneRefreshInProcessWithoutPool(t *testing.T) {
	idp := devidptest.Start(t)
	idp.IdP().SetStrictRefreshRotation(true)
	kv := redisBackend.start(t)()
	c := newCache(t, kv, tokencache.Options{PoolBytes: -1})
	cl := newClient(t, c, idp, "contoso")
	scopes := []string{apiScope(idp, "access_as_user")}
	idp.IdP().SetLifetimes(devidp.Lifetimes{AccessToken: 4 * time.Minute})
	user := signIn(t, idp, cl, "alice@contoso.onmicrosoft.com", scopes)
	idp.IdP().SetLifetimes(devidp.Lifetimes{})
	// Slow enough that every call reaches the IdP's door while the first
	// one is inside.
	idp.IdP().SetLatency(200 * time.Millisecond)

	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 64 {
		wg.Go(func() {
			if _, err := cl.AcquireTokenSilent(context.Background(), user.Account.HomeAccountID, scopes); err != nil {
				if failed.Add(1) == 1 {
					t.Errorf("first failure: %v", err)
				}
			}
		})
	}
	wg.Wait()
	st := c.Stats()
	if n := idp.IdP().Count("token", "refresh_token"); n != 1 || failed.Load() != 0 {
		t.Fatalf("%d refresh_token grants and %d failures for 64 calls in one process; want 1 and 0 (%+v)", n, failed.Load(), st)
	}
	if st.RefreshWaits == 0 || st.RefreshLocks == 0 {
		t.Fatalf("no call waited for the first one's refresh, the test proves nothing: %+v", st)
	}
}

// Redis stops answering while a token is due: the replica refreshes
// without the lock (counted), and the caller gets its token, not an error.
func TestRefreshWithStoreDownCountsLockFailure(t *testing.T) {
	srv := redistest.Standalone(t)
	idp := devidptest.Start(t)
	ctx := context.Background()
	o := redisstore.Options{Addrs: []string{srv.Addr}, OpTimeout: 200 * time.Millisecond}
	c := newCache(t, openRedis(t, o), tokencache.Options{WriteBehindRetry: 50 * time.Millisecond})
	cl := newClient(t, c, idp, "contoso")
	scopes := []string{apiScope(idp, "access_as_user")}

	idp.IdP().SetLifetimes(devidp.Lifetimes{AccessToken: 4 * time.Minute})
	user := signIn(t, idp, cl, "bob@contoso.onmicrosoft.com", scopes)
	// A first silent call refreshes under the lock and puts bob's
	// partition in this replica's pool; its new token is still due.
	first, err := cl.AcquireTokenSilent(ctx, user.Account.HomeAccountID, scopes)
	if err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.RefreshLocks != 1 || st.RefreshLockFailures != 0 {
		t.Fatalf("first refresh: %+v; want it under the lock", st)
	}
	idp.IdP().SetLifetimes(devidp.Lifetimes{})

	srv.Pause(t)
	res, err := cl.AcquireTokenSilent(ctx, user.Account.HomeAccountID, scopes)
	st := c.Stats()
	srv.Resume(t)
	if err != nil {
		t.Fatalf("silent refresh with Redis down: %v", err)
	}
	if res.AccessToken == first.AccessToken {
		t.Fatal("no new token")
	}
	if st.RefreshLockFailures != 1 || st.RefreshLocks != 1 {
		t.Fatalf("with Redis down: %+v; want one refresh counted as a lock failure", st)
	}
	if n := idp.IdP().Count("token", "refresh_token"); n != 2 {
		t.Fatalf("%d refresh_token grants; want 2", n)
	}
}

// A replica signs the user out while another replica's refresh is at the
// IdP. MSAL reads the partition again before it writes the new token: it
// finds the sign-out's tombstone, which it sees as an empty cache, and the
// write over it would succeed and bring the user back. Found by
// TestCoherenceHistory ("refreshing"). The user must stay signed out.
func TestSignOutDuringRefreshStaysSignedOut(t *testing.T) {
	open := redisBackend.start(t)
	idp := devidptest.Start(t)
	ctx := context.Background()
	one := newCache(t, open(), tokencache.Options{})
	refreshing, signingOut, reading := newClient(t, one, idp, "contoso"),
		newClient(t, newCache(t, open(), tokencache.Options{}), idp, "contoso"),
		newClient(t, newCache(t, open(), tokencache.Options{}), idp, "contoso")
	scopes := []string{apiScope(idp, "access_as_user")}
	idp.IdP().SetLifetimes(devidp.Lifetimes{AccessToken: 4 * time.Minute})
	user := signIn(t, idp, refreshing, "alice@contoso.onmicrosoft.com", scopes)
	idp.IdP().SetLifetimes(devidp.Lifetimes{})
	home := user.Account.HomeAccountID

	idp.IdP().SetLatency(time.Second)
	done := make(chan error, 1)
	go func() {
		_, err := refreshing.AcquireTokenSilent(ctx, home, scopes)
		done <- err
	}()
	// The refresh request leaves right after the lock is taken; the IdP
	// holds its answer for a second.
	deadline := time.Now().Add(time.Minute)
	for one.Stats().RefreshLocks == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the refresh never took its lock")
		}
		time.Sleep(time.Millisecond)
	}
	if err := signingOut.SignOut(ctx, home); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil && !errors.Is(err, tokencache.ErrNoToken) {
		t.Fatalf("the refresh signed out under it: %v; want its token or ErrNoToken", err)
	}
	idp.IdP().SetLatency(0)
	if _, err := reading.AcquireTokenSilent(ctx, home, scopes); !errors.Is(err, tokencache.ErrNoToken) {
		t.Fatalf("after the sign-out, another replica: %v; want ErrNoToken (the refresh brought the user back)", err)
	}
	if st := one.Stats(); st.DroppedAfterSignOut == 0 {
		t.Fatalf("%+v; want the refreshed state dropped", st)
	}
}

// laggingStore is a real Redis store whose reads of user partitions lag:
// a value read once is served for lag, as an L1 does whose invalidation is
// still on its way (the store contract allows a coherence window). Locks,
// writes and messages go to Redis as they are.
type laggingStore struct {
	*redisstore.Store
	lag time.Duration
	mu  sync.Mutex
	m   map[string]laggedRead
}

type laggedRead struct {
	data    []byte
	version uint64
	at      time.Time
}

func (s *laggingStore) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	if !strings.Contains(key, ":u:") {
		return s.Store.Get(ctx, key)
	}
	s.mu.Lock()
	r, ok := s.m[key]
	s.mu.Unlock()
	if ok && time.Since(r.at) < s.lag {
		return r.data, r.version, nil
	}
	data, v, err := s.Store.Get(ctx, key)
	if err == nil {
		s.mu.Lock()
		s.m[key] = laggedRead{data: data, version: v, at: time.Now()}
		s.mu.Unlock()
	}
	return data, v, err
}

// The re-read under the lock must not trust the store's copy alone: a
// replica whose copy still shows the version another replica just
// refreshed from would redeem a spent refresh token, and strict rotation
// then revokes the user's sign-in.
func TestRefreshLockTrustsNoLaggingCopy(t *testing.T) {
	srv := redistest.Standalone(t)
	idp := devidptest.Start(t)
	idp.IdP().SetStrictRefreshRotation(true)
	ctx := context.Background()
	o := redisstore.Options{Addrs: []string{srv.Addr}}
	a := newClient(t, newCache(t, openRedis(t, o), tokencache.Options{}), idp, "contoso")
	lagging := &laggingStore{Store: openRedis(t, o), lag: time.Second, m: map[string]laggedRead{}}
	bc := newCache(t, lagging, tokencache.Options{})
	b := newClient(t, bc, idp, "contoso")
	scopes := []string{apiScope(idp, "access_as_user")}
	idp.IdP().SetLifetimes(devidp.Lifetimes{AccessToken: 4 * time.Minute})
	home := signIn(t, idp, a, "alice@contoso.onmicrosoft.com", scopes).Account.HomeAccountID
	idp.IdP().SetLifetimes(devidp.Lifetimes{})

	// B reads the partition (its copy now lags for a second), then A
	// refreshes, then B asks.
	authority, err := url.Parse(idp.Authority("contoso"))
	if err != nil {
		t.Fatal(err)
	}
	key := "tg1:tc:" + idp.ClientID() + ":" + strings.Trim(authority.Path, "/") + ":u:" + home
	if _, _, err := lagging.Get(ctx, key); err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	got, err := a.AcquireTokenSilent(ctx, home, scopes)
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.AcquireTokenSilent(ctx, home, scopes)
	if err != nil {
		t.Fatalf("replica with a lagging copy: %v", err)
	}
	if n := idp.IdP().Count("token", "refresh_token"); n != 1 || res.AccessToken != got.AccessToken {
		t.Fatalf("%d refresh_token grants (want 1), same token: %v; %+v", n, res.AccessToken == got.AccessToken, bc.Stats())
	}
}
