package tokencache

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
)

// ClientConfig names one app registration in one tenant.
type ClientConfig struct {
	// Authority is https://host/{tenant}: login.microsoftonline.com for
	// workforce tenants, https://{tenantID}.ciamlogin.com/{tenantID} for
	// CIAM, a sovereign cloud's host, or a dev IdP.
	Authority string
	ClientID  string
	// Credential authenticates the app. Credentials that rotate are
	// swapped with Client.SetCredential.
	Credential confidential.Credential
	// HTTPClient is shared by every MSAL client built here. Its transport
	// is wrapped so that authority metadata is fetched once, not once per
	// client. Default http.DefaultClient.
	HTTPClient *http.Client
	// InstanceDiscovery asks Microsoft's instance discovery endpoint about
	// the authority's host. Only true for login.microsoftonline.com and
	// sovereign clouds MSAL knows; MSAL Go needs it off for any other host.
	InstanceDiscovery bool
}

// Client acquires tokens for one app registration in one tenant through
// MSAL Go, keeping them in the shared Cache. It never lets two partitions
// share an MSAL client. It is safe for concurrent use.
type Client struct {
	cache  *Cache
	cfg    ClientConfig
	tenant string
	scope  string // the store key prefix: tg1:tc:{clientID}:{tenant}:
	http   *http.Client
	pool   *pool
	cred   credHolder
}

// NewClient returns a Client for cfg on the cache. This is tenantgate's one
// place that builds MSAL confidential clients.
func (c *Cache) NewClient(cfg ClientConfig) (*Client, error) {
	u, err := url.Parse(cfg.Authority)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("tokencache: authority %q must be https://host/{tenant}", cfg.Authority)
	}
	tenant := strings.Trim(u.Path, "/")
	if tenant == "" || strings.Contains(tenant, "/") {
		return nil, fmt.Errorf("tokencache: authority %q must be https://host/{tenant}, with one path segment", cfg.Authority)
	}
	if cfg.ClientID == "" || strings.ContainsAny(cfg.ClientID, ": ") {
		return nil, fmt.Errorf("tokencache: client ID %q is empty or malformed", cfg.ClientID)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	shared := *hc
	// The refresh gate sees MSAL's refresh requests first (refresh.go).
	shared.Transport = newRefreshGate(c, newMetadataCache(hc.Transport))
	cl := &Client{
		cache: c, cfg: cfg, tenant: tenant, http: &shared,
		scope: c.o.Prefix + cfg.ClientID + ":" + tenant + ":",
	}
	cl.cred.set(cfg.Credential)
	cl.pool = newPool(c.o.PoolBytes)
	return cl, nil
}

// msal builds an MSAL client that keeps its tokens in part (nil: only in
// its own memory, for on-behalf-of).
func (cl *Client) msal(part *partition) (confidential.Client, error) {
	opts := []confidential.Option{
		confidential.WithHTTPClient(cl.http),
		confidential.WithInstanceDiscovery(cl.cfg.InstanceDiscovery),
	}
	if part != nil {
		opts = append(opts, confidential.WithCache(part))
	}
	return confidential.New(cl.cfg.Authority, cl.cfg.ClientID, cl.cred.get(), opts...)
}

// SetCredential replaces the app's credential (certificate rotation).
// Calls in flight finish with the old one; new calls use the new one. The
// tokens stay: they live in the cache, not in the clients.
func (cl *Client) SetCredential(cred confidential.Credential) {
	cl.cred.set(cred)
	cl.pool.clear()
}

// Tenant is the tenant part of the authority.
func (cl *Client) Tenant() string { return cl.tenant }

// AuthCodeURL returns the authorize URL. MSAL Go adds no state, nonce or
// PKCE challenge; the caller adds them (package signin does).
func (cl *Client) AuthCodeURL(ctx context.Context, redirectURI string, scopes []string, opts ...confidential.AuthCodeURLOption) (string, error) {
	c, err := cl.msal(nil)
	if err != nil {
		return "", err
	}
	return c.AuthCodeURL(ctx, cl.cfg.ClientID, redirectURI, scopes, opts...)
}

