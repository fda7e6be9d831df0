package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"sync"
)

// Errors that Open returns, wrapped. Each means the value must be treated as
// absent; they differ so that the operator reading the log knows why.
// None of them carries key material or plaintext.
var (
	// ErrMalformed means the bytes are not an envelope this version reads:
	// truncated, not sealed at all, or from a newer version of seal.
	ErrMalformed = errors.New("seal: malformed sealed value")
	// ErrUnknownKey means the value was sealed with a key ID that is not in
	// the keyring: add that key (rotation keeps old keys) or discard the value.
	ErrUnknownKey = errors.New("seal: sealed with a key that is not in the keyring")
	// ErrWrongName means the value was sealed for another name: it was
	// copied from another key, or its name tag was altered.
	ErrWrongName = errors.New("seal: sealed for another name (value copied from another key?)")
	// ErrTampered means the name matches but authentication failed: the
	// value was altered or damaged after sealing.
	ErrTampered = errors.New("seal: sealed value failed authentication (altered or damaged)")
	// ErrNoKeys means a Keyring was used without keys.
	ErrNoKeys = errors.New("seal: keyring has no keys; configure at least one id:BASE64 key")
)

const (
	version1 = 0x01
	tagLen   = 8
	// gcmOverhead is the random nonce and the GCM tag.
	gcmOverhead = 12 + 16
)

// Keyring seals with its first key and opens with any of its keys.
// It is safe for concurrent use.
type Keyring struct {
	keys []*ringKey
	byID map[string]*ringKey
}

type ringKey struct {
	id      string
	aead    cipher.AEAD
	scratch sync.Pool // of *scratch, so Seal and Open do not allocate a MAC each time
}

// scratch is per-call working memory: the keyed name MAC and the associated
// data buffer.
type scratch struct {
	mac hash.Hash
	sum []byte
	ad  []byte
}

// NewKeyring returns a keyring of keys, the first of which seals. Key IDs
// must be distinct.
func NewKeyring(keys ...Key) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, ErrNoKeys
	}
	kr := &Keyring{byID: make(map[string]*ringKey, len(keys))}
	for _, k := range keys {
		if err := validID(k.ID); err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		if len(k.Secret) != KeySize {
			return nil, fmt.Errorf("seal: key %q: secret must be %d bytes", k.ID, KeySize)
		}
		if _, dup := kr.byID[k.ID]; dup {
			return nil, fmt.Errorf("seal: key ID %q appears twice; every key needs its own ID", k.ID)
		}
		rk, err := newRingKey(k)
		if err != nil {
			return nil, err
		}
		kr.keys = append(kr.keys, rk)
		kr.byID[k.ID] = rk
	}
	return kr, nil
}

func newRingKey(k Key) (*ringKey, error) {
	encKey, err := hkdf.Key(sha256.New, k.Secret, nil, "tenantgate/seal v1 aes-256-gcm", KeySize)
	if err != nil {
		return nil, fmt.Errorf("seal: key %q: %w", k.ID, err)
	}
	tagKey, err := hkdf.Key(sha256.New, k.Secret, nil, "tenantgate/seal v1 name tag", KeySize)
	if err != nil {
		return nil, fmt.Errorf("seal: key %q: %w", k.ID, err)
	}
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, fmt.Errorf("seal: key %q: %w", k.ID, err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("seal: key %q: %w", k.ID, err)
	}
	rk := &ringKey{id: k.ID, aead: aead}
	rk.scratch.New = func() any {
		return &scratch{mac: hmac.New(sha256.New, tagKey), sum: make([]byte, 0, sha256.Size)}
	}
	return rk, nil
}

// KeyID returns the ID of the key that seals.
func (kr *Keyring) KeyID() string {
	if kr == nil || len(kr.keys) == 0 {
		return ""
	}
	return kr.keys[0].id
}

// Overhead is how many bytes Seal adds to a plaintext.
func (kr *Keyring) Overhead() int {
	if kr == nil || len(kr.keys) == 0 {
		return 0
	}
	return 2 + len(kr.keys[0].id) + tagLen + gcmOverhead
}

// Seal returns plaintext sealed for name, the key it will be stored under.
func (kr *Keyring) Seal(plaintext []byte, name string) ([]byte, error) {
	return kr.AppendSeal(nil, plaintext, name)
}

