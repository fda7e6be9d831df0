package tokencache_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/devidp/devidptest"
	"github.com/tenantgate/tenantgate/internal/redistest"
	"github.com/tenantgate/tenantgate/store"
	"github.com/tenantgate/tenantgate/store/redisstore"
	"github.com/tenantgate/tenantgate/tokencache"
)

// wbEnv is a user whose refreshed state waits in replica one's
// write-behind queue: Redis was killed during the refresh and has been
// restarted (with its data: AOF), and the queue's next retry is an hour
// away, so the test decides what happens before Close writes it.
type wbEnv struct {
	srv       *redistest.Node
	idp       *devidptest.Server
	one       *tokencache.Cache
	cl        *tokencache.Client // replica one
	two       *tokencache.Client // replica two, same Redis
	kv        store.KV           // replica two's store
	scopes    []string
	home, key string
	before    uint64 // the partition's stored version when Redis was killed
	fresh     confidential.AuthResult
}

// A killed server, unlike a paused one, cannot execute a command that was
// sent during the outage after it comes back: what the test sees landing
// landed through the queue.
func queuedRefresh(t *testing.T, o tokencache.Options) *wbEnv {
	t.Helper()
	e := &wbEnv{srv: redistest.Standalone(t, redistest.WithConfig("appendonly yes", "appendfsync always")), idp: devidptest.Start(t)}
	ctx := context.Background()
	ro := redisstore.Options{Addrs: []string{e.srv.Addr}, OpTimeout: 500 * time.Millisecond, L1: redisstore.ModeOff}
	if o.WriteBehindRetry == 0 {
		o.WriteBehindRetry = time.Hour
	}
	oneKV := openRedis(t, ro)
	e.one = newCache(t, oneKV, o)
	e.cl = newClient(t, e.one, e.idp, "contoso")
	e.kv = openRedis(t, ro)
	e.two = newClient(t, newCache(t, e.kv, tokencache.Options{}), e.idp, "contoso")
	e.scopes = []string{apiScope(e.idp, "access_as_user")}

	e.idp.IdP().SetLifetimes(devidp.Lifetimes{AccessToken: 4 * time.Minute})
	user := signIn(t, e.idp, e.cl, "bob@contoso.onmicrosoft.com", e.scopes)
	e.home = user.Account.HomeAccountID
	e.key = "tg1:tc:" + e.idp.ClientID() + ":" + devidp.DemoContosoID + ":u:" + e.home
	// A first silent call puts bob's partition in replica one's pool.
	if _, err := e.cl.AcquireTokenSilent(ctx, e.home, e.scopes); err != nil {
		t.Fatal(err)
	}
	e.idp.IdP().SetLifetimes(devidp.Lifetimes{})
	_, e.before, _ = e.kv.Get(ctx, e.key)

	e.srv.Kill(t)
	var err error
	if e.fresh, err = e.cl.AcquireTokenSilent(ctx, e.home, e.scopes); err != nil {
		t.Fatalf("silent refresh with Redis down: %v", err)
	}
	if st := e.one.Stats(); st.WriteBehindPending != 1 {
		t.Fatalf("write-behind: %+v; want the refreshed state queued", st)
	}
	// The queue tries at once; restart only when that try has failed, so
	// that it cannot land the state on the restarted server.
	deadline := time.Now().Add(30 * time.Second)
	for e.one.Stats().WriteBehindRetries == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the queue never tried: %+v", e.one.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.srv.Restart(t)
	reconnect(t, oneKV, e.kv)
	if _, v, err := e.kv.Get(ctx, e.key); err != nil || v != e.before {
		t.Fatalf("bob's partition after the restart: version %d, %v; want %d", v, err, e.before)
	}
	return e
}

