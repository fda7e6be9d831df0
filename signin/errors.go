package signin

import (
	"encoding/json"
	"errors"
	"fmt"
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
}

// signInCodes are the AADSTS codes after which only the user can help:
// the refresh token expired (70008, 700082), was revoked or the password
// changed (50173, 50133), the account is gone (50034), or a newer sign-in
// is required (50078, 50079, 50076: MFA; 50058: no IdP session).
var signInCodes = []int{70008, 700082, 50173, 50133, 50034, 50058, 50076, 50078, 50079, 54005, 70000}

// classify maps what a token request returned to the three outcomes the
// routes branch on: ErrSignInRequired, *ConsentRequiredError, or
// *TransientError (anything else: the store, the network, the IdP's 5xx,
// a misconfigured client). scopes are what was asked for, for the consent
// error. A nil err stays nil.
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
	switch ee.Error {
	case "invalid_grant", "interaction_required", "login_required", "consent_required":
		if ee.Suberror == "consent_required" {
			return &ConsentRequiredError{Scopes: append([]string(nil), scopes...)}
		}
		return fmt.Errorf("%w (%s, AADSTS%v)", ErrSignInRequired, ee.Error, ee.ErrorCodes)
	}
	for _, c := range ee.ErrorCodes {
		for _, s := range signInCodes {
			if c == s {
				return fmt.Errorf("%w (AADSTS%d)", ErrSignInRequired, c)
			}
		}
	}
	// invalid_client, invalid_request, unauthorized_client: the app's
	// configuration or credential, not the user; the operator must act.
	return &TransientError{Err: fmt.Errorf("the identity provider refused the request (%s %v); check the tenant's configuration", ee.Error, ee.ErrorCodes)}
}
