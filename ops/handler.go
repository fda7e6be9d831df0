package ops

import (
	"context"
	"embed"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tenantgate/tenantgate/session"
	"github.com/tenantgate/tenantgate/tokencache"
)

// Tenant is one tenant as operations see it: a directory (TenantID) and
// the app it is served by (Key: a configured tenant's key, or
// "organizations" for a tenant on the multi-tenant app's allow-list).
type Tenant struct {
	Key      string
	TenantID string
	// Status reads a user's token partition in this tenant (nil: unknown);
	// tokencache.Client.Status.
	Status func(ctx context.Context, homeAccountID string) (tokencache.PartitionStatus, error)
	// SignOut deletes a user's tokens in this tenant (nil: kept), when
	// all of the user's or the tenant's sessions are revoked;
	// tokencache.Client.SignOut.
	SignOut func(ctx context.Context, homeAccountID string) error
}

// Options configure a Handler.
type Options struct {
	Sessions *session.Manager
	// Tenants lists the tenants shown with their session counts: each
	// configured tenant, and each tenant on the organizations app's
	// allow-list that is not configured on its own (one per tenant ID).
	Tenants func() []Tenant
	// Owner returns the tenant whose client holds the tokens of sessions
	// signed in through tenant key in directory tenantID, when no row of
	// Tenants is that pair: the organizations app's client for a tenant
	// configured on its own with another app, whose sessions share that
	// tenant's index and row (nil: such sessions show no token status).
	Owner func(key, tenantID string) (Tenant, bool)
	// Token is the bearer token that authenticates operators and
	// scrapers ("" : none accepted). Compared in constant time.
	Token string
	// Role is the app role (the ID token's roles claim) that lets a
	// signed-in user in with their session cookie ("" : none).
	Role string
	// Refreshes is where the last refresh of each account is kept (nil:
	// not shown).
	Refreshes *RefreshLog
	// Gatherer serves /metrics (nil: no metrics).
	Gatherer prometheus.Gatherer
	// SignInURL is the gateway's sign-in route, linked from the page for
	// operators who sign in with their role.
	SignInURL string
	// Poll is how often the live view re-reads the indexes. Default 1s.
	Poll   time.Duration
	Logger *slog.Logger
	Now    func() time.Time
}

// Handler serves the operations listener. It is safe for concurrent use.
type Handler struct {
	o   Options
	mux *http.ServeMux
}

//go:embed assets
var assets embed.FS

// New returns a Handler.
func New(o Options) (*Handler, error) {
	if o.Sessions == nil || o.Tenants == nil {
		return nil, errors.New("ops: Options need Sessions and Tenants")
	}
	if o.Token == "" && o.Role == "" {
		return nil, errors.New("ops: no way in: set an admin token (--admin-token-file or TENANTGATE_ADMIN_TOKEN) or an admin role (--admin-role)")
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	h := &Handler{o: o}
	m := http.NewServeMux()
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	m.Handle("GET /assets/", http.FileServerFS(assets))
	m.HandleFunc("GET /login", h.serveLogin)
	m.HandleFunc("POST /login", h.serveLogin)
	m.HandleFunc("POST /logout", h.serveLogout)
	m.Handle("GET /{$}", h.auth(h.servePage))
	m.Handle("GET /session/{handle}", h.auth(h.serveSessionPage))
	m.Handle("GET /events", h.auth(h.serveEvents))
	m.Handle("POST /revoke", h.auth(h.serveRevoke))
	m.Handle("GET /api/tenants", h.auth(h.apiTenants))
	m.Handle("GET /api/sessions", h.auth(h.apiSessions))
	m.Handle("GET /api/sessions/{handle}", h.auth(h.apiSession))
	m.Handle("POST /api/revoke", h.auth(h.serveRevoke))
	if o.Gatherer != nil {
		m.Handle("GET /metrics", h.auth(func(w http.ResponseWriter, r *http.Request, _ principal) {
			promhttp.HandlerFor(o.Gatherer, promhttp.HandlerOpts{}).ServeHTTP(w, r)
		}))
	}
	h.mux = m
	return h, nil
}

// ServeHTTP serves the listener with headers that keep the page to
// itself: no inline script, no framing, nothing cached.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Cache-Control", "no-store")
	h.mux.ServeHTTP(w, r)
}
