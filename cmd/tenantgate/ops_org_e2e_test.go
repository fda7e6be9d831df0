package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/devidp/devidptest"
	"github.com/tenantgate/tenantgate/internal/redistest"
	"github.com/tenantgate/tenantgate/seal"
	"github.com/tenantgate/tenantgate/store/redisstore"
	"github.com/tenantgate/tenantgate/tokencache"
)

// orgClientID is the multi-tenant app of TestOpsOrganizationsAndCertificates.
const orgClientID = "0a7c0de0-2222-4a22-8a22-00000000000b"

// certFixture is a deployment whose tenants prove themselves with the
// demo app's certificate: contoso on its own with the demo app, and a
// multi-tenant app (another client ID) allowing contoso and fabrikam.
// Every client assertion the IdP receives is kept for the log check.
type certFixture struct {
	fixture
	mu         sync.Mutex
	assertions []string
}

func newCertFixture(t *testing.T) *certFixture {
	t.Helper()
	dir, err := devidp.Demo(devidptest.Keys())
	if err != nil {
		t.Fatal(err)
	}
	org := dir.Apps[0]
	org.Name, org.ClientID, org.IdentifierURI = "multi-tenant", orgClientID, ""
	org.Tenants = []string{"contoso", "fabrikam"}
	dir.Apps = append(dir.Apps, org)
	cf := &certFixture{}
	idp := devidptest.Start(t, devidptest.WithDirectory(dir), func(o *devidp.Options) {
		o.OnClientAssertion = func(a string) {
			cf.mu.Lock()
			cf.assertions = append(cf.assertions, a)
			cf.mu.Unlock()
		}
	})
	d := t.TempDir()
	cf.fixture = fixture{idp: idp, tenants: filepath.Join(d, "tenants.yaml"), keys: filepath.Join(d, "keys.txt"), caFile: filepath.Join(d, "ca.pem")}
	pem := filepath.Join(d, "app.pem")
	yaml := fmt.Sprintf(`tenants:
  contoso:
    tenantId: %[1]s
    authorityHost: %[2]s
    clientId: %[3]s
    credential: {certificate: {file: %[4]s}}
    scopes: ["api://%[3]s/access_as_user"]
organizations:
  authorityHost: %[2]s
  clientId: %[5]s
  credential: {certificate: {file: %[4]s}}
  scopes: ["api://%[5]s/access_as_user"]
  allowedTenants: [%[1]s, %[6]s]
`, devidp.DemoContosoID, idp.URL, idp.ClientID(), pem, orgClientID, devidp.DemoFabrikamID)
	k, err := seal.GenerateKey("e2e")
	if err != nil {
		t.Fatal(err)
	}
	for path, b := range map[string][]byte{cf.tenants: []byte(yaml), cf.keys: []byte(k.Encode() + "\n"), cf.caFile: idp.CACertPEM(),
		pem: append(idp.CertPEM(), idp.KeyPEM()...)} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// The private key's lines: a log line holding part of the PEM file
	// holds a credential too.
	for _, line := range strings.Split(string(idp.KeyPEM()), "\n") {
		if !strings.HasPrefix(line, "-----") {
			noteSecret(t, "client certificate key", strings.TrimSpace(line))
		}
	}
	return cf
}

// noteAssertions hands the assertions received so far to the log check,
// whole and by signature (a line may hold a truncated one), and returns
// them.
func (cf *certFixture) noteAssertions(t *testing.T) []string {
	t.Helper()
	cf.mu.Lock()
	as := append([]string(nil), cf.assertions...)
	cf.mu.Unlock()
	for _, a := range as {
		noteSecret(t, "client assertion", a)
		if i := strings.LastIndexByte(a, '.'); i > 0 {
			noteSecret(t, "client assertion signature", a[i+1:])
		}
	}
	return as
}

