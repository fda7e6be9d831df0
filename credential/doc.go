// Package credential loads the credentials an app registration proves
// itself with (a certificate from a PEM or PFX file or from Azure Key Vault,
// a client secret, a federated token file) as MSAL Go credentials, and
// keeps them current.
//
// Certificates rotate: a file is replaced on disk, Key Vault gets a new
// version. A Source watches for that and yields the new credential without a
// restart, and reloads at once when the identity provider rejects the one in
// use (Rejected). Loading checks what MSAL Go would only discover at the
// first token request, or never: an RSA key (MSAL Go signs only with RSA),
// a key that matches the certificate, a certificate within its validity.
//
// Errors name the configuration field at fault (*Error) and never contain a
// secret, password, key or token; neither do the Source's logs.
package credential
