package tokencache_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/devidp/devidptest"
	"github.com/tenantgate/tenantgate/internal/redistest"
	"github.com/tenantgate/tenantgate/store"
	"github.com/tenantgate/tenantgate/store/redisstore"
	"github.com/tenantgate/tenantgate/tokencache"
)

// benchUser is one signed-in user: a copy of a real devidp sign-in's MSAL
// cache with the account's object ID replaced, so every user holds real
// tokens of the real size without signing in 10,000 times.
type benchUser struct {
	home string
	blob []byte // MSAL's serialization of this user's partition
}

// signedInTemplate signs one user in and returns its partition as MSAL
// serialized it.
func signedInTemplate(b *testing.B, idp *devidptest.Server, scopes []string) benchUser {
	kv := openMem(b)
	cl := newClient(b, newCache(b, kv, tokencache.Options{}), idp, "contoso")
	res := signIn(b, idp, cl, "alice@contoso.onmicrosoft.com", scopes)
	key := "tg1:tc:" + idp.ClientID() + ":" + devidp.DemoContosoID + ":u:" + res.Account.HomeAccountID
	sealed, _, err := kv.Get(context.Background(), key)
	if err != nil {
		b.Fatal(err)
	}
	plain, err := testKeyring.Open(sealed, key)
	if err != nil {
		b.Fatal(err)
	}
	return benchUser{home: res.Account.HomeAccountID, blob: plain}
}

func makeUsers(t benchUser, n int) []benchUser {
	oid, _, _ := strings.Cut(t.home, ".")
	users := make([]benchUser, n)
	for i := range users {
		id := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
		users[i] = benchUser{home: strings.Replace(t.home, oid, id, 1), blob: []byte(strings.ReplaceAll(string(t.blob), oid, id))}
	}
	return users
}

