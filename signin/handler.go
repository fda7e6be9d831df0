package signin

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tenantgate/tenantgate/session"
	"github.com/tenantgate/tenantgate/tenant"
)

// Tenants is what sign-in needs of the tenant registry; *tenant.Registry
// implements it.
type Tenants interface {
	// Tenant returns the tenant configured under key.
	Tenant(key string) (*tenant.Tenant, bool)
	// Tenants lists the configured tenants, for the chooser page.
	Tenants() []*tenant.Tenant
	// Organizations is the multi-tenant app, if configured.
	Organizations() (*tenant.Tenant, bool)
	// ForTenantID returns the tenant of a signed-in user's tid, or an
	// error wrapping tenant.ErrTenantNotAllowed.
	ForTenantID(tid string) (*tenant.Tenant, error)
	// OrganizationsFor returns the multi-tenant app's client for tid (a
	// session signed in through it), or an error wrapping
	// tenant.ErrTenantNotAllowed.
	OrganizationsFor(tid string) (*tenant.Tenant, error)
}

// Sealer seals pending sign-ins (they hold the PKCE verifier and the
// nonce), bound to their key name; seal.Keyring implements it.
type Sealer interface {
	Seal(plaintext []byte, name string) ([]byte, error)
	Open(sealed []byte, name string) ([]byte, error)
}

// Options configure a Handler.
type Options struct {
	// PublicURL is the URL browsers use, e.g. https://app.example or
	// http://localhost:8080. The redirect URI registered with every
	// tenant's app is PublicURL + "/.auth/login/aad/callback".
	PublicURL string
	Tenants   Tenants
	Sessions  *session.Manager
	// Store keeps pending sign-ins, take-once, for ten minutes.
	Store  pendingKV
	Sealer Sealer
	// DefaultTenant is the tenant key /.auth/login/aad signs in with.
	// Empty: the only tenant if there is one, else a chooser page.
	DefaultTenant string
	// AllowedReturnOrigins are absolute origins (https://app.example)
	// that post_login_redirect_uri and post_logout_redirect_uri may name;
	// anything else must be a relative path on this origin.
	AllowedReturnOrigins []string
	// HTTPClient fetches the IdP's discovery documents and keys (it must
	// trust the IdP). Default http.DefaultClient.
	HTTPClient *http.Client
	// ExposeTokens makes /.auth/me include the access and ID tokens, as
	// Easy Auth's token store does. The refresh token is never exposed.
	ExposeTokens bool
	// SkipTokenCheck stops Require (and Authenticate without a token)
	// from checking that the session's sign-in can still be renewed. By
	// default they ask for the session's access token once it is due and
	// at least once a minute (see tokenRecheck), so that a revoked refresh
	// token ends the session at the first refresh (natural logout).
	SkipTokenCheck bool
	// Prefix starts the store keys of pending sign-ins. Default "tg1:".
	Prefix string
	// MaxAuthAge, if positive, is how long ago a user may have last
	// authenticated at the IdP for a sign-in to complete (ASVS 3.6.1):
	// the authorize request carries max_age, and an ID token whose
	// auth_time is older (or absent), as a single sign-on of an IdP that
	// ignores max_age gives, sends the user to authenticate once more with
	// prompt=login; still older, the sign-in is refused. Whole seconds, at
	// least one. Zero: no bound but the session's own expiry.
	MaxAuthAge time.Duration
	// RetryAfter is the Retry-After of 503 answers. Default 5s.
	RetryAfter time.Duration
	Logger     *slog.Logger
	Now        func() time.Time
	// OnEvent, if set, is told of sign-ins, sign-outs and natural logouts
	// (for metrics and the ops page's live view). It is called on the
	// request's goroutine and must not block.
	OnEvent func(Event)
}

// Handler serves the /.auth/ routes. It is safe for concurrent use.
type Handler struct {
	o        Options
	public   *url.URL
	redirect string // the one redirect URI of every tenant
	secure   bool
	mux      *http.ServeMux
	verify   *verifiers
}

// Route paths.
const (
	loginPrefix  = "/.auth/login/"
	CallbackPath = "/.auth/login/aad/callback"
	LogoutPath   = "/.auth/logout"
)

