package tokencache_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/tenantgate/tenantgate/devidp"
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

// Finding 8: the remembered-answer path ignored ctx, while the store
// refuses an ended one; a call with an ended context now fails with it.
func TestSilentHonoursEndedContext(t *testing.T) {
	idp := devidptest.Start(t)
	cl := newClient(t, newCache(t, openMem(t), tokencache.Options{}), idp, "contoso")
	scopes := []string{apiScope(idp, "access_as_user")}
	home := signIn(t, idp, cl, "alice@contoso.onmicrosoft.com", scopes).Account.HomeAccountID
	for range 2 { // the second is answered from the remembered result
		if _, err := cl.AcquireTokenSilent(context.Background(), home, scopes); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := cl.AcquireTokenSilent(ctx, home, scopes); !errors.Is(err, context.Canceled) {
		t.Fatalf("silent with a cancelled context: %v; want context.Canceled", err)
	}
}

// Finding 8: Stats.Hits counted both answers from remembered results and
// MSAL calls on a partition already in memory. They are counted apart.
func TestStatsCountHitKindsApart(t *testing.T) {
	idp := devidptest.Start(t)
	var skew atomic.Int64
	c := newCache(t, openMem(t), tokencache.Options{Now: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }})
	cl := newClient(t, c, idp, "contoso")
	scopes := []string{apiScope(idp, "access_as_user")}
	home := signIn(t, idp, cl, "alice@contoso.onmicrosoft.com", scopes).Account.HomeAccountID
	ctx := context.Background()
	for range 2 { // a load, then an answer
		if _, err := cl.AcquireTokenSilent(ctx, home, scopes); err != nil {
			t.Fatal(err)
		}
	}
	// To the cache's clock the remembered answer is due for refresh; to
	// MSAL's the token is valid: MSAL serves it from the partition in memory.
	skew.Store(int64(24 * time.Hour))
	if _, err := cl.AcquireTokenSilent(ctx, home, scopes); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.AnswerHits != 1 || st.StateHits != 1 {
		t.Fatalf("stats %+v; want 1 answer hit and 1 state hit", st)
	}
}

// Finding 8: answers shared the ID token's and the account's
// AdditionalFields maps between callers. Each caller gets its own. MSAL
// fills Account.AdditionalFields with the stored account entry's fields it
// does not know (another MSAL's, say), so the test stores one.
func TestAnswersAreCopies(t *testing.T) {
	idp := devidptest.Start(t)
	kv := openMem(t)
	cl := newClient(t, newCache(t, kv, tokencache.Options{}), idp, "contoso")
	scopes := []string{apiScope(idp, "access_as_user")}
	home := signIn(t, idp, cl, "alice@contoso.onmicrosoft.com", scopes).Account.HomeAccountID
	ctx := context.Background()
	key := "tg1:tc:" + idp.ClientID() + ":" + devidp.DemoContosoID + ":u:" + home
	sealed, v, err := kv.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := testKeyring.Open(sealed, key)
	if err != nil {
		t.Fatal(err)
	}
	var blob map[string]map[string]map[string]any
	if err := json.Unmarshal(plain, &blob); err != nil {
		t.Fatal(err)
	}
	for _, acct := range blob["Account"] {
		acct["x_other_msal"] = map[string]any{"list": []any{"a"}}
	}
	if plain, err = json.Marshal(blob); err != nil {
		t.Fatal(err)
	}
	if sealed, err = testKeyring.Seal(plain, key); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.CompareAndSet(ctx, key, v, sealed, time.Hour); err != nil {
		t.Fatal(err)
	}

	get := func() confidential.AuthResult {
		t.Helper()
		res, err := cl.AcquireTokenSilent(ctx, home, scopes)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	mutate := func(res confidential.AuthResult) {
		res.Account.AdditionalFields["tampered"] = true
		raw := res.Account.AdditionalFields["x_other_msal"].(json.RawMessage) // as MSAL keeps unknown fields
		raw[len(raw)-2] = ' '                                                 // inside the value's bytes
		if res.IDToken.AdditionalFields != nil {
			res.IDToken.AdditionalFields["tampered"] = true
		}
	}
	first := get() // through MSAL, remembered
	if first.Account.AdditionalFields["x_other_msal"] == nil {
		t.Fatalf("MSAL did not carry the account's unknown field: %v", first.Account.AdditionalFields)
	}
	mutate(first)
	second := get() // answered
	mutate(second)
	third := get()
	if _, ok := third.Account.AdditionalFields["tampered"]; ok {
		t.Fatal("one caller's change to its account reached another caller")
	}
	if raw := third.Account.AdditionalFields["x_other_msal"].(json.RawMessage); !json.Valid(raw) || string(raw) != `{"list":["a"]}` {
		t.Fatal("one caller's change inside its account's fields reached another caller")
	}
	if _, ok := third.IDToken.AdditionalFields["tampered"]; ok {
		t.Fatal("one caller's change to its ID token's claims reached another caller")
	}
}