// The organizations app on the ops listener, with certificate credentials
// throughout: a session signed in through the app is counted, listed and
// measured under its user's tenant (a row of its own for a tenant only
// the app serves), with the token status of the app's own cache; a
// refresh that fails is shown on the user's token status with its kind;
// revoking signs the user out of the app's cache; and the client
// assertions tenantgate sent are among the values no log line may hold.
func TestOpsOrganizationsAndCertificates(t *testing.T) {
	srv := redistest.Standalone(t)
	cf := newCertFixture(t)
	idp := cf.idp
	up := echoUpstream(t)
	tokenFile := filepath.Join(t.TempDir(), "admin-token")
	if err := os.WriteFile(tokenFile, []byte(testAdminToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	noteSecret(t, "admin token", testAdminToken)
	redisURL := "redis://" + srv.Addr
	g := startServe(t, cf.args(redisURL, up.URL, "--replica", "web-org", "--admin-listen", "127.0.0.1:0", "--admin-token-file", tokenFile))
	admin := adminURL(t, g)
	bearer := []string{"Authorization", "Bearer " + testAdminToken}
	var answers []string
	get := func(path string, v any) {
		t.Helper()
		resp, body := send(t, http.DefaultClient, http.MethodGet, admin+path, nil, bearer...)
		answers = append(answers, body)
		if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), v) != nil {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
	}

	// alice's tokens say refresh_in 1 s: MSAL refreshes them early and
	// keeps them if the refresh fails.
	idp.IdP().SetLifetimes(devidp.Lifetimes{RefreshIn: time.Second})
	alice := browser(idp)
	signInTo(t, idp, alice, g.URL, "organizations", "alice@contoso.onmicrosoft.com")
	idp.IdP().SetLifetimes(devidp.Lifetimes{})
	fiona, bob := browser(idp), browser(idp)
	signInTo(t, idp, fiona, g.URL, "organizations", "fiona@fabrikam.onmicrosoft.com")
	signInTo(t, idp, bob, g.URL, "contoso", "bob@contoso.onmicrosoft.com")

	type tenantRow struct {
		Key      string `json:"key"`
		TenantID string `json:"tenant_id"`
		Sessions int    `json:"sessions"`
	}
	var ts struct{ Tenants []tenantRow }
	get("/api/tenants", &ts)
	want := []tenantRow{{"contoso", devidp.DemoContosoID, 2}, {"organizations", devidp.DemoFabrikamID, 1}}
	if fmt.Sprint(ts.Tenants) != fmt.Sprint(want) {
		t.Fatalf("/api/tenants: %+v; want %+v", ts.Tenants, want)
	}
	var page struct{ Sessions []apiSession }
	get("/api/sessions?tenant=organizations", &page)
	if len(page.Sessions) != 1 || page.Sessions[0].Username != "fiona@fabrikam.onmicrosoft.com" || page.Sessions[0].Tenant != "organizations" ||
		page.Sessions[0].Tokens == nil || page.Sessions[0].Tokens.State != "ok" || !page.Sessions[0].Tokens.RefreshToken {
		t.Fatalf("the organizations app's tenant fabrikam: %+v", page.Sessions)
	}
	fionaS := page.Sessions[0]
	page.Sessions = nil // Unmarshal would fill fiona's element with alice's fields
	get("/api/sessions?tenant=contoso", &page)
	var aliceS apiSession
	for _, s := range page.Sessions {
		if s.Username == "alice@contoso.onmicrosoft.com" {
			aliceS = s
		}
	}
	if len(page.Sessions) != 2 || aliceS.Tenant != "organizations" || aliceS.Tokens == nil || aliceS.Tokens.State != "ok" || len(aliceS.Tokens.AccessTokens) != 1 ||
		!strings.Contains(aliceS.Tokens.AccessTokens[0].Scopes, orgClientID) {
		t.Fatalf("contoso's sessions, alice's through the organizations app with its tokens: %+v", page.Sessions)
	}
	mf := scrape(t, admin)
	if n := metric(mf, "tenantgate_sessions_live", "tenant", "organizations", "tenant_id", devidp.DemoFabrikamID); n != 1 {
		t.Errorf("tenantgate_sessions_live{organizations, fabrikam} = %v; want 1", n)
	}
	if n := metric(mf, "tenantgate_sessions_live", "tenant", "contoso", "tenant_id", devidp.DemoContosoID); n != 2 {
		t.Errorf("tenantgate_sessions_live{contoso} = %v; want 2 (bob's, and alice's through the app)", n)
	}

	// tenantgate sessions, from the tenant file alone, sees the same.
	for tenant, who := range map[string]string{"organizations": fionaS.Handle, "contoso": aliceS.Handle} {
		cmd := exec.Command(binary(t), "sessions", "list", "--tenant", tenant, "--json")
		cmd.Env = append(os.Environ(), "TENANTGATE_REDIS_URL="+redisURL, "TENANTGATE_KEYS="+cf.keys, "TENANTGATE_TENANTS="+cf.tenants)
		out, err := cmd.Output()
		var cli struct{ Sessions []apiSession }
		if err != nil || json.Unmarshal(out, &cli) != nil {
			t.Fatalf("tenantgate sessions list --tenant %s: %v %s", tenant, err, out)
		}
		found := false
		for _, s := range cli.Sessions {
			found = found || (s.Handle == who && s.Tokens != nil && s.Tokens.State == "ok")
		}
		if !found {
			t.Errorf("tenantgate sessions list --tenant %s: %s; want %s with its tokens", tenant, out, who)
		}
		answers = append(answers, string(out))
	}

	// The IdP fails alice's next refresh; MSAL keeps her valid token, and
	// the failure is hers on the ops view.
	for time.Now().Before(aliceS.Tokens.AccessTokens[0].RefreshOn.Add(time.Second)) {
		time.Sleep(50 * time.Millisecond)
	}
	if err := idp.IdP().QueueError(devidp.QueuedError{Endpoint: "token", Grant: "refresh_token", Code: 90033}); err != nil {
		t.Fatal(err)
	}
	if resp, body := send(t, alice, http.MethodGet, g.URL+"/hello", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("alice while her refresh fails: %d %s", resp.StatusCode, body)
	}
	var one apiSession
	get("/api/sessions/"+aliceS.Handle, &one)
	if one.Tokens == nil {
		t.Fatalf("alice's session has no token status")
	}
	if lr := one.Tokens.LastRefresh; lr == nil || lr.Result != "transient" || lr.Error != "temporarily_unavailable AADSTS90033" || lr.Replica != "web-org" {
		t.Errorf("alice's last refresh: %+v; want transient (temporarily_unavailable AADSTS90033) on web-org", lr)
	}
	if at := one.Tokens.AccessTokens; len(at) != 1 || at[0].LastRefresh == nil || at[0].LastRefresh.Result != "transient" {
		t.Errorf("alice's access token row: %+v; want its failed refresh", at)
	}
	secrets := partitionSecrets(t, &cf.fixture, redisURL, orgClientID, devidp.DemoContosoID, aliceS.Home)
	secrets = append(secrets, partitionSecrets(t, &cf.fixture, redisURL, orgClientID, devidp.DemoFabrikamID, fionaS.Home)...)

	// Revoking alice by her tenant's row signs her out of the app's cache.
	resp, body := send(t, http.DefaultClient, http.MethodPost, admin+"/api/revoke", strings.NewReader(`{"tenant":"`+devidp.DemoContosoID+`","user":"`+aliceS.Home+`"}`),
		append(bearer, "Content-Type", "application/json")...)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"revoked":1`) {
		t.Fatalf("revoke alice: %d %s", resp.StatusCode, body)
	}
	resp, body = send(t, http.DefaultClient, http.MethodPost, admin+"/api/revoke", strings.NewReader(`{"tenant":"organizations","all":true}`),
		append(bearer, "Content-Type", "application/json")...)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"revoked":1`) {
		t.Fatalf("revoke the organizations app's fabrikam: %d %s", resp.StatusCode, body)
	}
	for tid, home := range map[string]string{devidp.DemoContosoID: aliceS.Home, devidp.DemoFabrikamID: fionaS.Home} {
		if st := orgStatus(t, cf, redisURL, tid, home); !st.SignedOut {
			t.Errorf("the app's partition of %s after the revocation: %+v; want signed out", home, st)
		}
	}
	refusedSoon(t, alice, g.URL+"/hello")
	refusedSoon(t, fiona, g.URL+"/hello")

	for _, a := range answers {
		for _, s := range secrets {
			if strings.Contains(a, s) {
				t.Fatalf("an answer of the operations listener holds a token: %.300s", a)
			}
		}
	}
	as := cf.noteAssertions(t)
	if len(as) < 4 { // three sign-ins and a refresh, each with a new assertion
		t.Fatalf("the IdP received %d client assertions; want at least 4", len(as))
	}
	// The log check would see one of them in a log line.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "secrets.txt"), []byte("client assertion\t"+as[0]+"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "proc-1.log"), []byte("# clean\n"+tail(g.out.String(), 100000)), 0o600)
	if err := checkLogs(dir); err != nil {
		t.Fatalf("the log check refused this run's output: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "proc-2.log"), []byte(`{"msg":"tokencache: request","body":"client_assertion=`+as[0]+`"}`+"\n"), 0o600)
	if err := checkLogs(dir); err == nil || !strings.Contains(err.Error(), "client assertion") {
		t.Fatalf("a planted client assertion passed the log check: %v", err)
	}
	t.Logf("%d client assertions noted for the log check", len(as))
}

// orgStatus reads the organizations app's partition of home in tid as
// the gateway would.
func orgStatus(t *testing.T, cf *certFixture, redisURL, tid, home string) tokencache.PartitionStatus {
	t.Helper()
	ctx := context.Background()
	st, err := redisstore.New(ctx, redisstore.Options{URL: redisURL})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys, err := seal.KeysFromFile(cf.keys)
	if err != nil {
		t.Fatal(err)
	}
	cache := tokencache.New(st, keys, tokencache.Options{})
	defer cache.Close()
	cl, err := cache.NewClient(tokencache.ClientConfig{Authority: "https://status.invalid/" + tid, ClientID: orgClientID})
	if err != nil {
		t.Fatal(err)
	}
	s, err := cl.Status(ctx, home)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
