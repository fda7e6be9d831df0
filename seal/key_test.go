package seal

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseKeys(t *testing.T) {
	secret := testKey("a").Secret
	std := base64.StdEncoding.EncodeToString(secret)
	tests := []struct {
		in      string
		wantIDs []string
	}{
		{"a:" + std, []string{"a"}},
		{"a:" + base64.RawStdEncoding.EncodeToString(secret), []string{"a"}},
		{"a:" + base64.URLEncoding.EncodeToString(secret), []string{"a"}},
		{"a:" + base64.RawURLEncoding.EncodeToString(secret), []string{"a"}},
		{"new:" + std + ",old:" + std, []string{"new", "old"}},
		{" new:" + std + " , old:" + std + "\n", []string{"new", "old"}},
		{"2026-01.k_1:" + std, []string{"2026-01.k_1"}},
	}
	for _, tt := range tests {
		kr, err := ParseKeys(tt.in)
		if err != nil {
			t.Errorf("ParseKeys(%q): %v", tt.in, err)
			continue
		}
		if kr.KeyID() != tt.wantIDs[0] || len(kr.keys) != len(tt.wantIDs) {
			t.Errorf("ParseKeys(%q): sealing key %q, %d keys; want %v", tt.in, kr.KeyID(), len(kr.keys), tt.wantIDs)
		}
	}
}

func TestParseKeysErrors(t *testing.T) {
	std := base64.StdEncoding.EncodeToString(testKey("a").Secret)
	short := base64.StdEncoding.EncodeToString(make([]byte, 16))
	for _, in := range []string{
		"",
		" , ",
		std,          // no ID
		":" + std,    // empty ID
		"a b:" + std, // space splits it: "a" has no key
		"k/1:" + std, // bad character
		strings.Repeat("k", 33) + ":" + std,
		"a:" + short,                      // 16 bytes
		"a:" + std + "AAAA",               // 35 bytes
		"a:" + std[:20] + "!!" + std[22:], // not base64
		"a:" + std + ",a:" + std,          // duplicate ID
	} {
		kr, err := ParseKeys(in)
		if err == nil {
			t.Errorf("ParseKeys(%q) = %v, want an error", in, kr)
			continue
		}
		if len(std) > 8 && strings.Contains(err.Error(), std[:16]) {
			t.Errorf("ParseKeys(%q) error echoes the secret: %v", in, err)
		}
		if !strings.HasPrefix(err.Error(), "seal: ") {
			t.Errorf("error %q lacks the package prefix", err)
		}
	}
}

func TestKeysFromEnv(t *testing.T) {
	k, _ := GenerateKey("env1")
	t.Setenv("TG_TEST_SEAL_KEYS", k.Encode())
	kr, err := KeysFromEnv("TG_TEST_SEAL_KEYS")
	if err != nil || kr.KeyID() != "env1" {
		t.Fatalf("KeysFromEnv = %v, %v", kr, err)
	}
	_, err = KeysFromEnv("TG_TEST_SEAL_KEYS_UNSET")
	if err == nil || !strings.Contains(err.Error(), "TG_TEST_SEAL_KEYS_UNSET") {
		t.Fatalf("unset variable: err = %v, want one naming the variable", err)
	}
	t.Setenv("TG_TEST_SEAL_KEYS", "env1:tooshort")
	if _, err := KeysFromEnv("TG_TEST_SEAL_KEYS"); err == nil || !strings.Contains(err.Error(), "TG_TEST_SEAL_KEYS") {
		t.Fatalf("bad value: err = %v, want one naming the variable", err)
	}
}

func TestKeysFromFile(t *testing.T) {
	a, _ := GenerateKey("2026-02")
	b, _ := GenerateKey("2026-01")
	path := filepath.Join(t.TempDir(), "keys")
	content := "# sealing key first\n" + a.Encode() + "\n\n   # retired, still opens\n" + b.Encode() + "\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	kr, err := KeysFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if kr.KeyID() != "2026-02" || len(kr.keys) != 2 {
		t.Fatalf("sealing key %q, %d keys", kr.KeyID(), len(kr.keys))
	}
	sealedByB, _ := mustKeyring(t, b).Seal([]byte("v"), "n")
	if _, err := kr.Open(sealedByB, "n"); err != nil {
		t.Fatalf("second key in file does not open: %v", err)
	}

	if err := os.WriteFile(path, []byte("# nothing\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := KeysFromFile(path); !errors.Is(err, ErrNoKeys) {
		t.Fatalf("file without keys: err = %v, want ErrNoKeys", err)
	}
	if err := os.WriteFile(path, []byte(a.Encode()+"\nbroken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := KeysFromFile(path); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("bad line: err = %v, want one naming line 2", err)
	}
	if _, err := KeysFromFile(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("missing file: no error")
	}
}

func TestGenerateKey(t *testing.T) {
	a, err := GenerateKey("g")
	if err != nil || len(a.Secret) != KeySize {
		t.Fatalf("GenerateKey = %v (%d bytes), %v", a, len(a.Secret), err)
	}
	b, _ := GenerateKey("g")
	if string(a.Secret) == string(b.Secret) {
		t.Fatal("two generated keys are equal")
	}
	if _, err := GenerateKey("bad id"); err == nil {
		t.Fatal("GenerateKey accepted an ID with a space")
	}
	kr, err := ParseKeys(a.Encode())
	if err != nil {
		t.Fatalf("ParseKeys(Encode()) = %v", err)
	}
	if sealed, _ := kr.Seal([]byte("x"), "n"); !opens(mustKeyring(t, a), sealed, "n") {
		t.Fatal("a key read back from Encode does not match the original")
	}
}

func mustKeyring(t *testing.T, keys ...Key) *Keyring {
	t.Helper()
	kr, err := NewKeyring(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func opens(kr *Keyring, sealed []byte, name string) bool {
	_, err := kr.Open(sealed, name)
	return err == nil
}
