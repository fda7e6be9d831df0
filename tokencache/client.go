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
	// CIAM, a sovereign cloud's host, or a dev IdP. {tenant} may be
	// organizations or common: users' tokens are then kept under the
	// tenant each user signs in to.
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
	cache *Cache
	cfg   ClientConfig
	// tenant is the authority's tenant segment, lower case.
	tenant string
	// multi: the authority names no tenant (organizations, common), so a
	// user's tokens belong to the tenant the user signed in to.
	multi  bool
	prefix string // the store key prefix: tg1:tc:{clientID}:
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
	tenant := strings.ToLower(strings.Trim(u.Path, "/"))
	if tenant == "" || strings.ContainsAny(tenant, "/: ") {
		return nil, fmt.Errorf("tokencache: authority %q must be https://host/{tenant}, with one path segment", cfg.Authority)
	}
	if cfg.ClientID == "" || strings.ContainsAny(cfg.ClientID, ": ") {
		return nil, fmt.Errorf("tokencache: client ID %q is empty or malformed", cfg.ClientID)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	// The one HTTP transport every MSAL client of this Client sends through.
	shared := *hc
	// The refresh gate sees MSAL's refresh requests first (refresh.go).
	shared.Transport = newRefreshGate(c, newMetadataCache(hc.Transport))
	cl := &Client{
		cache: c, cfg: cfg, tenant: tenant, multi: isMultiTenant(tenant), http: &shared,
		prefix: c.o.Prefix + cfg.ClientID + ":",
	}
	cl.cred.set(cfg.Credential)
	cl.pool = newPool(c.o.PoolBytes)
	c.poolsMu.Lock()
	c.pools = append(c.pools, cl.pool)
	c.poolsMu.Unlock()
	return cl, nil
}

// msal builds an MSAL client that keeps its tokens in part (nil: only in
// its own memory, for on-behalf-of), and reports the credential
// generation it was built with.
func (cl *Client) msal(part *partition) (confidential.Client, uint64, error) {
	cred, gen := cl.cred.get()
	opts := []confidential.Option{
		confidential.WithHTTPClient(cl.http),
		confidential.WithInstanceDiscovery(cl.cfg.InstanceDiscovery),
	}
	if part != nil {
		opts = append(opts, confidential.WithCache(part))
	}
	c, err := confidential.New(cl.cfg.Authority, cl.cfg.ClientID, cred, opts...)
	return c, gen, err
}

// SetCredential replaces the app's credential (certificate rotation).
// Calls in flight finish with the old one; every later call uses the new
// one, even for a partition whose client was being built as the change
// happened. The tokens stay: they live in the cache, not in the clients.
func (cl *Client) SetCredential(cred confidential.Credential) {
	cl.cred.set(cred)
}

// Tenant is the tenant part of the authority.
func (cl *Client) Tenant() string { return cl.tenant }

// userTenant is the tenant a user call's partition belongs to: the one
// asked for, else the authority's; "" for an authority that names none,
// where the account's home tenant is taken (see storeKey).
func (cl *Client) userTenant(asked string) string {
	if asked != "" {
		return asked
	}
	if cl.multi {
		return ""
	}
	return cl.tenant
}

// AuthCodeURL returns the authorize URL. MSAL Go adds no state, nonce or
// PKCE challenge; the caller adds them (package signin does). It takes
// WithClaims, WithTenantID, WithLoginHint and WithDomainHint.
func (cl *Client) AuthCodeURL(ctx context.Context, redirectURI string, scopes []string, opts ...Option) (string, error) {
	o, err := collect("AuthCodeURL", optClaims|optTenantID|optLoginHint|optDomainHint, opts)
	if err != nil {
		return "", err
	}
	var mo []confidential.AuthCodeURLOption
	if o.claims != "" {
		mo = append(mo, confidential.WithClaims(o.claims))
	}
	if o.tenantID != "" {
		mo = append(mo, confidential.WithTenantID(o.tenantID))
	}
	if o.loginHint != "" {
		mo = append(mo, confidential.WithLoginHint(o.loginHint))
	}
	if o.domainHint != "" {
		mo = append(mo, confidential.WithDomainHint(o.domainHint))
	}
	c, _, err := cl.msal(nil)
	if err != nil {
		return "", err
	}
	return c.AuthCodeURL(ctx, cl.cfg.ClientID, redirectURI, authorizeScopes(scopes), mo...)
}

