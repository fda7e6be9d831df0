package signin

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/tenantgate/tenantgate/tenant"
)

// authAgeSkew is the clock difference between the IdP and tenantgate an
// auth_time check forgives.
const authAgeSkew = time.Minute

// errAuthTooOld refuses a sign-in whose authentication at the IdP is
// older than Options.MaxAuthAge even after asking for a new one.
var errAuthTooOld = errors.New("signin: your sign-in at the identity provider is older than this app allows, and it was not renewed; start again")

// checkAuthAge checks the ID token's auth_time (claims as verified)
// against Options.MaxAuthAge. An ID token without auth_time is too old:
// an IdP that was sent max_age must include it (OpenID Connect Core 3.1.2.1).
func (h *Handler) checkAuthAge(claims map[string]any) error {
	if h.o.MaxAuthAge <= 0 {
		return nil
	}
	at, ok := claims["auth_time"].(float64)
	if !ok {
		return fmt.Errorf("%w (the ID token carries no auth_time)", errAuthTooOld)
	}
	if age := h.o.Now().Sub(time.Unix(int64(at), 0)); age > h.o.MaxAuthAge+authAgeSkew {
		return fmt.Errorf("%w (authenticated %v ago, at most %v allowed)", errAuthTooOld, age.Round(time.Second), h.o.MaxAuthAge)
	}
	return nil
}

// errWrongIssuer refuses an authorization response whose iss is not the
// issuer the sign-in was sent to (RFC 9207: a mix-up).
var errWrongIssuer = errors.New("signin: the sign-in was answered by another identity provider than the one it was sent to; start again")

// issuerOf is t's issuer identifier: its authority's v2.0 issuer, which
// the ID token verifier holds its discovery document to.
func issuerOf(t *tenant.Tenant) string { return t.Authority + "/v2.0" }

// responseIssuer checks an authorization response's iss parameter, if it
// has one (Entra sends none), against t. For the multi-tenant app the
// issuer is the user's tenant's, which only the ID token tells: here it
// must be a tenant's issuer on the app's authority host, and verifyResult
// checks it is that of the ID token's tenant.
func responseIssuer(t *tenant.Tenant, iss string) error {
	if iss == "" {
		return nil
	}
	if t.Key != tenant.OrganizationsKey {
		if iss != issuerOf(t) {
			return errWrongIssuer
		}
		return nil
	}
	a, err := url.Parse(t.Authority)
	if err != nil {
		return errWrongIssuer
	}
	rest, ok := strings.CutPrefix(iss, a.Scheme+"://"+a.Host+"/")
	tid, ok2 := strings.CutSuffix(rest, "/v2.0")
	if !ok || !ok2 || tid == "" || strings.ContainsAny(tid, "/?#") {
		return errWrongIssuer
	}
	return nil
}
