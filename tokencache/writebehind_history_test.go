package tokencache_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/devidp/devidptest"
	"github.com/tenantgate/tenantgate/internal/redistest"
	"github.com/tenantgate/tenantgate/store"
	"github.com/tenantgate/tenantgate/store/redisstore"
	"github.com/tenantgate/tenantgate/tokencache"
)

// Random histories of one user across three replicas: refreshes (each
// call refreshes: the tokens are issued with 4 minutes left), sign-ins and
// sign-outs on any replica, Redis killed and restarted (with its data) so
// that refreshes wait in write-behind queues, and tombstones evicted. The
// queues flush on their own (every 20 ms) while the history goes on. A
// checker reads the partition after every step with Redis up and at the
// end: after a sign-out, until the next sign-in, it never holds a refresh
// token; after a sign-in, until the next sign-out, it holds one once the
// queues have drained; and with Redis up no replica hands a signed-out
// user a token. TG_SEED replays the same steps (the queues' timing is the
// machine's).
func TestWriteBehindHistorySignedOutStaysOut(t *testing.T) {
	seed := rand.Uint64()
	if s := os.Getenv("TG_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1))
	for h := range 4 {
		t.Run(strconv.Itoa(h), func(t *testing.T) { writeBehindHistory(t, seed, r) })
	}
}

// writeBehindHistory runs one history of 60 steps drawn from r.
func writeBehindHistory(t *testing.T, seed uint64, r *rand.Rand) {
	srv := redistest.Standalone(t, redistest.WithConfig("appendonly yes", "appendfsync always"))
	idp := devidptest.Start(t)
	idp.IdP().SetLifetimes(devidp.Lifetimes{AccessToken: 4 * time.Minute})
	ro := redisstore.Options{Addrs: []string{srv.Addr}, OpTimeout: 300 * time.Millisecond, L1: redisstore.ModeOff}
	ctx := context.Background()
	const replicas = 3
	caches := make([]*tokencache.Cache, replicas)
	clients := make([]*tokencache.Client, replicas)
	var kvs []store.KV
	for i := range replicas {
		kv := openRedis(t, ro)
		kvs = append(kvs, kv)
		caches[i] = newCache(t, kv, tokencache.Options{WriteBehindRetry: 20 * time.Millisecond})
		clients[i] = newClient(t, caches[i], idp, "contoso")
	}
	check := openRedis(t, ro)
	scopes := []string{apiScope(idp, "access_as_user")}
	home := signIn(t, idp, clients[0], "bob@contoso.onmicrosoft.com", scopes).Account.HomeAccountID
	key := "tg1:tc:" + idp.ClientID() + ":" + devidp.DemoContosoID + ":u:" + home

	var history []string
	log := func(format string, args ...any) { history = append(history, fmt.Sprintf(format, args...)) }
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d: %s\nhistory:\n  %s", seed, fmt.Sprintf(format, args...), strings.Join(history, "\n  "))
	}
	// stored reads the partition: absent, a tombstone, or tokens.
	stored := func() (kind string) {
		sealed, _, err := check.Get(ctx, key)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return "absent"
		case err != nil:
			fail("read the partition: %v", err)
		}
		plain, err := testKeyring.Open(sealed, key)
		if err != nil {
			fail("open the partition: %v", err)
		}
		if bytes.HasPrefix(plain, []byte(`{"tg_signed_out":`)) {
			return "tombstone"
		}
		var p struct{ RefreshToken map[string]json.RawMessage }
		if err := json.Unmarshal(plain, &p); err != nil {
			fail("parse the partition: %v", err)
		}
		if len(p.RefreshToken) == 0 {
			return "no-refresh-token"
		}
		return "tokens"
	}
	signedIn, up := true, true
	verify := func() {
		t.Helper()
		got := stored()
		if signedIn && got != "tokens" {
			// A write that met a reconnecting store waits in a queue:
			// the partition holds the tokens once the queues drain.
			deadline := time.Now().Add(10 * time.Second)
			for pending := true; pending && time.Now().Before(deadline); {
				pending = false
				for _, c := range caches {
					pending = pending || c.Stats().WriteBehindPending != 0
				}
				time.Sleep(10 * time.Millisecond)
			}
			got = stored()
		}
		log("  stored: %s", got)
		if signedIn && got != "tokens" {
			fail("signed in, the partition is %s; want tokens", got)
		}
		if !signedIn && got == "tokens" {
			fail("signed out, the partition holds tokens again")
		}
	}
	waitUp := func() { reconnect(t, append(kvs, check)...) }
	for step := range 60 {
		i := r.IntN(replicas)
		switch n := r.IntN(10); {
		case n < 4:
			_, err := clients[i].AcquireTokenSilent(ctx, home, scopes)
			log("%d: replica %d refresh (up %v): %v", step, i, up, err)
			// With Redis down a replica serves the partition it holds
			// (documented): it may not know of a sign-out elsewhere yet.
			if err == nil && !signedIn && up {
				fail("a signed-out user got a token")
			}
		case n < 5 && up:
			err := clients[i].SignOut(ctx, home)
			log("%d: replica %d sign-out: %v", step, i, err)
			if err == nil {
				signedIn = false
			}
		case n < 6 && up:
			signIn(t, idp, clients[i], "bob@contoso.onmicrosoft.com", scopes)
			log("%d: replica %d sign-in", step, i)
			signedIn = true
		case n < 7 && up:
			if stored() == "tombstone" {
				srv.Do(t, "DEL", key)
				log("%d: tombstone evicted", step)
			}
		case n < 8:
			if up {
				srv.Kill(t)
				log("%d: Redis killed", step)
			} else {
				srv.Restart(t)
				waitUp()
				log("%d: Redis restarted", step)
			}
			up = !up
		default:
			d := time.Duration(r.IntN(100)) * time.Millisecond
			time.Sleep(d)
			log("%d: waited %v", step, d)
		}
		if up {
			verify()
		}
	}
	if !up {
		srv.Restart(t)
		waitUp()
		log("end: Redis restarted")
	}
	for _, c := range caches {
		c.Close() // the last flush
	}
	verify()
	for i, c := range caches {
		st := c.Stats()
		balanced(t, st)
		log("replica %d: %+v", i, st)
	}
	t.Logf("history:\n  %s", strings.Join(history, "\n  "))
}
