package signin

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"

	"github.com/tenantgate/tenantgate/tokencache"
)

// callErr is a failed token request as MSAL Go returns it.
func callErr(status int, body string) error {
	return fmt.Errorf("tokencache: refresh: %w", msalerrors.CallErr{Resp: &http.Response{StatusCode: status},
		Err: fmt.Errorf("http call(https://login.microsoftonline.com/t/oauth2/v2.0/token)(POST) error: reply status code was %d:\n%s", status, body)})
}

// Only a failure of the refresh token itself is ErrSignInRequired; the
// IdP wanting the user for the scopes asked for (MFA, Conditional Access,
// OIDC consent) is *InteractionRequiredError with the claims challenge,
// which Token turns into a natural logout only for the tenant's own
// scopes.
func TestClassifyInteractionIsNotSignInRequired(t *testing.T) {
	mail := []string{"https://graph.microsoft.com/Mail.Read"}
	type outcome int
	const (
		signIn outcome = iota
		interaction
		consent
		transient
	)
	for _, tc := range []struct {
		name, body string
		want       outcome
		claims     string
	}{
		{"OIDC consent_required without 65001", `{"error":"consent_required","error_codes":[65004]}`, interaction, ""},
		{"MFA step-up with a claims challenge", `{"error":"invalid_grant","error_codes":[50076],"suberror":"basic_action","claims":"{\"access_token\":{\"capolids\":{\"essential\":true,\"values\":[\"x\"]}}}"}`, interaction, `{"access_token":{"capolids":{"essential":true,"values":["x"]}}}`},
		{"interaction_required 50076", `{"error":"interaction_required","error_codes":[50076]}`, interaction, ""},
		{"device not compliant", `{"error":"invalid_grant","error_codes":[53000]}`, interaction, ""},
		{"refresh token expired", `{"error":"invalid_grant","error_codes":[700082]}`, signIn, ""},
		{"refresh token revoked", `{"error":"invalid_grant","error_codes":[50173]}`, signIn, ""},
		{"account gone", `{"error":"invalid_grant","error_codes":[50034]}`, signIn, ""},
		{"consent 65001", `{"error":"invalid_grant","error_codes":[65001]}`, consent, ""},
		{"misconfigured client", `{"error":"invalid_client","error_codes":[7000215]}`, transient, ""},
		{"a claims value that is not JSON is dropped", `{"error":"interaction_required","error_codes":[50076],"claims":"not json"}`, interaction, ""},
	} {
		err := classify(callErr(400, tc.body), mail)
		var ie *InteractionRequiredError
		got := map[bool]outcome{true: signIn}[errors.Is(err, ErrSignInRequired)]
		switch {
		case errors.Is(err, ErrSignInRequired):
		case errors.As(err, &ie):
			got = interaction
			if ie.Claims != tc.claims || len(ie.Scopes) != 1 || ie.Scopes[0] != mail[0] {
				t.Errorf("%s: %+v", tc.name, ie)
			}
		case errors.As(err, new(*ConsentRequiredError)):
			got = consent
		case errors.As(err, new(*TransientError)):
			got = transient
		default:
			t.Fatalf("%s: unclassified %v", tc.name, err)
		}
		if got != tc.want {
			t.Errorf("%s: got outcome %d, want %d (%v)", tc.name, got, tc.want, err)
		}
	}
	if err := classify(fmt.Errorf("x: %w", tokencache.ErrNoToken), mail); !errors.Is(err, ErrSignInRequired) {
		t.Errorf("no refresh token: %v", err)
	}
}
