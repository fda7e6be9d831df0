package ops

import (
	"context"
	"errors"
	"log/slog"
)

// Console is the operations API without a listener, for the
// `tenantgate sessions` command: the same listing, lookup and revocation
// as the HTTP API, and the same audit lines.
type Console struct {
	h   *Handler
	who string
}

// NewConsole returns a Console acting as who (for the audit lines).
func NewConsole(o Options, who string) (*Console, error) {
	if o.Sessions == nil || o.Tenants == nil {
		return nil, errors.New("ops: Options need Sessions and Tenants")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Console{h: &Handler{o: o}, who: who}, nil
}

// Tenants lists the configured tenants with their session counts.
func (c *Console) Tenants(ctx context.Context) []TenantView { return c.h.tenants(ctx) }

// List returns a page of sessions.
func (c *Console) List(ctx context.Context, f Filter) (SessionsPage, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	return c.h.list(ctx, f)
}

// Lookup returns one session by its full handle.
func (c *Console) Lookup(ctx context.Context, handle string) (SessionView, error) {
	return c.h.lookup(ctx, handle)
}

// Revoke revokes a session, a user's sessions or a tenant's, logs the
// audit line and returns how many sessions there were.
func (c *Console) Revoke(ctx context.Context, rq RevokeRequest) (int, error) {
	p := principal{Who: c.who, Via: "cli"}
	n, err := c.h.revoke(ctx, rq)
	if err != nil {
		c.h.audit(p, "revoke", rq, "failed: "+err.Error(), n)
		return n, err
	}
	c.h.audit(p, "revoke", rq, "ok", n)
	return n, nil
}
