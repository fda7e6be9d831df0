package signin

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"

	"github.com/tenantgate/tenantgate/tokencache"
)

// ErrSignInRequired means the user's sign-in cannot be renewed silently:
// the refresh token is missing, expired or revoked, or the IdP asks for
// interaction. It is a natural logout: the session ends and the user signs
// in again. It is never returned for a store or IdP outage.
var ErrSignInRequired = errors.New("signin: the user must sign in again")

// ConsentRequiredError means the user has not consented to some of the
// scopes asked for (AADSTS65001): send the browser through sign-in again
// with those scopes (incremental consent). The session stays.
type ConsentRequiredError struct {
	Scopes []string
}

func (e *ConsentRequiredError) Error() string {
	return fmt.Sprintf("signin: the user has not consented to %s; sign in again with these scopes", strings.Join(e.Scopes, " "))
}

// InteractionRequiredError means the IdP wants the user at its page for
// the scopes asked for (multi-factor authentication, a Conditional Access
// policy, consent), while the refresh token itself is fine: returned by
// Token for scopes beyond the tenant's configured ones, whose failure says
// nothing about the session. Challenge sends the browser through sign-in
// with these scopes; the session stays. Claims is the IdP's claims
// challenge, when it sent one.
type InteractionRequiredError struct {
	Scopes []string
	Claims string
	Reason string // the OAuth error and AADSTS codes, for logs
}

func (e *InteractionRequiredError) Error() string {
	return fmt.Sprintf("signin: the identity provider needs the user's interaction for %s (%s); sign in again with these scopes", strings.Join(e.Scopes, " "), e.Reason)
}

// signInRequiredError is ErrSignInRequired because the IdP wants the
// user for the tenant's own scopes, with the IdP's claims challenge kept
// for the sign-in that follows (Challenge sends it along).
type signInRequiredError struct{ reason, claims string }

func (e *signInRequiredError) Error() string {
	return fmt.Sprintf("%v (%s)", ErrSignInRequired, e.reason)
}
func (e *signInRequiredError) Unwrap() error { return ErrSignInRequired }

// maxClaims bounds a claims challenge kept or forwarded: Entra's are a
// few hundred bytes.
const maxClaims = 4 << 10

// normalClaims checks that claims is a claims request tenantgate
// forwards: a JSON object of at most maxClaims bytes that asks only what
// an IdP's claims challenge asks, for the access or ID token: a fresh
// token (nbf, continuous access evaluation), an authentication context
// (acrs) or the Conditional Access policies to satisfy (capolids). The
// login route takes claims from a URL anyone can craft, so nothing else
// may ride along: above all not xms_cc, the client capabilities with which
// a client declares it handles continuous access evaluation, which makes
// Entra issue access tokens of up to 28 hours to a client that never
// refreshes them early, postponing natural logout by a day.
//
// normalClaims returns claims as tenantgate forwards them: the JSON of
// the request it checked, re-encoded, so that what goes on is
// exactly what was checked (a duplicate key, which decoding resolves to
// its last value, cannot carry another member past the check).
func normalClaims(claims string) (string, bool) {
	if len(claims) > maxClaims || !strings.HasPrefix(strings.TrimSpace(claims), "{") {
		return "", false
	}
	var req map[string]map[string]json.RawMessage
	if json.Unmarshal([]byte(claims), &req) != nil || len(req) == 0 {
		return "", false
	}
	for token, asked := range req {
		if token != "access_token" && token != "id_token" || len(asked) == 0 {
			return "", false
		}
		for name, v := range asked {
			if name != "nbf" && name != "acrs" && name != "capolids" {
				return "", false
			}
			var inner map[string]json.RawMessage
			if json.Unmarshal(v, &inner) != nil { // {"essential":…,"value(s)":…}
				return "", false
			}
		}
	}
	out, err := json.Marshal(req)
	if err != nil {
		return "", false
	}
	return string(out), true
}

// TransientError is a failure that says nothing about the user's sign-in:
// the store or the IdP did not answer, or answered 5xx. The request may be
// retried; the session is kept.
type TransientError struct{ Err error }

func (e *TransientError) Error() string { return "signin: temporarily unavailable: " + e.Err.Error() }
func (e *TransientError) Unwrap() error { return e.Err }

// entraError is the body of a failed token request.
type entraError struct {
	Error      string `json:"error"`
	ErrorCodes []int  `json:"error_codes"`
	Suberror   string `json:"suberror"`
	Claims     string `json:"claims"`
}

// refreshTokenCodes are the AADSTS codes that concern the refresh token
// itself: expired (70008, 700082), revoked or the password changed (50173,
// 50133), the account is gone (50034), already redeemed (54005), invalid
// (70000). They end the session, whatever scopes were asked for.
var refreshTokenCodes = []int{70008, 700082, 50173, 50133, 50034, 54005, 70000}

// interactionCodes ask the user to come to the IdP's page for the scopes
// asked for: MFA (50076, 50078, 50079), no IdP session (50058), a
// Conditional Access policy (53000-53003).
var interactionCodes = []int{50058, 50076, 50078, 50079, 53000, 53001, 53002, 53003}

// classify maps what a token request returned to the outcomes the routes
// branch on: ErrSignInRequired (the refresh token is gone or refused),
// *InteractionRequiredError (the IdP wants the user for these scopes; the
// caller decides whether that ends the session), *ConsentRequiredError, or
// *TransientError (anything else: the store, the network, the IdP's 5xx,
// a misconfigured client). scopes are what was asked for. A nil err stays
// nil.
func classify(err error, scopes []string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, tokencache.ErrNoToken) {
		return fmt.Errorf("%w: no refresh token for this account", ErrSignInRequired)
	}
	var ce msalerrors.CallErr
	if !errors.As(err, &ce) || ce.Resp == nil {
		return &TransientError{Err: err}
	}
	if ce.Resp.StatusCode >= 500 || ce.Resp.StatusCode == 429 {
		return &TransientError{Err: fmt.Errorf("the identity provider answered %d", ce.Resp.StatusCode)}
	}
	body := ce.Err.Error()
	var ee entraError
	if i := strings.IndexByte(body, '{'); i >= 0 {
		_ = json.Unmarshal([]byte(body[i:]), &ee)
	}
	for _, c := range ee.ErrorCodes {
		if c == 65001 {
			return &ConsentRequiredError{Scopes: append([]string(nil), scopes...)}
		}
	}
	if ee.Suberror == "consent_required" {
		return &ConsentRequiredError{Scopes: append([]string(nil), scopes...)}
	}
	for _, c := range ee.ErrorCodes {
		if slices.Contains(refreshTokenCodes, c) {
			return fmt.Errorf("%w (%s, AADSTS%d)", ErrSignInRequired, ee.Error, c)
		}
	}
	interaction := slices.ContainsFunc(ee.ErrorCodes, func(c int) bool { return slices.Contains(interactionCodes, c) })
	switch ee.Error {
	case "invalid_grant", "interaction_required", "login_required", "consent_required":
		interaction = true
	}
	if interaction {
		claims, ok := normalClaims(ee.Claims)
		if !ok {
			claims = ""
		}
		return &InteractionRequiredError{Scopes: append([]string(nil), scopes...), Claims: claims, Reason: fmt.Sprintf("%s, AADSTS%v", ee.Error, ee.ErrorCodes)}
	}
	// invalid_client, invalid_request, unauthorized_client: the app's
	// configuration or credential, not the user; the operator must act.
	return &TransientError{Err: fmt.Errorf("the identity provider refused the request (%s %v); check the tenant's configuration", ee.Error, ee.ErrorCodes)}
}