// AcquireTokenSilent returns a token for the signed-in user homeAccountID
// (MSAL's uid.utid) from the cache, refreshing it with the refresh token
// when it is expiring. A store failure is an error wrapping
// store.ErrUnavailable, never ErrNoToken: Redis down is not signed out.
// It takes WithTenantID (that tenant's partition). It refuses WithClaims,
// as MSAL Go does: a claims challenge needs the user, through AuthCodeURL.
// OpenID Connect's scopes are left out of the request (ResourceScopes);
// scopes without a resource's are ErrNoResourceScope.
func (cl *Client) AcquireTokenSilent(ctx context.Context, homeAccountID string, scopes []string, opts ...Option) (confidential.AuthResult, error) {
	if err := ctx.Err(); err != nil {
		return confidential.AuthResult{}, fmt.Errorf("tokencache: AcquireTokenSilent: %w", err)
	}
	if homeAccountID == "" {
		return confidential.AuthResult{}, errors.New("tokencache: AcquireTokenSilent needs the account's home account ID")
	}
	if scopes = ResourceScopes(scopes); len(scopes) == 0 {
		return confidential.AuthResult{}, ErrNoResourceScope
	}
	var o callOptions
	if len(opts) > 0 {
		for _, opt := range opts {
			if opt.kind == optClaims {
				// TestMSALFactSilentRefusesClaims.
				return confidential.AuthResult{}, errors.New("tokencache: AcquireTokenSilent does not take WithClaims: MSAL Go refuses claims on silent calls; send the user through AuthCodeURL with WithClaims")
			}
		}
		var err error
		if o, err = collect("AcquireTokenSilent", optTenantID, opts); err != nil {
			return confidential.AuthResult{}, err
		}
	}
	// The tenant MSAL is asked for, and the pool key of its partition: the
	// plain home account ID for the client's own tenant.
	msalTenant, poolKey := o.tenantID, homeAccountID
	switch {
	case cl.multi && msalTenant == "":
		// MSAL would file and look up the tokens under "organizations":
		// ask it for the account's tenant, where they are kept.
		_, msalTenant, _ = strings.Cut(homeAccountID, ".")
	case cl.multi:
		if _, utid, _ := strings.Cut(homeAccountID, "."); !strings.EqualFold(utid, msalTenant) {
			poolKey = homeAccountID + "\x00" + msalTenant
		}
	case msalTenant == cl.tenant:
		msalTenant = ""
	case msalTenant != "":
		poolKey = homeAccountID + "\x00" + msalTenant
	}
	plain := poolKey == homeAccountID
	key := strings.Join(scopes, " ")
	if plain {
		if res, ok := cl.answer(ctx, cl.pool.answers(homeAccountID), key); ok {
			return res, nil
		}
	}
	tenant := cl.userTenant(o.tenantID)
	e, err := cl.pool.acquire(poolKey, cl.cred.generation(), func(pk string) (*entry, error) {
		return cl.newEntry(pk, tenant, homeAccountID)
	})
	if err != nil {
		return confidential.AuthResult{}, err
	}
	defer cl.pool.release(e)
	if plain {
		// Another call may have refreshed while this one waited for the lock.
		if res, ok := cl.answer(ctx, cl.pool.current(e), key); ok {
			return res, nil
		}
	}
	mo := []confidential.AcquireSilentOption{confidential.WithSilentAccount(confidential.Account{HomeAccountID: homeAccountID})}
	if msalTenant != "" {
		mo = append(mo, confidential.WithTenantID(msalTenant))
	}
	// The one MSAL silent call: a due refresh happens inside it, through
	// the refresh gate (refresh.go), once across replicas.
	res, err := cl.silent(ctx, e, scopes, mo)
	if err == nil && plain {
		cl.remember(e, key, res)
	}
	return res, noToken(err)
}

