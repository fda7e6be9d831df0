package tokencache_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/devidp/devidptest"
	"github.com/tenantgate/tenantgate/internal/redistest"
	"github.com/tenantgate/tenantgate/store/redisstore"
	"github.com/tenantgate/tenantgate/tokencache"
)

// commands reads how many commands the server has run, from INFO stats:
// the server's own count, so a hit that provably sent nothing.
func commands(t *testing.T, srv *redistest.Node) int {
	t.Helper()
	n, err := strconv.Atoi(srv.Info(t, "stats", "total_commands_processed"))
	if err != nil {
		t.Fatalf("INFO stats total_commands_processed: %v", err)
	}
	return n
}

// In steady state a silent hit reaches neither the IdP nor Redis: after this
// replica's own write (sign-in), which its L1 does not keep, the first hits
// read the partition once and then watch it.
func TestSteadyHitsSendNothing(t *testing.T) {
	for _, mode := range []redisstore.Mode{redisstore.ModeTracking, redisstore.ModeBcast, redisstore.ModePubSub} {
		t.Run(string(mode), func(t *testing.T) {
			srv := redistest.Standalone(t)
			idp := devidptest.Start(t)
			kv := openRedis(t, redisstore.Options{Addrs: []string{srv.Addr}, L1: mode})
			cl := newClient(t, newCache(t, kv, tokencache.Options{}), idp, "contoso")
			scopes := []string{apiScope(idp, "access_as_user")}
			ctx := context.Background()
			first := signIn(t, idp, cl, "alice@contoso.onmicrosoft.com", scopes)
			home := first.Account.HomeAccountID
			// Settle: the L1 learns the partition (it may race the
			// invalidation of our own write, so allow a few rounds).
			for range 20 {
				if _, err := cl.AcquireTokenSilent(ctx, home, scopes); err != nil {
					t.Fatal(err)
				}
				time.Sleep(5 * time.Millisecond)
			}
			before, tokens := commands(t, srv), idp.IdP().Count("token", "")
			for range 100 {
				res, err := cl.AcquireTokenSilent(ctx, home, scopes)
				if err != nil || res.AccessToken != first.AccessToken {
					t.Fatalf("silent: %v", err)
				}
			}
			// INFO itself is one command.
			if d := commands(t, srv) - before - 1; d != 0 {
				t.Fatalf("100 silent hits sent %d commands to Redis; want 0", d)
			}
			if d := idp.IdP().Count("token", "") - tokens; d != 0 {
				t.Fatalf("100 silent hits sent %d token requests; want 0", d)
			}
		})
	}
}