// AcquireTokenSilent returns a token for the signed-in user homeAccountID
// (MSAL's uid.utid) from the cache, refreshing it with the refresh token
// when it is expiring. A store failure is an error wrapping
// store.ErrUnavailable, never ErrNoToken: Redis down is not signed out.
func (cl *Client) AcquireTokenSilent(ctx context.Context, homeAccountID string, scopes []string, opts ...confidential.AcquireSilentOption) (confidential.AuthResult, error) {
	if homeAccountID == "" {
		return confidential.AuthResult{}, errors.New("tokencache: AcquireTokenSilent needs the account's home account ID")
	}
	plain := len(opts) == 0 // options (claims, tenant) change what MSAL would return
	key := strings.Join(scopes, " ")
	if plain {
		if res, ok := cl.fast(ctx, cl.pool.answers(homeAccountID), key); ok {
			return res, nil
		}
	}
	e, err := cl.pool.acquire(homeAccountID, cl.newEntry)
	if err != nil {
		return confidential.AuthResult{}, err
	}
	defer cl.pool.release(e)
	if plain {
		// Another call may have refreshed while this one waited for the lock.
		if res, ok := cl.fast(ctx, cl.pool.current(e), key); ok {
			return res, nil
		}
	}
	opts = append(opts, confidential.WithSilentAccount(confidential.Account{HomeAccountID: homeAccountID}))
	// One refresh across replicas: the MSAL call goes through refresh.go.
	res, err := cl.silent(ctx, e, scopes, opts)
	if err == nil && plain {
		cl.remember(e, key, res)
	}
	return res, noToken(err)
}

// AcquireTokenByAuthCode redeems an authorization code and stores the
// user's tokens. Pass confidential.WithChallenge(verifier) for PKCE.
func (cl *Client) AcquireTokenByAuthCode(ctx context.Context, code, redirectURI string, scopes []string, opts ...confidential.AcquireByAuthCodeOption) (confidential.AuthResult, error) {
	// The partition is unknown until the IdP says who signed in: a fresh
	// client binds to it on MSAL's first Replace.
	part := &partition{c: cl.cache, scope: cl.scope, signIn: true}
	c, err := cl.msal(part)
	if err != nil {
		return confidential.AuthResult{}, err
	}
	return c.AcquireTokenByAuthCode(ctx, code, redirectURI, scopes, opts...)
}

// AcquireTokenByCredential returns an app token (client credentials), from
// the cache while valid. Concurrent callers in one process wait for one
// request to the IdP.
func (cl *Client) AcquireTokenByCredential(ctx context.Context, scopes []string, opts ...confidential.AcquireByCredentialOption) (confidential.AuthResult, error) {
	e, err := cl.pool.acquire(appPartition, cl.newEntry)
	if err != nil {
		return confidential.AuthResult{}, err
	}
	defer cl.pool.release(e)
	return e.client.AcquireTokenByCredential(ctx, scopes, opts...)
}

// SignOut deletes the user's tokens from the cache. MSAL's RemoveAccount
// cannot: it asks for partition "" and never deletes the user's.
func (cl *Client) SignOut(ctx context.Context, homeAccountID string) error {
	key, _, err := storeKey(cl.scope, homeAccountID)
	if err != nil {
		return err
	}
	cl.pool.drop(homeAccountID)
	return cl.cache.signOut(ctx, key)
}

// appPartition names the app's entry in the pool.
const appPartition = "\x00app"

func (cl *Client) newEntry(pk string) (*entry, error) {
	part := &partition{c: cl.cache, scope: cl.scope}
	if pk != appPartition {
		if err := part.bind(pk); err != nil {
			return nil, err
		}
	}
	c, err := cl.msal(part)
	if err != nil {
		return nil, err
	}
	return &entry{pk: pk, client: c, part: part}, nil
}

// ErrNoToken means the cache holds no usable token for the account: the
// user must sign in again. It is not returned for store failures.
var ErrNoToken = errors.New("tokencache: no token for this account; the user must sign in")

// noToken types MSAL's untyped "no token found".
func noToken(err error) error {
	if err != nil && err.Error() == "no token found" {
		return fmt.Errorf("%w (MSAL: %v)", ErrNoToken, err)
	}
	return err
}
