package session

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sync/atomic"
	"time"
)

// Sealer seals values at rest, bound to the name they are stored under, so
// that a value copied under another key fails to open. seal.Keyring
// implements it. It must be safe for concurrent use.
type Sealer interface {
	Seal(plaintext []byte, name string) ([]byte, error)
	Open(sealed []byte, name string) ([]byte, error)
}

// Identity is who a session belongs to, from the ID token at sign-in.
type Identity struct {
	// TenantKey is the tenant's name in tenantgate's configuration.
	TenantKey string `json:"tenant_key"`
	// TenantID is the directory (tenant) ID, the ID token's tid.
	TenantID string `json:"tenant_id"`
	// HomeAccountID is MSAL's account key, "uid.utid": the token cache
	// partition of the user.
	HomeAccountID string `json:"home_account_id"`
	ObjectID      string `json:"object_id,omitempty"`
	Username      string `json:"username,omitempty"`
	DisplayName   string `json:"display_name,omitempty"`
}

const maxIdentityField = 256

// validate refuses what would make index keys ambiguous or unbounded:
// tenant and account IDs are GUIDs, domain names and "uid.utid" in
// practice, none of which holds a colon.
func (id Identity) validate() error {
	for _, f := range []struct{ name, v string }{{"tenant ID", id.TenantID}, {"home account ID", id.HomeAccountID}} {
		if f.v == "" {
			return fmt.Errorf("session: the identity has no %s: take it from the ID token (tid, and MSAL's Account.HomeAccountID)", f.name)
		}
		if len(f.v) > maxIdentityField {
			return fmt.Errorf("session: the identity's %s is longer than %d bytes", f.name, maxIdentityField)
		}
		for _, c := range []byte(f.v) {
			if c <= ' ' || c == ':' || c >= 0x7f {
				return fmt.Errorf("session: the identity's %s %q holds a character keys cannot carry (space, colon, control or non-ASCII)", f.name, f.v)
			}
		}
	}
	return nil
}

// Info is a session's metadata: what operators see and what the store
// shows in clear. Its JSON form is the record's readable part.
type Info struct {
	// Handle addresses the session in operations (List, Lookup, Revoke):
	// the hex SHA-256 of its ID, as in its store key. It is not the
	// cookie and cannot be turned into one.
	Handle string `json:"-"`
	Identity
	Created         time.Time `json:"created"`
	LastSeen        time.Time `json:"last_seen"`
	IdleExpires     time.Time `json:"idle_expires"`
	AbsoluteExpires time.Time `json:"absolute_expires"`
	ClientIP        string    `json:"client_ip,omitempty"`
	UserAgent       string    `json:"user_agent,omitempty"`
	// Replica is Options.Replica of the process that created the session.
	Replica string `json:"replica,omitempty"`
}

// Short is the handle's first 16 hex digits, for logs.
func (i Info) Short() string { return short(i.Handle) }

func short(handle string) string {
	if len(handle) > 16 {
		return handle[:16]
	}
	return handle
}

// record is a decoded stored session.
type record struct {
	info   Info
	values map[string]string
	// derived holds what callers computed from this record
	// (Session.Derived): it lives exactly as long as the record, which the
	// decoded cache shares between the requests of a session.
	derived atomic.Pointer[derivedValue]
}

// The stored form, version 1:
//
//	{"v":1,"meta":{...Info...},"sealed":"base64"}
//
// sealed opens, under the record's key, to {"m":hex,"v":{values}} where m
// is the SHA-256 of the exact meta bytes: the seal authenticates the
// metadata too, so editing it in Redis or moving the record makes it absent.
type stored struct {
	V      int             `json:"v"`
	Meta   json.RawMessage `json:"meta"`
	Sealed []byte          `json:"sealed"`
}

type inner struct {
	Meta   string            `json:"m"`
	Values map[string]string `json:"v,omitempty"`
}

// Why a stored record is refused; each is "absent" to callers.
var (
	errOversized = errors.New("record larger than the configured maximum")
	errCorrupt   = errors.New("record is not a session record")
	errForeign   = errors.New("record does not open under its key (copied from another key, forged, or sealed by an unknown key)")
)

func encodeRecord(sealer Sealer, key string, rec *record) ([]byte, error) {
	meta, err := json.Marshal(&rec.info)
	if err != nil {
		return nil, fmt.Errorf("session: encoding the record: %w", err)
	}
	sum := sha256.Sum256(meta)
	plain, err := json.Marshal(inner{Meta: hex.EncodeToString(sum[:]), Values: rec.values})
	if err != nil {
		return nil, fmt.Errorf("session: encoding the record's values: %w", err)
	}
	sealed, err := sealer.Seal(plain, key)
	if err != nil {
		return nil, fmt.Errorf("session: sealing the record: %w", err)
	}
	return json.Marshal(stored{V: 1, Meta: meta, Sealed: sealed})
}

// decodeRecord parses and opens a stored record; any failure is one of
// the errors above, never a panic.
func decodeRecord(sealer Sealer, key string, data []byte, maxBytes int) (*record, error) {
	if len(data) > maxBytes {
		return nil, errOversized
	}
	var s stored
	if err := json.Unmarshal(data, &s); err != nil || s.V != 1 || len(s.Meta) == 0 || len(s.Sealed) == 0 {
		return nil, errCorrupt
	}
	plain, err := sealer.Open(s.Sealed, key)
	if err != nil {
		return nil, errForeign
	}
	var in inner
	if err := json.Unmarshal(plain, &in); err != nil {
		return nil, errCorrupt
	}
	sum := sha256.Sum256(s.Meta)
	if want, err := hex.DecodeString(in.Meta); err != nil || !bytes.Equal(want, sum[:]) {
		return nil, errForeign
	}
	rec := &record{values: in.Values}
	if err := json.Unmarshal(s.Meta, &rec.info); err != nil {
		return nil, errCorrupt
	}
	i := &rec.info
	if i.Created.IsZero() || i.IdleExpires.IsZero() || i.AbsoluteExpires.IsZero() || i.IdleExpires.After(i.AbsoluteExpires) {
		return nil, errCorrupt
	}
	return rec, nil
}

func (r *record) clone() *record {
	return &record{info: r.info, values: maps.Clone(r.values)}
}
