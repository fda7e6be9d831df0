package tokencache_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/devidp/devidptest"
	"github.com/tenantgate/tenantgate/tokencache"
)

// withUsers is the demo directory plus n members of contoso.
func withUsers(t testing.TB, n int) devidptest.Option {
	t.Helper()
	d, err := devidp.Demo(devidptest.Keys())
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		d.Users = append(d.Users, devidp.User{
			Username: fmt.Sprintf("user%04d@contoso.onmicrosoft.com", i), Name: fmt.Sprintf("User %d", i),
			ObjectID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), Tenant: "contoso",
		})
	}
	return devidptest.WithDirectory(d)
}

// MSAL Go's Replace swaps a client's whole cache: one client shared by
// concurrent users fails most silent calls (architecture fact 1). Through
// tokencache, 32 goroutines over 50 users never miss.
func TestConcurrentUsersNoMissingTokens(t *testing.T) {
	const users, goroutines, calls = 50, 32, 200
	idp := devidptest.Start(t, withUsers(t, users))
	kv := redisBackend.start(t)()
	cl := newClient(t, newCache(t, kv, tokencache.Options{}), idp, "contoso")
	scopes := []string{apiScope(idp, "access_as_user")}
	homes := make([]string, users)
	want := make([]string, users)
	for i := range users {
		res := signIn(t, idp, cl, fmt.Sprintf("user%04d@contoso.onmicrosoft.com", i), scopes)
		homes[i], want[i] = res.Account.HomeAccountID, res.AccessToken
	}
	before := idp.IdP().Count("token", "")
	var failures, wrong atomic.Int64
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 7))
			for range calls {
				i := r.IntN(users)
				res, err := cl.AcquireTokenSilent(context.Background(), homes[i], scopes)
				switch {
				case err != nil:
					if failures.Add(1) == 1 {
						t.Errorf("first failure: %v", err)
					}
				case res.AccessToken != want[i]:
					wrong.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if f, w := failures.Load(), wrong.Load(); f != 0 || w != 0 {
		t.Fatalf("%d of %d silent calls failed and %d returned another user's token", f, goroutines*calls, w)
	}
	if n := idp.IdP().Count("token", "") - before; n != 0 {
		t.Fatalf("%d token requests for valid cached tokens", n)
	}
}
