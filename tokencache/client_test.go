package tokencache_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/devidp/devidptest"
	"github.com/tenantgate/tenantgate/store"
	"github.com/tenantgate/tenantgate/tokencache"
)

// TestFlows runs every flow through the real MSAL Go against devidp, with
// two replicas (two caches, two connections) sharing one store.
func TestFlows(t *testing.T) {
	for _, b := range []backend{redisBackend, pubsubBackend, clusterBackend, memBackend} {
		t.Run(b.name, func(t *testing.T) {
			open := b.start(t)
			idp := devidptest.Start(t)
			one, two := newCache(t, open(), tokencache.Options{}), newCache(t, open(), tokencache.Options{})
			testFlows(t, idp, one, two)
		})
	}
}

func testFlows(t *testing.T, idp *devidptest.Server, one, two *tokencache.Cache) {
	ctx := context.Background()
	scopes := []string{apiScope(idp, "access_as_user")}
	tokens := idp.IdP()
	contoso1, fabrikam1 := newClient(t, one, idp, "contoso"), newClient(t, one, idp, "fabrikam")
	contoso2, fabrikam2 := newClient(t, two, idp, "contoso"), newClient(t, two, idp, "fabrikam")

	// Three users in two tenants sign in on replica one; alice is a member
	// of contoso and a guest in fabrikam, with one home account ID.
	alice := signIn(t, idp, contoso1, "alice@contoso.onmicrosoft.com", scopes)
	bob := signIn(t, idp, contoso1, "bob@contoso.onmicrosoft.com", scopes)
	aliceGuest := signIn(t, idp, fabrikam1, "alice@contoso.onmicrosoft.com", scopes)
	fiona := signIn(t, idp, fabrikam1, "fiona@fabrikam.onmicrosoft.com", scopes)
	if alice.Account.HomeAccountID != aliceGuest.Account.HomeAccountID {
		t.Fatal("a guest sign-in has another home account ID")
	}

	t.Run("silent hits on every replica", func(t *testing.T) {
		before := tokens.Count("token", "")
		for _, tc := range []struct {
			cl   *tokencache.Client
			user confidential.AuthResult
		}{{contoso1, alice}, {contoso2, alice}, {contoso2, bob}, {fabrikam2, aliceGuest}, {fabrikam2, fiona}} {
			for range 3 {
				res, err := tc.cl.AcquireTokenSilent(ctx, tc.user.Account.HomeAccountID, scopes)
				if err != nil {
					t.Fatal(err)
				}
				if res.AccessToken != tc.user.AccessToken {
					t.Fatalf("%s in %s: another access token than the one signed in with", tc.user.Account.PreferredUsername, tc.cl.Tenant())
				}
			}
		}
		if n := tokens.Count("token", "") - before; n != 0 {
			t.Fatalf("%d token requests for cached tokens; want 0", n)
		}
		if st := two.Stats(); st.AnswerHits == 0 || st.Loads == 0 {
			t.Fatalf("replica two: %+v; want loads then hits", st)
		}
	})

	t.Run("tenants are isolated", func(t *testing.T) {
		// Fiona never signed in to contoso: her partition there is empty.
		if _, err := contoso2.AcquireTokenSilent(ctx, fiona.Account.HomeAccountID, scopes); !errors.Is(err, tokencache.ErrNoToken) {
			t.Fatalf("fiona in contoso: %v; want ErrNoToken", err)
		}
		res, err := fabrikam2.AcquireTokenSilent(ctx, alice.Account.HomeAccountID, scopes)
		if err != nil || res.AccessToken != aliceGuest.AccessToken || res.AccessToken == alice.AccessToken {
			t.Fatalf("alice in fabrikam got her contoso token or none: %v", err)
		}
	})

	t.Run("refresh when expiring, once, seen by the other replica", func(t *testing.T) {
		// MSAL treats a token with 5 minutes or less left as expired.
		tokens.SetLifetimes(devidp.Lifetimes{AccessToken: 4 * time.Minute})
		defer tokens.SetLifetimes(devidp.Lifetimes{})
		carol := signIn(t, idp, contoso1, "bob@contoso.onmicrosoft.com", []string{apiScope(idp, "Tasks.Read")})
		before := tokens.Count("token", "refresh_token")
		res, err := contoso2.AcquireTokenSilent(ctx, carol.Account.HomeAccountID, []string{apiScope(idp, "Tasks.Read")})
		if err != nil {
			t.Fatal(err)
		}
		if res.AccessToken == carol.AccessToken {
			t.Fatal("an expiring token was returned instead of a refreshed one")
		}
		if n := tokens.Count("token", "refresh_token") - before; n != 1 {
			t.Fatalf("%d refreshes, want 1", n)
		}
		// The other scope's token of the same user survived the write.
		if again, err := contoso1.AcquireTokenSilent(ctx, bob.Account.HomeAccountID, scopes); err != nil || again.AccessToken != bob.AccessToken {
			t.Fatalf("bob's other token after the refresh: %v", err)
		}
	})

	t.Run("app tokens", func(t *testing.T) {
		before := tokens.Count("token", "client_credentials")
		appScopes := []string{apiScope(idp, ".default")}
		first, err := contoso1.AcquireTokenByCredential(ctx, appScopes)
		if err != nil {
			t.Fatal(err)
		}
		for _, cl := range []*tokencache.Client{contoso1, contoso2, contoso2} {
			res, err := cl.AcquireTokenByCredential(ctx, appScopes)
			if err != nil || res.AccessToken != first.AccessToken {
				t.Fatalf("app token from the cache: %v", err)
			}
		}
		if n := tokens.Count("token", "client_credentials") - before; n != 1 {
			t.Fatalf("%d client-credentials requests, want 1", n)
		}
		other, err := fabrikam2.AcquireTokenByCredential(ctx, appScopes)
		if err != nil || other.AccessToken == first.AccessToken {
			t.Fatalf("fabrikam's app token is contoso's or missing: %v", err)
		}
	})

	t.Run("on-behalf-of", func(t *testing.T) {
		before := tokens.Count("token", "urn:ietf:params:oauth:grant-type:jwt-bearer")
		graph := []string{"https://graph.microsoft.com/User.Read"}
		first, err := contoso1.AcquireTokenOnBehalfOf(ctx, alice.AccessToken, graph)
		if err != nil {
			t.Fatal(err)
		}
		again, err := contoso2.AcquireTokenOnBehalfOf(ctx, alice.AccessToken, graph)
		if err != nil || again.AccessToken != first.AccessToken {
			t.Fatalf("OBO from the cache on the other replica: %v", err)
		}
		other, err := contoso2.AcquireTokenOnBehalfOf(ctx, bob.AccessToken, graph)
		if err != nil || other.AccessToken == first.AccessToken {
			t.Fatalf("bob's OBO token is alice's or missing: %v", err)
		}
		if n := tokens.Count("token", "urn:ietf:params:oauth:grant-type:jwt-bearer") - before; n != 2 {
			t.Fatalf("%d OBO requests, want 2 (alice once, bob once)", n)
		}
	})

	t.Run("sign-out deletes the partition everywhere", func(t *testing.T) {
		if err := contoso1.SignOut(ctx, alice.Account.HomeAccountID); err != nil {
			t.Fatal(err)
		}
		before := tokens.Count("token", "")
		// At once on the replica that signed her out.
		if _, err := contoso1.AcquireTokenSilent(ctx, alice.Account.HomeAccountID, scopes); !errors.Is(err, tokencache.ErrNoToken) {
			t.Fatalf("after sign-out: %v; want ErrNoToken", err)
		}
		// On the other replica as soon as Redis's invalidation reaches its
		// L1: the store's coherence window, milliseconds.
		deadline := time.Now().Add(time.Second)
		for {
			_, err := contoso2.AcquireTokenSilent(ctx, alice.Account.HomeAccountID, scopes)
			if errors.Is(err, tokencache.ErrNoToken) {
				break
			}
			if err != nil || time.Now().After(deadline) {
				t.Fatalf("other replica after sign-out: %v; want ErrNoToken within 1s", err)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if n := tokens.Count("token", "") - before; n != 0 {
			t.Fatalf("%d token requests after sign-out", n)
		}
		// Her guest partition in fabrikam is another partition.
		if _, err := fabrikam2.AcquireTokenSilent(ctx, alice.Account.HomeAccountID, scopes); err != nil {
			t.Fatalf("sign-out of contoso removed fabrikam's tokens: %v", err)
		}
	})
}

func TestAuthCodeURLCarriesNoSecrets(t *testing.T) {
	idp := devidptest.Start(t)
	cl := newClient(t, newCache(t, openMem(t), tokencache.Options{}), idp, "contoso")
	u, err := cl.AuthCodeURL(context.Background(), redirectURI, []string{"openid"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(u, idp.Secret()) || !strings.HasPrefix(u, idp.Authority("contoso")) {
		t.Fatalf("authorize URL %q", u)
	}
}

func TestNewClientRefusesBadAuthority(t *testing.T) {
	c := newCache(t, openMem(t), tokencache.Options{})
	for _, a := range []string{"http://login.example/tenant", "https://login.example", "https://login.example/a/b", "::"} {
		if _, err := c.NewClient(tokencache.ClientConfig{Authority: a, ClientID: "x"}); err == nil || !strings.Contains(err.Error(), "https://host/{tenant}") {
			t.Errorf("authority %q: %v", a, err)
		}
	}
}

// Isolation by attack on real Redis: someone with write access to Redis
// copies alice's sealed partition under bob's key and under alice's key in
// another tenant. Neither opens; both read as absent, counted and logged.
func TestCopiedPartitionDoesNotOpen(t *testing.T) {
	for _, b := range []backend{redisBackend, pubsubBackend, clusterBackend} {
		t.Run(b.name, func(t *testing.T) {
			kv := b.start(t)()
			idp := devidptest.Start(t)
			c := newCache(t, kv, tokencache.Options{})
			contoso, fabrikam := newClient(t, c, idp, "contoso"), newClient(t, c, idp, "fabrikam")
			scopes := []string{apiScope(idp, "access_as_user")}
			alice := signIn(t, idp, contoso, "alice@contoso.onmicrosoft.com", scopes)
			bob := signIn(t, idp, contoso, "bob@contoso.onmicrosoft.com", scopes)
			ctx := context.Background()
			prefix := "tg1:tc:" + idp.ClientID() + ":"
			sealed, _, err := kv.Get(ctx, prefix+devidp.DemoContosoID+":u:"+alice.Account.HomeAccountID)
			if err != nil {
				t.Fatal(err)
			}
			for _, target := range []struct {
				key  string
				cl   *tokencache.Client
				home string
			}{
				{prefix + devidp.DemoContosoID + ":u:" + bob.Account.HomeAccountID, contoso, bob.Account.HomeAccountID},
				{prefix + devidp.DemoFabrikamID + ":u:" + alice.Account.HomeAccountID, fabrikam, alice.Account.HomeAccountID},
			} {
				_, v, err := kv.Get(ctx, target.key)
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					t.Fatal(err)
				}
				if _, err := kv.CompareAndSet(ctx, target.key, v, sealed, time.Hour); err != nil {
					t.Fatal(err)
				}
				before := c.Stats().RefusedOpen
				res, err := target.cl.AcquireTokenSilent(ctx, target.home, scopes)
				if err == nil && res.AccessToken == alice.AccessToken {
					t.Fatalf("alice's token served from %s", target.key)
				}
				if !errors.Is(err, tokencache.ErrNoToken) {
					t.Fatalf("%s: %v; want ErrNoToken", target.key, err)
				}
				if c.Stats().RefusedOpen <= before {
					t.Fatalf("%s: the copied value was not counted", target.key)
				}
			}
		})
	}
}

// A replica that answered a user from its last result serves the new token
// once another replica stores one (here: the user signs in again there).
func TestRememberedResultFollowsOtherReplica(t *testing.T) {
	// Each backend tells the first replica by other means: tracking
	// pushes, the store's own pubsub messages, tracking on a Cluster.
	for _, b := range []backend{redisBackend, pubsubBackend, clusterBackend} {
		t.Run(b.name, func(t *testing.T) { testRememberedResultFollowsOtherReplica(t, b) })
	}
}

func testRememberedResultFollowsOtherReplica(t *testing.T, b backend) {
	open := b.start(t)
	idp := devidptest.Start(t)
	one := newClient(t, newCache(t, open(), tokencache.Options{}), idp, "contoso")
	two := newClient(t, newCache(t, open(), tokencache.Options{}), idp, "contoso")
	scopes := []string{apiScope(idp, "access_as_user")}
	ctx := context.Background()
	first := signIn(t, idp, one, "bob@contoso.onmicrosoft.com", scopes)
	for range 2 { // the second call is answered from the remembered result
		if res, err := one.AcquireTokenSilent(ctx, first.Account.HomeAccountID, scopes); err != nil || res.AccessToken != first.AccessToken {
			t.Fatalf("silent: %v", err)
		}
	}
	second := signIn(t, idp, two, "bob@contoso.onmicrosoft.com", scopes)
	if second.AccessToken == first.AccessToken {
		t.Fatal("the IdP issued the same token twice")
	}
	deadline := time.Now().Add(time.Second)
	for {
		res, err := one.AcquireTokenSilent(ctx, first.Account.HomeAccountID, scopes)
		if err != nil {
			t.Fatal(err)
		}
		if res.AccessToken == second.AccessToken {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("replica one still serves the old token a second after replica two stored a new one")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
