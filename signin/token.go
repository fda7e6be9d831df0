package signin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tenantgate/tenantgate/session"
	"github.com/tenantgate/tenantgate/tenant"
	"github.com/tenantgate/tenantgate/tokencache"
)

// Token is an access token for the signed-in user.
type Token struct {
	AccessToken string
	ExpiresOn   time.Time
	// IDToken is the raw ID token, for /.auth/me when tokens are exposed.
	IDToken string
}

// owner returns the tenant whose client serves s.
func (h *Handler) owner(s *session.Session) (*tenant.Tenant, error) {
	if s.TenantKey != tenant.OrganizationsKey {
		if t, ok := h.o.Tenants.Tenant(s.TenantKey); ok && t.TenantID == s.TenantID {
			return t, nil
		}
	}
	lookup := h.o.Tenants.ForTenantID
	if s.TenantKey == tenant.OrganizationsKey {
		// Signed in through the multi-tenant app: its client holds the
		// tokens, even when the tenant is also configured on its own.
		lookup = h.o.Tenants.OrganizationsFor
	}
	t, err := lookup(s.TenantID)
	if err != nil {
		return nil, fmt.Errorf("%w: the session's tenant is no longer served (%v)", ErrSignInRequired, err)
	}
	return t, nil
}

// Token returns the signed-in user's access token for scopes (nil: the
// tenant's configured scopes), from the shared cache, refreshed only when
// due. OpenID Connect's scopes (openid, profile, offline_access, email)
// name no resource and are left out; with no other scope there is no
// access token to return, and Token says so in a plain error. It returns session.ErrNoSession when the request is not signed in,
// ErrSignInRequired when the sign-in cannot be renewed (the session is
// then ended), *ConsentRequiredError for scopes without consent,
// *InteractionRequiredError when the IdP wants the user (MFA, Conditional
// Access) for scopes other than the tenant's own (the session stays), and
// *TransientError when the store or the IdP did not answer (the session is
// kept).
func (h *Handler) Token(ctx context.Context, r *http.Request, scopes []string) (Token, error) {
	s, err := h.o.Sessions.Load(ctx, r)
	if err != nil {
		if errors.Is(err, session.ErrNoSession) {
			return Token{}, err
		}
		return Token{}, &TransientError{Err: err}
	}
	return h.token(ctx, s, scopes)
}

func (h *Handler) token(ctx context.Context, s *session.Session, scopes []string) (Token, error) {
	t, err := h.owner(s)
	if err != nil {
		h.end(ctx, s, nil)
		return Token{}, err
	}
	own := resourceScopes(t)
	if scopes == nil {
		scopes = own
	} else {
		scopes = tokencache.ResourceScopes(scopes)
	}
	if len(scopes) == 0 {
		return Token{}, errNoResourceScope
	}
	res, err := t.Client().AcquireTokenSilent(ctx, s.HomeAccountID, scopes)
	if err = classify(err, scopes); err != nil {
		// The IdP wanting the user for the tenant's own scopes is a natural
		// logout: the session cannot have its token any more. For another
		// resource it says nothing about the session, which stays.
		var ie *InteractionRequiredError
		if errors.As(err, &ie) && slices.Equal(scopes, own) {
			err = &signInRequiredError{reason: ie.Reason, claims: ie.Claims}
		}
		if errors.Is(err, ErrSignInRequired) {
			h.end(ctx, s, t)
		}
		return Token{}, err
	}
	return Token{AccessToken: res.AccessToken, ExpiresOn: res.ExpiresOn, IDToken: res.IDToken.RawToken}, nil
}

// errNoResourceScope is Token's answer when no resource scope is asked
// for or configured: there is no access token to have.
var errNoResourceScope = errors.New("signin: no resource scope asked for and none configured for the tenant (openid, profile, offline_access and email come with the sign-in)")

// resourceScopes are the scopes of t's access token: its configured ones
// without OpenID Connect's, which come with every sign-in.
func resourceScopes(t *tenant.Tenant) []string { return tokencache.ResourceScopes(t.Scopes) }

// end ends s after a natural logout: its record, its index entries and its
// token partition. Failures are logged: the session is refused either way
// once its record is gone, and the partition's tokens no longer work.
func (h *Handler) end(ctx context.Context, s *session.Session, t *tenant.Tenant) {
	ctx = context.WithoutCancel(ctx)
	if err := h.o.Sessions.Revoke(ctx, s.Handle); err != nil {
		h.o.Logger.Warn("signin: ending a session", slog.String("session", s.Short()), slog.Any("err", err))
	}
	if t != nil {
		if err := t.Client().SignOut(ctx, s.HomeAccountID); err != nil {
			h.o.Logger.Warn("signin: deleting a session's tokens", slog.String("session", s.Short()), slog.Any("err", err))
		}
	}
	h.o.Logger.Info("signin: session ended: sign-in required", slog.String("session", s.Short()), slog.String("tid", s.TenantID))
	h.emit(Event{Kind: EventSessionEnded, Result: "sign_in_required", TenantKey: s.TenantKey, TenantID: s.TenantID, Session: s.Short()})
}

