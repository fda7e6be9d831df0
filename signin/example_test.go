package signin_test

import (
	"context"
	"log"
	"net/http"

	"github.com/tenantgate/tenantgate/seal"
	"github.com/tenantgate/tenantgate/session"
	"github.com/tenantgate/tenantgate/signin"
	"github.com/tenantgate/tenantgate/store/redisstore"
	"github.com/tenantgate/tenantgate/tenant"
	"github.com/tenantgate/tenantgate/tokencache"
)

// An app behind Easy Auth's routes: /.auth/ is the sign-in handler, every
// other path needs a session, and handlers ask for the user's access token
// when they call an API. Every replica runs the same code on the same
// Redis and keyring; a user signed in on one is signed in on all.
func ExampleHandler_Require() {
	ctx := context.Background()
	st, err := redisstore.New(ctx, redisstore.Options{URL: "rediss://:ACCESS_KEY@example.redis.cache.windows.net:6380"})
	if err != nil {
		log.Fatal(err)
	}
	keys, err := seal.KeysFromEnv("TENANTGATE_KEYS")
	if err != nil {
		log.Fatal(err)
	}
	cache := tokencache.New(st, keys, tokencache.Options{})
	cfg, err := tenant.Load("tenants.yaml")
	if err != nil {
		log.Fatal(err)
	}
	tenants, err := tenant.Open(ctx, cfg, cache, tenant.Options{})
	if err != nil {
		log.Fatal(err)
	}
	sessions, err := session.New(st, keys, session.Options{PublicURL: "https://app.example"})
	if err != nil {
		log.Fatal(err)
	}
	auth, err := signin.New(signin.Options{PublicURL: "https://app.example", Tenants: tenants, Sessions: sessions, Store: st, Sealer: keys})
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.Handle("/.auth/", auth)
	mux.Handle("/", auth.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := session.FromContext(r.Context())
		tok, err := auth.Token(r.Context(), r, nil) // cached; refreshed once across replicas when due
		if err != nil {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		_ = tok.AccessToken // call the API with it
		w.Write([]byte("hello " + s.DisplayName))
	})))
	log.Fatal(http.ListenAndServe(":8080", mux))
}
