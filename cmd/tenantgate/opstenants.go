package main

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/tenantgate/tenantgate/ops"
	"github.com/tenantgate/tenantgate/tenant"
	"github.com/tenantgate/tenantgate/tokencache"
)

// opsApps is what the operations view knows of the tenants, for serve (a
// tenant.Registry) and for tenantgate sessions (the tenant file) alike.
//
// A session of the organizations app is indexed under its user's tenant
// ID, like any session, so the view has a row per tenant ID: each
// configured tenant (whose row also counts the organizations app's
// sessions of that tenant), then each allowed tenant of the app not
// configured on its own, keyed "organizations". docs/operations.md says
// why.
type opsApps struct {
	configured []opsApp
	allowed    []string // the organizations app's allow-list, lower case
	// org is the organizations app's client for a tenant ID, nil without
	// the app.
	org func(tid string) (*tokencache.Client, error)
}

type opsApp struct {
	key, tid string
	client   *tokencache.Client // nil: no token status
}

var errNoStatusClient = errors.New("tenantgate sessions: the organizations app's client ID cannot name a token partition")

func registryApps(reg *tenant.Registry) opsApps {
	a := opsApps{allowed: reg.AllowedTenants()}
	for _, t := range reg.Tenants() {
		a.configured = append(a.configured, opsApp{key: t.Key, tid: t.TenantID, client: t.Client()})
	}
	if _, ok := reg.Organizations(); ok {
		a.org = func(tid string) (*tokencache.Client, error) {
			t, err := reg.OrganizationsFor(tid)
			if err != nil {
				return nil, err
			}
			return t.Client(), nil
		}
	}
	return a
}

// configApps is registryApps for the tenant file alone: no credential is
// loaded and no request sent; a client serves only to read partitions,
// whose keys the client ID and the tenant make.
func configApps(cfg tenant.Config, cache *tokencache.Cache) opsApps {
	newClient := func(tid, clientID string) *tokencache.Client {
		cl, err := cache.NewClient(tokencache.ClientConfig{Authority: "https://status.invalid/" + tid, ClientID: strings.ToLower(clientID)})
		if err != nil {
			return nil
		}
		return cl
	}
	var a opsApps
	for _, k := range slices.Sorted(maps.Keys(cfg.Tenants)) {
		tc := cfg.Tenants[k]
		tid := strings.ToLower(tc.TenantID)
		a.configured = append(a.configured, opsApp{key: k, tid: tid, client: newClient(tid, tc.ClientID)})
	}
	if oc := cfg.Organizations; oc != nil {
		for _, tid := range oc.AllowedTenants {
			a.allowed = append(a.allowed, strings.ToLower(tid))
		}
		var mu sync.Mutex
		clients := map[string]*tokencache.Client{}
		a.org = func(tid string) (*tokencache.Client, error) {
			mu.Lock()
			defer mu.Unlock()
			if clients[tid] == nil {
				if clients[tid] = newClient(tid, oc.ClientID); clients[tid] == nil {
					return nil, errNoStatusClient
				}
			}
			return clients[tid], nil
		}
	}
	return a
}

// tenants are the view's rows.
func (a opsApps) tenants() []ops.Tenant {
	var out []ops.Tenant
	seen := map[string]bool{}
	for _, c := range a.configured {
		seen[c.tid] = true
		t := ops.Tenant{Key: c.key, TenantID: c.tid}
		if c.client != nil {
			t.Status, t.SignOut = c.client.Status, signOut(c.client)
		}
		out = append(out, t)
	}
	for _, tid := range a.allowed {
		if !seen[tid] {
			seen[tid] = true
			out = append(out, a.orgTenant(tid))
		}
	}
	return out
}

// owner is ops.Options.Owner: the organizations app's client for a
// session of the app in a tenant configured on its own.
func (a opsApps) owner(key, tid string) (ops.Tenant, bool) {
	if key != tenant.OrganizationsKey || a.org == nil {
		return ops.Tenant{}, false
	}
	return a.orgTenant(strings.ToLower(tid)), true
}

// orgTenant is the organizations app in tid; its client is made when the
// view first reads a token status (an allow-list may hold hundreds of
// tenants that never sign in).
func (a opsApps) orgTenant(tid string) ops.Tenant {
	t := ops.Tenant{Key: tenant.OrganizationsKey, TenantID: tid}
	if a.org == nil {
		return t
	}
	t.Status = func(ctx context.Context, home string) (tokencache.PartitionStatus, error) {
		cl, err := a.org(tid)
		if err != nil {
			return tokencache.PartitionStatus{}, err
		}
		return cl.Status(ctx, home)
	}
	t.SignOut = func(ctx context.Context, home string) error {
		cl, err := a.org(tid)
		if err != nil {
			return err
		}
		return cl.SignOut(ctx, home)
	}
	return t
}
