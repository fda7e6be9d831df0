package tokencache_test

// The facts about MSAL Go v1.10.1 that tenantgate's design rests on
// (ARCHITECTURE.md, "Facts about MSAL Go"), each measured against the real
// MSAL Go and devidp over TLS. Each test asserts what MSAL itself does, so
// that it fails when a new MSAL changes the behaviour: a design assumption
// moved. Where tenantgate's tokencache is the answer to a fact, the test
// shows that too.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/go-jose/go-jose/v4"

	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/devidp/devidptest"
	"github.com/tenantgate/tenantgate/internal/redistest"
	"github.com/tenantgate/tenantgate/seal"
	"github.com/tenantgate/tenantgate/store"
	"github.com/tenantgate/tenantgate/store/memstore"
	"github.com/tenantgate/tenantgate/store/redisstore"
	"github.com/tenantgate/tenantgate/tokencache"
)

// ---- helpers: driving real MSAL Go against devidp ----

// factRedirectURI is registered for the demo app (loopback: any port).
const factRedirectURI = "http://localhost:8400/callback"

const (
	factAlice = "alice@contoso.onmicrosoft.com"
	factBob   = "bob@contoso.onmicrosoft.com"
)

func factScope(srv *devidptest.Server, name string) string {
	return "api://" + srv.ClientID() + "/" + name
}

