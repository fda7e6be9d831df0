package devidptest_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/tenantgate/tenantgate/devidp/devidptest"
)

// A test gets an app token from the contoso tenant with the real MSAL Go.
func ExampleStart() {
	testAppToken := func(t *testing.T) {
		srv := devidptest.Start(t)
		cred, err := confidential.NewCredFromSecret(srv.Secret())
		if err != nil {
			t.Fatal(err)
		}
		app, err := confidential.New(srv.Authority("contoso"), srv.ClientID(), cred,
			confidential.WithHTTPClient(srv.HTTPClient()), confidential.WithInstanceDiscovery(false))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := app.AcquireTokenByCredential(context.Background(), []string{"api://" + srv.ClientID() + "/.default"}); err != nil {
			t.Fatal(err)
		}
		if n := srv.IdP().Count("token", "client_credentials"); n != 1 {
			t.Fatalf("%d token requests, want 1", n)
		}
	}
	_ = testAppToken
}

// Outside a test (a demo, a benchmark's setup), NewServer and Close.
func ExampleNewServer() {
	srv, err := devidptest.NewServer()
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	resp, err := srv.HTTPClient().Get(srv.CIAMAuthority("woodgrove") + "/v2.0/.well-known/openid-configuration")
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status)
	// Output: 200 OK
}
