package seal

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// testKey returns a fixed key, so that the checked-in fuzz corpus opens.
func testKey(id string) Key {
	sum := sha256.Sum256([]byte("tenantgate seal test key " + id))
	return Key{ID: id, Secret: sum[:]}
}

func testKeyring(t testing.TB, ids ...string) *Keyring {
	t.Helper()
	keys := make([]Key, len(ids))
	for i, id := range ids {
		keys[i] = testKey(id)
	}
	kr, err := NewKeyring(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

const name = "tg1:tc:contoso:uid.utid"

func TestRoundTrip(t *testing.T) {
	kr := testKeyring(t, "k1")
	for _, size := range []int{0, 1, 15, 16, 17, 6 << 10, 1 << 20} {
		pt := bytes.Repeat([]byte{'x'}, size)
		sealed, err := kr.Seal(pt, name)
		if err != nil {
			t.Fatal(err)
		}
		if len(sealed) != len(pt)+kr.Overhead() {
			t.Errorf("size %d: sealed is %d bytes, want %d", size, len(sealed), len(pt)+kr.Overhead())
		}
		got, err := kr.Open(sealed, name)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if !bytes.Equal(got, pt) {
			t.Fatalf("size %d: plaintext changed", size)
		}
	}
}

func TestSealIsRandomized(t *testing.T) {
	kr := testKeyring(t, "k1")
	a, _ := kr.Seal([]byte("same"), name)
	b, _ := kr.Seal([]byte("same"), name)
	if bytes.Equal(a, b) {
		t.Fatal("two seals of one plaintext are equal: nonce reused")
	}
}

func TestEnvelopeLayout(t *testing.T) {
	kr := testKeyring(t, "key-2026")
	sealed, _ := kr.Seal([]byte("hello"), name)
	if sealed[0] != 1 || int(sealed[1]) != len("key-2026") || string(sealed[2:10]) != "key-2026" {
		t.Fatalf("header = %q, want version 1, length 8, key-2026", sealed[:10])
	}
	if id, err := SealedWith(sealed); err != nil || id != "key-2026" {
		t.Fatalf("SealedWith = %q, %v", id, err)
	}
}

func TestOpenErrors(t *testing.T) {
	kr := testKeyring(t, "k1")
	pt := []byte("refresh-token-secret-value")
	sealed, err := kr.Seal(pt, name)
	if err != nil {
		t.Fatal(err)
	}
	// header: version(1) len(1) "k1"(2) tag(8) = 12; then nonce(12), ciphertext, GCM tag.
	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 0x01
		return b
	}
	tests := []struct {
		name   string
		sealed []byte
		as     string
		want   error
	}{
		{"other name", sealed, name + "x", ErrWrongName},
		{"empty name", sealed, "", ErrWrongName},
		{"name tag altered", flip(5), name, ErrWrongName},
		{"nonce altered", flip(12), name, ErrTampered},
		{"ciphertext altered", flip(30), name, ErrTampered},
		{"GCM tag altered", flip(len(sealed) - 1), name, ErrTampered},
		{"key ID changed", flip(3), name, ErrUnknownKey}, // "k1" -> "k0"
		{"unknown version", flip(0), name, ErrMalformed},
		{"key ID length zero", append([]byte{1, 0}, sealed[2:]...), name, ErrMalformed},
		{"key ID length too long", append([]byte{1, 33}, sealed[2:]...), name, ErrMalformed},
		{"key ID not ASCII", append([]byte{1, 2, 0xff, 'x'}, sealed[4:]...), name, ErrMalformed},
		{"truncated", sealed[:len(sealed)-len(pt)-17], name, ErrMalformed},
		{"one byte", sealed[:1], name, ErrMalformed},
		{"empty", nil, name, ErrMalformed},
		{"plain text", []byte("not sealed at all, just some JSON"), name, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := kr.Open(tt.sealed, tt.as)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open err = %v, want %v", err, tt.want)
			}
			if got != nil {
				t.Fatalf("Open returned %d bytes with an error", len(got))
			}
			for _, other := range []error{ErrMalformed, ErrUnknownKey, ErrWrongName, ErrTampered} {
				if other != tt.want && errors.Is(err, other) {
					t.Errorf("err %v also matches %v", err, other)
				}
			}
			if msg := err.Error(); strings.Contains(msg, string(pt)) || !strings.HasPrefix(msg, "seal: ") {
				t.Errorf("error %q leaks plaintext or lacks the package prefix", msg)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	old := testKeyring(t, "old")
	rotated := testKeyring(t, "new", "old")
	sealedOld, _ := old.Seal([]byte("v1"), name)

	if got, err := rotated.Open(sealedOld, name); err != nil || string(got) != "v1" {
		t.Fatalf("rotated keyring opening an old value = %q, %v", got, err)
	}
	sealedNew, _ := rotated.Seal([]byte("v2"), name)
	if id, _ := SealedWith(sealedNew); id != "new" {
		t.Fatalf("rotated keyring sealed with %q, want the first key", id)
	}
	if _, err := old.Open(sealedNew, name); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("old keyring opening a new value: err = %v, want ErrUnknownKey", err)
	}
}

func TestSameIDOtherSecret(t *testing.T) {
	a := testKeyring(t, "k1")
	other, _ := GenerateKey("k1")
	b, _ := NewKeyring(other)
	sealed, _ := a.Seal([]byte("v"), name)
	if _, err := b.Open(sealed, name); err == nil {
		t.Fatal("a key with the same ID but another secret opened the value")
	}
}

func TestAppend(t *testing.T) {
	kr := testKeyring(t, "k1")
	buf := append(make([]byte, 0, 256), "prefix"...)
	buf, err := kr.AppendSeal(buf, []byte("payload"), name)
	if err != nil || string(buf[:6]) != "prefix" {
		t.Fatalf("AppendSeal: %v, prefix %q", err, buf[:6])
	}
	out := append(make([]byte, 0, 64), "head"...)
	out, err = kr.AppendOpen(out, buf[6:], name)
	if err != nil || string(out) != "headpayload" {
		t.Fatalf("AppendOpen = %q, %v", out, err)
	}
	out2, err := kr.AppendOpen(out, buf[6:], "other")
	if err == nil || string(out2) != "headpayload" {
		t.Fatalf("AppendOpen on error changed dst to %q (err %v)", out2, err)
	}
}

func TestAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items, so allocation counts are meaningless")
	}
	kr := testKeyring(t, "k1")
	pt := bytes.Repeat([]byte{'a'}, 6<<10)
	dst := make([]byte, 0, len(pt)+kr.Overhead())
	sealed, _ := kr.Seal(pt, name)
	if n := testing.AllocsPerRun(100, func() { _, _ = kr.AppendSeal(dst[:0], pt, name) }); n > 0 {
		t.Errorf("AppendSeal into a large enough buffer: %v allocations, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = kr.AppendOpen(dst[:0], sealed, name) }); n > 0 {
		t.Errorf("AppendOpen into a large enough buffer: %v allocations, want 0", n)
	}
}

func TestNilKeyring(t *testing.T) {
	var kr *Keyring
	if _, err := kr.Seal([]byte("x"), name); !errors.Is(err, ErrNoKeys) {
		t.Fatalf("Seal on nil keyring: %v", err)
	}
	if _, err := kr.Open([]byte("x"), name); !errors.Is(err, ErrNoKeys) {
		t.Fatalf("Open on nil keyring: %v", err)
	}
	if _, err := NewKeyring(); !errors.Is(err, ErrNoKeys) {
		t.Fatalf("NewKeyring(): %v", err)
	}
}

func TestKeyNeverPrintsSecret(t *testing.T) {
	k, err := GenerateKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	secret := k.Encode()[len("k1:"):]
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(format, k); strings.Contains(s, secret) || strings.Contains(s, fmt.Sprint(k.Secret)) {
			t.Errorf("%s prints the secret: %s", format, s)
		}
	}
}
