package signin

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/tenantgate/tenantgate/session"
	"github.com/tenantgate/tenantgate/tenant"
	"github.com/tenantgate/tenantgate/tokencache"
)

// resumeTTL is how long a form_post's code waits for the same-site GET.
const resumeTTL = time.Minute

// ClaimsValue is the session value that holds the ID token's claims as
// JSON, for /.auth/me and the identity headers; read them with Claims.
const ClaimsValue = "tg.claims"

// serveCallback is the one redirect URI of every tenant. The IdP's
// form_post is a cross-site POST that carries no SameSite=Lax cookie, so
// it only stashes the code with the pending sign-in, under a new one-time
// resume token, and bounces the browser to a GET of this same URL: a
// top-level navigation that does carry the binding cookie.
func (h *Handler) serveCallback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			h.fail(w, r, errors.New("signin: the callback form is malformed"))
			return
		}
	}
	f := r.Form
	if r.Method == http.MethodGet {
		f = r.URL.Query()
	}
	if resume := f.Get("resume"); resume != "" && r.Method == http.MethodGet {
		p, err := h.takePending(ctx, resume)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		h.finish(w, r, p)
		return
	}
	p, err := h.takePending(ctx, f.Get("state"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if p.Iss = f.Get("iss"); len(p.Iss) > 2048 {
		h.fail(w, r, errWrongIssuer)
		return
	}
	if e := f.Get("error"); e != "" {
		// Like a code, an error goes through the browser check first: a
		// cross-site page can post one with a state it started itself.
		p.Error = knownOAuthError(e)
		if desc := f.Get("error_description"); desc != "" {
			h.o.Logger.Info("signin: the identity provider sent an error", slog.String("error", p.Error), slog.String("description", truncate(desc, 300)))
		}
	} else {
		code := f.Get("code")
		if code == "" || len(code) > 8<<10 {
			h.fail(w, r, errors.New("signin: the callback carries no authorization code"))
			return
		}
		p.Code = code
	}
	if r.Method == http.MethodGet {
		h.finish(w, r, p)
		return
	}
	resume := randomToken(32)
	if err := h.putPending(ctx, resume, p, resumeTTL); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, CallbackPath+"?resume="+url.QueryEscape(resume), http.StatusSeeOther)
}

// idpError handles an error the IdP sent back instead of a code, once
// the browser is known to be the one that started the sign-in.
func (h *Handler) idpError(w http.ResponseWriter, r *http.Request, p pending) {
	if p.Switch && (p.Error == "login_required" || p.Error == "interaction_required" || p.Error == "consent_required") {
		// The silent switch did not work: ask with the page.
		t, _, err := h.resolve(p.Tenant)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		h.redirectToIdP(w, r, t, pending{Tenant: p.Tenant, Return: p.Return, Scopes: p.Scopes, Hint: p.Hint, Claims: p.Claims})
		return
	}
	h.emit(Event{Kind: EventSignIn, Result: "refused", TenantKey: p.Tenant})
	h.o.Logger.Info("signin: refused by the identity provider", slog.String("path", r.URL.Path), slog.String("error", p.Error))
	page(w, http.StatusBadRequest, "Sign-in failed", oauthErrorText[p.Error])
}

// oauthErrorText is what the page says for each OAuth error code: a fixed
// text, never the error_description of the request, which anyone can
// write (the IdP's own is in the log).
var oauthErrorText = map[string]string{
	"access_denied":              "The sign-in was declined, or your organization does not allow you to use this app. Start again, or ask your administrator.",
	"login_required":             "The identity provider needs you to sign in. Start again.",
	"interaction_required":       "The identity provider needs you to complete the sign-in on its page. Start again.",
	"consent_required":           "This app needs your consent, or your administrator's. Start again, or ask your administrator.",
	"account_selection_required": "Choose an account to sign in with. Start again.",
	"invalid_request":            "The identity provider refused the sign-in request. Start again; if it keeps failing, tell the app's administrator.",
	"invalid_scope":              "The identity provider refused the permissions this app asks for. Tell the app's administrator.",
	"unauthorized_client":        "This app is not allowed to sign you in. Tell the app's administrator.",
	"unsupported_response_type":  "The identity provider refused the sign-in request. Tell the app's administrator.",
	"server_error":               "The identity provider failed. Start again in a moment.",
	"temporarily_unavailable":    "The identity provider is temporarily unavailable. Start again in a moment.",
	"":                           "The identity provider refused the sign-in. Start again.",
}

