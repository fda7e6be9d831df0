// Package signin serves the sign-in routes of Azure App Service and
// Container Apps authentication ("Easy Auth") for any net/http app:
// /.auth/login/{tenant}, the one callback /.auth/login/aad/callback,
// /.auth/logout, /.auth/me and /.auth/refresh, over per-tenant MSAL clients
// (package tenant), the shared token cache (package tokencache) and shared
// sessions (package session), so that a user who signs in on one replica
// is signed in on all of them.
//
// It adds what MSAL Go's confidential client leaves out (architecture fact
// 10): state, nonce and a PKCE challenge on the authorize URL, a pending
// login kept server-side and taken once, and verification of the ID token
// (signature, issuer of the token's own tenant, audience, nonce) before
// any session exists.
//
// Failures keep the two meanings apart that matter to a user: ErrSignInRequired
// (the refresh token is gone, expired or revoked: a natural logout) ends the
// session; anything transient (the store or the IdP down) is a 503 and the
// session is kept.
package signin
