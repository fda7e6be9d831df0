// Package credentialtest serves a stand-in for Azure Key Vault's secrets
// API over TLS, for tests of code that reads certificates from a vault.
//
// It speaks the real wire protocol, so that the real azsecrets client (and
// its bearer challenge handling) runs against it: the first request is
// answered 401 with Key Vault's WWW-Authenticate challenge, secrets are
// served latest or by version with Key Vault's JSON, and unknown names get
// Key Vault's 404 body. Certificates are "imported" as new secret versions
// with the content types Key Vault uses for certificate-backed secrets.
//
//	v := credentialtest.StartVault(t)
//	v.SetPEM("contoso-signing", certAndKeyPEM)
//	opts := credential.Options{TokenCredential: v.TokenCredential(), KeyVault: v.ClientOptions()}
package credentialtest
