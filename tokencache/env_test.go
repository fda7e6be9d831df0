package tokencache_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/tenantgate/tenantgate/devidp/devidptest"
	"github.com/tenantgate/tenantgate/internal/redistest"
	"github.com/tenantgate/tenantgate/seal"
	"github.com/tenantgate/tenantgate/store"
	"github.com/tenantgate/tenantgate/store/memstore"
	"github.com/tenantgate/tenantgate/store/redisstore"
	"github.com/tenantgate/tenantgate/tokencache"
)

// redirectURI is registered for devidp's demo app (loopback: any port).
const redirectURI = "http://localhost:8400/callback"

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// testKey seals for every cache of the test binary, so that caches built
// by different "replicas" open each other's values; child processes get it
// through the environment.
var testKey, testKeyring = func() (seal.Key, *seal.Keyring) {
	k, err := seal.GenerateKey("test")
	if err != nil {
		panic(err)
	}
	kr, err := seal.NewKeyring(k)
	if err != nil {
		panic(err)
	}
	return k, kr
}()

// backend is a store that several "replicas" open: start runs the server
// once and returns how each replica connects to it.
type backend struct {
	name  string
	start func(t *testing.T) (open func() store.KV)
}

var (
	memBackend = backend{"memstore", func(t *testing.T) func() store.KV {
		s := openMem(t)
		return func() store.KV { return s }
	}}
	redisBackend = backend{"redis-standalone", func(t *testing.T) func() store.KV {
		srv := redistest.Standalone(t)
		return func() store.KV { return openRedis(t, redisstore.Options{Addrs: []string{srv.Addr}}) }
	}}
	// pubsubBackend is the L1 mode of servers without client tracking:
	// its coherence is tenantgate's own messages, not Redis's.
	pubsubBackend = backend{"redis-pubsub", func(t *testing.T) func() store.KV {
		srv := redistest.Standalone(t)
		return func() store.KV {
			return openRedis(t, redisstore.Options{Addrs: []string{srv.Addr}, L1: redisstore.ModePubSub})
		}
	}}
	clusterBackend = backend{"redis-cluster", func(t *testing.T) func() store.KV {
		c := redistest.NewCluster(t, 3)
		return func() store.KV { return openRedis(t, redisstore.Options{Addrs: c.Addrs()}) }
	}}
)

func openRedis(t testing.TB, o redisstore.Options) *redisstore.Store {
	t.Helper()
	o.Logger = quiet
	s, err := redisstore.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openMem(t testing.TB) *memstore.Store {
	s := memstore.New(memstore.Options{})
	t.Cleanup(func() { s.Close() })
	return s
}

// newCache is one replica's token cache over kv.
func newCache(t testing.TB, kv store.KV, o tokencache.Options) *tokencache.Cache {
	t.Helper()
	if o.Logger == nil {
		o.Logger = quiet
	}
	c := tokencache.New(kv, testKeyring, o)
	t.Cleanup(func() { c.Close() })
	return c
}

// newClient is the demo app in tenant on the cache, with its secret.
func newClient(t testing.TB, c *tokencache.Cache, idp *devidptest.Server, tenant string) *tokencache.Client {
	t.Helper()
	cred, err := confidential.NewCredFromSecret(idp.Secret())
	if err != nil {
		t.Fatal(err)
	}
	cl, err := c.NewClient(tokencache.ClientConfig{
		Authority: idp.Authority(tenant), ClientID: idp.ClientID(), Credential: cred, HTTPClient: idp.HTTPClient(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func apiScope(idp *devidptest.Server, name string) string {
	return "api://" + idp.ClientID() + "/" + name
}

// signIn runs auth code + PKCE for user and returns the result.
func signIn(t testing.TB, idp *devidptest.Server, cl *tokencache.Client, user string, scopes []string) confidential.AuthResult {
	t.Helper()
	ctx := context.Background()
	req := devidptest.NewAuthRequest()
	u, err := cl.AuthCodeURL(ctx, redirectURI, append([]string{"openid", "profile", "offline_access"}, scopes...))
	if err != nil {
		t.Fatal(err)
	}
	if u, err = req.URL(u, ""); err != nil {
		t.Fatal(err)
	}
	params, err := idp.SignIn(nil, u, user)
	if err != nil {
		t.Fatal(err)
	}
	if params.Get("code") == "" {
		t.Fatalf("sign-in of %s: no code: %s", user, params.Get("error_description"))
	}
	res, err := cl.AcquireTokenByAuthCode(ctx, params.Get("code"), redirectURI, scopes, tokencache.WithChallenge(req.Verifier))
	if err != nil {
		t.Fatalf("sign-in of %s: %v", user, err)
	}
	return res
}
