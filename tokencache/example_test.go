package tokencache_test

import (
	"context"
	"fmt"
	"log"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/tenantgate/tenantgate/devidp/devidptest"
	"github.com/tenantgate/tenantgate/seal"
	"github.com/tenantgate/tenantgate/store/memstore"
	"github.com/tenantgate/tenantgate/tokencache"
)

// A Go app with MSAL Go keeps its tokens in the shared cache: build a Cache
// over a store (redisstore.New in production) and a keyring, then one
// Client per app registration and tenant. Every replica that does the same
// sees the tokens any of them acquired.
func ExampleCache_NewClient() {
	idp, err := devidptest.NewServer() // stands in for login.microsoftonline.com
	if err != nil {
		log.Fatal(err)
	}
	defer idp.Close()

	key, _ := seal.GenerateKey("2026-11") // in production: seal.KeysFromEnv
	keys, _ := seal.NewKeyring(key)
	kv := memstore.New(memstore.Options{})
	defer kv.Close()
	cache := tokencache.New(kv, keys, tokencache.Options{})
	defer cache.Close()

	cred, _ := confidential.NewCredFromSecret(idp.Secret())
	client, err := cache.NewClient(tokencache.ClientConfig{
		Authority:  idp.Authority("contoso"), // https://login.microsoftonline.com/{tenantID}
		ClientID:   idp.ClientID(),
		Credential: cred,
		HTTPClient: idp.HTTPClient(),
	})
	if err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	scopes := []string{"api://" + idp.ClientID() + "/.default"}
	first, err := client.AcquireTokenByCredential(ctx, scopes)
	if err != nil {
		log.Fatal(err)
	}
	again, _ := client.AcquireTokenByCredential(ctx, scopes)
	fmt.Println("same token from the cache:", again.AccessToken == first.AccessToken)
	fmt.Println("requests to the IdP:", idp.IdP().Count("token", "client_credentials"))
	// Output:
	// same token from the cache: true
	// requests to the IdP: 1
}
