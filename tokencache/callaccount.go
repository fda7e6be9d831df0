package tokencache

import "context"

// CallAccount reports which user's partition an HTTP request to the IdP is
// for, read from the request's context: the tenant the tokens are kept
// under and MSAL's home account ID (uid.utid). ok is false for requests
// that are not part of a silent call of a Client (a sign-in's code
// redemption, app tokens, metadata).
//
// A transport under the Client's HTTPClient uses it to attribute a refresh
// to its user before the IdP answers: an error answer carries no
// client_info, so without it a failed refresh belongs to nobody.
func CallAccount(ctx context.Context) (tenantID, homeAccountID string, ok bool) {
	call, _ := ctx.Value(refreshCallKey{}).(*refreshCall)
	if call == nil || call.part == nil || call.part.owner == "" {
		return "", "", false
	}
	return call.part.tenant, call.part.owner, true
}
