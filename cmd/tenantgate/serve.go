package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
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

	"github.com/tenantgate/tenantgate/gateway"
	"github.com/tenantgate/tenantgate/seal"
	"github.com/tenantgate/tenantgate/session"
	"github.com/tenantgate/tenantgate/signin"
	"github.com/tenantgate/tenantgate/store"
	"github.com/tenantgate/tenantgate/store/memstore"
	"github.com/tenantgate/tenantgate/store/redisstore"
	"github.com/tenantgate/tenantgate/tenant"
	"github.com/tenantgate/tenantgate/tokencache"
)

// serveConfig is tenantgate serve's settings (see newServeFlags).
type serveConfig struct {
	listen, publicURL, upstream, tenants, redisURL, keys, caFile string
	adminListen, defaultTenant, replica, configFile              string
	passAccessToken, exposeTokens, check, forwardAuth            bool
	allowAnonymous, allowedReturn, trustedProxies                listFlag
	shutdownTimeout                                              time.Duration
	memoryLimit                                                  memoryLimit
	maxAuthAge                                                   time.Duration
	ops                                                          opsConfig // ops: admin.go
}

func newServeFlags(c *serveConfig, stderr io.Writer) *settings {
	fs := flag.NewFlagSet("tenantgate serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8080", "`addr` to serve on")
	fs.StringVar(&c.publicURL, "public-url", "", "the `URL` browsers use; redirect URIs and cookie attributes derive from it (default http://localhost:PORT of --listen)")
	fs.StringVar(&c.upstream, "upstream", "", "the app to proxy to, e.g. http://127.0.0.1:3000 (absent: the built-in demo app)")
	fs.StringVar(&c.tenants, "tenants", "", "the tenant `file` of docs/configuration.md (absent: demo mode with an embedded dev identity provider)")
	fs.StringVar(&c.redisURL, "redis-url", "", "redis://, rediss:// (Azure Cache for Redis: rediss://:KEY@NAME.redis.cache.windows.net:6380), with ?addr= for Cluster seeds or Sentinels and ?master_set= for Sentinel (absent: in-process memstore, one replica only)")
	fs.StringVar(&c.keys, "keys", "", "the seal keyring `file` (id:base64 keys, first seals); required with Redis so that replicas share it; generated in demo mode")
	fs.StringVar(&c.caFile, "ca-file", "", "extra CA certificates (PEM `file`) to trust for the identity provider, e.g. devidp's")
	fs.BoolVar(&c.passAccessToken, "pass-access-token", false, "send the upstream Authorization: Bearer and X-MS-TOKEN-AAD-ACCESS-TOKEN (+ -EXPIRES-ON) for the tenant's scopes, refreshed when due (on in demo mode)")
	fs.BoolVar(&c.forwardAuth, "forward-auth", false, "serve /.auth/verify for a proxy's auth subrequest (nginx auth_request, Traefik forwardAuth, Caddy forward_auth); off, it is 404, since its answer carries the access token (docs/forward-auth.md)")
	fs.Var(&c.allowAnonymous, "allow-anonymous", "path `prefix` served without sign-in, matched by whole segments (/public covers /public/x, not /publicity), repeatable (identity headers still stripped)")
	fs.Var(&c.allowedReturn, "allowed-return-origin", "absolute `origin` (https://app.example) that post_login_redirect_uri and forward-auth's return URL may name, repeatable")
	fs.Var(&c.trustedProxies, "trusted-proxies", "`CIDR`s (or addresses) of the proxies in front (the ingress), comma-separated or repeated: their X-Forwarded-For is kept and extended, and the client IP is the first untrusted address from the right (default none: the peer's address)")
	fs.StringVar(&c.defaultTenant, "default-tenant", "", "the tenant `key` /.auth/login/aad signs in with (default: the only one, else a chooser page)")
	fs.BoolVar(&c.exposeTokens, "expose-tokens", false, "include the access and ID tokens in /.auth/me, as Easy Auth's token store does (never the refresh token)")
	fs.StringVar(&c.adminListen, "admin-listen", "", "`addr` of the operations listener (loopback by default; see docs/operations.md)")
	c.ops.addFlags(fs) // ops: admin.go
	fs.StringVar(&c.replica, "replica", "", "this replica's `name` in session records and logs (default: the host name)")
	fs.DurationVar(&c.maxAuthAge, "max-auth-age", 0, "the longest `age` of the user's authentication at the IdP that a sign-in accepts, e.g. 12h: sent as max_age, checked against the ID token's auth_time, the user asked to authenticate again when older (default 0: no bound but the session's absolute timeout)")
	fs.Var(&c.memoryLimit, "memory-limit", "Go's soft memory `limit`: auto (default) follows the caches, leaving the collector slack only for what is not cache; a size (512MiB, 1GiB) fixes it; off leaves Go's default (GOMEMLIMIT in the environment wins; see docs/deploy.md)")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 25*time.Second, "how long SIGTERM waits for requests in flight (Container Apps gives 30s)")
	fs.BoolVar(&c.check, "check", false, "load and check everything (tenants, credentials, IdP metadata, Redis, keys), print what is wrong, exit non-zero if anything is")
	fs.StringVar(&c.configFile, "config", "", "YAML `file` of settings named like the flags (redis: {url: …} or redis-url: …)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: tenantgate serve [flags]

Serves an app (--upstream) behind Entra ID sign-in on Easy Auth's routes
(/.auth/login/{tenant}, /.auth/logout, /.auth/me, /.auth/refresh), with Easy
Auth's identity headers, and forward-auth at /.auth/verify (--forward-auth). With no flags it
runs the whole system on embedded defaults (demo mode).

Every flag can also be set by the environment (TENANTGATE_ and the flag in
upper snake case: --redis-url is TENANTGATE_REDIS_URL) or by the --config
file (redis: {url: ...}); a flag wins over the environment, which wins over
the file.

flags:
`)
		fs.PrintDefaults()
	}
	return &settings{fs: fs, cmdlineOnly: []string{"config", "check"}}
}

// runServe is tenantgate serve.
func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var c serveConfig
	s := newServeFlags(&c, stderr)
	if err := s.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if c.configFile == "" {
		c.configFile = getenv("TENANTGATE_CONFIG")
	}
	if err := s.resolve(c.configFile, getenv); err != nil {
		fmt.Fprintf(stderr, "tenantgate serve: %v\n", err)
		return 2
	}
	logger := slog.New(slog.NewJSONHandler(stderr, nil))
	a, err := build(ctx, c, getenv, logger)
	if err != nil {
		fmt.Fprintf(stderr, "tenantgate serve: %v\n", err)
		return 1
	}
	defer a.close()
	if c.check {
		fmt.Fprintf(stdout, "tenantgate serve --check: ok: %s\n", a.summary)
		return 0
	}
	return a.serve(ctx, c, stdout, logger)
}

// app is a built gateway and what must be closed after it.
type app struct {
	handler http.Handler
	ready   func(ctx context.Context) error
	closers []func()
	summary string
	ln      net.Listener
	public  string
	cached  func() int64 // bytes the caches hold (memlimit.go)
	ops     *opsWiring   // ops: admin.go
}

func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
}

// build loads and checks everything; a failure names what to fix.
func build(ctx context.Context, c serveConfig, getenv func(string) string, logger *slog.Logger) (_ *app, err error) {
	a := &app{}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	if c.replica == "" {
		c.replica, _ = os.Hostname()
	}
	if c.publicURL != "" {
		// The routes (/.auth/…, the app's paths) are served at the root;
		// a path would give redirect URIs and cookies that never match.
		u, err := url.Parse(c.publicURL)
		if err != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("--public-url %q: must be scheme://host[:port] without a path: tenantgate serves its routes at the root (give it its own host name, or let the proxy in front strip the prefix)", c.publicURL)
		}
	}
	a.ln, err = net.Listen("tcp", c.listen)
	if err != nil {
		return nil, fmt.Errorf("--listen %s: %w", c.listen, err)
	}
	a.closers = append(a.closers, func() { a.ln.Close() })
	if c.publicURL == "" {
		_, port, _ := net.SplitHostPort(a.ln.Addr().String())
		c.publicURL = "http://localhost:" + port
	}
	a.public = c.publicURL

	hc, err := idpClient(c.caFile)
	if err != nil {
		return nil, err
	}
	var cfg tenant.Config
	demo := c.tenants == ""
	if demo {
		d, err := startDemoIdP(ctx, logger)
		if err != nil {
			return nil, fmt.Errorf("demo mode: %w", err)
		}
		a.closers = append(a.closers, d.close)
		cfg, hc = d.config(), d.client
		getenv = d.getenv(getenv)
		c.passAccessToken = true
	} else if cfg, err = tenant.Load(c.tenants); err != nil {
		return nil, fmt.Errorf("--tenants: %w", err)
	}

	var st interface {
		store.KV
		store.Taker
		store.Index
		store.Locker
		store.PubSub
	}
	storeDesc := "memstore (in process: one replica only; set --redis-url to share sessions between replicas)"
	l1Bytes := func() int64 { return 0 } // memstore holds the data itself: not a cache
	if c.redisURL == "" {
		m := memstore.New(memstore.Options{})
		a.closers = append(a.closers, func() { m.Close() })
		st = m
	} else {
		r, err := redisstore.New(ctx, redisstore.Options{URL: c.redisURL, Logger: logger, ClientName: "tenantgate-" + clientNameSafe(c.replica)})
		if err != nil {
			return nil, fmt.Errorf("--redis-url: %w", err)
		}
		a.closers = append(a.closers, func() {
			// One line of the L1's size and hit rate at the end, for capacity
			// planning and the load harness (docs/performance.md); live
			// figures belong to the ops metrics.
			st := r.Stats()
			logger.Info("tenantgate serve: store at shutdown", slog.String("l1_mode", string(st.Mode)),
				slog.Int("l1_entries", st.L1Entries), slog.Int64("l1_bytes", st.L1Bytes),
				slog.Uint64("l1_hits", st.L1Hits), slog.Uint64("l1_misses", st.L1Misses))
			r.Close()
		})
		st = r
		storeDesc = "redis (L1 " + string(r.Mode()) + ")"
		l1Bytes = func() int64 { return r.Stats().L1Bytes }
	}
	keys, err := loadKeys(c.keys, c.redisURL != "")
	if err != nil {
		return nil, err
	}

	a.ops = newOpsWiring(c, st, hc, logger) // ops: metrics, request IDs, the IdP client measured
	hc = a.ops.idpClient                    // ops
	st = a.ops.timed(st)                    // ops: store latency
	cache := tokencache.New(st, keys, tokencache.Options{Logger: logger})
	// Closing the cache flushes its write-behind: the last fresh tokens.
	a.closers = append(a.closers, func() { cache.Close() })
	tenants, err := tenant.Open(ctx, cfg, cache, tenant.Options{HTTPClient: hc, Getenv: getenv, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("--tenants: %w", err)
	}
	a.closers = append(a.closers, func() { tenants.Close() })
	trusted, err := gateway.ParseTrustedProxies(c.trustedProxies)
	if err != nil {
		return nil, fmt.Errorf("--trusted-proxies: %w", err)
	}
	sessions, err := session.New(st, keys, session.Options{PublicURL: c.publicURL, Replica: c.replica, Logger: logger,
		ClientIP: gateway.ClientIP(trusted)})
	if err != nil {
		return nil, fmt.Errorf("--public-url: %w", err)
	}
	if c.maxAuthAge < 0 || c.maxAuthAge%time.Second != 0 {
		return nil, fmt.Errorf("--max-auth-age %v: must be a positive number of whole seconds, e.g. 12h (0: no bound)", c.maxAuthAge)
	}
	a.cached = func() int64 { return l1Bytes() + cache.Stats().PoolBytes + sessions.Stats().DecodedBytes }
	auth, err := signin.New(signin.Options{
		PublicURL: c.publicURL, Tenants: tenants, Sessions: sessions, Store: st, Sealer: keys,
		DefaultTenant: c.defaultTenant, AllowedReturnOrigins: c.allowedReturn, HTTPClient: hc,
		ExposeTokens: c.exposeTokens, MaxAuthAge: c.maxAuthAge, Logger: logger,
		OnEvent: a.ops.onEvent, // ops
	})
	if err != nil {
		return nil, err
	}
	upstream := c.upstream
	if upstream == "" {
		if upstream, err = startDemoApp(a, tenants); err != nil {
			return nil, err
		}
	}
	up, err := url.Parse(upstream)
	if err != nil {
		return nil, fmt.Errorf("--upstream %q: %w", upstream, err)
	}
	public, err := url.Parse(c.publicURL)
	if err != nil {
		return nil, fmt.Errorf("--public-url: %w", err)
	}
	var hosts []string
	for _, o := range c.allowedReturn {
		if u, err := url.Parse(o); err == nil && u.Host != "" {
			hosts = append(hosts, u.Host)
		}
	}
	gw, err := gateway.New(gateway.Options{Upstream: up, Auth: auth, PassAccessToken: c.passAccessToken,
		ForwardAuth: c.forwardAuth, PublicURL: public, TrustedProxies: trusted, AllowAnonymous: c.allowAnonymous, AllowedRedirectHosts: hosts, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("--upstream: %w", err)
	}
	a.ready = func(ctx context.Context) error {
		if _, _, err := st.Get(ctx, "tg1:readyz"); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return nil
	}
	if err := a.ready(ctx); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	var keysOf []string
	for _, t := range tenants.Tenants() {
		keysOf = append(keysOf, t.Key)
	}
	if _, ok := tenants.Organizations(); ok {
		keysOf = append(keysOf, tenant.OrganizationsKey)
	}
	a.summary = fmt.Sprintf("store %s; tenants %s; public URL %s; upstream %s", storeDesc, strings.Join(keysOf, ", "), c.publicURL, upstream)
	if demo {
		a.summary = "demo mode; " + a.summary
	}
	if err := a.ops.start(a, c, demo, cache, tenants, sessions, getenv); err != nil { // ops: the admin listener
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := a.ready(ctx); err != nil {
			http.Error(w, "store unavailable", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n")
	})
	mux.Handle("/", gw)
	a.handler = a.ops.wrap(mux) // ops: request IDs, access lines, durations
	return a, nil
}

// serve runs until ctx ends (SIGTERM, Ctrl-C): then it stops accepting,
// lets requests in flight finish up to the shutdown timeout, and returns
// 0; the caller's close flushes the token cache's write-behind.
func (a *app) serve(ctx context.Context, c serveConfig, stdout io.Writer, logger *slog.Logger) int {
	srv := &http.Server{Handler: a.handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	governMemory(ctx, c.memoryLimit, a.cached, os.Getenv, logger) // the runtime reads the real environment
	logger.Info("tenantgate serve: started", slog.String("config", a.summary))
	a.ops.serve(stdout) // ops: before "open", so whoever waits for that line has both
	fmt.Fprintf(stdout, "tenantgate: open %s\n", a.public)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(a.ln) }()
	select {
	case err := <-done:
		logger.Error("tenantgate serve: stopped", slog.Any("err", err))
		return 1
	case <-ctx.Done():
	}
	logger.Info("tenantgate serve: shutting down", slog.Duration("timeout", c.shutdownTimeout))
	shutdown, cancel := context.WithTimeout(context.Background(), c.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		logger.Warn("tenantgate serve: requests still in flight at the deadline", slog.Any("err", err))
	}
	<-done
	return 0
}

// idpClient is the HTTP client of MSAL and OpenID discovery: the system's
// roots plus caFile's certificates.
func idpClient(caFile string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s: no PEM certificate in it", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, nil
}

// loadKeys reads the keyring, or (memstore only) makes one for this process.
func loadKeys(path string, shared bool) (*seal.Keyring, error) {
	if path != "" {
		k, err := seal.KeysFromFile(path)
		if err != nil {
			return nil, fmt.Errorf("--keys: %w", err)
		}
		return k, nil
	}
	if shared {
		return nil, errors.New("--keys: required with --redis-url, so that every replica opens what the others sealed; make one with: tenantgate keys > keys.txt")
	}
	k, err := seal.GenerateKey("local")
	if err != nil {
		return nil, err
	}
	return seal.NewKeyring(k)
}

// clientNameSafe makes s a Redis client name (CLIENT LIST shows which
// replica holds which connection): no spaces or special characters.
func clientNameSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' {
			return r
		}
		return '_'
	}, s)
}
