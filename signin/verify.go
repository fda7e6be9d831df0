package signin

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// verifiers checks ID tokens with go-oidc against each tenant's own
// discovery document and keys. Providers are fetched on first use and
// kept; a failed fetch is not kept, so an IdP that was down is asked again.
type verifiers struct {
	http   *http.Client
	now    func() time.Time // the Handler's clock, for exp and nbf
	mu     sync.Mutex
	byAuth map[string]*oidc.IDTokenVerifier
}

func newVerifiers(hc *http.Client, now func() time.Time) *verifiers {
	return &verifiers{http: hc, now: now, byAuth: map[string]*oidc.IDTokenVerifier{}}
}

// maxProviders bounds the providers kept: one per tenant that signed in.
const maxProviders = 4096

func (v *verifiers) get(ctx context.Context, authority, clientID string) (*oidc.IDTokenVerifier, error) {
	key := authority + " " + clientID
	v.mu.Lock()
	iv, ok := v.byAuth[key]
	v.mu.Unlock()
	if ok {
		return iv, nil
	}
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, v.http), authority+"/v2.0")
	if err != nil {
		return nil, &TransientError{Err: fmt.Errorf("OpenID discovery of %s: %w", authority, err)}
	}
	iv = p.VerifierContext(oidc.ClientContext(context.WithoutCancel(ctx), v.http), &oidc.Config{ClientID: clientID, Now: v.now})
	v.mu.Lock()
	if len(v.byAuth) >= maxProviders {
		clear(v.byAuth)
	}
	v.byAuth[key] = iv
	v.mu.Unlock()
	return iv, nil
}

// claims are the ID token claims tenantgate reads; all of them are kept
// for /.auth/me and the identity headers.
type claims struct {
	TenantID          string   `json:"tid"`
	ObjectID          string   `json:"oid"`
	Subject           string   `json:"sub"`
	PreferredUsername string   `json:"preferred_username"`
	Name              string   `json:"name"`
	Email             string   `json:"email"`
	Nonce             string   `json:"nonce"`
	Roles             []string `json:"roles"`
}

// errBadIDToken is wrapped by every refusal of an ID token.
var errBadIDToken = errors.New("signin: the ID token was refused")

// verify checks raw as an ID token of authority for clientID, carrying
// nonce, and returns its claims (typed, and all of them raw).
func (v *verifiers) verify(ctx context.Context, authority, clientID, raw, nonce string) (claims, map[string]any, error) {
	iv, err := v.get(ctx, authority, clientID)
	if err != nil {
		return claims{}, nil, err
	}
	tok, err := iv.Verify(ctx, raw)
	if err != nil {
		return claims{}, nil, fmt.Errorf("%w: %v", errBadIDToken, err)
	}
	var c claims
	var all map[string]any
	if err := tok.Claims(&c); err != nil {
		return claims{}, nil, fmt.Errorf("%w: claims: %v", errBadIDToken, err)
	}
	if err := tok.Claims(&all); err != nil {
		return claims{}, nil, fmt.Errorf("%w: claims: %v", errBadIDToken, err)
	}
	if nonce == "" || subtle.ConstantTimeCompare([]byte(c.Nonce), []byte(nonce)) != 1 {
		return claims{}, nil, fmt.Errorf("%w: the nonce does not match the sign-in that was started", errBadIDToken)
	}
	if c.TenantID == "" || (c.ObjectID == "" && c.Subject == "") {
		return claims{}, nil, fmt.Errorf("%w: it carries no tid or oid", errBadIDToken)
	}
	return c, all, nil
}

// unverifiedTenant reads the tid claim of a JWT without verifying it, to
// choose whose keys verify it (a multi-tenant sign-in): the result is
// trusted only after that verification.
func unverifiedTenant(raw string) (string, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 || len(parts[1]) > 16<<10 {
		return "", fmt.Errorf("%w: not a JWT", errBadIDToken)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", fmt.Errorf("%w: payload is not base64url", errBadIDToken)
	}
	var c struct {
		TenantID string `json:"tid"`
	}
	if err := json.Unmarshal(b, &c); err != nil || c.TenantID == "" {
		return "", fmt.Errorf("%w: payload has no tid", errBadIDToken)
	}
	return strings.ToLower(c.TenantID), nil
}
