// Package devidptest serves a devidp identity provider over TLS for tests,
// and gives what a test needs to point a real Entra client at it: the
// authority of each tenant, an http.Client that trusts it, the demo app's
// credentials and the IdP's test controls.
//
//	srv := devidptest.Start(t)
//	app, _ := confidential.New(srv.Authority("contoso"), srv.ClientID(), cred,
//		confidential.WithHTTPClient(srv.HTTPClient()), confidential.WithInstanceDiscovery(false))
package devidptest
