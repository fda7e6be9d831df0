package tokencache_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/devidp/devidptest"
	"github.com/tenantgate/tenantgate/internal/redistest"
	"github.com/tenantgate/tenantgate/store"
	"github.com/tenantgate/tenantgate/store/redisstore"
	"github.com/tenantgate/tenantgate/tokencache"
)

// blipStore fails compare-and-sets of one key with ErrUnavailable while armed
// (one Redis blip during the Export); locks, reads and publishes work.
type blipStore struct {
	*redisstore.Store
	key  string
	fail atomic.Bool
}

func (b *blipStore) CompareAndSet(ctx context.Context, key string, v uint64, d []byte, ttl time.Duration) (uint64, error) {
	if key == b.key && b.fail.Load() {
		return 0, fmt.Errorf("blip: %w", store.ErrUnavailable)
	}
	return b.Store.CompareAndSet(ctx, key, v, d, ttl)
}

// Replica A refreshes under the lock; its Export meets a Redis blip, so
// the new (rotated) refresh token waits in A's write-behind. A must keep
// the "refreshed" marker although the stored version did not move: before
// the fix it freed it as if the refresh had failed, and replica B redeemed
// the spent refresh token (strict rotation then revoked the sign-in).
// Found by review. B waits for A's state instead.
func TestQueuedRefreshKeepsItsMarker(t *testing.T) {
	srv := redistest.Standalone(t)
	idp := devidptest.Start(t)
	idp.IdP().SetStrictRefreshRotation(true)
	ctx := context.Background()
	o := redisstore.Options{Addrs: []string{srv.Addr}}
	blip := &blipStore{Store: openRedis(t, o)}
	a := newClient(t, newCache(t, blip, tokencache.Options{WriteBehindRetry: 2 * time.Second}), idp, "contoso")
	bc := newCache(t, openRedis(t, o), tokencache.Options{})
	b := newClient(t, bc, idp, "contoso")
	scopes := []string{apiScope(idp, "access_as_user")}
	idp.IdP().SetLifetimes(devidp.Lifetimes{AccessToken: 4 * time.Minute})
	home := signIn(t, idp, a, "alice@contoso.onmicrosoft.com", scopes).Account.HomeAccountID
	idp.IdP().SetLifetimes(devidp.Lifetimes{})
	authority, _ := url.Parse(idp.Authority("contoso"))
	blip.key = "tg1:tc:" + idp.ClientID() + ":" + strings.Trim(authority.Path, "/") + ":u:" + home

	blip.fail.Store(true)
	if _, err := a.AcquireTokenSilent(ctx, home, scopes); err != nil {
		t.Fatal(err)
	}
	blip.fail.Store(false) // the blip is over; A's retry is 2 s away
	_, err := b.AcquireTokenSilent(ctx, home, scopes)
	n := idp.IdP().Count("token", "refresh_token")
	if n != 1 || err != nil {
		t.Fatalf("%d refresh_token grants (want 1); replica B: %v; %+v", n, err, bc.Stats())
	}
}
