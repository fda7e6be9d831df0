package tokencache_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/devidp/devidptest"
	"github.com/tenantgate/tenantgate/tokencache"
)

// claim reads one claim of a JWT without verifying it (the IdP is ours).
func claim(t *testing.T, jwt, name string) string {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	body, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatal(err)
	}
	s, _ := c[name].(string)
	return s
}

const oboGrant = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// Finding 5: WithClaims returned the cached on-behalf-of token MSAL would
// bypass. Now a claims call goes to the IdP, and its token, being the
// later one, replaces the cached one (last writer wins).
func TestOBOClaimsBypassCache(t *testing.T) {
	idp := devidptest.Start(t)
	cl := newClient(t, newCache(t, openMem(t), tokencache.Options{}), idp, "contoso")
	ctx := context.Background()
	alice := signIn(t, idp, cl, "alice@contoso.onmicrosoft.com", []string{apiScope(idp, "access_as_user")})
	graph := []string{"https://graph.microsoft.com/User.Read"}
	first, err := cl.AcquireTokenOnBehalfOf(ctx, alice.AccessToken, graph)
	if err != nil {
		t.Fatal(err)
	}
	before := idp.IdP().Count("token", oboGrant)
	challenged, err := cl.AcquireTokenOnBehalfOf(ctx, alice.AccessToken, graph, tokencache.WithClaims(`{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if n := idp.IdP().Count("token", oboGrant) - before; n != 1 || challenged.AccessToken == first.AccessToken {
		t.Fatalf("a claims challenge made %d OBO requests and returned the cached token: %v", n, challenged.AccessToken == first.AccessToken)
	}
	again, err := cl.AcquireTokenOnBehalfOf(ctx, alice.AccessToken, graph)
	if err != nil || again.AccessToken != challenged.AccessToken {
		t.Fatalf("after the challenge the cache serves the older token: %v", err)
	}
}

// Finding 5: WithTenantID(B) stored tenant B's on-behalf-of token under
// the client's tenant's key, so a later plain call returned B's token.
func TestOBOTenantIDKeyedByTenant(t *testing.T) {
	idp := devidptest.Start(t)
	c := newCache(t, openMem(t), tokencache.Options{})
	contoso, fabrikam := newClient(t, c, idp, "contoso"), newClient(t, c, idp, "fabrikam")
	ctx := context.Background()
	// Alice, a guest in fabrikam, calls the API with a fabrikam token.
	guest := signIn(t, idp, fabrikam, "alice@contoso.onmicrosoft.com", []string{apiScope(idp, "access_as_user")})
	graph := []string{"https://graph.microsoft.com/User.Read"}
	inB, err := contoso.AcquireTokenOnBehalfOf(ctx, guest.AccessToken, graph, tokencache.WithTenantID(devidp.DemoFabrikamID))
	if err != nil {
		t.Fatal(err)
	}
	if tid := claim(t, inB.AccessToken, "tid"); tid != devidp.DemoFabrikamID {
		t.Fatalf("WithTenantID(fabrikam) gave a token of tenant %s", tid)
	}
	res, err := contoso.AcquireTokenOnBehalfOf(ctx, guest.AccessToken, graph)
	if err == nil && claim(t, res.AccessToken, "tid") != devidp.DemoContosoID {
		t.Fatalf("a plain call through contoso's client returned a token of tenant %s", claim(t, res.AccessToken, "tid"))
	}
	before := idp.IdP().Count("token", oboGrant)
	again, err := contoso.AcquireTokenOnBehalfOf(ctx, guest.AccessToken, graph, tokencache.WithTenantID(devidp.DemoFabrikamID))
	if err != nil || again.AccessToken != inB.AccessToken || idp.IdP().Count("token", oboGrant) != before {
		t.Fatalf("fabrikam's token is not cached under fabrikam: %v", err)
	}
}

// Finding 7: a code redeemed through the organizations client was stored
// under …:organizations:u:X, where the client of the user's tenant
// (tenant.Registry.ForTenantID) never looked. Now the partition is the
// tenant the tokens belong to: that client reads it silently without the
// IdP, and its SignOut removes it.
func TestOrganizationsSignInKeyedByAccountTenant(t *testing.T) {
	idp := devidptest.Start(t)
	kv := openMem(t)
	c := newCache(t, kv, tokencache.Options{})
	org := newClientAt(t, c, idp, idp.URL+"/organizations")
	fabrikam := newClient(t, c, idp, "fabrikam")
	ctx := context.Background()
	scopes := []string{apiScope(idp, "access_as_user")}
	fiona := signIn(t, idp, org, "fiona@fabrikam.onmicrosoft.com", scopes)
	home := fiona.Account.HomeAccountID
	if tid := claim(t, fiona.AccessToken, "tid"); tid != devidp.DemoFabrikamID {
		t.Fatalf("an organizations sign-in of fiona landed in tenant %s", tid)
	}
	key := "tg1:tc:" + idp.ClientID() + ":" + devidp.DemoFabrikamID + ":u:" + home
	if _, _, err := kv.Get(ctx, key); err != nil {
		t.Fatalf("fiona's partition %s: %v", key, err)
	}
	before := idp.IdP().Count("token", "")
	for _, cl := range []*tokencache.Client{fabrikam, org} {
		res, err := cl.AcquireTokenSilent(ctx, home, scopes)
		if err != nil || res.AccessToken != fiona.AccessToken {
			t.Fatalf("silent through the %s client: %v; want the token of the sign-in", cl.Tenant(), err)
		}
	}
	if n := idp.IdP().Count("token", "") - before; n != 0 {
		t.Fatalf("%d token requests; want 0", n)
	}
	if err := fabrikam.SignOut(ctx, home); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*tokencache.Client{fabrikam, org} {
		if _, err := cl.AcquireTokenSilent(ctx, home, scopes); !errors.Is(err, tokencache.ErrNoToken) {
			t.Fatalf("after sign-out through fabrikam's client, the %s client: %v; want ErrNoToken", cl.Tenant(), err)
		}
	}
}

// Finding 7: app tokens asked WithTenantID(B) landed under A's key, and
// later calls for A failed (the pooled client was bound to B's partition).
func TestAppTokenWithTenantIDKeyedByTenant(t *testing.T) {
	idp := devidptest.Start(t)
	kv := openMem(t)
	contoso := newClient(t, newCache(t, kv, tokencache.Options{}), idp, "contoso")
	ctx := context.Background()
	app := []string{apiScope(idp, ".default")}
	inB, err := contoso.AcquireTokenByCredential(ctx, app, tokencache.WithTenantID(devidp.DemoFabrikamID))
	if err != nil {
		t.Fatal(err)
	}
	if tid := claim(t, inB.AccessToken, "tid"); tid != devidp.DemoFabrikamID {
		t.Fatalf("WithTenantID(fabrikam) gave a token of tenant %s", tid)
	}
	inA, err := contoso.AcquireTokenByCredential(ctx, app)
	if err != nil {
		t.Fatalf("contoso's app token after fabrikam's: %v", err)
	}
	if tid := claim(t, inA.AccessToken, "tid"); tid != devidp.DemoContosoID {
		t.Fatalf("a plain call gave a token of tenant %s", tid)
	}
	for tid, want := range map[string]string{devidp.DemoContosoID: inA.AccessToken, devidp.DemoFabrikamID: inB.AccessToken} {
		key := "tg1:tc:" + idp.ClientID() + ":" + tid + ":app"
		if _, _, err := kv.Get(ctx, key); err != nil {
			t.Fatalf("app partition %s: %v", key, err)
		}
		var o []tokencache.Option
		if tid != devidp.DemoContosoID {
			o = append(o, tokencache.WithTenantID(tid))
		}
		if res, err := contoso.AcquireTokenByCredential(ctx, app, o...); err != nil || res.AccessToken != want {
			t.Fatalf("tenant %s's app token is not the cached one: %v", tid, err)
		}
	}
}

// Options that a method cannot honour are refused, naming the option.
func TestOptionsRefusedWhereMeaningless(t *testing.T) {
	idp := devidptest.Start(t)
	cl := newClient(t, newCache(t, openMem(t), tokencache.Options{}), idp, "contoso")
	ctx := context.Background()
	_, err := cl.AcquireTokenSilent(ctx, "uid.utid", []string{"x"}, tokencache.WithChallenge("v"))
	if err == nil || !strings.Contains(err.Error(), "WithChallenge") {
		t.Fatalf("WithChallenge on a silent call: %v", err)
	}
	for _, tid := range []string{"organizations", "", "a:b"} {
		if _, err := cl.AcquireTokenByCredential(ctx, []string{"x"}, tokencache.WithTenantID(tid)); err == nil || !strings.Contains(err.Error(), "WithTenantID") {
			t.Fatalf("WithTenantID(%q): %v", tid, err)
		}
	}
	if _, err := cl.AcquireTokenSilent(ctx, "uid.utid", []string{"x"}, tokencache.Option{}); err == nil {
		t.Fatal("a zero Option was accepted")
	}
}

// newClientAt is the demo app at authority, with its secret.
func newClientAt(t testing.TB, c *tokencache.Cache, idp *devidptest.Server, authority string) *tokencache.Client {
	t.Helper()
	cred, err := confidential.NewCredFromSecret(idp.Secret())
	if err != nil {
		t.Fatal(err)
	}
	cl, err := c.NewClient(tokencache.ClientConfig{Authority: authority, ClientID: idp.ClientID(), Credential: cred, HTTPClient: idp.HTTPClient()})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// Finding 6: newEntry read the old credential, SetCredential swapped it
// and cleared the pool, and insert then pooled the client built with the
// old one, which the clock never evicts while hot. Each round starts the
// first call (which builds the entry) of many clients at once and rotates
// their credentials meanwhile, one after another in random order, so that
// some rotation lands inside some client's construction; then it asks each
// with a claims challenge (never answered from the cache) which credential
// its entry now uses. Set TG_SEED to replay the order.
func TestCredentialRotationRaceUsesNewCredential(t *testing.T) {
	seed := rand.Uint64()
	if s := os.Getenv("TG_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 0))
	idp := devidptest.Start(t)
	kv := openMem(t)
	provider := func(name string) confidential.Credential {
		return confidential.NewCredFromTokenProvider(func(context.Context, confidential.TokenProviderParameters) (confidential.TokenProviderResult, error) {
			return confidential.TokenProviderResult{AccessToken: name + "." + strconv.FormatUint(rand.Uint64(), 36), ExpiresInSeconds: 3600}, nil
		})
	}
	ctx := context.Background()
	app := []string{apiScope(idp, ".default")}
	challenge := tokencache.WithClaims(`{"access_token":{"xms_cc":{"values":["cp1"]}}}`)
	const rounds, clients = 400, 32
	stale := 0
	for range rounds {
		// Each client has a cache of its own (one prefix each), so that
		// their first writes do not contend for one app partition.
		cls := make([]*tokencache.Client, clients)
		caches := make([]*tokencache.Cache, clients)
		for i := range cls {
			caches[i] = tokencache.New(kv, testKeyring, tokencache.Options{Logger: quiet, Prefix: "tg1:tc:" + strconv.Itoa(i) + ":"})
			var err error
			cls[i], err = caches[i].NewClient(tokencache.ClientConfig{Authority: idp.Authority("contoso"), ClientID: idp.ClientID(),
				Credential: provider("old"), HTTPClient: idp.HTTPClient()})
			if err != nil {
				t.Fatal(err)
			}
		}
		order := r.Perm(clients)
		gap := r.IntN(200)
		var wg sync.WaitGroup
		var spin atomic.Int64
		for _, cl := range cls {
			wg.Go(func() {
				if _, err := cl.AcquireTokenByCredential(ctx, app, challenge); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Go(func() {
			for _, i := range order {
				cls[i].SetCredential(provider("new"))
				for range gap {
					spin.Add(1)
				}
			}
		})
		wg.Wait()
		for _, cl := range cls {
			res, err := cl.AcquireTokenByCredential(ctx, app, challenge)
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(res.AccessToken, "old.") {
				stale++
			}
		}
		for _, c := range caches {
			c.Close()
		}
	}
	if stale != 0 {
		t.Fatalf("%d of %d clients kept using the rotated-out credential after SetCredential returned", stale, rounds*clients)
	}
}

// MSAL Go's confidential AcquireTokenSilent refuses claims outright, so
// tokencache's refuses WithClaims too, saying where a challenge goes.
func TestMSALFactSilentRefusesClaims(t *testing.T) {
	idp := devidptest.Start(t)
	cred, err := confidential.NewCredFromSecret(idp.Secret())
	if err != nil {
		t.Fatal(err)
	}
	c, err := confidential.New(idp.Authority("contoso"), idp.ClientID(), cred, confidential.WithHTTPClient(idp.HTTPClient()), confidential.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	claims := `{"access_token":{"xms_cc":{"values":["cp1"]}}}`
	_, err = c.AcquireTokenSilent(ctx, []string{"x"}, confidential.WithSilentAccount(confidential.Account{HomeAccountID: "u.t"}), confidential.WithClaims(claims))
	if err == nil || !strings.Contains(err.Error(), "claims") {
		t.Fatalf("MSAL silent with claims: %v; measured: refused", err)
	}
	cl := newClient(t, newCache(t, openMem(t), tokencache.Options{}), idp, "contoso")
	if _, err := cl.AcquireTokenSilent(ctx, "u.t", []string{"x"}, tokencache.WithClaims(claims)); err == nil || !strings.Contains(err.Error(), "AuthCodeURL") {
		t.Fatalf("tokencache silent with claims: %v; want a refusal naming AuthCodeURL", err)
	}
}
