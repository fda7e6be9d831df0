// Package ops is tenantgate's operations surface, served on its own
// listener: a JSON API and an HTML page of live sessions by tenant and
// user with their token status (expiries and flags, never a token),
// revocation by session, user or tenant, Prometheus metrics read from the
// packages' Stats at scrape time, and the request-ID middleware of the
// gateway. Every admin action is logged as an audit line. See
// docs/operations.md.
package ops
