package credential

import (
	"errors"
	"regexp"
	"strconv"
)

// Error is a credential that does not load, with the configuration field at
// fault, e.g. "pfx.passwordFile". Callers that know more (the tenant) prefix
// the field with their own path.
type Error struct {
	Field string
	Err   error
}

func (e *Error) Error() string { return "credential: " + e.Field + ": " + e.Err.Error() }

func (e *Error) Unwrap() error { return e.Err }

func fieldErr(field string, err error) error { return &Error{Field: field, Err: err} }

// Reasons a certificate is refused, for callers that branch (errors.Is).
var (
	ErrNotRSA        = errors.New("the private key is not RSA; MSAL Go signs client assertions only with RSA keys: issue an RSA certificate (e.g. Key Vault key type RSA, 2048 bits or more)")
	ErrNoPrivateKey  = errors.New("no private key: the certificate alone cannot sign client assertions; supply the key with it (for Key Vault, the certificate's key must be exportable)")
	ErrKeyMismatch   = errors.New("the private key matches none of the certificates")
	ErrExpired       = errors.New("the certificate has expired")
	ErrNotYetValid   = errors.New("the certificate is not valid yet")
	ErrWrongPassword = errors.New("wrong password for the PFX file")
	ErrEncryptedPEM  = errors.New("encrypted PEM private keys are not supported: use a PFX file with a password, or an unencrypted key protected by file permissions")
)

// rejectionCodes are the AADSTS errors by which Entra refuses the client's
// credential itself, as opposed to the request: a reload may fix them when
// the credential has been rotated meanwhile.
var rejectionCodes = map[int]bool{
	700027:  true, // client assertion failed signature validation: certificate not (or no longer) registered
	700024:  true, // client assertion not within its valid time range (an expired federated token)
	7000215: true, // invalid client secret
	7000222: true, // the client secret has expired
	70021:   true, // no federated identity credential matches the token
	700211:  true, // no matching federated identity record for the token's issuer
	700212:  true, // no matching federated identity record for the token's audience
	700213:  true, // no matching federated identity record for the token's subject
}

var aadsts = regexp.MustCompile(`AADSTS(\d{5,7})\b`)

// IsRejection reports whether err (an MSAL error, possibly wrapped) is Entra
// refusing the client's credential: AADSTS700027, 700024, 7000215, 7000222
// or a federated identity mismatch (70021, 700211-700213).
func IsRejection(err error) bool {
	if err == nil {
		return false
	}
	for _, m := range aadsts.FindAllStringSubmatch(err.Error(), 4) {
		if n, _ := strconv.Atoi(m[1]); rejectionCodes[n] {
			return true
		}
	}
	return false
}
