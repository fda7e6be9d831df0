// Package gateway puts tenantgate in front of an app written in any
// language: a reverse proxy that signs users in on Easy Auth's /.auth/
// routes and passes the app Easy Auth's identity headers
// (X-MS-CLIENT-PRINCIPAL and friends, and the access token if asked), and a
// forward-auth endpoint, /.auth/verify, for nginx auth_request, Traefik
// forwardAuth and Caddy forward_auth.
//
// Whatever a client sends, every inbound X-MS-CLIENT-PRINCIPAL* and
// X-MS-TOKEN-* header is removed before the request goes on, signed in or
// not (underscore spellings too), so a client can never forge an
// identity; with PassAccessToken a client's own Authorization goes too.
// tenantgate's own cookies never reach the app, the path is cleaned
// before the anonymous check, and the refresh token never leaves the
// gateway.
package gateway
