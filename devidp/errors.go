package devidp

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// entraError is an error reply in Entra's shape. Descriptions never contain
// tokens, secrets or codes, only names and IDs.
type entraError struct {
	status   int
	code     string // OAuth error, e.g. invalid_grant
	aadsts   int
	desc     string
	suberror string
	claims   string
}

func (e *entraError) Error() string { return fmt.Sprintf("AADSTS%d: %s", e.aadsts, e.desc) }

// catalog holds, per AADSTS code, the status, OAuth error and default text
// that Entra uses; fail fills in the request-specific text.
var catalog = map[int]entraError{
	50011:   {status: 400, code: "invalid_request", desc: "The redirect URI specified in the request does not match the redirect URIs configured for the application."},
	50027:   {status: 400, code: "invalid_request", desc: "JWT token is invalid or malformed."},
	50034:   {status: 400, code: "invalid_grant", desc: "The user account does not exist in the directory."},
	50049:   {status: 400, code: "invalid_instance", desc: "Unknown or invalid instance."},
	50058:   {status: 400, code: "login_required", desc: "A silent sign-in request was sent but no user is signed in."},
	50076:   {status: 400, code: "interaction_required", desc: "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access the resource.", claims: `{"access_token":{"capolids":{"essential":true,"values":["devidp-mfa"]}}}`},
	50013:   {status: 400, code: "invalid_grant", desc: "Assertion failed signature validation."},
	500133:  {status: 400, code: "invalid_grant", desc: "Assertion is not within its valid time range."},
	500011:  {status: 400, code: "invalid_resource", desc: "The resource principal was not found in the tenant."},
	501481:  {status: 400, code: "invalid_grant", desc: "The Code_Verifier does not match the code_challenge supplied in the authorization request."},
	54005:   {status: 400, code: "invalid_grant", desc: "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token."},
	65001:   {status: 400, code: "invalid_grant", desc: "The user or administrator has not consented to use the application.", suberror: "consent_required"},
	700054:  {status: 400, code: "unsupported_response_type", desc: "The response_type is not enabled for the application."},
	70000:   {status: 400, code: "invalid_grant", desc: "Provided grant is invalid or malformed."},
	70003:   {status: 400, code: "unsupported_grant_type", desc: "The app requested an unsupported grant type."},
	70008:   {status: 400, code: "invalid_grant", desc: "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource."},
	70011:   {status: 400, code: "invalid_scope", desc: "The provided value for the input parameter 'scope' is not valid."},
	700016:  {status: 400, code: "unauthorized_client", desc: "Application was not found in the directory."},
	700024:  {status: 401, code: "invalid_client", desc: "Client assertion is not within its valid time range."},
	700027:  {status: 401, code: "invalid_client", desc: "Client assertion failed signature validation."},
	700082:  {status: 400, code: "invalid_grant", desc: "The refresh token has expired due to inactivity.", suberror: "bad_token"},
	7000215: {status: 401, code: "invalid_client", desc: "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID."},
	7000218: {status: 401, code: "invalid_client", desc: "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."},
	90002:   {status: 400, code: "invalid_request", desc: "Tenant not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."},
	90033:   {status: 503, code: "temporarily_unavailable", desc: "A transient error has occurred. Please try again."},
	900144:  {status: 400, code: "invalid_request", desc: "The request body must contain a required parameter."},
	9002313: {status: 400, code: "invalid_request", desc: "Invalid request. Request is malformed or invalid."},
}

// KnownErrorCodes reports whether QueueError can produce AADSTS code.
func KnownErrorCodes() []int {
	codes := make([]int, 0, len(catalog))
	for c := range catalog {
		codes = append(codes, c)
	}
	return codes
}

// fail returns the catalog error for code, with desc (if any) replacing the
// default text.
func fail(code int, desc string, args ...any) *entraError {
	e, ok := catalog[code]
	if !ok {
		panic(fmt.Sprintf("devidp: AADSTS%d is not in the catalog", code))
	}
	e.aadsts = code
	if desc != "" {
		e.desc = fmt.Sprintf(desc, args...)
	}
	return &e
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// write sends e as Entra does: JSON with the AADSTS code in the description
// and in error_codes, and trace and correlation IDs.
func (e *entraError) write(w http.ResponseWriter, r *http.Request, now time.Time) {
	trace := newID()
	corr := r.Header.Get("client-request-id")
	if corr == "" || len(corr) > 64 {
		corr = newID()
	}
	ts := now.UTC().Format("2006-01-02 15:04:05Z")
	body := map[string]any{
		"error": e.code,
		"error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s",
			e.aadsts, e.desc, trace, corr, ts),
		"error_codes":    []int{e.aadsts},
		"timestamp":      ts,
		"trace_id":       trace,
		"correlation_id": corr,
		"error_uri":      "https://" + r.Host + "/error?code=" + strconv.Itoa(e.aadsts),
	}
	if e.suberror != "" {
		body["suberror"] = e.suberror
	}
	if e.claims != "" {
		body["claims"] = e.claims
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("x-ms-request-id", trace)
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(body)
}
