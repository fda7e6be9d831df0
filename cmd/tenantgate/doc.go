// Command tenantgate is tenantgate's program: flags, configuration and
// wiring of the packages, nothing else.
//
//	tenantgate serve [--tenants tenants.yaml --redis-url rediss://… --keys keys.txt --upstream http://app]
//
// runs the gateway: Entra ID sign-in on Easy Auth's /.auth/ routes, shared
// sessions and tokens, Easy Auth's identity headers to the upstream, and
// forward-auth at /.auth/verify (docs/signin.md, docs/forward-auth.md).
// With no tenant file it runs the whole system on embedded defaults (demo
// mode): what `make run` does.
//
//	tenantgate keys
//
// prints a new seal key for the keyring every replica shares.
//
//	tenantgate devidp --addr 127.0.0.1:8443 --ca-out devidp-ca.pem [--config dir.yaml] [--controls]
//
// serves the Entra ID–compatible identity provider of package devidp over
// HTTPS for offline development. See docs/devidp.md.
package main
