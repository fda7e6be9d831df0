package devidp_test

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/devidp/devidptest"
)

// An administrator rotates a client certificate: the new one is added
// beside the old, then the old one removed. Assertions signed with the
// removed one fail with AADSTS700027 at once.
func TestSetAppCertificatesRotates(t *testing.T) {
	srv := devidptest.Start(t)
	// The demo directory took the pool's first four keys (app, three
	// tenants): the fifth is a key of its own.
	next := devidptest.Keys()
	var key *rsa.PrivateKey
	for range 5 {
		var err error
		if key, err = next(); err != nil {
			t.Fatal(err)
		}
	}
	second, err := devidp.NewAppCertificate(key, "second", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	first := srv.IdP().Directory().Apps[0].Certificates[0]
	scopes := []string{apiScope(srv, ".default")}
	withCert := func(c devidp.Certificate) confidential.Client {
		certs, k, err := confidential.CertFromPEM([]byte(c.PEM+c.PrivateKeyPEM), "")
		if err != nil {
			t.Fatal(err)
		}
		cred, err := confidential.NewCredFromCert(certs, k)
		if err != nil {
			t.Fatal(err)
		}
		return newClient(t, srv, srv.Authority("contoso"), cred)
	}
	if _, err := withCert(second).AcquireTokenByCredential(context.Background(), scopes); err == nil {
		t.Fatal("an unregistered certificate was accepted")
	}
	if err := srv.IdP().SetAppCertificates(srv.ClientID(), []devidp.Certificate{first, second}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []devidp.Certificate{first, second} {
		if _, err := withCert(c).AcquireTokenByCredential(context.Background(), scopes); err != nil {
			t.Fatalf("with both registered: %v", err)
		}
	}
	// Over HTTP this time: keep only the second.
	body, _ := json.Marshal(map[string]any{"certificates": []devidp.Certificate{{PEM: second.PEM}}})
	control(t, srv, "PUT", "apps/"+srv.ClientID()+"/certificates", string(body), nil)
	_, err = withCert(first).AcquireTokenByCredential(context.Background(), scopes)
	wantAADSTS(t, err, "700027")
	if _, err := withCert(second).AcquireTokenByCredential(context.Background(), scopes); err != nil {
		t.Fatalf("the remaining certificate: %v", err)
	}
	if got := srv.IdP().Directory().Apps[0].Certificates; len(got) != 1 || got[0].PEM != second.PEM {
		t.Fatalf("directory lists %d certificates after the rotation", len(got))
	}
	if err := srv.IdP().SetAppCertificates("00000000-0000-4000-8000-000000000000", nil); err == nil {
		t.Fatal("an unknown app was accepted")
	}
	if err := srv.IdP().SetAppCertificates(srv.ClientID(), []devidp.Certificate{{PEM: "junk"}}); err == nil {
		t.Fatal("a malformed certificate was accepted")
	}
}
