// Command tenantgate is tenantgate's program: flags, configuration and
// wiring of the packages, nothing else.
//
//	tenantgate devidp --addr 127.0.0.1:8443 --ca-out devidp-ca.pem [--config dir.yaml] [--controls]
//
// serves the Entra ID–compatible identity provider of package devidp over
// HTTPS for offline development. See docs/devidp.md.
package main
