package signin

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tenantgate/tenantgate/session"
	"github.com/tenantgate/tenantgate/tenant"
	"github.com/tenantgate/tenantgate/tokencache"
)

var (
	errUnknownTenant = errors.New("signin: no tenant is configured under this name")
	errWrongBrowser  = errors.New("signin: this sign-in was started in another browser; start again here")
)

// maxScopes bounds the extra scopes a login URL may ask for.
const maxScopes = 16

// resolve maps a login route's {tenant} to a tenant: a key of the tenant
// file, "aad" for the default one, "organizations" for the multi-tenant
// app. choose reports that the user must pick one.
func (h *Handler) resolve(key string) (t *tenant.Tenant, choose bool, err error) {
	if key == "aad" {
		key = h.o.DefaultTenant
		if key == "" {
			all := h.o.Tenants.Tenants()
			_, org := h.o.Tenants.Organizations()
			switch {
			case len(all) == 1 && !org:
				return all[0], false, nil
			case len(all) == 0 && org:
				key = tenant.OrganizationsKey
			default:
				return nil, true, nil
			}
		}
	}
	if key == tenant.OrganizationsKey {
		if t, ok := h.o.Tenants.Organizations(); ok {
			return t, false, nil
		}
		return nil, false, errUnknownTenant
	}
	if t, ok := h.o.Tenants.Tenant(key); ok {
		return t, false, nil
	}
	return nil, false, errUnknownTenant
}

// serveLogin starts a sign-in: GET /.auth/login/{tenant}?post_login_redirect_uri=/path,
// with scope= for incremental consent and claims= for the IdP's claims
// challenge (Challenge adds both).
func (h *Handler) serveLogin(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ret := safeReturn(q.Get("post_login_redirect_uri"), h.o.AllowedReturnOrigins)
	t, choose, err := h.resolve(r.PathValue("tenant"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if choose {
		h.serveChooser(w, ret)
		return
	}
	scopes, err := loginScopes(t.Scopes, q.Get("scope"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	claims := q.Get("claims")
	if claims != "" {
		var ok bool
		if claims, ok = normalClaims(claims); !ok {
			h.fail(w, r, errors.New("signin: the claims parameter is refused: it must be a claims challenge of at most 4 KB, asking only nbf, acrs or capolids of access_token or id_token"))
			return
		}
	}
	p := pending{Tenant: tenantKey(t), Return: ret, Scopes: scopes, Claims: claims}
	// A user signed in to another tenant switches without a form when the
	// IdP's session allows it (a guest of that tenant): prompt=none with
	// their username as the hint, then the page if the IdP says no.
	if s, err := h.o.Sessions.Load(r.Context(), r); err == nil && s.TenantKey != p.Tenant && q.Get("prompt") == "" {
		p.Switch, p.Hint = true, s.Username
	} else if err != nil && !errors.Is(err, session.ErrNoSession) {
		h.unavailable(w, r, err)
		return
	}
	h.redirectToIdP(w, r, t, p)
}

// redirectToIdP stores p and sends the browser to t's authorize endpoint.
func (h *Handler) redirectToIdP(w http.ResponseWriter, r *http.Request, t *tenant.Tenant, p pending) {
	binding := h.binding(w, r)
	p.Binding = hashHex(binding)
	p.Verifier = randomToken(32)
	p.Nonce = randomToken(24)
	p.Created = h.o.Now()
	state, err := h.savePending(r.Context(), p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var opts []tokencache.Option
	if p.Claims != "" {
		// MSAL sends it as the claims parameter, merged with any client
		// capabilities, as Entra expects it.
		opts = append(opts, tokencache.WithClaims(p.Claims))
	}
	authURL, err := t.Client().AuthCodeURL(r.Context(), h.redirect, p.Scopes, opts...)
	if err != nil {
		h.fail(w, r, &TransientError{Err: fmt.Errorf("build the authorize URL of %s: %w", t.Key, err)})
		return
	}
	u, err := url.Parse(authURL)
	if err != nil {
		h.fail(w, r, &TransientError{Err: err})
		return
	}
	v := u.Query()
	// MSAL Go's AuthCodeURL sends only the resource scopes; Entra issues an
	// ID token and a refresh token only for a code whose request asked for
	// openid and offline_access.
	scope := strings.Fields(v.Get("scope"))
	for _, s := range []string{"openid", "profile", "offline_access"} {
		if !slices.Contains(scope, s) {
			scope = append(scope, s)
		}
	}
	v.Set("scope", strings.Join(scope, " "))
	v.Set("state", state)
	v.Set("nonce", p.Nonce)
	v.Set("code_challenge", pkceChallenge(p.Verifier))
	v.Set("code_challenge_method", "S256")
	v.Set("response_mode", "form_post")
	if p.Switch {
		v.Set("prompt", "none")
	}
	if p.Reauth {
		v.Set("prompt", "login")
	}
	if h.o.MaxAuthAge > 0 {
		v.Set("max_age", strconv.Itoa(int(h.o.MaxAuthAge/time.Second)))
	}
	if p.Hint != "" {
		v.Set("login_hint", p.Hint)
	}
	u.RawQuery = v.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// tenantKey is how a pending sign-in and a session name t.
func tenantKey(t *tenant.Tenant) string { return t.Key }

// loginScopes are the tenant's scopes plus those a login URL asks for
// (incremental consent), each a plain scope string.
func loginScopes(base []string, extra string) ([]string, error) {
	out := slices.Clone(base)
	for _, s := range strings.Fields(extra) {
		if len(out) >= maxScopes || len(s) > 256 || strings.ContainsAny(s, "\"<>\\") {
			return nil, errors.New("signin: the scope parameter is malformed: space-separated scopes, at most 16")
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// binding returns the browser's sign-in binding secret (the request's, or
// a new one) and sets its cookie with a fresh Max-Age. A pending sign-in holds its hash, so a state
// handed to another browser (login CSRF) does not complete there. The
// cookie is SameSite=Lax: it is not sent with the IdP's cross-site
// form_post, only with the same-site GET that the callback bounces to.
func (h *Handler) binding(w http.ResponseWriter, r *http.Request) string {
	v := randomToken(32)
	if c, err := r.Cookie(h.bindingCookie()); err == nil && len(c.Value) == 43 {
		// Kept, so that a sign-in started in another tab still completes,
		// but sent again: its Max-Age must cover this pending sign-in too,
		// not only the first one's ten minutes.
		v = c.Value
	}
	http.SetCookie(w, &http.Cookie{
		Name: h.bindingCookie(), Value: v, Path: "/", MaxAge: int(pendingTTL.Seconds()),
		HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteLaxMode,
	})
	return v
}

func (h *Handler) bindingCookie() string {
	if h.secure {
		return "__Host-tg_signin"
	}
	return "tg_signin"
}

func (h *Handler) serveChooser(w http.ResponseWriter, ret string) {
	var links []chooserLink
	for _, t := range h.o.Tenants.Tenants() {
		links = append(links, chooserLink{Name: t.Key, URL: loginPrefix + url.PathEscape(t.Key) + "?post_login_redirect_uri=" + url.QueryEscape(ret)})
	}
	if _, ok := h.o.Tenants.Organizations(); ok {
		links = append(links, chooserLink{Name: "Another organization", URL: loginPrefix + tenant.OrganizationsKey + "?post_login_redirect_uri=" + url.QueryEscape(ret)})
	}
	render(w, http.StatusOK, chooserTmpl, links)
}

type chooserLink struct{ Name, URL string }
