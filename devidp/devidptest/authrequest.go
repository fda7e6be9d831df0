package devidptest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/url"
)

// AuthRequest is what an app keeps between sending a user to the authorize
// endpoint and redeeming the code: the PKCE verifier, the state and the
// nonce. MSAL Go's AuthCodeURL adds none of them; URL does.
type AuthRequest struct {
	Verifier, Challenge, State, Nonce string
}

// NewAuthRequest returns fresh random values.
func NewAuthRequest() AuthRequest {
	random := func() string {
		var b [32]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
		return base64.RawURLEncoding.EncodeToString(b[:])
	}
	r := AuthRequest{Verifier: random(), State: random()[:16], Nonce: random()[:16]}
	sum := sha256.Sum256([]byte(r.Verifier))
	r.Challenge = base64.RawURLEncoding.EncodeToString(sum[:])
	return r
}

// URL adds state, nonce and the S256 code challenge to authorizeURL (for
// example MSAL's AuthCodeURL), and response_mode unless mode is "".
func (r AuthRequest) URL(authorizeURL, mode string) (string, error) {
	u, err := url.Parse(authorizeURL)
	if err != nil {
		return "", fmt.Errorf("devidptest: authorize URL: %w", err)
	}
	q := u.Query()
	q.Set("state", r.State)
	q.Set("nonce", r.Nonce)
	q.Set("code_challenge", r.Challenge)
	q.Set("code_challenge_method", "S256")
	if mode != "" {
		q.Set("response_mode", mode)
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}
