package tokencache

import (
	"errors"
	"slices"
	"strings"
)

// oidcScopes are OpenID Connect's own scopes: they shape the sign-in (an
// ID token, a refresh token, profile and email claims), not the access
// token's resource.
var oidcScopes = []string{"openid", "profile", "offline_access", "email"}

// IsOIDCScope reports whether s is one of OpenID Connect's own scopes
// (openid, profile, offline_access, email), in any case.
func IsOIDCScope(s string) bool {
	return slices.Contains(oidcScopes, strings.ToLower(s))
}

// ResourceScopes returns scopes without OpenID Connect's own: the scopes
// an access token is for. They are all MSAL Go may be given. MSAL adds
// openid, profile and offline_access to every request itself, then fails
// the call ("declined scopes are present") for any requested scope the
// reply's scope does not echo, and Entra never echoes offline_access and
// may echo none of them on a refresh (architecture fact 11).
func ResourceScopes(scopes []string) []string {
	var out []string
	for _, s := range scopes {
		if !IsOIDCScope(s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// ErrNoResourceScope means a call for an access token named no resource
// scope: OpenID Connect's scopes come with the sign-in (its ID token and
// refresh token), and an access token is only for a resource.
var ErrNoResourceScope = errors.New("tokencache: no resource scope asked for; openid, profile, offline_access and email come with the sign-in, an access token needs a resource's scope")

// authCodeScopes are what MSAL redeems a code with: the resource scopes,
// or, for a sign-in that asked for none (a sign-in-only app), openid:
// MSAL refuses an empty list, and openid is the scope a code redemption
// echoes whenever it issues the ID token the sign-in asked for.
func authCodeScopes(scopes []string) []string {
	if rs := ResourceScopes(scopes); len(rs) > 0 {
		return rs
	}
	return []string{"openid"}
}

// authorizeScopes are the scopes of the authorize URL: the resource
// scopes and the OIDC scopes asked for, in lower case, where MSAL
// recognises its own three and adds them once.
func authorizeScopes(scopes []string) []string {
	out := ResourceScopes(scopes)
	for _, s := range scopes {
		if l := strings.ToLower(s); IsOIDCScope(l) && !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}
