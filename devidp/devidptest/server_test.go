package devidptest_test

import (
	"crypto/tls"
	"net/http"
	"strings"
	"testing"

	"github.com/tenantgate/tenantgate/devidp/devidptest"
)

func TestHTTPClientReachesMicrosoftNamesOnlyThroughTheServer(t *testing.T) {
	srv := devidptest.Start(t)
	for _, u := range []string{
		srv.CIAMAuthority("woodgrove") + "/v2.0/.well-known/openid-configuration",
		"https://login.microsoftonline.com/common/discovery/instance?api-version=1.1&authorization_endpoint=" + srv.Authority("contoso") + "/oauth2/v2.0/authorize",
	} {
		resp, err := srv.HTTPClient().Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", u, resp.StatusCode)
		}
	}
	// A client that does not trust the test CA is refused.
	plain := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{}}}
	if _, err := plain.Get(srv.URL); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("an untrusting client got through: %v", err)
	}
}

func TestDemoAppAccessors(t *testing.T) {
	srv := devidptest.Start(t)
	if srv.ClientID() == "" || srv.Secret() == "" || !strings.Contains(string(srv.CertPEM()), "CERTIFICATE") || !strings.Contains(string(srv.KeyPEM()), "PRIVATE KEY") {
		t.Fatal("demo app credentials missing")
	}
	if !strings.HasPrefix(srv.Authority("contoso.onmicrosoft.com"), srv.URL+"/c0a7f4a1-") {
		t.Fatalf("authority by domain: %s", srv.Authority("contoso.onmicrosoft.com"))
	}
}