// tenantBlob unites the users' partitions into one MSAL cache, as MSAL's
// own in-memory cache or the seed system's per-tenant blob holds them.
func tenantBlob(b *testing.B, users []benchUser) []byte {
	all := map[string]map[string]json.RawMessage{}
	for _, u := range users {
		var p map[string]map[string]json.RawMessage
		if err := json.Unmarshal(u.blob, &p); err != nil {
			b.Fatal(err)
		}
		for sec, entries := range p {
			if all[sec] == nil {
				all[sec] = map[string]json.RawMessage{}
			}
			for k, v := range entries {
				all[sec][k] = v
			}
		}
	}
	out, err := json.Marshal(all)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// loadOnce gives MSAL its whole cache once; after that MSAL works from its
// own memory, as with no external cache at all.
type loadOnce struct {
	data   []byte
	loaded bool
}

func (l *loadOnce) Replace(_ context.Context, u cache.Unmarshaler, _ cache.ReplaceHints) error {
	if l.loaded {
		return nil
	}
	l.loaded = true
	return u.Unmarshal(l.data)
}
func (l *loadOnce) Export(context.Context, cache.Marshaler, cache.ExportHints) error { return nil }

// silent is one AcquireTokenSilent for a user.
type silent func(ctx context.Context, home string) (string, error)

// BenchmarkAcquireTokenSilent compares a silent hit for a random signed-in
// user through MSAL's own in-memory cache (one shared client, MSAL's best
// case), tenantgate's cache on memstore, on Redis with and without the L1,
// and the seed system's design (one blob per tenant, read and parsed on
// every call). No call may reach the IdP during the timed loop.
func BenchmarkAcquireTokenSilent(b *testing.B) {
	idp := devidptest.Start(b)
	srv := redistest.Standalone(b)
	scopes := []string{apiScope(idp, "access_as_user")}
	template := signedInTemplate(b, idp, scopes)
	tenantScope := "tg1:tc:" + idp.ClientID() + ":" + devidp.DemoContosoID + ":"
	ctx := context.Background()

	// ours stores the users' partitions, and returns a client whose pool
	// holds every user (the benchmark asks for all of them), warmed by one
	// call per user as a signed-in user's first request would.
	ours := func(b *testing.B, kv store.KV, users []benchUser) *tokencache.Client {
		for _, u := range users {
			key := tenantScope + "u:" + u.home
			sealed, err := testKeyring.Seal(u.blob, key)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := kv.CompareAndSet(ctx, key, 0, sealed, time.Hour); err != nil {
				b.Fatal(err)
			}
		}
		cl := newClient(b, newCache(b, kv, tokencache.Options{PoolBytes: 2 << 30}), idp, "contoso")
		for _, u := range users {
			if _, err := cl.AcquireTokenSilent(ctx, u.home, scopes); err != nil {
				b.Fatal(err)
			}
		}
		return cl
	}
	oursSilent := func(cl *tokencache.Client) silent {
		return func(ctx context.Context, home string) (string, error) {
			res, err := cl.AcquireTokenSilent(ctx, home, scopes)
			return res.AccessToken, err
		}
	}
	msal := func(b *testing.B, accessor cache.ExportReplace) silent {
		cred, err := confidential.NewCredFromSecret(idp.Secret())
		if err != nil {
			b.Fatal(err)
		}
		c, err := confidential.New(idp.Authority("contoso"), idp.ClientID(), cred, confidential.WithHTTPClient(idp.HTTPClient()),
			confidential.WithInstanceDiscovery(false), confidential.WithCache(accessor))
		if err != nil {
			b.Fatal(err)
		}
		return func(ctx context.Context, home string) (string, error) {
			res, err := c.AcquireTokenSilent(ctx, scopes, confidential.WithSilentAccount(confidential.Account{HomeAccountID: home}))
			return res.AccessToken, err
		}
	}
	kinds := []struct {
		name  string
		setup func(b *testing.B, users []benchUser) silent
	}{
		// The floor: a Go map from home account ID to a finished result,
		// with no validity check at all. Any cache pays at least this to
		// find a random user's answer and hand it over; how it grows with
		// users is the machine's memory, not the cache's design.
		{"go-map-floor", func(b *testing.B, users []benchUser) silent {
			cl := ours(b, openMem(b), users)
			results := make(map[string]*confidential.AuthResult, len(users))
			for _, u := range users {
				res, err := cl.AcquireTokenSilent(ctx, u.home, scopes)
				if err != nil {
					b.Fatal(err)
				}
				results[u.home] = &res
			}
			return func(_ context.Context, home string) (string, error) {
				res := floorLookup(results, home)
				return res.AccessToken, nil
			}
		}},
		{"msal-memory", func(b *testing.B, users []benchUser) silent {
			return msal(b, &loadOnce{data: tenantBlob(b, users)})
		}},
		{"memstore", func(b *testing.B, users []benchUser) silent { return oursSilent(ours(b, openMem(b), users)) }},
		{"redis", func(b *testing.B, users []benchUser) silent {
			return oursSilent(ours(b, openRedis(b, redisstore.Options{Addrs: []string{srv.Addr}}), users))
		}},
		{"redis-nol1", func(b *testing.B, users []benchUser) silent {
			return oursSilent(ours(b, openRedis(b, redisstore.Options{Addrs: []string{srv.Addr}, L1: redisstore.ModeOff}), users))
		}},
		{"seed-tenant-blob", func(b *testing.B, users []benchUser) silent {
			kv := openRedis(b, redisstore.Options{Addrs: []string{srv.Addr}, L1: redisstore.ModeOff, OpTimeout: time.Minute})
			if _, err := kv.CompareAndSet(ctx, "msal-cache:contoso", 0, tenantBlob(b, users), time.Hour); err != nil {
				b.Fatal(err)
			}
			return msal(b, newTenantBlobAccessor(kv, "msal-cache:contoso"))
		}},
	}
	for _, kind := range kinds {
		b.Run("cache="+kind.name, func(b *testing.B) {
			for _, n := range []int{10, 1000, 10000} {
				b.Run(fmt.Sprintf("users=%d", n), func(b *testing.B) {
					srv.Do(b, "FLUSHALL")
					users := makeUsers(template, n)
					call := kind.setup(b, users)
					r := rand.New(rand.NewPCG(1, uint64(n)))
					// One untimed call: MSAL's in-memory cache loads here.
					if _, err := call(ctx, users[0].home); err != nil {
						b.Fatal(err)
					}
					before := idp.IdP().Count("token", "")
					b.ReportAllocs()
					for b.Loop() {
						if _, err := call(ctx, users[r.IntN(n)].home); err != nil {
							b.Fatal(err)
						}
					}
					if d := idp.IdP().Count("token", "") - before; d != 0 {
						b.Fatalf("%d token requests reached the IdP during the timed loop", d)
					}
				})
			}
		})
	}
}

// floorLookup hands over a copy of the user's result, as a cache returns
// one by value.
//
//go:noinline
func floorLookup(m map[string]*confidential.AuthResult, home string) confidential.AuthResult {
	return *m[home]
}

// BenchmarkFootprint reports what one signed-in user costs: bytes in Redis
// (MEMORY USAGE of the sealed partition) and bytes in the process for a hot
// partition in the client pool (heap growth over 2,000 partitions).
func BenchmarkFootprint(b *testing.B) {
	idp := devidptest.Start(b)
	srv := redistest.Standalone(b)
	scopes := []string{apiScope(idp, "access_as_user")}
	template := signedInTemplate(b, idp, scopes)
	const n = 2000
	users := makeUsers(template, n)
	kv := openRedis(b, redisstore.Options{Addrs: []string{srv.Addr}, L1: redisstore.ModeOff})
	ctx := context.Background()
	tenantScope := "tg1:tc:" + idp.ClientID() + ":" + devidp.DemoContosoID + ":"
	for _, u := range users {
		key := tenantScope + "u:" + u.home
		sealed, _ := testKeyring.Seal(u.blob, key)
		if _, err := kv.CompareAndSet(ctx, key, 0, sealed, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	redisBytes, _ := srv.Do(b, "MEMORY", "USAGE", tenantScope+"u:"+users[0].home).(int64)
	cl := newClient(b, newCache(b, kv, tokencache.Options{PoolBytes: 2 << 30}), idp, "contoso")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, u := range users {
		if _, err := cl.AcquireTokenSilent(ctx, u.home, scopes); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	for b.Loop() {
	}
	b.ReportMetric(float64(len(template.blob)), "msal-B/user")
	b.ReportMetric(float64(redisBytes), "redis-B/user")
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "pool-B/partition")
	runtime.KeepAlive(cl)
}

// BenchmarkClientPool compares the two ways of never sharing an MSAL client
// between partitions (architecture fact 1): a pool of per-partition clients
// that keep their parsed state (the default), and a new client per call
// (Options.PoolBytes < 0), which must parse the partition every time.
func BenchmarkClientPool(b *testing.B) {
	idp := devidptest.Start(b)
	srv := redistest.Standalone(b)
	scopes := []string{apiScope(idp, "access_as_user")}
	users := makeUsers(signedInTemplate(b, idp, scopes), 100)
	ctx := context.Background()
	tenantScope := "tg1:tc:" + idp.ClientID() + ":" + devidp.DemoContosoID + ":"
	kv := openRedis(b, redisstore.Options{Addrs: []string{srv.Addr}})
	for _, u := range users {
		key := tenantScope + "u:" + u.home
		sealed, _ := testKeyring.Seal(u.blob, key)
		if _, err := kv.CompareAndSet(ctx, key, 0, sealed, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	for _, mode := range []struct {
		name  string
		bytes int64
	}{{"pool", 0}, {"per-call", -1}} {
		b.Run(mode.name, func(b *testing.B) {
			cl := newClient(b, newCache(b, kv, tokencache.Options{PoolBytes: mode.bytes}), idp, "contoso")
			r := rand.New(rand.NewPCG(1, 2))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := cl.AcquireTokenSilent(ctx, users[r.IntN(len(users))].home, scopes); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
