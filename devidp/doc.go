// Package devidp is an identity provider that Microsoft Entra ID clients
// accept, for offline development and tests.
//
// Generic mock OIDC servers do not speak Entra: they have no client_info, no
// per-tenant issuers, no AADSTS error bodies and no certificate client
// assertions, so MSAL and tenantgate cannot be tested against them. An IdP
// serves Entra's v2.0 endpoints (discovery, keys, authorize, token, logout,
// instance discovery) for a directory of tenants, app registrations and
// users, with its own clock and test controls (clock advance, lifetimes,
// revocation, key rotation, queued errors, outages, a request log).
//
// New builds one as an http.Handler; package devidptest serves it over TLS
// for tests, and `tenantgate devidp` runs it as a program. It is never an
// identity provider for production: every user signs in without a password.
package devidp