// New returns a Handler.
func New(o Options) (*Handler, error) {
	if o.Tenants == nil || o.Sessions == nil || o.Store == nil || o.Sealer == nil {
		return nil, errors.New("signin: Options need Tenants, Sessions, Store and Sealer")
	}
	u, err := url.Parse(o.PublicURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("signin: public URL %q must be https://host[:port] (or http://localhost:port for development)", o.PublicURL)
	}
	u.Path, u.RawQuery, u.Fragment = strings.TrimRight(u.Path, "/"), "", ""
	if o.HTTPClient == nil {
		o.HTTPClient = http.DefaultClient
	}
	if o.Prefix == "" {
		o.Prefix = "tg1:"
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxAuthAge < 0 || (o.MaxAuthAge > 0 && o.MaxAuthAge%time.Second != 0) {
		return nil, fmt.Errorf("signin: MaxAuthAge %v must be zero or whole seconds (max_age is in seconds)", o.MaxAuthAge)
	}
	if o.DefaultTenant != "" {
		if _, ok := o.Tenants.Tenant(o.DefaultTenant); !ok && o.DefaultTenant != tenant.OrganizationsKey {
			return nil, fmt.Errorf("signin: default tenant %q is not configured", o.DefaultTenant)
		}
	}
	h := &Handler{o: o, public: u, redirect: u.String() + CallbackPath, secure: u.Scheme == "https", verify: newVerifiers(o.HTTPClient, o.Now)}
	m := http.NewServeMux()
	m.HandleFunc("GET "+CallbackPath, h.serveCallback)
	m.HandleFunc("POST "+CallbackPath, h.serveCallback)
	m.HandleFunc("GET /.auth/login/{tenant}", h.serveLogin)
	m.HandleFunc("GET "+LogoutPath, h.serveLogout)
	m.HandleFunc("POST "+LogoutPath, h.serveLogout)
	m.HandleFunc("GET /.auth/logout/complete", h.serveLoggedOut)
	m.HandleFunc("GET /.auth/logout/done", h.serveLoggedOut)
	m.HandleFunc("GET /.auth/me", h.serveMe)
	m.HandleFunc("GET /.auth/refresh", h.serveRefresh)
	m.HandleFunc("POST /.auth/refresh", h.serveRefresh)
	h.mux = m
	return h, nil
}

// ServeHTTP serves the /.auth/ routes; anything else is 404.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	h.mux.ServeHTTP(w, r)
}

// CookieNames are the cookies tenantgate itself sets (the session's and
// the sign-in binding's): a proxy in front of an app removes them from
// what it forwards, since the app has no use for them and must never
// hold a session cookie.
func (h *Handler) CookieNames() []string {
	if h.o.Sessions == nil {
		return nil
	}
	return []string{h.o.Sessions.CookieName(), h.bindingCookie()}
}

// RedirectURI is the callback URL to register with every tenant's app.
func (h *Handler) RedirectURI() string { return h.redirect }

// unavailable answers 503 for a transient failure, keeping the session.
func (h *Handler) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	h.o.Logger.Warn("signin: temporarily unavailable", slog.String("path", r.URL.Path), slog.Any("err", err))
	w.Header().Set("Retry-After", fmt.Sprint(int(h.o.RetryAfter.Seconds())))
	page(w, http.StatusServiceUnavailable, "Temporarily unavailable", "The sign-in service cannot be reached right now. You are still signed in; try again in a few seconds.")
}

// fail answers a request that cannot be served, with a message the user can act on.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var te *TransientError
	if errors.As(err, &te) {
		h.unavailable(w, r, err)
		return
	}
	h.o.Logger.Info("signin: refused", slog.String("path", r.URL.Path), slog.Any("err", err))
	status := http.StatusBadRequest
	switch {
	case errors.Is(err, tenant.ErrTenantNotAllowed), errors.Is(err, errWrongBrowser):
		status = http.StatusForbidden
	case errors.Is(err, errUnknownTenant):
		status = http.StatusNotFound
	}
	page(w, status, "Sign-in failed", strings.TrimPrefix(err.Error(), "signin: "))
}
