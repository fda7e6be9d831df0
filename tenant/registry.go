package tenant

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/tenantgate/tenantgate/credential"
	"github.com/tenantgate/tenantgate/tokencache"
)

// Options are what Open needs beyond the Config. The zero value is usable.
type Options struct {
	// HTTPClient is shared by every tenant's MSAL clients and the start-up
	// checks. Default http.DefaultClient.
	HTTPClient *http.Client
	// Credential configures credential loading (the Key Vault client and
	// its Azure credential). Its Getenv, Logger and Name are set by Open.
	Credential credential.Options
	// Getenv reads environment overrides; default os.Getenv.
	Getenv func(string) string
	Logger *slog.Logger
}

// Tenant is one configured tenant with its MSAL client. It is safe for
// concurrent use.
type Tenant struct {
	// Key names the tenant in URLs and configuration, e.g. "contoso".
	Key       string
	TenantID  string
	Kind      Kind
	Authority string
	ClientID  string
	Scopes    []string

	client *tokencache.Client
	src    *credential.Source
	info   func() credential.Info
}

// Client is the tenant's token client: MSAL confidential clients over the
// shared token cache, with the current credential.
func (t *Tenant) Client() *tokencache.Client { return t.client }

// Credential describes the credential the client uses now.
func (t *Tenant) Credential() credential.Info { return t.info() }

// Rejected tells the tenant's credential source about a failed token
// request: if the IdP rejected the credential (AADSTS700027 and the like),
// the credential is reloaded at once, and Rejected reports true so that
// the caller may retry once the credential changed.
func (t *Tenant) Rejected(err error) bool { return t.src.Rejected(err) }

// Registry holds the configured tenants. It is safe for concurrent use;
// Close stops following credential rotations.
type Registry struct {
	byKey  map[string]*Tenant
	byID   map[string]*Tenant
	org    *organizations
	srcs   []*credential.Source
	stop   context.CancelFunc
	wg     sync.WaitGroup
	logger *slog.Logger
}

