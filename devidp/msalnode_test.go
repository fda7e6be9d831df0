package devidp_test

import (
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/devidp/devidptest"
)

// MSAL Node, the library of the system tenantgate replaces, gets an app
// token and redeems an auth code (with PKCE) against devidp. The fixture's
// node_modules is installed by `make test` (scripts/deps.sh); a missing
// Node or fixture fails the test with the command that fixes it.
func TestMSALNode(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed; install Node.js 20 or later (apt-get install nodejs) and run `make deps`")
	}
	dir, _ := filepath.Abs(filepath.Join("testdata", "msalnode"))
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@azure", "msal-node")); err != nil {
		t.Fatalf("the MSAL Node fixture is not installed; run: npm ci --prefix %s (or make deps)", dir)
	}
	srv := devidptest.Start(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, srv.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	verifier, challenge := pkce()
	q := url.Values{"client_id": {srv.ClientID()}, "response_type": {"code"}, "redirect_uri": {redirectURI},
		"scope": {"openid profile offline_access User.Read"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	params, err := srv.SignIn(nil, srv.Authority("fabrikam")+"/oauth2/v2.0/authorize?"+q.Encode(), "alice@contoso.onmicrosoft.com")
	if err != nil || params.Get("code") == "" {
		t.Fatalf("sign-in: %v %v", err, params)
	}

	cmd := exec.Command(node, "run.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"NODE_EXTRA_CA_CERTS="+caFile,
		"DEVIDP_AUTHORITY="+srv.Authority("fabrikam"),
		"DEVIDP_CLIENT_ID="+srv.ClientID(),
		"DEVIDP_SECRET="+srv.Secret(),
		"DEVIDP_APP_SCOPE=api://"+srv.ClientID()+"/.default",
		"DEVIDP_USER_SCOPE=User.Read",
		"DEVIDP_CODE="+params.Get("code"),
		"DEVIDP_VERIFIER="+verifier,
		"DEVIDP_REDIRECT_URI="+redirectURI,
	)
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("node run.mjs: %v\n%s", err, stderr)
	}
	var res struct {
		ClientCredentials struct {
			OK       bool
			TenantID string
			HasToken bool
			Error    string
			Message  string
		}
		AuthCode struct {
			OK            bool
			Username      string
			HomeAccountID string
			HasIDToken    bool
			Error         string
			Message       string
		}
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	cc, ac := res.ClientCredentials, res.AuthCode
	if !cc.OK || !cc.HasToken || cc.TenantID != devidp.DemoFabrikamID {
		t.Errorf("client credentials: %+v", cc)
	}
	wantHome := "a11ce000-0000-4000-8000-00000000a11c." + devidp.DemoContosoID
	if !ac.OK || !ac.HasIDToken || !strings.EqualFold(ac.Username, "alice@contoso.onmicrosoft.com") || ac.HomeAccountID != wantHome {
		t.Errorf("auth code: %+v, want home account %s", ac, wantHome)
	}
	if n := srv.IdP().Count("token", "authorization_code"); n != 1 {
		t.Errorf("%d code redemptions, want 1", n)
	}
}
