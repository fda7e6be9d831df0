package signin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tenantgate/tenantgate/store"
)

// pendingTTL is how long a started sign-in may be completed.
const pendingTTL = 10 * time.Minute

// pending is a sign-in between the redirect to the IdP and its callback.
// It is kept server-side, sealed (it holds the PKCE verifier and the
// nonce), under the hash of its state, and taken once: a replayed or
// forged state finds nothing.
type pending struct {
	Tenant   string    `json:"tenant"` // a tenant key, or "organizations"
	Verifier string    `json:"verifier"`
	Nonce    string    `json:"nonce"`
	Return   string    `json:"return"`
	Scopes   []string  `json:"scopes,omitempty"`
	Binding  string    `json:"binding"` // SHA-256 of the browser's binding cookie
	Created  time.Time `json:"created"`
	// Switch is set for a tenant switch tried with prompt=none: on
	// login_required the sign-in is started again with the page.
	Switch bool   `json:"switch,omitempty"`
	Hint   string `json:"hint,omitempty"`
	// Claims is the IdP's claims challenge this sign-in answers (MFA
	// step-up, Conditional Access): sent as the authorize request's claims
	// parameter and with the code's redemption.
	Claims string `json:"claims,omitempty"`
	// Reauth marks the one sign-in asked again, with prompt=login, after
	// an authentication older than Options.MaxAuthAge: still older, it is
	// refused.
	Reauth bool `json:"reauth,omitempty"`
	// Iss is the authorization response's iss parameter (RFC 9207), if it
	// had one: it must name the issuer the sign-in was sent to.
	Iss string `json:"iss,omitempty"`
	// Code is the authorization code, once a form_post callback stashed it
	// for the same-site GET that finishes the sign-in.
	Code string `json:"code,omitempty"`
	// Error is the OAuth error the IdP sent instead of a code (one of
	// oauthErrorText's, "" for another), shown once the browser is checked.
	Error string `json:"error,omitempty"`
}

// pendingKV is what pending logins need of a store.
type pendingKV interface {
	CompareAndSet(ctx context.Context, key string, version uint64, data []byte, ttl time.Duration) (uint64, error)
	store.Taker
}

// randomToken returns n random bytes, base64url: states, nonces, verifiers.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+).
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashHex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// pkceChallenge is the S256 challenge of verifier (RFC 7636).
func pkceChallenge(verifier string) string {
	h := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

func (h *Handler) pendingKey(state string) string { return h.o.Prefix + "sg:" + hashHex(state) }

// savePending stores p under a new state and returns the state.
func (h *Handler) savePending(ctx context.Context, p pending) (string, error) {
	state := randomToken(32)
	if err := h.putPending(ctx, state, p, pendingTTL); err != nil {
		return "", err
	}
	return state, nil
}

func (h *Handler) putPending(ctx context.Context, state string, p pending, ttl time.Duration) error {
	key := h.pendingKey(state)
	plain, err := json.Marshal(p)
	if err != nil {
		return err
	}
	sealed, err := h.o.Sealer.Seal(plain, key)
	if err != nil {
		return fmt.Errorf("signin: seal pending sign-in: %w", err)
	}
	if _, err := h.o.Store.CompareAndSet(ctx, key, 0, sealed, ttl); err != nil {
		return &TransientError{Err: fmt.Errorf("store the pending sign-in: %w", err)}
	}
	return nil
}

// errNoPending means the state names no pending sign-in: never started
// here, already completed (a replay), or older than ten minutes.
var errNoPending = errors.New("signin: this sign-in is unknown, expired or already completed; start again")

// takePending removes and returns the pending sign-in of state.
func (h *Handler) takePending(ctx context.Context, state string) (pending, error) {
	if state == "" || len(state) > 256 {
		return pending{}, errNoPending
	}
	key := h.pendingKey(state)
	sealed, err := h.o.Store.Take(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return pending{}, errNoPending
	}
	if err != nil {
		return pending{}, &TransientError{Err: fmt.Errorf("read the pending sign-in: %w", err)}
	}
	plain, err := h.o.Sealer.Open(sealed, key)
	if err != nil {
		h.o.Logger.Warn("signin: a pending sign-in does not open; refused", "key", key, "err", err)
		return pending{}, errNoPending
	}
	var p pending
	if err := json.Unmarshal(plain, &p); err != nil {
		return pending{}, errNoPending
	}
	if h.o.Now().Sub(p.Created) > pendingTTL {
		return pending{}, errNoPending
	}
	return p, nil
}