// knownOAuthError is code if it is one of oauthErrorText's, else "".
func knownOAuthError(code string) string {
	if _, ok := oauthErrorText[code]; ok {
		return code
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// finish checks the browser, redeems the code, verifies the ID token and
// creates the session.
func (h *Handler) finish(w http.ResponseWriter, r *http.Request, p pending) {
	ctx := r.Context()
	c, err := r.Cookie(h.bindingCookie())
	if err != nil || subtle.ConstantTimeCompare([]byte(hashHex(c.Value)), []byte(p.Binding)) != 1 {
		h.fail(w, r, errWrongBrowser)
		return
	}
	t, _, err := h.resolve(p.Tenant)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// RFC 9207: an answer naming another issuer than the one asked is not
	// this sign-in's, code or error; its code is never sent anywhere.
	if err := responseIssuer(t, p.Iss); err != nil {
		h.emit(Event{Kind: EventSignIn, Result: "refused", TenantKey: t.Key, TenantID: t.TenantID})
		h.fail(w, r, err)
		return
	}
	if p.Error != "" || p.Code == "" {
		h.idpError(w, r, p)
		return
	}
	opts := []tokencache.Option{tokencache.WithChallenge(p.Verifier)}
	if p.Claims != "" {
		opts = append(opts, tokencache.WithClaims(p.Claims))
	}
	res, err := t.Client().AcquireTokenByAuthCode(ctx, p.Code, h.redirect, p.Scopes, opts...)
	if err != nil {
		if errors.As(classify(err, p.Scopes), new(*TransientError)) {
			h.emit(Event{Kind: EventSignIn, Result: "unavailable", TenantKey: t.Key, TenantID: t.TenantID})
			h.unavailable(w, r, err)
			return
		}
		h.emit(Event{Kind: EventSignIn, Result: "refused", TenantKey: t.Key, TenantID: t.TenantID})
		h.fail(w, r, fmt.Errorf("signin: the identity provider did not redeem the sign-in; start again (%v)", oauthError(err)))
		return
	}
	home := res.Account.HomeAccountID
	id, all, owner, err := h.verifyResult(ctx, t, res, p.Nonce, p.Iss)
	if err != nil {
		// The tokens are in the cache already: take them out again.
		if serr := t.Client().SignOut(context.WithoutCancel(ctx), home); serr != nil {
			h.o.Logger.Error("signin: removing the tokens of a refused sign-in", slog.Any("err", serr))
		}
		h.emit(Event{Kind: EventSignIn, Result: "refused", TenantKey: t.Key, TenantID: t.TenantID})
		h.fail(w, r, err)
		return
	}
	if err := h.checkAuthAge(all); err != nil {
		// The tokens just redeemed stay: they are this user's, valid, and
		// the partition is shared with the user's other sessions; no
		// session is made for this sign-in.
		if !p.Reauth {
			h.o.Logger.Info("signin: authentication older than the maximum age; asking again", slog.String("tenant", owner.Key), slog.Any("err", err))
			h.redirectToIdP(w, r, t, pending{Tenant: p.Tenant, Return: p.Return, Scopes: p.Scopes, Claims: p.Claims, Hint: id.Username, Reauth: true})
			return
		}
		h.emit(Event{Kind: EventSignIn, Result: "refused", TenantKey: owner.Key, TenantID: id.TenantID})
		h.fail(w, r, err)
		return
	}
	s, err := h.o.Sessions.Create(ctx, w, r, id)
	if err != nil {
		h.emit(Event{Kind: EventSignIn, Result: "unavailable", TenantKey: owner.Key, TenantID: id.TenantID})
		h.fail(w, r, &TransientError{Err: err})
		return
	}
	if b, err := json.Marshal(all); err == nil {
		if err := h.o.Sessions.SetValues(ctx, s, map[string]string{ClaimsValue: string(b)}); err != nil {
			h.o.Logger.Warn("signin: keeping the claims in the session", slog.Any("err", err))
		}
	}
	h.o.Logger.Info("signin: signed in", slog.String("tenant", owner.Key), slog.String("tid", id.TenantID), slog.String("session", s.Short()))
	h.emit(Event{Kind: EventSignIn, Result: "ok", TenantKey: owner.Key, TenantID: id.TenantID, Session: s.Short()})
	http.Redirect(w, r, p.Return, http.StatusFound)
}

// verifyResult verifies the ID token of a redemption through t: against
// t's own issuer and keys, or, for the multi-tenant app, those of the
// token's tenant, which must be allowed. owner is the tenant whose client
// serves the session from now on.
func (h *Handler) verifyResult(ctx context.Context, t *tenant.Tenant, res confidential.AuthResult, nonce, iss string) (id session.Identity, all map[string]any, owner *tenant.Tenant, err error) {
	raw := res.IDToken.RawToken
	owner = t
	if t.Key == tenant.OrganizationsKey {
		tid, err := unverifiedTenant(raw)
		if err != nil {
			return id, nil, nil, err
		}
		// The app's own client for the tenant: the ID token's audience and
		// the token cache are the app's, even for a tenant configured on
		// its own with another client ID.
		if owner, err = h.o.Tenants.OrganizationsFor(tid); err != nil {
			return id, nil, nil, fmt.Errorf("signin: %w", err)
		}
	}
	c, all, err := h.verify.verify(ctx, owner.Authority, owner.ClientID, raw, nonce)
	if err != nil {
		return id, nil, nil, err
	}
	if c.TenantID != owner.TenantID && owner.Key != tenant.OrganizationsKey {
		// A guest's tokens are issued by the tenant signed in to: the tid
		// is that tenant's, whatever the home tenant is.
		return id, nil, nil, fmt.Errorf("%w: issued for tenant %s, not %s", errBadIDToken, c.TenantID, owner.TenantID)
	}
	if iss != "" && iss != issuerOf(owner) {
		// The multi-tenant app's answer named some tenant's issuer: it must
		// be the one whose ID token came back.
		return id, nil, nil, errWrongIssuer
	}
	id = session.Identity{
		TenantKey: owner.Key, TenantID: c.TenantID, HomeAccountID: res.Account.HomeAccountID,
		ObjectID: c.ObjectID, Username: c.PreferredUsername, DisplayName: c.Name,
	}
	return id, all, owner, nil
}

// oauthError is the OAuth error code of a failed token request, without
// the response body (which may echo request details).
func oauthError(err error) string {
	var se interface{ Error() string }
	se = classify(err, nil)
	return se.Error()
}
