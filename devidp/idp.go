package devidp

import (
	"context"
	"crypto/rsa"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Options configure an IdP. The zero value serves the demo directory with
// Entra's default lifetimes and no test controls over HTTP.
type Options struct {
	// Directory to serve; nil serves Demo.
	Directory *Directory
	// Now is the IdP's clock; nil is time.Now. Advance adds an offset to it,
	// so tests move one IdP's time without touching any other.
	Now func() time.Time
	// NewKey makes the RSA keys for tenant signing keys (and the demo app's
	// certificate); nil is GenerateKey. Tests pass a cache, since RSA key
	// generation is slow under the race detector.
	NewKey func() (*rsa.PrivateKey, error)
	// Controls serves the test controls at /_devidp/... . They change what
	// the IdP does for every client, so they are off unless asked for.
	Controls bool
	// Lifetimes of what the IdP issues; zero fields take Entra's defaults.
	Lifetimes Lifetimes
	// StrictRefreshRotation makes a refresh token single-use: presenting a
	// used one again revokes every refresh token descended from the same
	// sign-in (reuse detection). Entra itself keeps old refresh tokens
	// valid, which is the default.
	StrictRefreshRotation bool
	// BrowserURL, if set, is where browsers reach the IdP's pages (authorize
	// and logout), e.g. http://127.0.0.1:8400 on loopback, and discovery
	// advertises those endpoints there; discovery, keys and the token
	// endpoint stay at the URL the client used (HTTPS for MSAL). So a
	// browser never needs the dev CA: the gateway's demo mode serves the
	// same IdP on both.
	BrowserURL string
	// OnClientAssertion, if set, is called with every client assertion a
	// token request carries, before anything else is checked: for tests that must
	// know the values a client sent, such as a check that no log line
	// holds one. It is called on the request's goroutine.
	OnClientAssertion func(assertion string)
	// IgnoreMaxAge makes the IdP ignore the authorize request's max_age,
	// as an IdP that does not honour it, so that a client's own auth_time
	// check can be tested. By default a silent sign-in (prompt=none) whose
	// user authenticated longer than max_age ago fails with login_required.
	IgnoreMaxAge bool
	// ResponseIss adds iss, the issuer, to every authorization response
	// that names a tenant, and advertises
	// authorization_response_iss_parameter_supported (RFC 9207). Entra
	// does neither. Not with BrowserURL: the issuer is the URL MSAL reaches,
	// which an authorize request on the browser's URL does not know.
	ResponseIss bool
}

// Lifetimes of tokens and codes. RefreshIn, when set, is sent as refresh_in
// so that MSAL refreshes proactively before expiry.
type Lifetimes struct {
	AccessToken  time.Duration `json:"accessToken"`
	RefreshToken time.Duration `json:"refreshToken"`
	RefreshIn    time.Duration `json:"refreshIn"`
	AuthCode     time.Duration `json:"authCode"`
	IDToken      time.Duration `json:"idToken"`
}

func (l Lifetimes) withDefaults() Lifetimes {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&l.AccessToken, time.Hour)
	def(&l.RefreshToken, 90*24*time.Hour)
	def(&l.AuthCode, 10*time.Minute)
	def(&l.IDToken, time.Hour)
	return l
}

// IdP is an Entra ID–compatible identity provider. It is an http.Handler and
// safe for concurrent use; its test controls (Advance, RotateKeys, ...) may
// be called while it serves.
type IdP struct {
	dir      *directory
	clock    func() time.Time
	newKey   func() (*rsa.PrivateKey, error)
	mux      *http.ServeMux
	controls bool
	browser  string // Options.BrowserURL, without a trailing slash
	onAssert func(string)

	mu        sync.Mutex
	offset    time.Duration
	life      Lifetimes
	strict    bool
	noMaxAge  bool
	sendIss   bool
	keys      map[string][]*signingKey // by tenant ID, newest (the signing one) first
	codes     map[string]*authCode     // by hash of the code
	refresh   map[string]*refreshGrant // by hash of the token
	jtis      map[string]time.Time     // client assertion IDs seen, until they expire
	sessions  map[string]*browserSession
	queue     []QueuedError
	outageEnd time.Time
	latency   time.Duration
	log       []Request
}

// New builds an IdP, generating a signing key for every tenant.
func New(opts Options) (*IdP, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.NewKey == nil {
		opts.NewKey = GenerateKey
	}
	if opts.ResponseIss && opts.BrowserURL != "" {
		return nil, errResponseIssWithBrowserURL
	}
	var src Directory
	if opts.Directory != nil {
		src = *opts.Directory
	} else {
		var err error
		if src, err = Demo(opts.NewKey); err != nil {
			return nil, fmt.Errorf("devidp: demo directory: %w", err)
		}
	}
	dir, err := compile(cloneDirectory(src))
	if err != nil {
		return nil, err
	}
	p := &IdP{
		dir:      dir,
		clock:    opts.Now,
		newKey:   opts.NewKey,
		controls: opts.Controls,
		life:     opts.Lifetimes.withDefaults(),
		strict:   opts.StrictRefreshRotation,
		noMaxAge: opts.IgnoreMaxAge,
		sendIss:  opts.ResponseIss,
		browser:  strings.TrimRight(opts.BrowserURL, "/"),
		onAssert: opts.OnClientAssertion,
		keys:     map[string][]*signingKey{},
		codes:    map[string]*authCode{},
		refresh:  map[string]*refreshGrant{},
		jtis:     map[string]time.Time{},
		sessions: map[string]*browserSession{},
	}
	for _, t := range dir.src.Tenants {
		if err := p.RotateKeys(t.Name); err != nil {
			return nil, err
		}
	}
	p.routes()
	return p, nil
}