// AppendSeal appends plaintext sealed for name to dst and returns the
// extended slice, so a caller can reuse a buffer. plaintext must not overlap
// the spare capacity of dst.
func (kr *Keyring) AppendSeal(dst, plaintext []byte, name string) ([]byte, error) {
	if kr == nil || len(kr.keys) == 0 {
		return dst, ErrNoKeys
	}
	k := kr.keys[0]
	start := len(dst)
	dst = grow(dst, kr.Overhead()+len(plaintext))
	dst = append(dst, version1, byte(len(k.id)))
	dst = append(dst, k.id...)
	s := k.scratch.Get().(*scratch)
	dst = append(dst, s.nameTag(name)...)
	dst = k.aead.Seal(dst, nil, plaintext, s.assoc(dst[start:], name))
	k.scratch.Put(s)
	return dst, nil
}

// Open returns the plaintext of a value sealed for name. Its errors wrap
// ErrMalformed, ErrUnknownKey, ErrWrongName or ErrTampered.
func (kr *Keyring) Open(sealed []byte, name string) ([]byte, error) {
	return kr.AppendOpen(nil, sealed, name)
}

// AppendOpen appends the plaintext of a value sealed for name to dst and
// returns the extended slice. sealed must not overlap the spare capacity of
// dst. On error dst is returned unchanged.
func (kr *Keyring) AppendOpen(dst, sealed []byte, name string) ([]byte, error) {
	if kr == nil || len(kr.keys) == 0 {
		return dst, ErrNoKeys
	}
	id, hdrLen, err := parseHeader(sealed)
	if err != nil {
		return dst, err
	}
	k, ok := kr.byID[string(id)] // no allocation: the compiler special-cases map[string(b)]
	if !ok {
		return dst, fmt.Errorf("%w (key ID %q)", ErrUnknownKey, id)
	}
	s := k.scratch.Get().(*scratch)
	defer k.scratch.Put(s)
	if subtle.ConstantTimeCompare(s.nameTag(name), sealed[hdrLen-tagLen:hdrLen]) != 1 {
		return dst, fmt.Errorf("%w (key ID %q)", ErrWrongName, id)
	}
	out, err := k.aead.Open(dst, nil, sealed[hdrLen:], s.assoc(sealed[:hdrLen], name))
	if err != nil {
		return dst, fmt.Errorf("%w (key ID %q)", ErrTampered, id)
	}
	return out, nil
}

// SealedWith returns the ID of the key a value was sealed with, so a caller
// can re-seal values whose key is no longer the keyring's first.
func SealedWith(sealed []byte) (string, error) {
	id, _, err := parseHeader(sealed)
	if err != nil {
		return "", err
	}
	return string(id), nil
}

// parseHeader checks the envelope's framing and returns the key ID and the
// header length (up to and including the name tag).
func parseHeader(sealed []byte) (id []byte, hdrLen int, err error) {
	if len(sealed) < 2 {
		return nil, 0, fmt.Errorf("%w: %d bytes is too short", ErrMalformed, len(sealed))
	}
	if sealed[0] != version1 {
		return nil, 0, fmt.Errorf("%w: unknown envelope version %d (sealed by a newer tenantgate?)", ErrMalformed, sealed[0])
	}
	n := int(sealed[1])
	if n == 0 || n > MaxKeyIDLen {
		return nil, 0, fmt.Errorf("%w: key ID length %d", ErrMalformed, n)
	}
	hdrLen = 2 + n + tagLen
	if len(sealed) < hdrLen+gcmOverhead {
		return nil, 0, fmt.Errorf("%w: %d bytes is too short", ErrMalformed, len(sealed))
	}
	id = sealed[2 : 2+n]
	for _, c := range id {
		if !idByte(c) {
			return nil, 0, fmt.Errorf("%w: key ID is not ASCII", ErrMalformed)
		}
	}
	return id, hdrLen, nil
}

func (s *scratch) nameTag(name string) []byte {
	s.ad = append(s.ad[:0], name...) // a []byte(name) conversion would allocate
	s.mac.Reset()
	s.mac.Write(s.ad)
	s.sum = s.mac.Sum(s.sum[:0])
	return s.sum[:tagLen]
}

// assoc returns header followed by name, in the scratch buffer: GCM must
// authenticate both, and dst may not overlap the associated data.
func (s *scratch) assoc(header []byte, name string) []byte {
	s.ad = append(append(s.ad[:0], header...), name...)
	return s.ad
}

func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), len(b)+n)
	copy(nb, b)
	return nb
}