func factSecret(t testing.TB, srv *devidptest.Server) confidential.Credential {
	t.Helper()
	cred, err := confidential.NewCredFromSecret(srv.Secret())
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

// factMSAL is a raw MSAL confidential client of the demo app in tenant, with
// instance discovery off (devidp is not a Microsoft host); opts may add a
// cache or replace the HTTP client.
func factMSAL(t testing.TB, srv *devidptest.Server, tenant string, cred confidential.Credential, opts ...confidential.Option) confidential.Client {
	t.Helper()
	all := append([]confidential.Option{confidential.WithHTTPClient(srv.HTTPClient()), confidential.WithInstanceDiscovery(false)}, opts...)
	c, err := confidential.New(srv.Authority(tenant), srv.ClientID(), cred, all...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// factCache is a tokencache.Cache over kv, sealing with a fresh key; the
// keyring is returned to open what it stores.
func factCache(t testing.TB, kv store.KV, o tokencache.Options) (*tokencache.Cache, *seal.Keyring) {
	t.Helper()
	k, err := seal.GenerateKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	ring, err := seal.NewKeyring(k)
	if err != nil {
		t.Fatal(err)
	}
	c := tokencache.New(kv, ring, o)
	t.Cleanup(func() { c.Close() })
	return c, ring
}

// factReplica is another process's Cache over the same store and keys.
func factReplica(t testing.TB, kv store.KV, ring *seal.Keyring, o tokencache.Options) *tokencache.Cache {
	t.Helper()
	c := tokencache.New(kv, ring, o)
	t.Cleanup(func() { c.Close() })
	return c
}

func factTCClient(t testing.TB, c *tokencache.Cache, srv *devidptest.Server, tenant string) *tokencache.Client {
	t.Helper()
	cl, err := c.NewClient(tokencache.ClientConfig{
		Authority: srv.Authority(tenant), ClientID: srv.ClientID(), Credential: factSecret(t, srv),
		HTTPClient: srv.HTTPClient(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// tcUserKey is where tokencache keeps a user's partition.
func tcUserKey(srv *devidptest.Server, tenant, home string) string {
	id, _ := srv.IdP().Tenant(tenant)
	return "tg1:tc:" + srv.ClientID() + ":" + id.ID + ":u:" + home
}

func factMemKV(t testing.TB) *memstore.Store {
	kv := memstore.New(memstore.Options{})
	t.Cleanup(func() { kv.Close() })
	return kv
}

// factSignInWith signs user in at the IdP's sign-in page (auth code + PKCE, with
// state and nonce) through browser (nil: a new one) and redeems the code
// with redeem. It may run on any goroutine.
func factSignInWith(srv *devidptest.Server, browser *http.Client, tenant, user string, scopes []string,
	redeem func(ctx context.Context, code, verifier string) (confidential.AuthResult, error)) (confidential.AuthResult, error) {
	req := devidptest.NewAuthRequest()
	q := url.Values{
		"client_id":     {srv.ClientID()},
		"response_type": {"code"},
		"redirect_uri":  {factRedirectURI},
		"scope":         {strings.Join(append([]string{"openid", "profile", "offline_access"}, scopes...), " ")},
	}
	u, err := req.URL(srv.Authority(tenant)+"/oauth2/v2.0/authorize?"+q.Encode(), "")
	if err != nil {
		return confidential.AuthResult{}, err
	}
	params, err := srv.SignIn(browser, u, user)
	if err != nil {
		return confidential.AuthResult{}, err
	}
	if params.Get("code") == "" || params.Get("state") != req.State {
		return confidential.AuthResult{}, fmt.Errorf("sign-in of %s: state %q, error %q", user, params.Get("state"), params.Get("error_description"))
	}
	res, err := redeem(context.Background(), params.Get("code"), req.Verifier)
	if err != nil {
		return res, fmt.Errorf("redeem the code of %s: %w", user, err)
	}
	return res, nil
}

func msalRedeem(c confidential.Client, scopes []string) func(context.Context, string, string) (confidential.AuthResult, error) {
	return func(ctx context.Context, code, verifier string) (confidential.AuthResult, error) {
		return c.AcquireTokenByAuthCode(ctx, code, factRedirectURI, scopes, confidential.WithChallenge(verifier))
	}
}

func tcRedeem(cl *tokencache.Client, scopes []string) func(context.Context, string, string) (confidential.AuthResult, error) {
	return func(ctx context.Context, code, verifier string) (confidential.AuthResult, error) {
		return cl.AcquireTokenByAuthCode(ctx, code, factRedirectURI, scopes, tokencache.WithChallenge(verifier))
	}
}

// factSignIn signs user in and redeems the code with MSAL client c.
func factSignIn(t testing.TB, srv *devidptest.Server, c confidential.Client, tenant, user string, scopes []string) confidential.AuthResult {
	t.Helper()
	res, err := factSignInWith(srv, nil, tenant, user, scopes, msalRedeem(c, scopes))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// factSignInTC signs user in through tokencache.
func factSignInTC(t testing.TB, srv *devidptest.Server, cl *tokencache.Client, tenant, user string, scopes []string) confidential.AuthResult {
	t.Helper()
	res, err := factSignInWith(srv, nil, tenant, user, scopes, tcRedeem(cl, scopes))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// signInAll signs users in, four at a time, each with a client from
// redeemer, and returns their home account IDs.
func signInAll(t testing.TB, srv *devidptest.Server, tenant string, users, scopes []string,
	redeemer func() func(context.Context, string, string) (confidential.AuthResult, error)) []string {
	t.Helper()
	homes := make([]string, len(users))
	errs := make([]error, len(users))
	// One browser, without cookies, reusing its TLS connections.
	browser := srv.Browser()
	browser.Jar = nil
	factParallel(len(users), 4, func(i int) {
		res, err := factSignInWith(srv, browser, tenant, users[i], scopes, redeemer())
		homes[i], errs[i] = res.Account.HomeAccountID, err
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return homes
}

func factSilentFor(home string) confidential.AcquireSilentOption {
	return confidential.WithSilentAccount(confidential.Account{HomeAccountID: home})
}

// factTokenRequests counts the IdP's token requests of a grant ("" for all).
func factTokenRequests(srv *devidptest.Server, grant string) int {
	return srv.IdP().Count("token", grant)
}

const (
	factGrantRefresh = "refresh_token"
	factGrantApp     = "client_credentials"
	factGrantOBO     = "urn:ietf:params:oauth:grant-type:jwt-bearer"
)

// msalCache is the part of MSAL's serialization these tests read.
type msalCache struct {
	AccessToken  map[string]msalEntry `json:"AccessToken"`
	RefreshToken map[string]msalEntry `json:"RefreshToken"`
	IDToken      map[string]msalEntry `json:"IdToken"`
	Account      map[string]msalEntry `json:"Account"`
}

type msalEntry struct {
	HomeAccountID string `json:"home_account_id"`
	Secret        string `json:"secret"`
	Target        string `json:"target"`
}

func parseMSALCache(t testing.TB, data []byte) msalCache {
	t.Helper()
	var c msalCache
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatalf("not an MSAL cache: %v: %.200s", err, data)
	}
	return c
}

// accounts lists the home account IDs a serialized cache holds entries of.
func (c msalCache) accounts() []string {
	var ids []string
	for _, sec := range []map[string]msalEntry{c.AccessToken, c.RefreshToken, c.IDToken, c.Account} {
		for _, e := range sec {
			if !slices.Contains(ids, e.HomeAccountID) {
				ids = append(ids, e.HomeAccountID)
			}
		}
	}
	slices.Sort(ids)
	return ids
}

// hasAccessToken reports whether the cache holds access token secret.
func (c msalCache) hasAccessToken(secret string) bool {
	for _, e := range c.AccessToken {
		if e.Secret == secret {
			return true
		}
	}
	return false
}

// hasScope reports whether the cache holds an access token whose target
// includes scope (bare, or with a resource: api://.../scope).
func (c msalCache) hasScope(scope string) bool {
	for _, e := range c.AccessToken {
		for _, s := range strings.Fields(e.Target) {
			if s == scope || strings.HasSuffix(s, "/"+scope) {
				return true
			}
		}
	}
	return false
}

// storedPlain reads key from kv, unsealed with ring when it is not nil.
func storedPlain(t testing.TB, kv store.KV, ring *seal.Keyring, key string) []byte {
	t.Helper()
	data, _, err := kv.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	if ring != nil {
		if data, err = ring.Open(data, key); err != nil {
			t.Fatalf("open %s: %v", key, err)
		}
	}
	return data
}

// factAccessCall is one call MSAL made on its cache accessor.
type factAccessCall struct {
	Op   string // "Replace" or "Export"
	Key  string // the partition key MSAL named
	Data []byte // for Export: what MSAL exported
}

// recordingAccessor wraps an accessor, records every call MSAL makes on it,
// and can make the n-th Replace or Export fail.
type recordingAccessor struct {
	next cache.ExportReplace

	mu          sync.Mutex
	calls       []factAccessCall
	failReplace func(n int) error // n counts Replace calls from 1
	failExport  func(n int) error
	nReplace    int
	nExport     int
}

func (r *recordingAccessor) Replace(ctx context.Context, u cache.Unmarshaler, hints cache.ReplaceHints) error {
	r.mu.Lock()
	r.nReplace++
	r.calls = append(r.calls, factAccessCall{Op: "Replace", Key: hints.PartitionKey})
	fail := r.failReplace
	n := r.nReplace
	r.mu.Unlock()
	if fail != nil {
		if err := fail(n); err != nil {
			return err
		}
	}
	return r.next.Replace(ctx, u, hints)
}

func (r *recordingAccessor) Export(ctx context.Context, m cache.Marshaler, hints cache.ExportHints) error {
	data, err := m.Marshal()
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.nExport++
	r.calls = append(r.calls, factAccessCall{Op: "Export", Key: hints.PartitionKey, Data: data})
	fail := r.failExport
	n := r.nExport
	r.mu.Unlock()
	if fail != nil {
		if err := fail(n); err != nil {
			return err
		}
	}
	return r.next.Export(ctx, m, hints)
}

// take returns the calls recorded since the last take.
func (r *recordingAccessor) take() []factAccessCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls
	r.calls = nil
	return c
}

func factOps(calls []factAccessCall) string {
	var s []string
	for _, c := range calls {
		s = append(s, c.Op+"("+c.Key+")")
	}
	return strings.Join(s, " ")
}

func factExports(calls []factAccessCall) []factAccessCall {
	var out []factAccessCall
	for _, c := range calls {
		if c.Op == "Export" {
			out = append(out, c)
		}
	}
	return out
}

// factTransport is an http.RoundTripper in front of the IdP: it records token
// requests, can refuse requests, and can rewrite token responses.
type factTransport struct {
	next http.RoundTripper

	mu       sync.Mutex
	requests []string     // every URL asked for
	forms    []url.Values // token request bodies
	refuse   func(*http.Request) bool
	rewrite  func(form url.Values, body []byte) []byte // token responses
}

func newFactTransport(next http.RoundTripper) *factTransport { return &factTransport{next: next} }

func (c *factTransport) client() *http.Client { return &http.Client{Transport: c} }

func (c *factTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.requests = append(c.requests, r.URL.String())
	refuse, rewrite := c.refuse, c.rewrite
	c.mu.Unlock()
	if refuse != nil && refuse(r) {
		return nil, fmt.Errorf("test transport: refused to reach %s", r.URL.Host)
	}
	isToken := r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/token")
	var form url.Values
	if isToken && r.Body != nil {
		body, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		form, _ = url.ParseQuery(string(body))
		r.Body = io.NopCloser(bytes.NewReader(body))
		c.mu.Lock()
		c.forms = append(c.forms, form)
		c.mu.Unlock()
	}
	resp, err := c.next.RoundTrip(r)
	if err != nil || !isToken || rewrite == nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	body = rewrite(form, body)
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Del("Content-Length")
	return resp, nil
}

func (c *factTransport) lastForm(t testing.TB) url.Values {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.forms) == 0 {
		t.Fatal("no token request was made")
	}
	return c.forms[len(c.forms)-1]
}

func (c *factTransport) urls() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.requests)
}

// ---- fact 1 ----

// factManyUsers is the demo directory with n more contoso users, user00@... .
func factManyUsers(t testing.TB, n int) (devidp.Directory, []string) {
	t.Helper()
	d, err := devidp.Demo(devidptest.Keys())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for i := range n {
		name := fmt.Sprintf("user%02d@contoso.onmicrosoft.com", i)
		d.Users = append(d.Users, devidp.User{Username: name, Tenant: "contoso"})
		names = append(names, name)
	}
	return d, names
}

// factParallel runs f(i) for i in [0, n) on workers goroutines.
func factParallel(n, workers int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				f(i)
			}
		})
	}
	wg.Wait()
}

// factSilentStorm makes goroutines concurrent callers each ask for perCaller
// users' tokens (each caller starting at another user), and returns the
// failures.
func factSilentStorm(homes []string, goroutines, perCaller int, call func(home string) error) (calls, failures int, firstErr error) {
	var failed atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range perCaller {
				if err := call(homes[(g+i)%len(homes)]); err != nil {
					failed.Add(1)
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return goroutines * perCaller, int(failed.Load()), firstErr
}

// Fact 1: Replace swaps a client's whole in-memory cache, so one client
// shared by concurrent callers whose tokens live in different partitions
// finds another user's cache in place of the caller's and answers "no token
// found", although every user has a valid token. tokencache never lets two
// partitions share a client: zero failures.
func TestMSALFact01SharedClientLosesTokens(t *testing.T) {
	const users, goroutines = 50, 32
	dir, names := factManyUsers(t, users)
	srv := devidptest.Start(t, devidptest.WithDirectory(dir))
	scopes := []string{factScope(srv, "access_as_user")}
	ctx := context.Background()
	t0 := time.Now()

	// The users sign in through tokencache, ...
	kv := factMemKV(t)
	tc, ring := factCache(t, kv, tokencache.Options{})
	cl := factTCClient(t, tc, srv, "contoso")
	homes := signInAll(t, srv, "contoso", names, scopes, func() func(context.Context, string, string) (confidential.AuthResult, error) {
		return tcRedeem(cl, scopes)
	})
	// ... and the naive accessor gets the very same partitions, in clear.
	naive := newNaiveAccessor(factMemKV(t), "naive:", true)
	for _, home := range homes {
		if err := overwrite(ctx, naive.kv, naive.key(home), storedPlain(t, kv, ring, tcUserKey(srv, "contoso", home))); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d users signed in in %v", users, time.Since(t0))

	t.Run("naive shared client", func(t *testing.T) {
		shared := factMSAL(t, srv, "contoso", factSecret(t, srv), confidential.WithCache(naive))
		before := factTokenRequests(srv, "")
		// Each goroutine asks for 10 users' tokens: enough to show it, fast under -race.
		calls, failures, firstErr := factSilentStorm(homes, goroutines, 10, func(home string) error {
			_, err := shared.AcquireTokenSilent(ctx, scopes, factSilentFor(home))
			return err
		})
		t.Logf("naive shared client: %d of %d silent calls failed (%.0f%%), first error: %v",
			failures, calls, 100*float64(failures)/float64(calls), firstErr)
		if failures == 0 {
			t.Fatal("a shared client with per-user partitions served every concurrent call: MSAL's Replace no longer swaps the whole cache (fact 1 changed)")
		}
		if firstErr == nil || firstErr.Error() != "no token found" {
			t.Fatalf("failures are %v, want MSAL's \"no token found\"", firstErr)
		}
		// A caller can also find another user's cache when it looks for its
		// access token and its own when it looks for its refresh token: a
		// needless refresh.
		t.Logf("naive shared client: %d needless token requests during the storm", factTokenRequests(srv, "")-before)
		// Every user's token is there: one call at a time, all succeed.
		for _, home := range homes {
			if _, err := shared.AcquireTokenSilent(ctx, scopes, factSilentFor(home)); err != nil {
				t.Fatalf("sequential silent call: %v", err)
			}
		}
	})

	t.Run("seed tenant blob", func(t *testing.T) {
		// The seed's design: every user in one blob, which every call reads
		// whole. A shared client is then right, at the price of parsing the
		// whole tenant on every call (so only 5 users here: the 50 users'
		// blob takes some 50 ms a call under -race).
		blob := map[string]map[string]json.RawMessage{}
		few := homes[:5]
		for _, home := range few {
			var part map[string]map[string]json.RawMessage
			if err := json.Unmarshal(storedPlain(t, naive.kv, nil, naive.key(home)), &part); err != nil {
				t.Fatal(err)
			}
			for sec, entries := range part {
				if blob[sec] == nil {
					blob[sec] = map[string]json.RawMessage{}
				}
				maps.Copy(blob[sec], entries)
			}
		}
		data, err := json.Marshal(blob)
		if err != nil {
			t.Fatal(err)
		}
		a := newTenantBlobAccessor(factMemKV(t), "seed:contoso")
		if err := overwrite(ctx, a.kv, a.key, data); err != nil {
			t.Fatal(err)
		}
		shared := factMSAL(t, srv, "contoso", factSecret(t, srv), confidential.WithCache(a))
		calls, failures, firstErr := factSilentStorm(few, goroutines, 2, func(home string) error {
			_, err := shared.AcquireTokenSilent(ctx, scopes, factSilentFor(home))
			return err
		})
		t.Logf("seed tenant blob (%d KB), shared client: %d of %d silent calls failed", len(data)>>10, failures, calls)
		if failures != 0 {
			t.Fatalf("%d of %d failed; first: %v", failures, calls, firstErr)
		}
		if w := a.writes.Load(); w != 0 {
			t.Fatalf("%d writes of an unchanged blob", w)
		}
	})

	t.Run("tokencache", func(t *testing.T) {
		before := factTokenRequests(srv, "")
		calls, failures, firstErr := factSilentStorm(homes, goroutines, len(homes), func(home string) error {
			res, err := cl.AcquireTokenSilent(ctx, home, scopes)
			if err == nil && res.Account.HomeAccountID != home {
				err = fmt.Errorf("asked for %s, got %s's token", home, res.Account.HomeAccountID)
			}
			return err
		})
		t.Logf("tokencache: %d of %d silent calls failed", failures, calls)
		if failures != 0 {
			t.Fatalf("%d of %d silent calls failed; first: %v", failures, calls, firstErr)
		}
		if n := factTokenRequests(srv, "") - before; n != 0 {
			t.Fatalf("%d token requests during the storm; every token was valid", n)
		}
	})
}

// ---- fact 2 ----

// Fact 2: Replace of a partition that does not exist yet must still
// unmarshal {}: MSAL keeps whatever the client held, and the next Export
// writes the previous user's tokens under the next user's key. tokencache
// does, and also refuses a blob that holds another account.
func TestMSALFact02MissingPartitionMustUnmarshalEmpty(t *testing.T) {
	t.Parallel()
	srv := devidptest.Start(t)
	scopes := []string{factScope(srv, "access_as_user")}
	cred := factSecret(t, srv)

	// One client signs alice in, then bob, each partition new.
	signInBoth := func(t *testing.T, a *naiveAccessor) (aliceHome, bobHome string) {
		c := factMSAL(t, srv, "contoso", cred, confidential.WithCache(a))
		aliceHome = factSignIn(t, srv, c, "contoso", factAlice, scopes).Account.HomeAccountID
		bobHome = factSignIn(t, srv, c, "contoso", factBob, scopes).Account.HomeAccountID
		return aliceHome, bobHome
	}
	t.Run("naive, nothing on miss", func(t *testing.T) {
		a := newNaiveAccessor(factMemKV(t), "naive:", false)
		aliceHome, bobHome := signInBoth(t, a)
		got := parseMSALCache(t, storedPlain(t, a.kv, nil, a.key(bobHome))).accounts()
		if want := []string{aliceHome, bobHome}; !slices.Equal(got, want) {
			t.Fatalf("bob's partition holds the accounts %v; want alice's and bob's %v: MSAL no longer leaks the previous partition on a miss (fact 2 changed)", got, want)
		}
	})
	t.Run("naive, {} on miss", func(t *testing.T) {
		a := newNaiveAccessor(factMemKV(t), "naive:", true)
		_, bobHome := signInBoth(t, a)
		if got := parseMSALCache(t, storedPlain(t, a.kv, nil, a.key(bobHome))).accounts(); !slices.Equal(got, []string{bobHome}) {
			t.Fatalf("bob's partition holds the accounts %v; want only bob's", got)
		}
	})
	t.Run("tokencache", func(t *testing.T) {
		kv := factMemKV(t)
		tc, ring := factCache(t, kv, tokencache.Options{})
		cl := factTCClient(t, tc, srv, "contoso")
		aliceHome := factSignInTC(t, srv, cl, "contoso", factAlice, scopes).Account.HomeAccountID
		bobHome := factSignInTC(t, srv, cl, "contoso", factBob, scopes).Account.HomeAccountID
		for _, home := range []string{aliceHome, bobHome} {
			if got := parseMSALCache(t, storedPlain(t, kv, ring, tcUserKey(srv, "contoso", home))).accounts(); !slices.Equal(got, []string{home}) {
				t.Fatalf("%s's partition holds the accounts %v; want only %s", home, got, home)
			}
		}
		if st := tc.Stats(); st.Misses == 0 || st.RefusedForeign != 0 {
			t.Fatalf("stats %+v: want misses (new partitions) and nothing refused", st)
		}
	})
}

// ---- fact 3 ----

// Fact 3: MSAL exports after every token it gets from the network, whether
// or not the cache changed (ExportHints carries no such flag), and never on
// a cache hit. An accessor must compare bytes to skip unchanged writes;
// tokencache does.
func TestMSALFact03ExportAfterEveryNetworkAcquisition(t *testing.T) {
	t.Parallel()
	srv := devidptest.Start(t)
	ctx := context.Background()
	cred := factSecret(t, srv)
	appScopes := []string{factScope(srv, ".default")}

	if n := factFields(cache.ExportHints{}); !slices.Equal(n, []string{"PartitionKey"}) {
		t.Fatalf("cache.ExportHints has fields %v; MSAL may now say whether the cache changed (fact 3 changed)", n)
	}

	// setup is a client recording its accessor's calls, whose transport
	// answers a client credentials request with the previous response when
	// replay is set: the IdP returning the same token.
	type setup struct {
		c   confidential.Client
		rec *recordingAccessor
	}
	newSetup := func(replay *atomic.Bool) setup {
		rec := &recordingAccessor{next: newNaiveAccessor(factMemKV(t), "naive:", true)}
		capt := newFactTransport(srv.HTTPClient().Transport)
		var last []byte
		capt.rewrite = func(form url.Values, body []byte) []byte {
			if form.Get("grant_type") != factGrantApp {
				return body
			}
			if replay.Load() && last != nil {
				return last
			}
			last = body
			return body
		}
		return setup{factMSAL(t, srv, "contoso", cred, confidential.WithCache(rec), confidential.WithHTTPClient(capt.client())), rec}
	}

	t.Run("app token", func(t *testing.T) {
		// Two network acquisitions within one second give the same bytes
		// (MSAL stores times in whole seconds); retry if a second boundary
		// falls between them.
		for attempt := 0; ; attempt++ {
			var replay atomic.Bool
			s := newSetup(&replay)
			start := time.Now().Unix()
			before := factTokenRequests(srv, factGrantApp)
			if _, err := s.c.AcquireTokenByCredential(ctx, appScopes); err != nil {
				t.Fatal(err)
			}
			first := factExports(s.rec.take())
			if _, err := s.c.AcquireTokenByCredential(ctx, appScopes); err != nil {
				t.Fatal(err)
			}
			hit := s.rec.take()
			replay.Store(true)
			// Claims make MSAL skip its cache and ask the IdP.
			if _, err := s.c.AcquireTokenByCredential(ctx, appScopes, confidential.WithClaims(`{"access_token":{"xms_cc":{"values":["cp1"]}}}`)); err != nil {
				t.Fatal(err)
			}
			again := factExports(s.rec.take())
			if n := factTokenRequests(srv, factGrantApp) - before; n != 2 {
				t.Fatalf("%d token requests, want 2 (the second call a cache hit)", n)
			}
			if len(first) != 1 {
				t.Fatalf("after a network acquisition: %d exports, want 1", len(first))
			}
			if len(factExports(hit)) != 0 || len(hit) == 0 {
				t.Fatalf("a cache hit made the calls %s; want Replace only, no Export (fact 3 changed)", factOps(hit))
			}
			if len(again) != 1 {
				t.Fatalf("after the second network acquisition: %d exports, want 1", len(again))
			}
			if time.Now().Unix() != start {
				if attempt < 10 {
					continue
				}
				t.Fatal("could not make two token requests within one second")
			}
			if !bytes.Equal(first[0].Data, again[0].Data) {
				t.Fatalf("the same token twice exported different bytes:\n%s\n%s", first[0].Data, again[0].Data)
			}
			t.Logf("the IdP's same answer again: MSAL exported %d identical bytes", len(again[0].Data))
			break
		}
	})

	t.Run("user token", func(t *testing.T) {
		var replay atomic.Bool
		s := newSetup(&replay)
		res := factSignIn(t, srv, s.c, "contoso", factAlice, []string{factScope(srv, "access_as_user")})
		if e := factExports(s.rec.take()); len(e) != 1 {
			t.Fatalf("sign-in: %d exports, want 1", len(e))
		}
		before := factTokenRequests(srv, "")
		if _, err := s.c.AcquireTokenSilent(ctx, []string{factScope(srv, "access_as_user")}, factSilentFor(res.Account.HomeAccountID)); err != nil {
			t.Fatal(err)
		}
		if calls := s.rec.take(); len(factExports(calls)) != 0 || factTokenRequests(srv, "") != before {
			t.Fatalf("a silent hit made the calls %s", factOps(calls))
		}
		// A scope not cached yet: the refresh token is redeemed, then exported.
		before = factTokenRequests(srv, factGrantRefresh)
		if _, err := s.c.AcquireTokenSilent(ctx, []string{factScope(srv, "Tasks.Read")}, factSilentFor(res.Account.HomeAccountID)); err != nil {
			t.Fatal(err)
		}
		if calls, n := s.rec.take(), factTokenRequests(srv, factGrantRefresh)-before; len(factExports(calls)) != 1 || n != 1 {
			t.Fatalf("a silent refresh made the calls %s and %d refreshes; want one refresh, one Export", factOps(calls), n)
		}
	})

	t.Run("tokencache skips unchanged writes", func(t *testing.T) {
		for attempt := 0; ; attempt++ {
			var replay atomic.Bool
			capt := newFactTransport(srv.HTTPClient().Transport)
			var last []byte
			capt.rewrite = func(form url.Values, body []byte) []byte {
				if replay.Load() && last != nil {
					return last
				}
				last = body
				return body
			}
			tc, _ := factCache(t, factMemKV(t), tokencache.Options{})
			cl, err := tc.NewClient(tokencache.ClientConfig{Authority: srv.Authority("contoso"), ClientID: srv.ClientID(), Credential: cred, HTTPClient: capt.client()})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now().Unix()
			if _, err := cl.AcquireTokenByCredential(ctx, appScopes); err != nil {
				t.Fatal(err)
			}
			replay.Store(true)
			if _, err := cl.AcquireTokenByCredential(ctx, appScopes, tokencache.WithClaims(`{"access_token":{"xms_cc":{"values":["cp1"]}}}`)); err != nil {
				t.Fatal(err)
			}
			if time.Now().Unix() != start && attempt < 10 {
				continue
			}
			if st := tc.Stats(); st.Writes != 1 || st.SkippedWrites != 1 {
				t.Fatalf("the same token twice: %d writes, %d skipped; want 1 and 1", st.Writes, st.SkippedWrites)
			}
			break
		}
	})
}

// factFields lists a struct's field names.
func factFields(v any) []string {
	var names []string
	rt := reflect.TypeOf(v)
	for i := range rt.NumField() {
		names = append(names, rt.Field(i).Name)
	}
	return names
}

// ---- fact 4 ----

// Fact 4: the partition keys MSAL names: app tokens
// {clientID}_{tenant}_AppTokenCache, a user's tokens the home account ID
// uid.utid, on-behalf-of tokens the (padded base64url) SHA-256 of the
// assertion. RemoveAccount asks for partition "" and never touches the
// user's: the tokens stay in the store and keep working. tokencache's
// SignOut deletes them.
func TestMSALFact04PartitionKeys(t *testing.T) {
	t.Parallel()
	srv := devidptest.Start(t)
	ctx := context.Background()
	cred := factSecret(t, srv)
	kv := factMemKV(t)
	rec := &recordingAccessor{next: newNaiveAccessor(kv, "naive:", true)}
	c := factMSAL(t, srv, "contoso", cred, confidential.WithCache(rec))
	tenant, _ := srv.IdP().Tenant("contoso")
	userScopes := []string{factScope(srv, "access_as_user")}

	keysOf := func(what string, calls []factAccessCall, want string) {
		t.Helper()
		if len(calls) == 0 {
			t.Fatalf("%s: MSAL did not use its cache", what)
		}
		for _, call := range calls {
			if call.Key != want {
				t.Fatalf("%s: MSAL made the calls %s; want every partition key %q (fact 4 changed)", what, factOps(calls), want)
			}
		}
	}

	if _, err := c.AcquireTokenByCredential(ctx, []string{factScope(srv, ".default")}); err != nil {
		t.Fatal(err)
	}
	keysOf("client credentials", rec.take(), srv.ClientID()+"_"+tenant.ID+"_AppTokenCache")

	res := factSignIn(t, srv, c, "contoso", factAlice, userScopes)
	home := res.Account.HomeAccountID
	if want := "a11ce000-0000-4000-8000-00000000a11c." + tenant.ID; home != want {
		t.Fatalf("home account ID %q, want uid.utid %q", home, want)
	}
	keysOf("auth code", rec.take(), home)
	if _, err := c.AcquireTokenSilent(ctx, userScopes, factSilentFor(home)); err != nil {
		t.Fatal(err)
	}
	keysOf("silent", rec.take(), home)

	// The call fails (see fact 5); the keys it asked for are what counts here.
	_, _ = c.AcquireTokenOnBehalfOf(ctx, res.AccessToken, []string{"https://graph.microsoft.com/User.Read"})
	sum := sha256.Sum256([]byte(res.AccessToken))
	keysOf("on-behalf-of", rec.take(), base64.URLEncoding.EncodeToString(sum[:]))

	if err := c.RemoveAccount(ctx, res.Account); err != nil {
		t.Fatal(err)
	}
	calls := rec.take()
	keysOf("RemoveAccount", calls, "")
	if factOps(calls) != "Replace() Export()" {
		t.Fatalf("RemoveAccount made the calls %s", factOps(calls))
	}
	// The user's partition is untouched: another replica still serves her.
	if _, _, err := kv.Get(ctx, "naive:"+home); err != nil {
		t.Fatalf("after RemoveAccount alice's partition: %v; want it still there", err)
	}
	before := factTokenRequests(srv, "")
	other := factMSAL(t, srv, "contoso", cred, confidential.WithCache(newNaiveAccessor(kv, "naive:", true)))
	if _, err := other.AcquireTokenSilent(ctx, userScopes, factSilentFor(home)); err != nil || factTokenRequests(srv, "") != before {
		t.Fatalf("after RemoveAccount, a silent call for alice: %v, %d token requests; want her cached token (fact 4 changed)", err, factTokenRequests(srv, "")-before)
	}

	t.Run("tokencache SignOut", func(t *testing.T) {
		tc, _ := factCache(t, factMemKV(t), tokencache.Options{})
		cl := factTCClient(t, tc, srv, "contoso")
		home := factSignInTC(t, srv, cl, "contoso", factAlice, userScopes).Account.HomeAccountID
		if _, err := cl.AcquireTokenSilent(ctx, home, userScopes); err != nil {
			t.Fatal(err)
		}
		if err := cl.SignOut(ctx, home); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.AcquireTokenSilent(ctx, home, userScopes); !errors.Is(err, tokencache.ErrNoToken) {
			t.Fatalf("after SignOut: %v; want ErrNoToken", err)
		}
	})
}

// ---- fact 5 ----

// msalUnmarshalErr is what MSAL's on-behalf-of cache (a
// storage.PartitionedManager) answers to any Unmarshal: its
// InMemoryContract has no AdditionalFields, which MSAL's own JSON decoder
// requires.
const msalUnmarshalErr = "Unmarshal(*storage.InMemoryContract) only supports structs that have the field AdditionalFields"

// Fact 5: on-behalf-of through an external cache is broken in MSAL Go.
// Measured (worse than upstream issue #455 alone):
//   - MSAL exports the wrong manager: after an OBO, the partition named by
//     the assertion's hash receives the client's user cache (the signed-in
//     user's access, refresh and ID tokens), not the OBO token (#455);
//   - MSAL's OBO cache cannot Unmarshal anything, so once that partition
//     exists, or whenever the accessor correctly unmarshals {} for a missing
//     partition (fact 2), every OBO call fails with msalUnmarshalErr, after
//     the token request: the fresh token is dropped.
//
// tokencache keeps OBO results in its own entries: one token request, then hits.
func TestMSALFact05OBOThroughExternalCacheIsBroken(t *testing.T) {
	t.Parallel()
	srv := devidptest.Start(t)
	ctx := context.Background()
	cred := factSecret(t, srv)
	graph := []string{"https://graph.microsoft.com/User.Read"}
	userScopes := []string{factScope(srv, "access_as_user")}

	t.Run("nothing on miss", func(t *testing.T) {
		kv := factMemKV(t)
		a := newNaiveAccessor(kv, "naive:", false)
		c := factMSAL(t, srv, "contoso", cred, confidential.WithCache(a))
		user := factSignIn(t, srv, c, "contoso", factAlice, userScopes)
		sum := sha256.Sum256([]byte(user.AccessToken))
		oboKey := a.key(base64.URLEncoding.EncodeToString(sum[:]))
		before := factTokenRequests(srv, factGrantOBO)

		first, err := c.AcquireTokenOnBehalfOf(ctx, user.AccessToken, graph)
		if err != nil {
			t.Fatalf("first OBO: %v", err)
		}
		stored := parseMSALCache(t, storedPlain(t, kv, nil, oboKey))
		if stored.hasAccessToken(first.AccessToken) {
			t.Fatal("the OBO partition holds the OBO token: MSAL exports the right manager now (fact 5 changed: upstream #455 fixed)")
		}
		if !stored.hasAccessToken(user.AccessToken) || len(stored.RefreshToken) == 0 {
			t.Fatalf("the OBO partition holds %v; measured: the user's own tokens (the client's user cache)", stored.accounts())
		}
		// The same OBO again, on this client or another replica: MSAL reads
		// the partition into its OBO cache, fails, asks the IdP, fails again.
		for _, name := range []string{"same client", "another replica"} {
			cc := c
			if name != "same client" {
				cc = factMSAL(t, srv, "contoso", cred, confidential.WithCache(newNaiveAccessor(kv, "naive:", false)))
			}
			n := factTokenRequests(srv, factGrantOBO)
			_, err := cc.AcquireTokenOnBehalfOf(ctx, user.AccessToken, graph)
			if err == nil || !strings.Contains(err.Error(), msalUnmarshalErr) {
				t.Fatalf("%s: the OBO again: %v; measured: %q (fact 5 changed)", name, err, msalUnmarshalErr)
			}
			if factTokenRequests(srv, factGrantOBO) != n+1 {
				t.Fatalf("%s: the failed OBO made %d token requests; measured: 1, whose token is dropped", name, factTokenRequests(srv, factGrantOBO)-n)
			}
		}
		t.Logf("3 OBO calls for one assertion: %d token requests, 2 failures", factTokenRequests(srv, factGrantOBO)-before)
	})

	t.Run("{} on miss", func(t *testing.T) {
		a := newNaiveAccessor(factMemKV(t), "naive:", true)
		c := factMSAL(t, srv, "contoso", cred, confidential.WithCache(a))
		user := factSignIn(t, srv, c, "contoso", factAlice, userScopes)
		n := factTokenRequests(srv, factGrantOBO)
		if _, err := c.AcquireTokenOnBehalfOf(ctx, user.AccessToken, graph); err == nil || !strings.Contains(err.Error(), msalUnmarshalErr) {
			t.Fatalf("OBO with a correct accessor: %v; measured: %q (fact 5 changed)", err, msalUnmarshalErr)
		}
		if factTokenRequests(srv, factGrantOBO) != n+1 {
			t.Fatal("the failed OBO made no token request; measured: it fails after getting the token")
		}
	})

	t.Run("tokencache", func(t *testing.T) {
		kv := factMemKV(t)
		tc, ring := factCache(t, kv, tokencache.Options{})
		cl := factTCClient(t, tc, srv, "contoso")
		user := factSignInTC(t, srv, cl, "contoso", factAlice, userScopes)
		n := factTokenRequests(srv, factGrantOBO)
		first, err := cl.AcquireTokenOnBehalfOf(ctx, user.AccessToken, graph)
		if err != nil {
			t.Fatal(err)
		}
		replica := factReplica(t, kv, ring, tokencache.Options{})
		again, err := factTCClient(t, replica, srv, "contoso").AcquireTokenOnBehalfOf(ctx, user.AccessToken, graph)
		if err != nil {
			t.Fatal(err)
		}
		if again.AccessToken != first.AccessToken || factTokenRequests(srv, factGrantOBO) != n+1 || replica.Stats().OBOHits != 1 {
			t.Fatalf("OBO on two replicas: %d token requests, %d hits, same token %v; want 1, 1, true",
				factTokenRequests(srv, factGrantOBO)-n, replica.Stats().OBOHits, again.AccessToken == first.AccessToken)
		}
	})
}

// ---- fact 6 ----

// barrierKV holds the first n writes of key until all n have arrived, so
// that n replicas that read the same partition write it "at once".
type barrierKV struct {
	store.KV
	key string

	mu      sync.Mutex
	n       int
	release chan struct{}
}

func newBarrierKV(kv store.KV, key string, n int) *barrierKV {
	return &barrierKV{KV: kv, key: key, n: n, release: make(chan struct{})}
}

func (b *barrierKV) CompareAndSet(ctx context.Context, key string, version uint64, data []byte, ttl time.Duration) (uint64, error) {
	if key == b.key {
		b.mu.Lock()
		hold := b.n > 0
		if hold {
			if b.n--; b.n == 0 {
				close(b.release)
			}
		}
		b.mu.Unlock()
		if hold {
			select {
			case <-b.release:
			case <-time.After(10 * time.Second):
				return 0, errors.New("barrier: the other writer never came")
			}
		}
	}
	return b.KV.CompareAndSet(ctx, key, version, data, ttl)
}

// Fact 6: two replicas that refresh one user at the same moment (here: for
// two different scopes) each write the partition as they read it plus their
// own new token; without versioning the last writer wins and the other
// scope's token is lost, to be fetched again. tokencache writes by
// compare-and-set and merges on conflict: both stay.
func TestMSALFact06TwoReplicasLoseAWrite(t *testing.T) {
	t.Parallel()
	srv := devidptest.Start(t)
	ctx := context.Background()
	cred := factSecret(t, srv)
	signInScope := []string{factScope(srv, "access_as_user")}
	scopeB, scopeC := []string{factScope(srv, "Tasks.Read")}, []string{"User.Read"}

	// race has two replicas ask at once for scopes B and C (each a refresh),
	// calls between, then has a third replica ask for both; it returns the
	// token requests the third made.
	race := func(t *testing.T, b, c, third func(scopes []string) error, between func()) int {
		t.Helper()
		var wg sync.WaitGroup
		errs := make([]error, 2)
		before := factTokenRequests(srv, factGrantRefresh)
		wg.Go(func() { errs[0] = b(scopeB) })
		wg.Go(func() { errs[1] = c(scopeC) })
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		if n := factTokenRequests(srv, factGrantRefresh) - before; n != 2 {
			t.Fatalf("the two replicas made %d refreshes, want 2", n)
		}
		between()
		before = factTokenRequests(srv, factGrantRefresh)
		for _, s := range [][]string{scopeB, scopeC} {
			if err := third(s); err != nil {
				t.Fatal(err)
			}
		}
		return factTokenRequests(srv, factGrantRefresh) - before
	}

	t.Run("naive", func(t *testing.T) {
		mem := factMemKV(t)
		home := factSignIn(t, srv, factMSAL(t, srv, "contoso", cred, confidential.WithCache(newNaiveAccessor(mem, "naive:", true))),
			"contoso", factAlice, signInScope).Account.HomeAccountID
		kv := newBarrierKV(mem, "naive:"+home, 2)
		replica := func() func([]string) error {
			c := factMSAL(t, srv, "contoso", cred, confidential.WithCache(newNaiveAccessor(kv, "naive:", true)))
			return func(s []string) error { _, err := c.AcquireTokenSilent(ctx, s, factSilentFor(home)); return err }
		}
		refetched := race(t, replica(), replica(), replica(), func() {
			stored := parseMSALCache(t, storedPlain(t, mem, nil, "naive:"+home))
			b, c := stored.hasScope("Tasks.Read"), stored.hasScope("User.Read")
			t.Logf("naive: after both refreshes the partition holds a token for Tasks.Read: %v, for User.Read: %v", b, c)
			if b == c {
				t.Fatalf("both or neither of the two new tokens stored (%v); measured: the last writer's only (fact 6 changed?)", b)
			}
		})
		if refetched != 1 {
			t.Fatalf("a third replica refreshed %d times for the two scopes just fetched; measured: 1, the lost write (fact 6 changed?)", refetched)
		}
	})

	t.Run("tokencache", func(t *testing.T) {
		mem := factMemKV(t)
		tc, ring := factCache(t, mem, tokencache.Options{})
		home := factSignInTC(t, srv, factTCClient(t, tc, srv, "contoso"), "contoso", factAlice, signInScope).Account.HomeAccountID
		kv := newBarrierKV(mem, tcUserKey(srv, "contoso", home), 2)
		var replicas []*tokencache.Cache
		replica := func() func([]string) error {
			c := factReplica(t, kv, ring, tokencache.Options{})
			replicas = append(replicas, c)
			cl := factTCClient(t, c, srv, "contoso")
			return func(s []string) error { _, err := cl.AcquireTokenSilent(ctx, home, s); return err }
		}
		refetched := race(t, replica(), replica(), replica(), func() {
			stored := parseMSALCache(t, storedPlain(t, mem, ring, tcUserKey(srv, "contoso", home)))
			if !stored.hasScope("Tasks.Read") || !stored.hasScope("User.Read") {
				t.Fatal("after both refreshes the partition lacks one of the two new tokens")
			}
		})
		if refetched != 0 {
			t.Fatalf("a third replica refreshed %d times for the two scopes just fetched; want 0", refetched)
		}
		var conflicts, merges uint64
		for _, r := range replicas {
			conflicts += r.Stats().Conflicts
			merges += r.Stats().Merges
		}
		if conflicts != 1 || merges != 1 {
			t.Fatalf("%d conflicts and %d merges; want 1 and 1", conflicts, merges)
		}
	})
}

// ---- fact 7 ----

// Fact 7: MSAL treats an access token as expired 5 minutes before it
// expires: one issued for 300 s or less is not even cached, and the next
// silent call redeems the refresh token. refresh_in, once past, makes the
// next silent call refresh proactively. The authority must be exactly
// https://host/{tenant}, and a host other than Microsoft's needs
// WithInstanceDiscovery(false): otherwise MSAL asks
// login.microsoftonline.com about it, which fails wherever that is not
// reachable. (devidptest.HTTPClient routes that name to devidp, which
// answers instance discovery for any host: through it, discovery "works".)
func TestMSALFact07ExpiryMarginRefreshInAndAuthorities(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := devidptest.Start(t)
	cred := factSecret(t, srv)
	scopes := []string{factScope(srv, "access_as_user")}

	t.Run("expires_in", func(t *testing.T) {
		for _, tc := range []struct {
			life    time.Duration
			cached  bool
			refresh int
		}{
			{240 * time.Second, false, 1},
			{300 * time.Second, false, 1},
			{360 * time.Second, true, 0},
		} {
			srv.IdP().SetLifetimes(devidp.Lifetimes{AccessToken: tc.life})
			a := newNaiveAccessor(factMemKV(t), "naive:", true)
			c := factMSAL(t, srv, "contoso", cred, confidential.WithCache(a))
			res := factSignIn(t, srv, c, "contoso", factAlice, scopes)
			stored := parseMSALCache(t, storedPlain(t, a.kv, nil, a.key(res.Account.HomeAccountID)))
			if got := stored.hasAccessToken(res.AccessToken); got != tc.cached {
				t.Fatalf("expires_in %v: access token cached %v; measured %v (fact 7 changed)", tc.life, got, tc.cached)
			}
			before := factTokenRequests(srv, factGrantRefresh)
			if _, err := c.AcquireTokenSilent(ctx, scopes, factSilentFor(res.Account.HomeAccountID)); err != nil {
				t.Fatal(err)
			}
			if n := factTokenRequests(srv, factGrantRefresh) - before; n != tc.refresh {
				t.Fatalf("expires_in %v: the next silent call made %d refreshes; measured %d (fact 7 changed)", tc.life, n, tc.refresh)
			}
		}
	})

	t.Run("refresh_in", func(t *testing.T) {
		srv.IdP().SetLifetimes(devidp.Lifetimes{AccessToken: time.Hour, RefreshIn: time.Second})
		c := factMSAL(t, srv, "contoso", cred)
		res := factSignIn(t, srv, c, "contoso", factAlice, scopes)
		refreshOn := time.Now().Add(time.Second)
		before := factTokenRequests(srv, factGrantRefresh)
		hit, err := c.AcquireTokenSilent(ctx, scopes, factSilentFor(res.Account.HomeAccountID))
		if err != nil {
			t.Fatal(err)
		}
		if time.Now().Before(refreshOn) && (hit.AccessToken != res.AccessToken || factTokenRequests(srv, factGrantRefresh) != before) {
			t.Fatal("a silent call before refresh_in refreshed")
		}
		time.Sleep(time.Until(refreshOn) + 50*time.Millisecond)
		after, err := c.AcquireTokenSilent(ctx, scopes, factSilentFor(res.Account.HomeAccountID))
		if err != nil {
			t.Fatal(err)
		}
		if factTokenRequests(srv, factGrantRefresh) != before+1 || after.AccessToken == res.AccessToken {
			t.Fatalf("after refresh_in, an hour before expiry: %d refreshes, new token %v; measured: 1, true (fact 7 changed)",
				factTokenRequests(srv, factGrantRefresh)-before, after.AccessToken != res.AccessToken)
		}
	})
	srv.IdP().SetLifetimes(devidp.Lifetimes{})

	t.Run("authority form", func(t *testing.T) {
		host := strings.TrimPrefix(srv.URL, "https://")
		for _, bad := range []string{"http://" + host + "/" + devidp.DemoContosoID, srv.URL, srv.URL + "/"} {
			if _, err := confidential.New(bad, srv.ClientID(), cred, confidential.WithHTTPClient(srv.HTTPClient()), confidential.WithInstanceDiscovery(false)); err == nil {
				t.Fatalf("MSAL accepted the authority %q (fact 7 changed)", bad)
			}
		}
		// A path beyond the tenant is accepted, then used as the tenant's
		// base: MSAL asks for .../v2.0/v2.0/.well-known/openid-configuration.
		capt := newFactTransport(srv.HTTPClient().Transport)
		c, err := confidential.New(srv.Authority("contoso")+"/v2.0", srv.ClientID(), cred, confidential.WithHTTPClient(capt.client()), confidential.WithInstanceDiscovery(false))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.AcquireTokenByCredential(ctx, []string{factScope(srv, ".default")}); err == nil {
			t.Fatal("an authority ending in /v2.0 worked (fact 7 changed)")
		}
		if u := capt.urls(); len(u) == 0 || !strings.Contains(u[0], "/v2.0/v2.0/.well-known/openid-configuration") {
			t.Fatalf("MSAL asked for %v", u)
		}
	})

	t.Run("instance discovery", func(t *testing.T) {
		appScopes := []string{factScope(srv, ".default")}
		onlyDevIdP := func() *factTransport {
			capt := newFactTransport(srv.HTTPClient().Transport)
			capt.refuse = func(r *http.Request) bool { return "https://"+r.URL.Host != srv.URL }
			return capt
		}
		// On (MSAL's default) with a client that reaches only devidp.
		capt := onlyDevIdP()
		c, err := confidential.New(srv.Authority("contoso"), srv.ClientID(), cred, confidential.WithHTTPClient(capt.client()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.AcquireTokenByCredential(ctx, appScopes); err == nil {
			t.Fatal("instance discovery on, Microsoft unreachable: the call worked (fact 7 changed)")
		}
		// Measured: MSAL asks twice (it retries), and nothing else.
		u := capt.urls()
		for _, u := range u {
			if !strings.HasPrefix(u, "https://login.microsoftonline.com/common/discovery/instance?") {
				t.Fatalf("MSAL asked for %s; measured: only Microsoft's instance discovery", u)
			}
		}
		t.Logf("instance discovery on, Microsoft unreachable: %d requests to login.microsoftonline.com, none to devidp", len(u))
		if len(u) == 0 {
			t.Fatal("MSAL made no request")
		}
		// Off: only devidp is asked.
		capt = onlyDevIdP()
		c, err = confidential.New(srv.Authority("contoso"), srv.ClientID(), cred, confidential.WithHTTPClient(capt.client()), confidential.WithInstanceDiscovery(false))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.AcquireTokenByCredential(ctx, appScopes); err != nil {
			t.Fatalf("instance discovery off: %v", err)
		}
		// On, through devidptest's client that sends Microsoft's name to
		// devidp: devidp answers discovery for its own host, so it works.
		before := srv.IdP().Count("instance-discovery", "")
		c, err = confidential.New(srv.Authority("contoso"), srv.ClientID(), cred, confidential.WithHTTPClient(srv.HTTPClient()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.AcquireTokenByCredential(ctx, appScopes); err != nil || srv.IdP().Count("instance-discovery", "") == before {
			t.Fatalf("instance discovery answered by devidp: %v, %d discovery requests", err, srv.IdP().Count("instance-discovery", "")-before)
		}
	})
}

// ---- fact 8 ----

// Fact 8: MSAL's client assertion (certificate credential) is a PS256 JWT
// whose header carries x5t#S256, the SHA-256 of the certificate in standard
// padded base64 (not base64url as RFC 7515 says), and whose aud is the
// token endpoint it is posted to; iss and sub are the client ID.
func TestMSALFact08ClientAssertionIsPS256WithX5tS256(t *testing.T) {
	t.Parallel()
	srv := devidptest.Start(t)
	certs, key, err := confidential.CertFromPEM(append(srv.CertPEM(), srv.KeyPEM()...), "")
	if err != nil {
		t.Fatal(err)
	}
	cred, err := confidential.NewCredFromCert(certs, key)
	if err != nil {
		t.Fatal(err)
	}
	capt := newFactTransport(srv.HTTPClient().Transport)
	c := factMSAL(t, srv, "contoso", cred, confidential.WithHTTPClient(capt.client()))
	if _, err := c.AcquireTokenByCredential(context.Background(), []string{factScope(srv, ".default")}); err != nil {
		t.Fatalf("devidp refused MSAL's assertion: %v", err)
	}
	form := capt.lastForm(t)
	if got := form.Get("client_assertion_type"); got != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		t.Fatalf("client_assertion_type %q", got)
	}
	jws, err := jose.ParseSigned(form.Get("client_assertion"), []jose.SignatureAlgorithm{jose.PS256, jose.RS256, jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	h := jws.Signatures[0].Header
	if h.Algorithm != string(jose.PS256) {
		t.Fatalf("alg %s; measured PS256 (fact 8 changed)", h.Algorithm)
	}
	sum := sha256.Sum256(certs[0].Raw)
	want := base64.StdEncoding.EncodeToString(sum[:])
	if got, _ := h.ExtraHeaders["x5t#S256"].(string); got != want {
		t.Fatalf("x5t#S256 %q; measured the padded standard base64 of the certificate's SHA-256, %q (fact 8 changed)", got, want)
	}
	if !strings.HasSuffix(want, "=") {
		t.Fatal("a SHA-256 in padded base64 ends in =")
	}
	if _, ok := h.ExtraHeaders["x5t"]; ok {
		t.Fatal("MSAL sent an x5t (SHA-1) header too")
	}
	if _, ok := h.ExtraHeaders["x5c"]; ok {
		t.Fatal("MSAL sent x5c without WithX5C")
	}
	payload, err := jws.Verify(certs[0].PublicKey)
	if err != nil {
		t.Fatalf("the assertion does not verify with the certificate's key: %v", err)
	}
	var claims struct {
		Aud      string `json:"aud"`
		Iss      string `json:"iss"`
		Sub      string `json:"sub"`
		Jti      string `json:"jti"`
		Exp, Nbf int64
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	tokenEndpoint := srv.Authority("contoso") + "/oauth2/v2.0/token"
	if claims.Aud != tokenEndpoint || claims.Iss != srv.ClientID() || claims.Sub != srv.ClientID() || claims.Jti == "" {
		t.Fatalf("claims %+v; measured aud = the token endpoint %s, iss = sub = the client ID", claims, tokenEndpoint)
	}
	if d := claims.Exp - claims.Nbf; d != 600 {
		t.Fatalf("the assertion is valid %d s; measured 600", d)
	}
	if u := capt.urls(); u[len(u)-1] != tokenEndpoint {
		t.Fatalf("posted to %s, not to its aud", u[len(u)-1])
	}
}

// ---- fact 9 ----

var errStoreDown = errors.New("test: the store is down")

// Fact 9: when the accessor fails, the MSAL call fails, even after MSAL got
// a fresh token from the IdP: the token is dropped and the next call asks
// the IdP again. Client credentials even go to the IdP when Replace fails
// (the failed cache read is taken for a miss), then fail. tokencache keeps a
// fresh token when Redis does not answer: the caller gets it, and it is
// written when Redis is back.
func TestMSALFact09FailedExportDropsFreshToken(t *testing.T) {
	srv := devidptest.Start(t)
	ctx := context.Background()
	cred := factSecret(t, srv)
	appScopes := []string{factScope(srv, ".default")}

	t.Run("Export fails", func(t *testing.T) {
		rec := &recordingAccessor{next: newNaiveAccessor(factMemKV(t), "naive:", true)}
		rec.failExport = func(int) error { return errStoreDown }
		c := factMSAL(t, srv, "contoso", cred, confidential.WithCache(rec))
		before := factTokenRequests(srv, factGrantApp)
		res, err := c.AcquireTokenByCredential(ctx, appScopes)
		if !errors.Is(err, errStoreDown) || res.AccessToken != "" {
			t.Fatalf("a failed Export: %v, token returned %v; measured: the call fails, no token (fact 9 changed)", err, res.AccessToken != "")
		}
		if factTokenRequests(srv, factGrantApp) != before+1 {
			t.Fatal("no token request before the failed Export")
		}
		rec.mu.Lock()
		rec.failExport = nil
		rec.mu.Unlock()
		if _, err := c.AcquireTokenByCredential(ctx, appScopes); err != nil {
			t.Fatal(err)
		}
		if factTokenRequests(srv, factGrantApp) != before+2 {
			t.Fatal("the token fetched before the failed Export was served: MSAL kept it (fact 9 changed)")
		}
	})

	t.Run("Replace fails", func(t *testing.T) {
		rec := &recordingAccessor{next: newNaiveAccessor(factMemKV(t), "naive:", true)}
		rec.failReplace = func(int) error { return errStoreDown }
		c := factMSAL(t, srv, "contoso", cred, confidential.WithCache(rec))
		before := factTokenRequests(srv, factGrantApp)
		res, err := c.AcquireTokenByCredential(ctx, appScopes)
		if !errors.Is(err, errStoreDown) || res.AccessToken != "" {
			t.Fatalf("a failing Replace: %v, token returned %v; measured: the call fails, no token (fact 9 changed)", err, res.AccessToken != "")
		}
		if n := factTokenRequests(srv, factGrantApp) - before; n != 1 {
			t.Fatalf("%d token requests; measured: 1, made after the failed cache read, its token dropped", n)
		}
		t.Logf("client credentials with the cache down: %s, 1 token request, then the error", factOps(rec.take()))
	})

	t.Run("tokencache, Redis paused", func(t *testing.T) {
		node := redistest.Standalone(t)
		rs, err := redisstore.New(ctx, redisstore.Options{Addrs: []string{node.Addr}, OpTimeout: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rs.Close() })
		t.Cleanup(func() { node.Resume(t) })
		tc, ring := factCache(t, rs, tokencache.Options{WriteBehindRetry: 50 * time.Millisecond})
		cl := factTCClient(t, tc, srv, "contoso")
		scopeA, scopeB := []string{factScope(srv, "access_as_user")}, []string{factScope(srv, "Tasks.Read")}
		home := factSignInTC(t, srv, cl, "contoso", factAlice, scopeA).Account.HomeAccountID
		if _, err := cl.AcquireTokenSilent(ctx, home, scopeA); err != nil {
			t.Fatal(err)
		}

		node.Pause(t)
		before := factTokenRequests(srv, factGrantRefresh)
		start := time.Now()
		res, err := cl.AcquireTokenSilent(ctx, home, scopeB)
		if err != nil || res.AccessToken == "" {
			t.Fatalf("a refresh while Redis is paused: %v; want the new token", err)
		}
		if factTokenRequests(srv, factGrantRefresh) != before+1 {
			t.Fatal("no refresh")
		}
		st := tc.Stats()
		t.Logf("refresh with Redis paused took %v; stats %+v", time.Since(start).Round(time.Millisecond), st)
		if st.WriteBehindQueued == 0 || st.WriteBehindPending == 0 {
			t.Fatalf("stats %+v: want the new state queued", st)
		}

		node.Resume(t)
		deadline := time.Now().Add(10 * time.Second)
		for tc.Stats().WriteBehindPending != 0 || tc.Stats().WriteBehindLanded == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("the queued write did not land: %+v", tc.Stats())
			}
			time.Sleep(20 * time.Millisecond)
		}
		// Another replica is served the token from Redis.
		again, err := factTCClient(t, factReplica(t, rs, ring, tokencache.Options{}), srv, "contoso").AcquireTokenSilent(ctx, home, scopeB)
		if err != nil || again.AccessToken != res.AccessToken || factTokenRequests(srv, factGrantRefresh) != before+1 {
			t.Fatalf("another replica after Redis came back: %v, same token %v, %d refreshes", err, again.AccessToken == res.AccessToken, factTokenRequests(srv, factGrantRefresh)-before)
		}
	})
}

// ---- fact 10 ----

// Fact 10: the confidential client's AuthCodeURL has no state, nonce or
// PKCE challenge (nor response_mode), and no option can add them: the app
// adds them to the URL. AcquireTokenByAuthCode sends what WithChallenge
// gets as code_verifier (the option is misnamed: it takes the verifier),
// and the IdP checks it. MSAL only base64-decodes the ID token: a forged
// one is returned as if valid, so the app verifies signature, issuer,
// audience and nonce itself.
func TestMSALFact10AuthCodeURLHasNoStateNoncePKCE(t *testing.T) {
	t.Parallel()
	srv := devidptest.Start(t)
	ctx := context.Background()
	scopes := []string{factScope(srv, "access_as_user")}
	capt := newFactTransport(srv.HTTPClient().Transport)
	c := factMSAL(t, srv, "contoso", factSecret(t, srv), confidential.WithHTTPClient(capt.client()))

	authorize, err := c.AuthCodeURL(ctx, srv.ClientID(), factRedirectURI, append([]string{"openid", "profile", "offline_access"}, scopes...))
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(authorize)
	if err != nil {
		t.Fatal(err)
	}
	var params []string
	for k := range u.Query() {
		params = append(params, k)
	}
	slices.Sort(params)
	if want := []string{"client_id", "redirect_uri", "response_type", "scope"}; !slices.Equal(params, want) {
		t.Fatalf("AuthCodeURL has the parameters %v; measured %v (fact 10 changed)", params, want)
	}
	if _, ok := any(confidential.WithChallenge("x")).(confidential.AuthCodeURLOption); ok {
		t.Fatal("WithChallenge is now an AuthCodeURLOption (fact 10 changed)")
	}

	// signInAt signs alice in at MSAL's URL with the parameters added.
	signInAt := func() (code, verifier string) {
		req := devidptest.NewAuthRequest()
		u, err := req.URL(authorize, "")
		if err != nil {
			t.Fatal(err)
		}
		p, err := srv.SignIn(nil, u, factAlice)
		if err != nil || p.Get("code") == "" || p.Get("state") != req.State {
			t.Fatalf("sign-in: %v, %v", err, p)
		}
		return p.Get("code"), req.Verifier
	}

	code, _ := signInAt()
	wrong := devidptest.NewAuthRequest().Verifier
	if _, err := c.AcquireTokenByAuthCode(ctx, code, factRedirectURI, scopes, confidential.WithChallenge(wrong)); err == nil || !strings.Contains(err.Error(), "AADSTS501481") {
		t.Fatalf("a wrong verifier: %v; want AADSTS501481", err)
	}
	if got := capt.lastForm(t).Get("code_verifier"); got != wrong {
		t.Fatalf("MSAL sent code_verifier %q, want what WithChallenge got", got)
	}

	// The right verifier, and an ID token forged on its way back.
	code, verifier := signInAt()
	capt.mu.Lock()
	capt.rewrite = func(form url.Values, body []byte) []byte {
		if form.Get("grant_type") != "authorization_code" {
			return body
		}
		return forgeIDToken(t, body, map[string]any{"name": "Mallory", "nonce": "not-n-1"})
	}
	capt.mu.Unlock()
	res, err := c.AcquireTokenByAuthCode(ctx, code, factRedirectURI, scopes, confidential.WithChallenge(verifier))
	if err != nil {
		t.Fatalf("the right verifier, a forged ID token: %v; measured: MSAL accepts it (fact 10 changed?)", err)
	}
	if got := capt.lastForm(t).Get("code_verifier"); got != verifier {
		t.Fatalf("MSAL sent code_verifier %q, want %q", got, verifier)
	}
	if res.IDToken.Name != "Mallory" {
		t.Fatalf("ID token name %q; measured: MSAL returns the forged claims unverified", res.IDToken.Name)
	}
}

// forgeIDToken changes claims in the id_token of a token response, keeping
// the original signature, which no longer matches.
func forgeIDToken(t testing.TB, body []byte, claims map[string]any) []byte {
	var resp map[string]any
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Errorf("token response: %v", err)
		return body
	}
	raw, _ := resp["id_token"].(string)
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Errorf("id_token is not a JWS")
		return body
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	var m map[string]any
	if err == nil {
		err = json.Unmarshal(payload, &m)
	}
	if err != nil {
		t.Errorf("id_token payload: %v", err)
		return body
	}
	for k, v := range claims {
		m[k] = v
	}
	payload, _ = json.Marshal(m)
	parts[1] = base64.RawURLEncoding.EncodeToString(payload)
	resp["id_token"] = strings.Join(parts, ".")
	out, _ := json.Marshal(resp)
	return out
}
