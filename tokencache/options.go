package tokencache

import (
	"fmt"
	"strings"
)

// Option changes one call of a Client. These are the options whose effect
// the cache understands (which partition a token belongs to, whether a
// cached token may answer), so it can honour them; MSAL's own option types
// cannot be passed, since the cache could not tell what they change. Each
// option applies to the methods its doc names; any other method refuses it
// with an error, so an option is never silently ignored.
type Option struct {
	kind  optionKind
	value string
}

type optionKind uint8

const (
	optClaims optionKind = 1 << iota
	optTenantID
	optChallenge
	optLoginHint
	optDomainHint
)

var optionNames = map[optionKind]string{
	optClaims: "WithClaims", optTenantID: "WithTenantID", optChallenge: "WithChallenge",
	optLoginHint: "WithLoginHint", optDomainHint: "WithDomainHint",
}

// WithClaims passes a claims challenge (from a resource's WWW-Authenticate
// header, or client capabilities). As in MSAL, a call with claims is never
// answered from the cache: it goes to the identity provider, and the token
// it gets is stored. For AuthCodeURL, AcquireTokenByAuthCode,
// AcquireTokenByCredential and AcquireTokenOnBehalfOf; AcquireTokenSilent
// refuses it, as MSAL Go does (a user's challenge needs the user).
func WithClaims(claims string) Option { return Option{optClaims, claims} }

// WithTenantID asks for a token from another tenant than the client's
// authority names (a guest account's resource tenant, an app's other
// tenant). The tokens are stored in that tenant's partition, so a later
// call for the client's own tenant never sees them. It must be a specific
// tenant, not common, organizations or consumers. For AuthCodeURL,
// AcquireTokenSilent, AcquireTokenByAuthCode, AcquireTokenByCredential,
// AcquireTokenOnBehalfOf and SignOut.
func WithTenantID(tenantID string) Option { return Option{optTenantID, tenantID} }

// WithChallenge passes the PKCE code verifier whose S256 challenge the
// authorize URL carried. For AcquireTokenByAuthCode.
func WithChallenge(verifier string) Option { return Option{optChallenge, verifier} }

// WithLoginHint pre-fills the user name on the sign-in page. For AuthCodeURL.
func WithLoginHint(username string) Option { return Option{optLoginHint, username} }

// WithDomainHint sends the user to their organization's sign-in page. For
// AuthCodeURL.
func WithDomainHint(domain string) Option { return Option{optDomainHint, domain} }

// callOptions are the options of one call, checked.
type callOptions struct {
	claims, tenantID, challenge, loginHint, domainHint string
}

// collect checks opts against what method accepts.
func collect(method string, accepts optionKind, opts []Option) (callOptions, error) {
	var o callOptions
	for _, opt := range opts {
		if opt.kind == 0 {
			return o, fmt.Errorf("tokencache: %s was given a zero Option; build options with tokencache.With…", method)
		}
		if accepts&opt.kind == 0 {
			return o, fmt.Errorf("tokencache: %s does not take %s; drop the option", method, optionNames[opt.kind])
		}
		switch opt.kind {
		case optClaims:
			o.claims = opt.value
		case optTenantID:
			if err := checkTenantID(opt.value); err != nil {
				return o, err
			}
			o.tenantID = strings.ToLower(opt.value)
		case optChallenge:
			o.challenge = opt.value
		case optLoginHint:
			o.loginHint = opt.value
		case optDomainHint:
			o.domainHint = opt.value
		}
	}
	return o, nil
}

// checkTenantID refuses what cannot name one tenant's partition.
func checkTenantID(tid string) error {
	switch {
	case tid == "" || strings.ContainsAny(tid, ":/ \r\n\x00"):
		return fmt.Errorf("tokencache: WithTenantID(%q) is empty or malformed; pass a tenant ID", tid)
	case isMultiTenant(tid):
		return fmt.Errorf("tokencache: WithTenantID(%q) names no tenant; pass a specific tenant ID", tid)
	}
	return nil
}

// isMultiTenant reports an authority segment that names no tenant: the
// tokens such a client gets belong to the tenant the user signs in to.
func isMultiTenant(seg string) bool {
	switch strings.ToLower(seg) {
	case "common", "organizations", "consumers":
		return true
	}
	return false
}
