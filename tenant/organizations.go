package tenant

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/tenantgate/tenantgate/credential"
	"github.com/tenantgate/tenantgate/tokencache"
)

// organizations is the multi-tenant app: one registration, one
// credential, a client per allowed tenant made on first use (an allow-list
// may hold hundreds of tenants that never sign in).
type organizations struct {
	cfg       Organizations
	cache     *tokencache.Cache
	o         Options
	src       *credential.Source
	info      func() credential.Info
	allowed   map[string]bool
	discovery bool
	common    *Tenant // at the organizations authority

	mu      sync.Mutex
	tenants map[string]*Tenant
}

func (r *Registry) openOrganizations(ctx, runCtx context.Context, oc Organizations, cache *tokencache.Cache, o Options) (*organizations, error) {
	src, err := r.openCredential(ctx, OrganizationsKey, oc.Credential, o)
	if err != nil {
		return nil, err
	}
	authority, discovery, _ := authorityFor(Workforce, oc.AuthorityHost, OrganizationsKey)
	if err := checkMetadata(ctx, o.HTTPClient, OrganizationsKey, authority, "authorityHost"); err != nil {
		return nil, err
	}
	org := &organizations{cfg: oc, cache: cache, o: o, src: src, allowed: map[string]bool{},
		discovery: discovery, tenants: map[string]*Tenant{}}
	for _, tid := range oc.AllowedTenants {
		org.allowed[strings.ToLower(tid)] = true
	}
	if org.common, err = org.newTenant(OrganizationsKey); err != nil {
		return nil, configErr(OrganizationsKey, "authorityHost", "%v", err)
	}
	org.info = r.follow(runCtx, src, org.setCredential)
	return org, nil
}

func (org *organizations) newTenant(tid string) (*Tenant, error) {
	authority, _, _ := authorityFor(Workforce, org.cfg.AuthorityHost, tid)
	t := &Tenant{Key: OrganizationsKey, TenantID: tid, Kind: Workforce, Authority: authority,
		ClientID: strings.ToLower(org.cfg.ClientID), Scopes: slices.Clone(org.cfg.Scopes), src: org.src}
	var err error
	t.client, err = org.cache.NewClient(tokencache.ClientConfig{
		Authority: authority, ClientID: t.ClientID, Credential: org.src.Credential(),
		HTTPClient: org.o.HTTPClient, InstanceDiscovery: org.discovery,
	})
	if err != nil {
		return nil, err
	}
	t.info = func() credential.Info { return org.info() }
	return t, nil
}

// forTenant returns the allowed tenant tid's client, making it on first
// use; ok is false when tid is not allowed. configured allows a tenant
// configured on its own: its users may sign in through the app too.
func (org *organizations) forTenant(tid string, configured bool) (*Tenant, bool, error) {
	if !org.allowed[tid] && !configured {
		return nil, false, nil
	}
	org.mu.Lock()
	defer org.mu.Unlock()
	if t, ok := org.tenants[tid]; ok {
		return t, true, nil
	}
	t, err := org.newTenant(tid)
	if err != nil {
		return nil, true, err
	}
	org.tenants[tid] = t
	return t, true, nil
}

// setCredential hands a rotated credential to every client of the app.
func (org *organizations) setCredential(c confidential.Credential) {
	org.mu.Lock()
	clients := []*tokencache.Client{}
	if org.common != nil {
		clients = append(clients, org.common.client)
	}
	for _, t := range org.tenants {
		clients = append(clients, t.client)
	}
	org.mu.Unlock()
	for _, cl := range clients {
		cl.SetCredential(c)
	}
}