// Open builds every tenant's client on cache, after checking that its
// credential loads and its authority answers: a *ConfigError names the
// tenant and field of the first that does not. ctx bounds the checks;
// Close ends the Registry.
func Open(ctx context.Context, cfg Config, cache *tokencache.Cache, o Options) (*Registry, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if o.HTTPClient == nil {
		o.HTTPClient = http.DefaultClient
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	runCtx, stop := context.WithCancel(context.Background())
	r := &Registry{byKey: map[string]*Tenant{}, byID: map[string]*Tenant{}, stop: stop, logger: o.Logger}
	for _, key := range sortedKeys(cfg.Tenants) {
		tc := cfg.Tenants[key]
		if tc.Kind == "" {
			tc.Kind = Workforce
		}
		tid := strings.ToLower(tc.TenantID)
		authority, discovery, _ := authorityFor(tc.Kind, tc.AuthorityHost, tid)
		src, err := r.openCredential(ctx, key, tc.Credential, o)
		if err != nil {
			r.Close()
			return nil, err
		}
		if err := checkMetadata(ctx, o.HTTPClient, key, authority, hostField(tc.AuthorityHost)); err != nil {
			r.Close()
			return nil, err
		}
		t := &Tenant{Key: key, TenantID: tid, Kind: tc.Kind, Authority: authority, ClientID: strings.ToLower(tc.ClientID),
			Scopes: slices.Clone(tc.Scopes), src: src}
		t.client, err = cache.NewClient(tokencache.ClientConfig{
			Authority: authority, ClientID: t.ClientID, Credential: src.Credential(),
			HTTPClient: o.HTTPClient, InstanceDiscovery: discovery,
		})
		if err != nil {
			r.Close()
			return nil, configErr(key, "authorityHost", "%v", err)
		}
		t.info = r.follow(runCtx, src, func(c confidential.Credential) { t.client.SetCredential(c) })
		r.byKey[key], r.byID[tid] = t, t
	}
	if oc := cfg.Organizations; oc != nil {
		org, err := r.openOrganizations(ctx, runCtx, *oc, cache, o)
		if err != nil {
			r.Close()
			return nil, err
		}
		r.org = org
	}
	return r, nil
}

// openCredential applies the environment overrides for key and loads its
// credential. Overrides (key upper-cased, dashes as underscores):
//
//	TENANTGATE_TENANT_{KEY}_CLIENT_SECRET  a client secret, replacing the configured credential
//	TENANTGATE_TENANT_{KEY}_PFX_PASSWORD   the PFX password, when the file names none
//
// The multi-tenant app's are TENANTGATE_ORGANIZATIONS_CLIENT_SECRET and
// TENANTGATE_ORGANIZATIONS_PFX_PASSWORD.
func (r *Registry) openCredential(ctx context.Context, key string, cc credential.Config, o Options) (*credential.Source, error) {
	prefix := EnvPrefix(key)
	if name := prefix + "CLIENT_SECRET"; o.Getenv(name) != "" {
		r.logger.Info("tenant: client secret from the environment replaces the configured credential",
			slog.String("tenant", key), slog.String("variable", name))
		cc = credential.Config{Secret: &credential.Secret{Env: name}, PollInterval: cc.PollInterval}
	}
	if name := prefix + "PFX_PASSWORD"; cc.PFX != nil && cc.PFX.PasswordEnv == "" && cc.PFX.PasswordFile == "" && o.Getenv(name) != "" {
		p := *cc.PFX
		p.PasswordEnv = name
		cc.PFX = &p
	}
	co := o.Credential
	co.Name, co.Getenv, co.Logger = key, o.Getenv, o.Logger
	src, err := credential.Open(ctx, cc, co)
	if err != nil {
		var ce *credential.Error
		if errors.As(err, &ce) {
			return nil, &ConfigError{Tenant: key, Field: "credential." + ce.Field, Err: ce.Err}
		}
		return nil, &ConfigError{Tenant: key, Field: "credential", Err: err}
	}
	r.srcs = append(r.srcs, src)
	return src, nil
}

// EnvPrefix is the start of the environment variables that override
// tenant key's secrets: TENANTGATE_TENANT_CONTOSO_ for "contoso",
// TENANTGATE_ORGANIZATIONS_ for the multi-tenant app.
func EnvPrefix(key string) string {
	if key == OrganizationsKey {
		return "TENANTGATE_ORGANIZATIONS_"
	}
	return "TENANTGATE_TENANT_" + strings.ToUpper(strings.ReplaceAll(key, "-", "_")) + "_"
}

// follow hands every new credential of src to set, until ctx ends, and
// returns what describes the credential last handed over: a test or an
// operator reading it knows the clients already use that one.
func (r *Registry) follow(ctx context.Context, src *credential.Source, set func(confidential.Credential)) func() credential.Info {
	var mu sync.Mutex
	info := src.Info()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			changed := src.Changed()
			i := src.Info()
			set(src.Credential())
			mu.Lock()
			info = i
			mu.Unlock()
			select {
			case <-changed:
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() credential.Info {
		mu.Lock()
		defer mu.Unlock()
		return info
	}
}

// Tenant returns the tenant configured under key.
func (r *Registry) Tenant(key string) (*Tenant, bool) {
	t, ok := r.byKey[key]
	return t, ok
}

// Tenants returns the configured tenants in key order (not those served
// through the organizations app).
func (r *Registry) Tenants() []*Tenant {
	out := make([]*Tenant, 0, len(r.byKey))
	for _, k := range sortedKeys(r.byKey) {
		out = append(out, r.byKey[k])
	}
	return out
}

// ForTenantID returns the tenant whose ID is tid (the tid claim of a
// signed-in user): a configured tenant, or one on the organizations
// allow-list, served by the multi-tenant app. Any other tenant is refused
// with an error wrapping ErrTenantNotAllowed.
func (r *Registry) ForTenantID(tid string) (*Tenant, error) {
	tid = strings.ToLower(tid)
	if t, ok := r.byID[tid]; ok {
		return t, nil
	}
	if r.org != nil && guidRE.MatchString(tid) {
		if t, ok, err := r.org.forTenant(tid, false); ok || err != nil {
			return t, err
		}
	}
	if len(tid) > 64 {
		tid = tid[:64] + "…"
	}
	return nil, fmt.Errorf("%w: tenant %q is neither configured nor on organizations.allowedTenants", ErrTenantNotAllowed, tid)
}

// OrganizationsFor returns the multi-tenant app's client for tid: the
// owner of a session signed in through the organizations app. It differs
// from ForTenantID when tid is also configured on its own, with another
// app: that tenant's client would verify the ID token against the wrong
// audience and look in the wrong token cache. tid must be on
// organizations.allowedTenants or configured on its own; any other tenant,
// or no organizations app, is refused with an error wrapping
// ErrTenantNotAllowed.
func (r *Registry) OrganizationsFor(tid string) (*Tenant, error) {
	tid = strings.ToLower(tid)
	if r.org != nil && guidRE.MatchString(tid) {
		_, configured := r.byID[tid]
		if t, ok, err := r.org.forTenant(tid, configured); ok || err != nil {
			return t, err
		}
	}
	if len(tid) > 64 {
		tid = tid[:64] + "…"
	}
	return nil, fmt.Errorf("%w: tenant %q is not on organizations.allowedTenants", ErrTenantNotAllowed, tid)
}

// AllowedTenants returns the organizations app's allow-list, lower case,
// in configuration order; nil without the app.
func (r *Registry) AllowedTenants() []string {
	if r.org == nil {
		return nil
	}
	out := make([]string, 0, len(r.org.cfg.AllowedTenants))
	for _, tid := range r.org.cfg.AllowedTenants {
		out = append(out, strings.ToLower(tid))
	}
	return out
}

// Organizations returns the multi-tenant app at the "organizations"
// authority, for starting a sign-in before the user's tenant is known.
func (r *Registry) Organizations() (*Tenant, bool) {
	if r.org == nil {
		return nil, false
	}
	return r.org.common, true
}

// Close stops following credential rotations. Clients handed out stay
// usable with the credential they have.
func (r *Registry) Close() error {
	r.stop()
	for _, s := range r.srcs {
		_ = s.Close()
	}
	r.wg.Wait()
	return nil
}