// reconnect waits until every store writes again after a restart: a
// connection that broke answers its next command with an error, and reads
// and writes may travel on different connections.
func reconnect(t *testing.T, kvs ...store.KV) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for _, kv := range kvs {
		// Several answers in a row: the client spreads commands over more
		// than one connection, and one answering says nothing of another
		// that has yet to find out the server restarted (seen in CI as an
		// EOF on the next command).
		for ok := 0; ok < 16; {
			_, _, gerr := kv.Get(ctx, "probe")
			_, err := kv.CompareAndSet(ctx, "probe:"+store.NewOwner(), 0, []byte("x"), time.Minute)
			if (gerr == nil || errors.Is(gerr, store.ErrNotFound)) && err == nil {
				ok++
				continue
			}
			ok = 0
			if time.Now().After(deadline) {
				t.Fatalf("Redis did not come back: %v", err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// balanced checks that every queued state is accounted for once.
func balanced(t *testing.T, st tokencache.Stats) {
	t.Helper()
	if got := st.WriteBehindLanded + st.WriteBehindReplaced + st.WriteBehindSignedOut + st.WriteBehindExpired +
		st.WriteBehindDropped + uint64(st.WriteBehindPending); got != st.WriteBehindQueued {
		t.Fatalf("write-behind counters do not balance: %+v", st)
	}
}

// absent asserts the partition is gone from Redis.
func (e *wbEnv) absent(t *testing.T) {
	t.Helper()
	if _, _, err := e.kv.Get(context.Background(), e.key); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("bob's partition after his sign-out: %v; want it absent (his tokens came back)", err)
	}
}

// Finding 4: a queued write was retried over version 0, so once the
// tombstone another replica left had expired or been evicted, the
// signed-out user's tokens came back. Now it is written over the version
// it was based on; that version held tokens and the key is absent: signed
// out, dropped, counted as such.
func TestWriteBehindSignedOutElsewhereStaysOut(t *testing.T) {
	e := queuedRefresh(t, tokencache.Options{})
	ctx := context.Background()
	if err := e.two.SignOut(ctx, e.home); err != nil {
		t.Fatal(err)
	}
	e.srv.Do(t, "DEL", e.key) // the tombstone expired, or Redis evicted it
	e.one.Close()
	e.absent(t)
	st := e.one.Stats()
	if st.WriteBehindSignedOut != 1 || st.WriteBehindLanded != 0 {
		t.Fatalf("write-behind: %+v; want the state dropped as signed out, not landed", st)
	}
	balanced(t, st)
}

// Finding 4: SignOut did not cancel the write queued for its key.
func TestWriteBehindCancelledBySignOut(t *testing.T) {
	e := queuedRefresh(t, tokencache.Options{})
	if err := e.cl.SignOut(context.Background(), e.home); err != nil {
		t.Fatal(err)
	}
	if st := e.one.Stats(); st.WriteBehindPending != 0 || st.WriteBehindSignedOut != 1 {
		t.Fatalf("after SignOut on the replica that queued: %+v; want the queued state cancelled", st)
	}
	e.srv.Do(t, "DEL", e.key)
	e.one.Close()
	e.absent(t)
	balanced(t, e.one.Stats())
}

// Finding 4: queued states never aged out. Past TombstoneTTL no tombstone
// is left to refuse them, so they are dropped.
func TestWriteBehindStateExpiresWithTombstoneTTL(t *testing.T) {
	var skew atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	e := queuedRefresh(t, tokencache.Options{Now: now, TombstoneTTL: time.Hour})
	skew.Store(int64(time.Hour + time.Minute))
	e.one.Close()
	_, v, err := e.kv.Get(context.Background(), e.key)
	if err != nil || v != e.before {
		t.Fatalf("bob's partition: version %d, %v; want %d, untouched by the expired state", v, err, e.before)
	}
	st := e.one.Stats()
	if st.WriteBehindExpired != 1 || st.WriteBehindLanded != 0 {
		t.Fatalf("write-behind: %+v; want the state expired", st)
	}
	balanced(t, st)
}

// Finding 4: on merge, a state queued long ago won over the newer refresh
// token of a fresh sign-in. A queued state is the older side: the stored
// entries win.
func TestWriteBehindMergesAsOlderSide(t *testing.T) {
	e := queuedRefresh(t, tokencache.Options{})
	signIn(t, e.idp, e.two, "bob@contoso.onmicrosoft.com", e.scopes)
	rt := func() string {
		t.Helper()
		sealed, _, err := e.kv.Get(context.Background(), e.key)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := testKeyring.Open(sealed, e.key)
		if err != nil {
			t.Fatal(err)
		}
		var p struct{ RefreshToken map[string]json.RawMessage }
		if err := json.Unmarshal(plain, &p); err != nil || len(p.RefreshToken) != 1 {
			t.Fatalf("bob's partition: %v, %d refresh tokens", err, len(p.RefreshToken))
		}
		for _, v := range p.RefreshToken {
			return string(v)
		}
		return ""
	}
	signedIn := rt()
	e.one.Close()
	if rt() != signedIn {
		t.Fatal("the refresh token of the fresh sign-in was replaced by the older queued one")
	}
	st := e.one.Stats()
	if st.WriteBehindLanded != 1 {
		t.Fatalf("write-behind: %+v; want the state merged in", st)
	}
	balanced(t, st)
}

// Finding 4: Close dropped queued fresh tokens without a last attempt.
func TestCloseFlushesQueuedState(t *testing.T) {
	e := queuedRefresh(t, tokencache.Options{})
	e.one.Close()
	st := e.one.Stats()
	if st.WriteBehindLanded != 1 || st.WriteBehindPending != 0 {
		t.Fatalf("write-behind after Close: %+v; want the state landed", st)
	}
	balanced(t, st)
	before := e.idp.IdP().Count("token", "")
	got, err := e.two.AcquireTokenSilent(context.Background(), e.home, e.scopes)
	if err != nil || got.AccessToken != e.fresh.AccessToken {
		t.Fatalf("replica two does not hold the token refreshed while Redis was down: %v", err)
	}
	if n := e.idp.IdP().Count("token", "") - before; n != 0 {
		t.Fatalf("%d token requests", n)
	}
}

// Finding 4: a queued write dropped for a tombstone was counted as landed.
func TestWriteBehindTombstoneCountsAsSignedOut(t *testing.T) {
	e := queuedRefresh(t, tokencache.Options{})
	ctx := context.Background()
	if err := e.two.SignOut(ctx, e.home); err != nil {
		t.Fatal(err)
	}
	e.one.Close()
	st := e.one.Stats()
	if st.WriteBehindLanded != 0 || st.WriteBehindSignedOut != 1 {
		t.Fatalf("write-behind: %+v; want the state counted as signed out, not landed", st)
	}
	balanced(t, st)
	if _, err := e.two.AcquireTokenSilent(ctx, e.home, e.scopes); !errors.Is(err, tokencache.ErrNoToken) {
		t.Fatalf("after sign-out: %v; want ErrNoToken", err)
	}
}