// AcquireTokenByAuthCode redeems an authorization code and stores the
// user's tokens in the partition of the tenant they belong to. It takes
// WithChallenge (the PKCE verifier), WithClaims and WithTenantID. Only the
// resource scopes are redeemed through MSAL (ResourceScopes); a sign-in
// that asked for none (openid, profile, offline_access, email only, or
// nothing) still gets its ID token and refresh token.
func (cl *Client) AcquireTokenByAuthCode(ctx context.Context, code, redirectURI string, scopes []string, opts ...Option) (confidential.AuthResult, error) {
	o, err := collect("AcquireTokenByAuthCode", optChallenge|optClaims|optTenantID, opts)
	if err != nil {
		return confidential.AuthResult{}, err
	}
	var mo []confidential.AcquireByAuthCodeOption
	if o.challenge != "" {
		mo = append(mo, confidential.WithChallenge(o.challenge))
	}
	if o.claims != "" {
		mo = append(mo, confidential.WithClaims(o.claims))
	}
	if o.tenantID != "" {
		mo = append(mo, confidential.WithTenantID(o.tenantID))
	}
	// The partition is unknown until the IdP says who signed in: a fresh
	// client binds to it on MSAL's first Replace.
	part := &partition{c: cl.cache, prefix: cl.prefix, tenant: cl.userTenant(o.tenantID), signIn: true}
	if cl.multi && o.tenantID == "" {
		part.rehomeFrom = cl.tenant
	}
	c, _, err := cl.msal(part)
	if err != nil {
		return confidential.AuthResult{}, err
	}
	return c.AcquireTokenByAuthCode(ctx, code, redirectURI, authCodeScopes(scopes), mo...)
}

// AcquireTokenByCredential returns an app token (client credentials), from
// the cache while valid. Concurrent callers in one process wait for one
// request to the IdP. It takes WithClaims (never answered from the cache)
// and WithTenantID (that tenant's app partition).
func (cl *Client) AcquireTokenByCredential(ctx context.Context, scopes []string, opts ...Option) (confidential.AuthResult, error) {
	o, err := collect("AcquireTokenByCredential", optClaims|optTenantID, opts)
	if err != nil {
		return confidential.AuthResult{}, err
	}
	var mo []confidential.AcquireByCredentialOption
	poolKey := appPartition
	if o.claims != "" {
		mo = append(mo, confidential.WithClaims(o.claims))
	}
	if o.tenantID != "" && o.tenantID != cl.tenant {
		mo = append(mo, confidential.WithTenantID(o.tenantID))
		poolKey += o.tenantID
	}
	e, err := cl.pool.acquire(poolKey, cl.cred.generation(), func(pk string) (*entry, error) {
		return cl.newEntry(pk, "", "")
	})
	if err != nil {
		return confidential.AuthResult{}, err
	}
	defer cl.pool.release(e)
	return e.client.AcquireTokenByCredential(ctx, scopes, mo...)
}

// SignOut deletes the user's tokens from the cache: the partition of the
// client's tenant (for an organizations or common client, the account's
// home tenant), or WithTenantID's. MSAL's RemoveAccount cannot: it asks
// for partition "" and never deletes the user's.
func (cl *Client) SignOut(ctx context.Context, homeAccountID string, opts ...Option) error {
	o, err := collect("SignOut", optTenantID, opts)
	if err != nil {
		return err
	}
	key, _, _, err := storeKey(cl.prefix, cl.userTenant(o.tenantID), homeAccountID)
	if err != nil {
		return err
	}
	cl.pool.drop(homeAccountID)
	if o.tenantID != "" {
		cl.pool.drop(homeAccountID + "\x00" + o.tenantID)
	}
	return cl.cache.signOut(ctx, key)
}

// appPartition starts the app's entries' keys in the pool (followed by
// the tenant asked for, if another than the authority's).
const appPartition = "\x00app"

// newEntry builds poolKey's MSAL client: bound to home's partition in
// tenant, or, for the app ("" home), to whichever app partition MSAL
// names first.
func (cl *Client) newEntry(poolKey, tenant, home string) (*entry, error) {
	part := &partition{c: cl.cache, prefix: cl.prefix, tenant: tenant}
	if home != "" {
		if err := part.bind(home); err != nil {
			return nil, err
		}
	}
	c, gen, err := cl.msal(part)
	if err != nil {
		return nil, err
	}
	return &entry{pk: poolKey, gen: gen, client: c, part: part}, nil
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