// Authenticate returns the request's session and, when the tenant has
// resource scopes and Options.SkipTokenCheck is off (or withToken asks for
// it), the user's access token for them. A tenant whose scopes are only
// OpenID Connect's (a sign-in-only app) has no access token to check or
// pass on: its sessions are authenticated by the session alone. Its errors are session.ErrNoSession,
// ErrSignInRequired (the session has been ended), *ConsentRequiredError
// and *TransientError; Challenge answers each as Easy Auth would.
func (h *Handler) Authenticate(r *http.Request, withToken bool) (*session.Session, Token, error) {
	ctx := r.Context()
	s, err := h.o.Sessions.Load(ctx, r)
	if err != nil {
		if errors.Is(err, session.ErrNoSession) {
			return nil, Token{}, err
		}
		return nil, Token{}, &TransientError{Err: err}
	}
	if !withToken && h.o.SkipTokenCheck {
		return s, Token{}, nil
	}
	var checked *tokenChecked
	if !withToken {
		checked = s.Derived(tokenCheckedKey{}, newTokenChecked).(*tokenChecked)
		if h.o.Now().UnixNano() < checked.until.Load() {
			return s, Token{}, nil
		}
	}
	t, err := h.owner(s)
	if err != nil {
		h.end(ctx, s, nil)
		return nil, Token{}, err
	}
	if len(resourceScopes(t)) == 0 {
		return s, Token{}, nil
	}
	tok, err := h.token(ctx, s, nil)
	if err != nil {
		return nil, Token{}, err
	}
	if checked != nil {
		checked.until.Store(min(tok.ExpiresOn.Add(-tokenDueMargin).UnixNano(), h.o.Now().Add(tokenRecheck).UnixNano()))
	}
	return s, tok, nil
}

// A request that needs no token (Authenticate without withToken) checks
// that the session's sign-in can still be renewed only when that can have
// changed: once its access token is due (the refresh then tells a natural
// logout), and at least every tokenRecheck while it is not, so that tokens
// removed from the store (an eviction, an operator) end the session within
// that bound. Between checks such a request costs no token lookup. A
// sign-out or revocation needs no check: it removes the session itself.
const (
	tokenRecheck   = time.Minute
	tokenDueMargin = 5 * time.Minute // as tokencache's: MSAL's expiry margin
)

// tokenChecked is when a session's next token check is due, kept with
// the session's decoded record (session.Session.Derived) and so shared by
// its requests in this process.
type tokenChecked struct{ until atomic.Int64 }

type tokenCheckedKey struct{}

func newTokenChecked(*session.Session) any { return new(tokenChecked) }

// Require serves next only for requests with a live session (and, unless
// Options.SkipTokenCheck, a token that can still be had): a browser
// navigation without one is sent to sign in with its path as the return
// URL, anything else gets 401. A transient failure is 503 with
// Retry-After, the session kept. next finds the session with
// session.FromContext.
func (h *Handler) Require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _, err := h.Authenticate(r, false)
		if err != nil {
			h.Challenge(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(session.NewContext(r.Context(), s)))
	})
}

// Challenge answers a request that Authenticate refused: to sign-in (a
// browser navigation) or 401 for no session or a natural logout, through
// sign-in with the missing scopes for consent or the IdP's interaction, 503 with Retry-After for a
// transient failure.
//
// The IdP's claims challenge (an *InteractionRequiredError's Claims, or
// the one that ended the session for the tenant's own scopes) goes with
// the browser to sign-in, as the login route's claims parameter, and from
// there to the authorize request: without it, a Conditional Access or
// continuous access evaluation challenge is asked again after sign-in.
func (h *Handler) Challenge(w http.ResponseWriter, r *http.Request, err error) {
	var consent *ConsentRequiredError
	var interaction *InteractionRequiredError
	var again *signInRequiredError
	switch {
	case errors.As(err, &again):
		h.challenge(w, r, "", again.claims)
	case errors.Is(err, session.ErrNoSession), errors.Is(err, ErrSignInRequired):
		h.challenge(w, r, "", "")
	case errors.As(err, &consent):
		h.challenge(w, r, strings.Join(consent.Scopes, " "), "")
	case errors.As(err, &interaction):
		h.challenge(w, r, strings.Join(interaction.Scopes, " "), interaction.Claims)
	default:
		h.unavailable(w, r, err)
	}
}

// challenge sends a browser to sign-in (with scope for incremental
// consent, claims for the IdP's challenge), or answers 401.
func (h *Handler) challenge(w http.ResponseWriter, r *http.Request, scope, claims string) {
	if !isNavigation(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tenantgate", error="invalid_token"`)
		http.Error(w, "sign-in required", http.StatusUnauthorized)
		return
	}
	http.Redirect(w, r, loginURL(r.URL.RequestURI(), scope, claims), http.StatusFound)
}

// LoginURL is the sign-in route for the default tenant with ret as the
// return URL (and extra scopes for incremental consent).
func (h *Handler) LoginURL(ret, scope string) string { return loginURL(ret, scope, "") }

func loginURL(ret, scope, claims string) string {
	u := loginPrefix + "aad?post_login_redirect_uri=" + url.QueryEscape(ret)
	if scope != "" {
		u += "&scope=" + url.QueryEscape(scope)
	}
	if claims != "" {
		u += "&claims=" + url.QueryEscape(claims)
	}
	return u
}

// isNavigation reports a browser asking for a page: a GET that accepts HTML.
func isNavigation(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) && strings.Contains(r.Header.Get("Accept"), "text/html")
}
