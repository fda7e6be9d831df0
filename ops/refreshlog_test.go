package ops

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/devidp/devidptest"
	"github.com/tenantgate/tenantgate/seal"
	"github.com/tenantgate/tenantgate/session"
	"github.com/tenantgate/tenantgate/store/memstore"
	"github.com/tenantgate/tenantgate/tokencache"
)

// A refresh that fails is the user's too: real MSAL Go refreshes alice's
// token (due by refresh_in) against devidp through the IdP transport, the IdP answers 503
// and then invalid_grant, and the token status of her session shows each
// failure and its kind on the access token's row, and never a token.
// Error answers carry no client_info: the account comes from the token
// cache's call (tokencache.CallAccount).
func TestFailedRefreshIsTheUsers(t *testing.T) {
	ctx := context.Background()
	idp := devidptest.Start(t)
	st := memstore.New(memstore.Options{})
	t.Cleanup(func() { st.Close() })
	k, _ := seal.GenerateKey("t")
	keys, _ := seal.NewKeyring(k)
	cache := tokencache.New(st, keys, tokencache.Options{})
	t.Cleanup(func() { cache.Close() })
	m, log := NewMetrics(), NewRefreshLog(st, "web-7")
	hc := *idp.HTTPClient()
	hc.Transport = m.IdPTransport(hc.Transport, log)
	cred, err := confidential.NewCredFromSecret(idp.Secret())
	if err != nil {
		t.Fatal(err)
	}
	cl, err := cache.NewClient(tokencache.ClientConfig{Authority: idp.Authority("contoso"), ClientID: idp.ClientID(), Credential: cred, HTTPClient: &hc})
	if err != nil {
		t.Fatal(err)
	}
	// refresh_in: MSAL refreshes the (valid) token a second after it was
	// issued, keeping it if the refresh fails, as it does with Entra's.
	idp.IdP().SetLifetimes(devidp.Lifetimes{RefreshIn: time.Second})
	scopes := []string{"api://" + idp.ClientID() + "/access_as_user"}
	res := signInForTest(t, idp, cl, "alice@contoso.onmicrosoft.com", scopes)
	home := res.Account.HomeAccountID
	h := &Handler{o: Options{Tenants: func() []Tenant {
		return []Tenant{{Key: "contoso", TenantID: devidp.DemoContosoID, Status: cl.Status}}
	}, Refreshes: log}}
	info := session.Info{Identity: session.Identity{TenantKey: "contoso", TenantID: devidp.DemoContosoID, HomeAccountID: home}}
	for st, _ := cl.Status(ctx, home); len(st.AccessTokens) == 1 && time.Now().Before(st.AccessTokens[0].RefreshOn.Add(time.Second)); {
		time.Sleep(50 * time.Millisecond)
	}
	secrets := append(partitionValues(t, st, keys, "tg1:tc:"+idp.ClientID()+":"+devidp.DemoContosoID+":u:"+home), res.AccessToken, res.IDToken.RawToken)

	for _, step := range []struct {
		name          string
		fail          func()
		result, error string
	}{
		{"the IdP fails", func() {
			if err := idp.IdP().QueueError(devidp.QueuedError{Endpoint: "token", Grant: "refresh_token", Code: 90033}); err != nil {
				t.Fatal(err)
			}
		}, "transient", "temporarily_unavailable AADSTS90033"},
		{"the IdP revoked the refresh token", func() { idp.IdP().RevokeRefreshTokens("alice@contoso.onmicrosoft.com") }, "invalid_grant", "invalid_grant AADSTS700082"},
	} {
		step.fail()
		// MSAL answers with the token it holds: still valid.
		if _, err := cl.AcquireTokenSilent(ctx, home, scopes); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		v := h.view(ctx, info)
		if v.Tokens == nil || v.Tokens.State != "ok" || len(v.Tokens.AccessTokens) != 1 {
			t.Fatalf("%s: token status %+v", step.name, v.Tokens)
		}
		last, row := v.Tokens.LastRefresh, v.Tokens.AccessTokens[0].LastRefresh
		if last == nil || row == nil || *last != *row {
			t.Fatalf("%s: last refresh %+v, on the access token's row %+v", step.name, last, row)
		}
		if last.Result != step.result || last.Error != step.error || last.Replica != "web-7" || last.Scopes != scopeSet(scopes[0]) || last.At.IsZero() {
			t.Errorf("%s: last refresh %+v; want %s (%s) on web-7 for %s", step.name, *last, step.result, step.error, scopes[0])
		}
		if n := len(log.All(ctx, devidp.DemoContosoID, home)); n != 1 {
			t.Errorf("%s: %d records for one scope set", step.name, n)
		}
		b, _ := json.Marshal(v)
		for _, s := range secrets {
			if strings.Contains(string(b), s) {
				t.Fatalf("%s: the token status holds a token: %s", step.name, b)
			}
		}
		t.Logf("%s: %s", step.name, b)
	}
}

// signInForTest redeems a code for user through cl, as signin does.
func signInForTest(t *testing.T, idp *devidptest.Server, cl *tokencache.Client, user string, scopes []string) confidential.AuthResult {
	t.Helper()
	const redirect = "http://localhost:8400/callback"
	ctx := context.Background()
	req := devidptest.NewAuthRequest()
	u, err := cl.AuthCodeURL(ctx, redirect, append([]string{"openid", "profile", "offline_access"}, scopes...))
	if err == nil {
		u, err = req.URL(u, "")
	}
	if err != nil {
		t.Fatal(err)
	}
	params, err := idp.SignIn(nil, u, user)
	if err != nil || params.Get("code") == "" {
		t.Fatalf("sign-in of %s: %v %s", user, err, params.Get("error_description"))
	}
	res, err := cl.AcquireTokenByAuthCode(ctx, params.Get("code"), redirect, scopes, tokencache.WithChallenge(req.Verifier))
	if err != nil {
		t.Fatalf("sign-in of %s: %v", user, err)
	}
	return res
}

// partitionValues opens a sealed token partition and returns the token
// values it holds.
func partitionValues(t *testing.T, st *memstore.Store, keys *seal.Keyring, key string) []string {
	t.Helper()
	sealed, _, err := st.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("reading %s: %v", key, err)
	}
	plain, err := keys.Open(sealed, key)
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]map[string]struct {
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal(plain, &c); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, sec := range []string{"AccessToken", "RefreshToken", "IdToken"} {
		for _, e := range c[sec] {
			out = append(out, e.Secret)
		}
	}
	if len(c["AccessToken"]) == 0 || len(c["RefreshToken"]) == 0 {
		t.Fatal(errors.New("the partition holds no access or refresh token"))
	}
	return out
}
