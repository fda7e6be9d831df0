package tenant_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"

	"github.com/tenantgate/tenantgate/seal"
	"github.com/tenantgate/tenantgate/store/memstore"
	"github.com/tenantgate/tenantgate/tenant"
	"github.com/tenantgate/tenantgate/tokencache"
)

// Start-up: load the tenant file, open every tenant on the shared token
// cache (this fails, naming tenant and field, if a credential or an
// authority does not work), then get an app token for one tenant.
func ExampleOpen() {
	cfg, err := tenant.Load("/etc/tenantgate/tenants.yaml")
	if err != nil {
		log.Fatal(err)
	}
	key, _ := seal.GenerateKey("k1")
	keyring, _ := seal.NewKeyring(key)
	cache := tokencache.New(memstore.New(memstore.Options{}), keyring, tokencache.Options{})
	defer cache.Close()

	reg, err := tenant.Open(context.Background(), cfg, cache, tenant.Options{HTTPClient: http.DefaultClient})
	if err != nil {
		log.Fatal(err) // e.g. tenant: contoso: credential.pfx.passwordFile: wrong password for the PFX file
	}
	defer reg.Close()

	contoso, _ := reg.Tenant("contoso")
	res, err := contoso.Client().AcquireTokenByCredential(context.Background(), []string{"https://graph.microsoft.com/.default"})
	if contoso.Rejected(err) {
		// The IdP refused the certificate: it is being reloaded (e.g. a
		// new version in Key Vault); retry shortly.
	}
	_ = res
}

// After sign-in, the user's tenant (the tid claim) picks the client; a
// tenant neither configured nor allowed is refused.
func ExampleRegistry_ForTenantID() {
	var reg *tenant.Registry // from tenant.Open
	tid := "0badc0de-0000-4000-8000-000000000000"
	t, err := reg.ForTenantID(tid)
	if errors.Is(err, tenant.ErrTenantNotAllowed) {
		// 403: this service does not serve the user's organization.
		return
	}
	_ = t.Client()
}

// Configuration errors name the tenant and the field.
func ExampleParse() {
	_, err := tenant.Parse([]byte(`
tenants:
  contoso:
    tenantId: c0a7f4a1-1111-4c11-8c11-000000000001
    clientId: 7e0a6e11-aaaa-4aaa-8aaa-00000000a001
    kind: b2c
`))
	fmt.Println(err)
	_, err = tenant.Parse([]byte(`
tenants:
  contoso:
    tenantID: c0a7f4a1-1111-4c11-8c11-000000000001
`))
	fmt.Println(err)
	// Output:
	// tenant: contoso: kind: "b2c" is neither "workforce" nor "ciam"
	// tenant: configuration: yaml: line 4: unknown field "tenantID"
}
