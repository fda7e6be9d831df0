package tokencache_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/devidp/devidptest"
	"github.com/tenantgate/tenantgate/internal/redistest"
	"github.com/tenantgate/tenantgate/store"
	"github.com/tenantgate/tenantgate/store/redisstore"
	"github.com/tenantgate/tenantgate/tokencache"
)

// Redis stops answering while a silent call refreshes: the caller still
// gets its new token, and when Redis answers again the new state lands.
func TestRedisDownDuringRefreshKeepsNewToken(t *testing.T) {
	srv := redistest.Standalone(t)
	idp := devidptest.Start(t)
	ctx := context.Background()
	o := redisstore.Options{Addrs: []string{srv.Addr}, OpTimeout: 200 * time.Millisecond, L1: redisstore.ModeOff}
	c := newCache(t, openRedis(t, o), tokencache.Options{WriteBehindRetry: 50 * time.Millisecond})
	cl := newClient(t, c, idp, "contoso")
	scopes := []string{apiScope(idp, "access_as_user")}

	idp.IdP().SetLifetimes(devidp.Lifetimes{AccessToken: 4 * time.Minute})
	user := signIn(t, idp, cl, "bob@contoso.onmicrosoft.com", scopes)
	// A first silent call puts bob's partition in this replica's pool.
	first, err := cl.AcquireTokenSilent(ctx, user.Account.HomeAccountID, scopes)
	if err != nil {
		t.Fatal(err)
	}
	idp.IdP().SetLifetimes(devidp.Lifetimes{})

	srv.Pause(t)
	res, err := cl.AcquireTokenSilent(ctx, user.Account.HomeAccountID, scopes)
	if err != nil {
		srv.Resume(t)
		t.Fatalf("silent refresh with Redis down: %v", err)
	}
	if res.AccessToken == first.AccessToken {
		t.Fatal("no new token")
	}
	if st := c.Stats(); st.WriteBehindQueued != 1 || st.WriteBehindPending != 1 {
		srv.Resume(t)
		t.Fatalf("write-behind: %+v; want the new state queued", st)
	}
	srv.Resume(t)
	deadline := time.Now().Add(10 * time.Second)
	for c.Stats().WriteBehindLanded == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the queued write never landed: %+v", c.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Another replica reads the new token from Redis, without the IdP.
	before := idp.IdP().Count("token", "")
	other := newClient(t, newCache(t, openRedis(t, o), tokencache.Options{}), idp, "contoso")
	got, err := other.AcquireTokenSilent(ctx, user.Account.HomeAccountID, scopes)
	if err != nil || got.AccessToken != res.AccessToken {
		t.Fatalf("the landed state does not hold the new token: %v", err)
	}
	if n := idp.IdP().Count("token", "") - before; n != 0 {
		t.Fatalf("%d token requests", n)
	}
}

// Redis down is not "signed out": a replica that has nothing in memory
// gets store.ErrUnavailable, never ErrNoToken.
func TestRedisDownIsUnavailableNotSignedOut(t *testing.T) {
	srv := redistest.Standalone(t)
	idp := devidptest.Start(t)
	o := redisstore.Options{Addrs: []string{srv.Addr}, OpTimeout: 200 * time.Millisecond}
	cl := newClient(t, newCache(t, openRedis(t, o), tokencache.Options{}), idp, "contoso")
	user := signIn(t, idp, cl, "bob@contoso.onmicrosoft.com", []string{apiScope(idp, "access_as_user")})
	fresh := newClient(t, newCache(t, openRedis(t, o), tokencache.Options{}), idp, "contoso")
	srv.Pause(t)
	defer srv.Resume(t)
	_, err := fresh.AcquireTokenSilent(context.Background(), user.Account.HomeAccountID, []string{apiScope(idp, "access_as_user")})
	if !errors.Is(err, store.ErrUnavailable) || errors.Is(err, tokencache.ErrNoToken) {
		t.Fatalf("Redis down: %v; want store.ErrUnavailable", err)
	}
}
