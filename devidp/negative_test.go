package devidp_test

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/tenantgate/tenantgate/devidp/devidptest"
)

// entraBody is Entra's error reply.
type entraBody struct {
	Error         string `json:"error"`
	Description   string `json:"error_description"`
	Codes         []int  `json:"error_codes"`
	TraceID       string `json:"trace_id"`
	CorrelationID string `json:"correlation_id"`
	Timestamp     string `json:"timestamp"`
	Suberror      string `json:"suberror"`
	Claims        string `json:"claims"`
}

// post sends a token request and decodes the reply; the raw body is
// returned too, to check that nothing secret is echoed.
func post(t *testing.T, srv *devidptest.Server, tenant string, form url.Values) (int, entraBody, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/"+tenant+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("client-request-id", "corr-1")
	resp, err := srv.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var b entraBody
	_ = json.Unmarshal(raw, &b)
	return resp.StatusCode, b, string(raw)
}

func wantError(t *testing.T, status int, b entraBody, raw string, wantStatus int, wantErr string, code int, secrets ...string) {
	t.Helper()
	if status != wantStatus || b.Error != wantErr || len(b.Codes) != 1 || b.Codes[0] != code {
		t.Fatalf("got %d %s %v, want %d %s [%d]: %s", status, b.Error, b.Codes, wantStatus, wantErr, code, raw)
	}
	if !strings.HasPrefix(b.Description, "AADSTS"+itoa(code)+": ") || b.TraceID == "" || b.CorrelationID != "corr-1" || b.Timestamp == "" {
		t.Fatalf("body lacks Entra's fields: %s", raw)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(raw, s) {
			t.Fatalf("the error body echoes a secret, code or token")
		}
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// code signs user in through the authorize endpoint and returns a code and
// its PKCE verifier.
func code(t *testing.T, srv *devidptest.Server, tenant, user string) (code, verifier string) {
	t.Helper()
	verifier, challenge := pkce()
	q := url.Values{"client_id": {srv.ClientID()}, "response_type": {"code"}, "redirect_uri": {redirectURI},
		"scope": {"openid offline_access User.Read"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	params, err := srv.SignIn(nil, srv.Authority(tenant)+"/oauth2/v2.0/authorize?"+q.Encode(), user)
	if err != nil || params.Get("code") == "" {
		t.Fatalf("sign-in: %v %v", err, params)
	}
	return params.Get("code"), verifier
}

func redeem(srv *devidptest.Server, code, verifier string) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "client_id": {srv.ClientID()}, "client_secret": {srv.Secret()},
		"code": {code}, "code_verifier": {verifier}, "redirect_uri": {redirectURI}, "scope": {"openid offline_access User.Read"}, "client_info": {"1"}}
}

func TestNegativeWrongSecret(t *testing.T) {
	srv := devidptest.Start(t)
	st, b, raw := post(t, srv, "contoso.onmicrosoft.com", url.Values{"grant_type": {"client_credentials"}, "client_id": {srv.ClientID()},
		"client_secret": {"not-the-secret"}, "scope": {"api://" + srv.ClientID() + "/.default"}})
	wantError(t, st, b, raw, 401, "invalid_client", 7000215, "not-the-secret", srv.Secret())
}

func TestNegativeBadAssertionSignature(t *testing.T) {
	srv := devidptest.Start(t)
	// The header names the registered certificate, but a different key signs.
	// The pool's first key is the demo app's; the second is a tenant's.
	keys := devidptest.Keys()
	_, _ = keys()
	wrongKey, err := keys()
	if err != nil {
		t.Fatal(err)
	}
	a := assertion(t, srv, wrongKey, "j1", time.Now())
	st, b, raw := post(t, srv, "contoso.onmicrosoft.com", assertionForm(srv, a))
	wantError(t, st, b, raw, 401, "invalid_client", 700027, a)
}

func TestNegativeReplayedAssertion(t *testing.T) {
	srv := devidptest.Start(t)
	key := appKey(t, srv)
	a := assertion(t, srv, key, "j-once", time.Now())
	if st, _, raw := post(t, srv, "contoso.onmicrosoft.com", assertionForm(srv, a)); st != 200 {
		t.Fatalf("first use: %d %s", st, raw)
	}
	st, b, raw := post(t, srv, "contoso.onmicrosoft.com", assertionForm(srv, a))
	wantError(t, st, b, raw, 401, "invalid_client", 700027, a)
}

func TestNegativeReplayedCode(t *testing.T) {
	srv := devidptest.Start(t)
	c, v := code(t, srv, "contoso", "bob@contoso.onmicrosoft.com")
	if st, _, raw := post(t, srv, "contoso.onmicrosoft.com", redeem(srv, c, v)); st != 200 {
		t.Fatalf("first redemption: %d %s", st, raw)
	}
	st, b, raw := post(t, srv, "contoso.onmicrosoft.com", redeem(srv, c, v))
	wantError(t, st, b, raw, 400, "invalid_grant", 54005, c, srv.Secret())
}

func TestNegativePKCEMismatch(t *testing.T) {
	srv := devidptest.Start(t)
	c, _ := code(t, srv, "contoso", "bob@contoso.onmicrosoft.com")
	other, _ := pkce()
	st, b, raw := post(t, srv, "contoso.onmicrosoft.com", redeem(srv, c, other))
	wantError(t, st, b, raw, 400, "invalid_grant", 501481, c, other)
}

func TestNegativeUnregisteredRedirectURI(t *testing.T) {
	srv := devidptest.Start(t)
	q := url.Values{"client_id": {srv.ClientID()}, "response_type": {"code"}, "redirect_uri": {"https://evil.example/cb"}, "scope": {"openid"}}
	resp, err := srv.Browser().Get(srv.Authority("contoso") + "/oauth2/v2.0/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || resp.Header.Get("Location") != "" || !strings.Contains(string(body), "AADSTS50011:") {
		t.Fatalf("got %d, Location %q: %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
}

func TestNegativeUnknownTenant(t *testing.T) {
	srv := devidptest.Start(t)
	st, b, raw := post(t, srv, "nosuch.onmicrosoft.com", url.Values{"grant_type": {"client_credentials"}})
	wantError(t, st, b, raw, 400, "invalid_request", 90002)
	resp, err := srv.HTTPClient().Get(srv.URL + "/00000000-0000-0000-0000-000000000000/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("discovery of an unknown tenant: %d", resp.StatusCode)
	}
}

func TestNegativeRevokedRefreshToken(t *testing.T) {
	srv := devidptest.Start(t)
	c, v := code(t, srv, "contoso", "alice@contoso.onmicrosoft.com")
	st, _, raw := post(t, srv, "contoso.onmicrosoft.com", redeem(srv, c, v))
	var tok struct {
		RefreshToken string `json:"refresh_token"`
	}
	if st != 200 || json.Unmarshal([]byte(raw), &tok) != nil || tok.RefreshToken == "" {
		t.Fatalf("redemption: %d", st)
	}
	srv.IdP().RevokeRefreshTokens("")
	st, b, raw := post(t, srv, "contoso.onmicrosoft.com", url.Values{"grant_type": {"refresh_token"}, "client_id": {srv.ClientID()},
		"client_secret": {srv.Secret()}, "refresh_token": {tok.RefreshToken}, "scope": {"User.Read offline_access"}})
	wantError(t, st, b, raw, 400, "invalid_grant", 700082, tok.RefreshToken)
	if b.Suberror != "bad_token" {
		t.Fatalf("suberror %q, want bad_token", b.Suberror)
	}
}

func TestStrictRotationDetectsReuse(t *testing.T) {
	srv := devidptest.Start(t)
	srv.IdP().SetStrictRefreshRotation(true)
	c, v := code(t, srv, "contoso", "alice@contoso.onmicrosoft.com")
	_, _, raw := post(t, srv, "contoso.onmicrosoft.com", redeem(srv, c, v))
	refresh := func(rt string) (int, entraBody, string) {
		return post(t, srv, "contoso.onmicrosoft.com", url.Values{"grant_type": {"refresh_token"}, "client_id": {srv.ClientID()},
			"client_secret": {srv.Secret()}, "refresh_token": {rt}, "scope": {"User.Read offline_access"}})
	}
	rt0 := field(t, raw, "refresh_token")
	st, _, raw := refresh(rt0)
	if st != 200 {
		t.Fatalf("first refresh: %d %s", st, raw)
	}
	rt1 := field(t, raw, "refresh_token")
	st, b, raw := refresh(rt0) // reuse: the old token leaked
	wantError(t, st, b, raw, 400, "invalid_grant", 700082, rt0)
	if st, _, _ := refresh(rt1); st != 400 {
		t.Fatalf("the rotated token survived reuse detection: %d", st)
	}
}

func TestOversizedBodyIsRefused(t *testing.T) {
	srv := devidptest.Start(t)
	st, _, _ := post(t, srv, "contoso.onmicrosoft.com", url.Values{"grant_type": {"client_credentials"}, "pad": {strings.Repeat("x", 100<<10)}})
	if st != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", st)
	}
}

func field(t *testing.T, raw, name string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatal(err)
	}
	s, _ := m[name].(string)
	if s == "" {
		t.Fatalf("reply has no %s", name)
	}
	return s
}

func appKey(t *testing.T, srv *devidptest.Server) any {
	t.Helper()
	der, _ := pemDecode(srv.KeyPEM())
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// assertion writes a client assertion as MSAL does (PS256, x5t#S256 in
// standard base64) for the demo certificate, signed by key.
func assertion(t *testing.T, srv *devidptest.Server, key any, jti string, now time.Time) string {
	t.Helper()
	cert := srv.CertPEM()
	blk, _ := pemDecode(cert)
	sum := sha256.Sum256(blk)
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader("x5t#S256", base64.StdEncoding.EncodeToString(sum[:]))
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.PS256, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Signed(signer).Claims(jwt.Claims{
		Issuer: srv.ClientID(), Subject: srv.ClientID(), ID: jti,
		Audience: jwt.Audience{srv.URL + "/contoso.onmicrosoft.com/oauth2/v2.0/token"},
		Expiry:   jwt.NewNumericDate(now.Add(10 * time.Minute)), NotBefore: jwt.NewNumericDate(now),
	}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func pemDecode(b []byte) ([]byte, bool) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, false
	}
	return blk.Bytes, true
}

func assertionForm(srv *devidptest.Server, a string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_id": {srv.ClientID()}, "scope": {"api://" + srv.ClientID() + "/.default"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {a}}
}