func (p *IdP) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", p.serveConfiguration)
	m.HandleFunc("GET /{tenant}/discovery/v2.0/keys", p.serveKeys)
	m.HandleFunc("GET /common/discovery/instance", p.serveInstanceDiscovery)
	m.HandleFunc("/{tenant}/oauth2/v2.0/authorize", p.serveAuthorize)
	m.HandleFunc("POST /{tenant}/oauth2/v2.0/token", p.serveToken)
	m.HandleFunc("/{tenant}/oauth2/v2.0/logout", p.serveLogout)
	m.HandleFunc("GET /{$}", p.serveIndex)
	if p.controls {
		p.controlRoutes(m)
	}
	p.mux = m
}

// maxBody bounds every request body: the largest legitimate one, a token
// request with a client assertion and a user assertion, is a few KB.
const maxBody = 64 << 10

// maxLog bounds the request log of a long-running IdP; when full, the
// older half is dropped.
const maxLog = 50000

// ServeHTTP serves Entra's v2.0 endpoints, and the test controls when enabled.
func (p *IdP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	endpoint := endpointOf(r.URL.Path)
	if endpoint == "control" {
		p.mux.ServeHTTP(w, r)
		return
	}
	rec := &Request{Time: p.Now(), Method: r.Method, Path: r.URL.Path, Endpoint: endpoint}
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	r = r.WithContext(context.WithValue(r.Context(), recordKey{}, rec))
	defer func() {
		rec.Status = sw.status
		p.mu.Lock()
		if len(p.log) >= maxLog {
			p.log = append(p.log[:0], p.log[maxLog/2:]...)
		}
		p.log = append(p.log, *rec)
		p.mu.Unlock()
	}()

	p.mu.Lock()
	latency, outage := p.latency, p.now().Before(p.outageEnd)
	p.mu.Unlock()
	if latency > 0 {
		select {
		case <-time.After(latency):
		case <-r.Context().Done():
			return
		}
	}
	if outage {
		p.fail(sw, r, fail(90033, "devidp: outage window (test control)."))
		return
	}
	if endpoint != "token" && endpoint != "" {
		if e := p.takeQueued(endpoint, ""); e != nil {
			p.fail(sw, r, e)
			return
		}
	}
	p.mux.ServeHTTP(sw, r)
}

// fail writes e and notes its code in the request log.
func (p *IdP) fail(w http.ResponseWriter, r *http.Request, e *entraError) {
	if rec, ok := r.Context().Value(recordKey{}).(*Request); ok {
		rec.Error = fmt.Sprintf("AADSTS%d", e.aadsts)
	}
	e.write(w, r, p.Now())
}

// endpointOf names the endpoint a path addresses, for the request log,
// queued errors and counts.
func endpointOf(path string) string {
	switch {
	case strings.HasPrefix(path, "/_devidp/"):
		return "control"
	case path == "/common/discovery/instance":
		return "instance-discovery"
	case strings.HasSuffix(path, "/.well-known/openid-configuration"):
		return "openid-configuration"
	case strings.HasSuffix(path, "/discovery/v2.0/keys"):
		return "keys"
	case strings.HasSuffix(path, "/oauth2/v2.0/authorize"):
		return "authorize"
	case strings.HasSuffix(path, "/oauth2/v2.0/token"):
		return "token"
	case strings.HasSuffix(path, "/oauth2/v2.0/logout"):
		return "logout"
	}
	return ""
}

// Now is the IdP's clock: Options.Now plus every Advance so far.
func (p *IdP) Now() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.now()
}

func (p *IdP) now() time.Time { return p.clock().Add(p.offset) }

// baseURL is the scheme and host the client used, so that issuers and
// endpoints match whatever name the client reached the IdP by (an
// httptest address, 127.0.0.1:PORT, {tenant}.ciamlogin.com).
func baseURL(r *http.Request) string {
	scheme := "https"
	if r.TLS == nil {
		scheme = "http"
	}
	return scheme + "://" + r.Host
}

func issuer(r *http.Request, tenantID string) string {
	return baseURL(r) + "/" + tenantID + "/v2.0"
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

type recordKey struct{}

// record is the log entry of the request being served, for handlers to fill in.
func record(r *http.Request) *Request {
	if rec, ok := r.Context().Value(recordKey{}).(*Request); ok {
		return rec
	}
	return &Request{}
}
