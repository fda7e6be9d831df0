package tokencache_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/devidp/devidptest"
	"github.com/tenantgate/tenantgate/internal/redistest"
	"github.com/tenantgate/tenantgate/seal"
	"github.com/tenantgate/tenantgate/store"
	"github.com/tenantgate/tenantgate/store/redisstore"
	"github.com/tenantgate/tenantgate/tokencache"
)

// Two replicas refresh one user at the same moment, each for its own
// scope, from the same stored version. Without versioned writes one of the
// two new tokens is lost (architecture fact 6); here the second writer
// conflicts, merges, and both tokens are in the partition.
//
// The replicas are real processes: this test binary started twice. MSAL
// re-reads the partition just before writing, which narrows the race to
// microseconds; a barrier in each child's store makes both writes meet.
func TestTwoProcessesRefreshSameUser(t *testing.T) {
	if os.Getenv("TG_CHILD") != "" {
		twoProcessChild(t)
		return
	}
	srv := redistest.Standalone(t)
	idp := devidptest.Start(t)
	kv := openRedis(t, redisstore.Options{Addrs: []string{srv.Addr}})
	cl := newClient(t, newCache(t, kv, tokencache.Options{}), idp, "contoso")
	scopeA, scopeB := apiScope(idp, "access_as_user"), apiScope(idp, "Tasks.Read")

	// Signed in with a token MSAL will not use (4 minutes left), so both
	// replicas must go to the IdP; what they get back is long-lived.
	idp.IdP().SetLifetimes(devidp.Lifetimes{AccessToken: 4 * time.Minute})
	user := signIn(t, idp, cl, "alice@contoso.onmicrosoft.com", []string{scopeA})
	idp.IdP().SetLifetimes(devidp.Lifetimes{})
	// Both replicas read the partition before either writes it back.

	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, idp.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	children := make([]*exec.Cmd, 2)
	outs := make([]*syncBuffer, 2)
	gos := make([]io.WriteCloser, 2)
	for i, scope := range []string{scopeA, scopeB} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestTwoProcessesRefreshSameUser$", "-test.count=1")
		cmd.Env = append(os.Environ(), "TG_CHILD=1",
			"TG_REDIS="+srv.Addr, "TG_AUTHORITY="+idp.Authority("contoso"), "TG_CA="+ca,
			"TG_CLIENT_ID="+idp.ClientID(), "TG_SECRET="+idp.Secret(), "TG_KEY="+testKey.Encode(),
			"TG_HOME="+user.Account.HomeAccountID, "TG_SCOPE="+scope, "TG_APP_SCOPE="+apiScope(idp, ".default"))
		outs[i] = new(syncBuffer)
		cmd.Stdout, cmd.Stderr = outs[i], outs[i]
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		children[i], gos[i] = cmd, stdin
	}
	// Both replicas are connected and wait on stdin: release them together.
	deadline := time.Now().Add(time.Minute)
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
	got := map[string]string{}
	merges := 0
	for i, cmd := range children {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("replica %d: %v\n%s", i, err, outs[i])
		}
		sc := bufio.NewScanner(strings.NewReader(outs[i].String()))
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "TOKEN" {
				got[f[1]] = f[2]
			} else if len(f) == 2 && f[0] == "MERGES" {
				n, _ := strconv.Atoi(f[1])
				merges += n
			}
		}
	}
	if len(got) != 2 {
		t.Fatalf("replicas reported tokens for %d scopes, want 2:\n%s\n%s", len(got), outs[0], outs[1])
	}
	if merges == 0 {
		t.Fatalf("the two writes did not collide; the test proves nothing:\n%s\n%s", outs[0], outs[1])
	}
	if n := idp.IdP().Count("token", "refresh_token"); n != 2 {
		t.Fatalf("%d refreshes, want one per replica", n)
	}
	// The partition holds the newest token of each: served without the IdP.
	before := idp.IdP().Count("token", "")
	reader := newClient(t, newCache(t, openRedis(t, redisstore.Options{Addrs: []string{srv.Addr}}), tokencache.Options{}), idp, "contoso")
	for _, scope := range []string{scopeA, scopeB} {
		res, err := reader.AcquireTokenSilent(context.Background(), user.Account.HomeAccountID, []string{scope})
		if err != nil {
			t.Fatalf("%s: %v", scope, err)
		}
		if res.AccessToken != got[scope] {
			t.Fatalf("%s: the partition does not hold the token that replica got: a write was lost", scope)
		}
	}
	if n := idp.IdP().Count("token", "") - before; n != 0 {
		t.Fatalf("%d token requests reading back; a token was lost", n)
	}
}

// twoProcessChild is one replica: it refreshes one scope when released and
// prints the token it got and how many merges it did.
func twoProcessChild(t *testing.T) {
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
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	// MSAL reads the partition again just before it writes, so "at the
	// same moment" is a window of microseconds: the barrier holds this
	// replica's write until the other one is about to write too.
	kv := &processBarrier{KV: openRedis(t, redisstore.Options{Addrs: []string{env("TG_REDIS")}}), n: 2}
	c := tokencache.New(kv, ring, tokencache.Options{Logger: quiet})
	defer c.Close()
	cred, err := confidential.NewCredFromSecret(env("TG_SECRET"))
	if err != nil {
		t.Fatal(err)
	}
	cl, err := c.NewClient(tokencache.ClientConfig{Authority: env("TG_AUTHORITY"), ClientID: env("TG_CLIENT_ID"), Credential: cred, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	// Resolve the authority now (an app token, another partition), so that
	// once released the replica's first step is reading the user's partition.
	if _, err := cl.AcquireTokenByCredential(context.Background(), []string{env("TG_APP_SCOPE")}); err != nil {
		t.Fatal(err)
	}
	fmt.Println("READY")
	_, _ = io.ReadAll(os.Stdin) // the parent closes it to start both replicas at once
	res, err := cl.AcquireTokenSilent(context.Background(), env("TG_HOME"), []string{env("TG_SCOPE")})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("TOKEN %s %s\nMERGES %d\n", env("TG_SCOPE"), res.AccessToken, c.Stats().Merges)
}

// syncBuffer is a bytes.Buffer a child process writes while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// processBarrier holds the first write of a user partition until n
// processes have reached theirs, counting in the store itself.
type processBarrier struct {
	store.KV
	n    int
	done bool
}

func (b *processBarrier) CompareAndSet(ctx context.Context, key string, version uint64, data []byte, ttl time.Duration) (uint64, error) {
	if !b.done && strings.Contains(key, ":u:") {
		b.done = true
		const counter = "tg1:test:barrier"
		for {
			cur, v, err := b.KV.Get(ctx, counter)
			n := 0
			if err == nil {
				n, _ = strconv.Atoi(string(cur))
			}
			if _, err := b.KV.CompareAndSet(ctx, counter, v, []byte(strconv.Itoa(n+1)), time.Minute); err == nil {
				break
			}
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			cur, _, _ := b.KV.Get(ctx, counter)
			if n, _ := strconv.Atoi(string(cur)); n >= b.n {
				break
			}
			if time.Now().After(deadline) {
				return 0, errors.New("barrier: the other replica never wrote")
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	return b.KV.CompareAndSet(ctx, key, version, data, ttl)
}
