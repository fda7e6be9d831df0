package seal

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz/FuzzOpen from the seeds in seedEnvelopes")

// FuzzOpen feeds Open arbitrary envelopes and names. Open must never panic,
// must fail only with one of its four errors, and whatever it opens must be
// a genuine envelope: it opens again and fails under any other name.
func FuzzOpen(f *testing.F) {
	kr := testKeyring(f, "k1", "rotated-2025")
	f.Fuzz(func(t *testing.T, sealed []byte, name string) {
		pt, err := kr.Open(sealed, name)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownKey) &&
				!errors.Is(err, ErrWrongName) && !errors.Is(err, ErrTampered) {
				t.Fatalf("Open failed with an unexpected error: %v", err)
			}
			if pt != nil {
				t.Fatal("Open returned plaintext with an error")
			}
			return
		}
		again, err := kr.Open(sealed, name)
		if err != nil || !bytes.Equal(pt, again) {
			t.Fatalf("a value that opened once does not open again: %v", err)
		}
		if _, err := kr.Open(sealed, name+"\x00"); !errors.Is(err, ErrWrongName) {
			t.Fatalf("opened under another name: err = %v", err)
		}
	})
}

type seed struct {
	sealed []byte
	name   string
}

// seedEnvelopes are valid envelopes, their near misses and junk.
func seedEnvelopes(t testing.TB) []seed {
	kr := testKeyring(t, "k1", "rotated-2025")
	old := testKeyring(t, "rotated-2025")
	stranger := testKeyring(t, "stranger")
	s := func(kr *Keyring, pt, name string) []byte {
		b, err := kr.Seal([]byte(pt), name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	valid := s(kr, `{"AccessToken":{}}`, "tg1:tc:contoso:app")
	flipped := bytes.Clone(valid)
	flipped[len(flipped)-3] ^= 0x80
	return []seed{
		{valid, "tg1:tc:contoso:app"},
		{s(kr, "", "tg1:sess:x"), "tg1:sess:x"},
		{s(old, "opened by a rotated key", "tg1:tc:fabrikam:u1"), "tg1:tc:fabrikam:u1"},
		{valid, "tg1:tc:fabrikam:app"},                          // wrong name
		{s(stranger, "unknown key", "n"), "n"},                  // unknown key ID
		{flipped, "tg1:tc:contoso:app"},                         // tampered
		{valid[:len(valid)-1], "tg1:tc:contoso:app"},            // truncated
		{append([]byte{2}, valid[1:]...), "tg1:tc:contoso:app"}, // future version
		{nil, ""},
		{[]byte{1}, "n"},
		{[]byte{1, 0xff}, "n"},
		{[]byte(`{"not":"sealed"}`), "n"},
	}
}

// TestFuzzCorpus keeps the checked-in corpus honest: its valid envelopes
// must still open, so a change of format shows up here rather than as a
// fuzz target that silently only explores junk. Regenerate with
// go test ./seal -run TestFuzzCorpus -update-corpus
func TestFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzOpen")
	if *updateCorpus {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, sd := range seedEnvelopes(t) {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\nstring(%s)\n", strconv.Quote(string(sd.sealed)), strconv.Quote(sd.name))
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("seed corpus missing: %v (regenerate with -update-corpus)", err)
	}
	kr := testKeyring(t, "k1", "rotated-2025")
	opened := 0
	for _, e := range entries {
		sealed, name := readCorpusFile(t, filepath.Join(dir, e.Name()))
		if _, err := kr.Open(sealed, name); err == nil {
			opened++
		}
	}
	if opened < 3 {
		t.Fatalf("%d of %d corpus files open, want at least 3 valid envelopes; regenerate with -update-corpus", opened, len(entries))
	}
}

// readCorpusFile parses the two-value "go test fuzz v1" files this package
// writes; it is not a general parser of the format.
func readCorpusFile(t *testing.T, path string) ([]byte, string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) != 3 || string(lines[0]) != "go test fuzz v1" {
		t.Fatalf("%s: not a two-value corpus file", path)
	}
	unquote := func(line, prefix string) string {
		if len(line) < len(prefix)+1 || line[:len(prefix)] != prefix || line[len(line)-1] != ')' {
			t.Fatalf("%s: want %s...)", path, prefix)
		}
		s, err := strconv.Unquote(line[len(prefix) : len(line)-1])
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return s
	}
	return []byte(unquote(string(lines[1]), "[]byte(")), unquote(string(lines[2]), "string(")
}
