package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/tenantgate/tenantgate/ops"
	"github.com/tenantgate/tenantgate/session"
	"github.com/tenantgate/tenantgate/signin"
	"github.com/tenantgate/tenantgate/store"
	"github.com/tenantgate/tenantgate/store/redisstore"
	"github.com/tenantgate/tenantgate/tenant"
	"github.com/tenantgate/tenantgate/tokencache"
)

// opsConfig is the operations listener's settings (--admin-listen is
// serveConfig.adminListen).
type opsConfig struct {
	tokenFile, token, role string
	accessLog              bool
}

func (o *opsConfig) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.tokenFile, "admin-token-file", "", "`file` holding the bearer token of the operations listener (API, page, /metrics)")
	fs.StringVar(&o.token, "admin-token", "", "the operations bearer token; set it by TENANTGATE_ADMIN_TOKEN, not on the command line (ps shows arguments)")
	fs.StringVar(&o.role, "admin-role", "", "app `role` (ID token roles claim) that lets a signed-in user use the operations page with their session (demo mode: Tasks.Approver)")
	fs.BoolVar(&o.accessLog, "access-log", false, "log one line per request (request ID, method, path without query, status, duration); off by default: at thousands of requests a second the ingress's log and the duration metric usually serve better")
}

// opsWiring is what serve adds for operations: metrics, request IDs and
// access lines, the IdP client's instrumentation, the admin listener.
type opsWiring struct {
	metrics   *ops.Metrics
	refreshes *ops.RefreshLog
	logger    *slog.Logger
	accessLog bool
	// idpClient is the IdP HTTP client with its transport measured.
	idpClient *http.Client
	ln        net.Listener
	srv       *http.Server
	url       string
}

// newOpsWiring instruments hc and the store.
func newOpsWiring(c serveConfig, st store.KV, hc *http.Client, logger *slog.Logger) *opsWiring {
	w := &opsWiring{metrics: ops.NewMetrics(), logger: logger, accessLog: c.ops.accessLog, refreshes: ops.NewRefreshLog(st, c.replica)}
	if rs, ok := st.(*redisstore.Store); ok {
		w.metrics.Store(rs)
	}
	shared := *hc
	shared.Transport = w.metrics.IdPTransport(hc.Transport, w.refreshes)
	w.idpClient = &shared
	return w
}

func (w *opsWiring) onEvent(e signin.Event) { w.metrics.OnEvent(e) }

// serveStore is the store serve runs on (the type of build's st).
type serveStore interface {
	store.KV
	store.Taker
	store.Index
	store.Locker
	store.PubSub
}

// timed measures st's operations, when st is a full backend (memstore and
// redisstore are).
func (w *opsWiring) timed(st serveStore) serveStore {
	if b, ok := st.(ops.Backend); ok {
		return w.metrics.TimeStore(b)
	}
	return st
}

// wrap gives every gateway request an ID (kept from the client if well
// formed, passed upstream) and, with --access-log, one access line.
func (w *opsWiring) wrap(h http.Handler) http.Handler {
	var access *slog.Logger
	if w.accessLog {
		access = w.logger
	}
	return w.metrics.RequestID(h, access)
}

// start registers the collectors and, with --admin-listen, opens the
// operations listener.
func (w *opsWiring) start(a *app, c serveConfig, demo bool, cache *tokencache.Cache, tenants *tenant.Registry, sessions *session.Manager, getenv func(string) string) error {
	apps := registryApps(tenants)
	rows := apps.tenants() // the configuration does not change while serving
	list := func() []ops.Tenant { return rows }
	w.metrics.TokenCache(cache)
	w.metrics.Sessions(sessions, list)
	if c.adminListen == "" {
		return nil
	}
	token, err := adminToken(c.ops, getenv)
	if err != nil {
		return err
	}
	role := c.ops.role
	if demo && role == "" && token == "" {
		role = "Tasks.Approver"
	}
	public, _ := url.Parse(c.publicURL)
	h, err := ops.New(ops.Options{Sessions: sessions, Tenants: list, Owner: apps.owner, Token: token, Role: role, Refreshes: w.refreshes,
		Gatherer: w.metrics.Gatherer(), SignInURL: c.publicURL + "/.auth/login/aad?post_login_redirect_uri=/", Logger: w.logger})
	if err != nil {
		return fmt.Errorf("--admin-listen: %w", err)
	}
	addr := c.adminListen
	if strings.HasPrefix(addr, ":") {
		addr = "127.0.0.1" + addr // loopback unless a host is named
	}
	if w.ln, err = net.Listen("tcp", addr); err != nil {
		return fmt.Errorf("--admin-listen %s: %w", c.adminListen, err)
	}
	a.closers = append(a.closers, func() { w.ln.Close() })
	host, port, _ := net.SplitHostPort(w.ln.Addr().String())
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() && public != nil && isLoopbackName(public.Hostname()) {
		// The same host name as the gateway, so the browser sends the
		// session cookie here too: cookies ignore ports.
		host = public.Hostname()
	}
	w.url = "http://" + net.JoinHostPort(host, port)
	if ip := net.ParseIP(strings.Trim(host, "[]")); ip != nil && !ip.IsLoopback() {
		w.logger.Warn("tenantgate serve: the operations listener is not on loopback: keep it off the internet", slog.String("addr", w.ln.Addr().String()))
	}
	w.srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(w.logger.Handler(), slog.LevelWarn)}
	a.closers = append(a.closers, func() { w.srv.Close() })
	return nil
}

func isLoopbackName(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// adminToken reads the token from --admin-token-file, else the flag or
// TENANTGATE_ADMIN_TOKEN.
func adminToken(o opsConfig, getenv func(string) string) (string, error) {
	tok := o.token
	if o.tokenFile != "" {
		b, err := os.ReadFile(o.tokenFile)
		if err != nil {
			return "", fmt.Errorf("--admin-token-file: %w", err)
		}
		tok = strings.TrimSpace(string(b))
	}
	if tok != "" && len(tok) < 16 {
		return "", errors.New("--admin-token-file / TENANTGATE_ADMIN_TOKEN: the admin token must be at least 16 characters; make one with: tenantgate keys")
	}
	return tok, nil
}

// serve starts the operations listener, if any, and prints its URL.
func (w *opsWiring) serve(stdout io.Writer) {
	if w.srv == nil {
		return
	}
	go func() { _ = w.srv.Serve(w.ln) }()
	w.logger.Info("tenantgate serve: operations listener", slog.String("url", w.url))
	fmt.Fprintf(stdout, "tenantgate: admin %s\n", w.url)
}

// signOut is a client's SignOut without options, as ops calls it.
func signOut(cl *tokencache.Client) func(ctx context.Context, homeAccountID string) error {
	return func(ctx context.Context, homeAccountID string) error { return cl.SignOut(ctx, homeAccountID) }
}
