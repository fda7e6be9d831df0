package seal

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
)

// KeySize is the size of a key's secret: AES-256.
const KeySize = 32

// MaxKeyIDLen is the longest key ID; the ID is stored in every sealed value.
const MaxKeyIDLen = 32

// Key is one named 32-byte secret. Its String and GoString methods never
// print the secret, so a Key that reaches a log line leaks only its ID.
type Key struct {
	ID     string
	Secret []byte
}

// GenerateKey returns a new random key with the given ID. Store it with
// Encode and load it with ParseKeys, KeysFromEnv or KeysFromFile.
func GenerateKey(id string) (Key, error) {
	if err := validID(id); err != nil {
		return Key{}, err
	}
	k := Key{ID: id, Secret: make([]byte, KeySize)}
	_, _ = rand.Read(k.Secret) // crypto/rand.Read never fails (Go 1.24+).
	return k, nil
}

// Encode returns the key as "id:BASE64" (standard padded base64), the form
// ParseKeys and KeysFromFile read. The result is secret.
func (k Key) Encode() string {
	return k.ID + ":" + base64.StdEncoding.EncodeToString(k.Secret)
}

// String names the key without its secret.
func (k Key) String() string { return "seal.Key(" + k.ID + ")" }

// GoString names the key without its secret, also for %#v.
func (k Key) GoString() string { return k.String() }

// ParseKeys reads keys written as "id:BASE64" separated by commas, spaces or
// newlines, the first of which seals. BASE64 is standard or URL-safe base64,
// padded or not, of exactly 32 bytes.
func ParseKeys(s string) (*Keyring, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r'
	})
	keys := make([]Key, 0, len(fields))
	for i, f := range fields {
		k, err := parseKey(f)
		if err != nil {
			return nil, fmt.Errorf("seal: key %d of %d: %w", i+1, len(fields), err)
		}
		keys = append(keys, k)
	}
	return NewKeyring(keys...)
}

// KeysFromEnv reads keys from the environment variable name, in the format
// of ParseKeys.
func KeysFromEnv(name string) (*Keyring, error) {
	v, ok := os.LookupEnv(name)
	if !ok || strings.TrimSpace(v) == "" {
		return nil, fmt.Errorf("seal: environment variable %s is not set; set it to id:BASE64 with a 32-byte key (for example from `openssl rand -base64 32`)", name)
	}
	kr, err := ParseKeys(v)
	if err != nil {
		return nil, fmt.Errorf("%w (from environment variable %s)", err, name)
	}
	return kr, nil
}

// KeysFromFile reads keys from a file with one "id:BASE64" per line; blank
// lines and lines starting with # are ignored. The first key seals.
func KeysFromFile(path string) (*Keyring, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("seal: reading keys: %w", err)
	}
	var keys []Key
	sc := bufio.NewScanner(bytes.NewReader(b))
	for line := 1; sc.Scan(); line++ {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		k, err := parseKey(l)
		if err != nil {
			return nil, fmt.Errorf("seal: %s line %d: %w", path, line, err)
		}
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("seal: reading %s: %w", path, err)
	}
	kr, err := NewKeyring(keys...)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return kr, nil
}

// parseKey reads "id:BASE64". Its errors name the ID but never echo the
// base64 text: that is the secret.
func parseKey(s string) (Key, error) {
	id, b64, ok := strings.Cut(s, ":")
	if !ok {
		return Key{}, errors.New("want id:BASE64")
	}
	if err := validID(id); err != nil {
		return Key{}, err
	}
	secret, err := decodeBase64(b64)
	if err != nil || len(secret) != KeySize {
		return Key{}, fmt.Errorf("key %q: want base64 of exactly %d bytes (for example from `openssl rand -base64 32`)", id, KeySize)
	}
	return Key{ID: id, Secret: secret}, nil
}

func decodeBase64(s string) ([]byte, error) {
	enc := base64.StdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.URLEncoding
	}
	if !strings.HasSuffix(s, "=") {
		enc = enc.WithPadding(base64.NoPadding)
	}
	return enc.Strict().DecodeString(s)
}

// validID accepts the IDs that can be written into an envelope and read back
// unambiguously from a key file or an environment variable.
func validID(id string) error {
	if id == "" || len(id) > MaxKeyIDLen {
		return fmt.Errorf("key ID must be 1 to %d characters", MaxKeyIDLen)
	}
	for i := 0; i < len(id); i++ {
		if !idByte(id[i]) {
			return fmt.Errorf("key ID %q: use only letters, digits, '.', '_' and '-'", id)
		}
	}
	return nil
}

func idByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
}
