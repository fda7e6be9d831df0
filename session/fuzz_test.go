package session

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/seal"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz/FuzzParseCookie and FuzzDecodeRecord from their seeds")

// FuzzParseCookie: any cookie value is either exactly an ID's encoding or
// no session; never a panic, never two values for one ID.
func FuzzParseCookie(f *testing.F) {
	f.Fuzz(func(t *testing.T, value string) {
		i, ok := parseCookie(value)
		if !ok {
			if i != (id{}) {
				t.Fatal("a refused value returned an ID")
			}
			return
		}
		if i.cookieValue() != value {
			t.Fatalf("%q parses but encodes back as %q: two cookies would name one session", value, i.cookieValue())
		}
	})
}

// fuzzKeyring is fixed, unlike the other tests' keys, so that the
// checked-in corpus holds records that open.
func fuzzKeyring(t testing.TB) *seal.Keyring {
	kr, err := seal.ParseKeys("fuzz:q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=")
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

const fuzzKey = "tg1:s:5d1a9c0e1f3b7a2c4e6f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"

// FuzzDecodeRecord: a stored record is refused with one of the three
// reasons or decodes to a record that encodes and decodes to the same
// thing, never a panic; and what decodes under one key does not under
// another.
func FuzzDecodeRecord(f *testing.F) {
	kr := fuzzKeyring(f)
	f.Fuzz(func(t *testing.T, data []byte, key string) {
		rec, err := decodeRecord(kr, key, data, DefaultMaxRecordBytes)
		if err != nil {
			if !errors.Is(err, errOversized) && !errors.Is(err, errCorrupt) && !errors.Is(err, errForeign) {
				t.Fatalf("unexpected error: %v", err)
			}
			if rec != nil {
				t.Fatal("a record with an error")
			}
			return
		}
		if _, err := decodeRecord(kr, key+"x", data, DefaultMaxRecordBytes); !errors.Is(err, errForeign) {
			t.Fatalf("decoded under another key: %v", err)
		}
		again, err := encodeRecord(kr, key, rec)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodeRecord(kr, key, again, len(again))
		if err != nil || back.info != rec.info || len(back.values) != len(rec.values) {
			t.Fatalf("re-encoded record does not decode the same: %v", err)
		}
	})
}

func seedRecords(t testing.TB) [][]byte {
	kr := fuzzKeyring(t)
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	rec := &record{info: Info{
		Identity: Identity{TenantKey: "contoso", TenantID: "t1", HomeAccountID: "u.t1", DisplayName: "Alice"},
		Created:  now, LastSeen: now, IdleExpires: now.Add(time.Hour), AbsoluteExpires: now.Add(8 * time.Hour),
	}}
	enc := func(r *record, key string) []byte {
		b, err := encodeRecord(kr, key, r)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	plain := enc(rec, fuzzKey)
	withValues := rec.clone()
	withValues.values = map[string]string{"cart": "42", "": "empty name"}
	other := enc(rec, "tg1:s:other")
	edited := []byte(strings.Replace(string(plain), "Alice", "Malory", 1))
	return [][]byte{
		plain,
		enc(withValues, fuzzKey),
		other,  // foreign
		edited, // metadata edited
		plain[:len(plain)-5],
		[]byte(`{"v":2,"meta":{},"sealed":"AA=="}`),
		[]byte(`{"v":1,"meta":{"created":"x"},"sealed":"AA=="}`),
		[]byte("null"),
		{},
	}
}

// TestFuzzCorpus keeps the checked-in corpora honest: their valid seeds
// must still be accepted, so a format change shows here rather than as
// fuzz targets that only explore junk. Regenerate with
// go test ./session -run TestFuzzCorpus -update-corpus
func TestFuzzCorpus(t *testing.T) {
	valid := id{1, 2, 3}
	cookies := []string{valid.cookieValue(), valid.cookieValue() + "=", valid.cookieValue()[:42] + "B", "", strings.Repeat("_", 43), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "a b"}
	if *updateCorpus {
		write := func(target string, bodies []string) {
			dir := filepath.Join("testdata", "fuzz", target)
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for i, b := range bodies {
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte("go test fuzz v1\n"+b), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		var cb, rb []string
		for _, c := range cookies {
			cb = append(cb, "string("+strconv.Quote(c)+")\n")
		}
		for _, r := range seedRecords(t) {
			rb = append(rb, "[]byte("+strconv.Quote(string(r))+")\nstring("+strconv.Quote(fuzzKey)+")\n")
		}
		write("FuzzParseCookie", cb)
		write("FuzzDecodeRecord", rb)
	}
	kr := fuzzKeyring(t)
	for target, check := range map[string]func(lines []string) bool{
		"FuzzParseCookie": func(lines []string) bool {
			_, ok := parseCookie(unquote(t, lines[0], "string("))
			return ok
		},
		"FuzzDecodeRecord": func(lines []string) bool {
			_, err := decodeRecord(kr, unquote(t, lines[1], "string("), []byte(unquote(t, lines[0], "[]byte(")), DefaultMaxRecordBytes)
			return err == nil
		},
	} {
		dir := filepath.Join("testdata", "fuzz", target)
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatalf("seed corpus missing: %v (regenerate with -update-corpus)", err)
		}
		accepted := 0
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			if len(lines) < 2 || lines[0] != "go test fuzz v1" {
				t.Fatalf("%s: not a corpus file", e.Name())
			}
			if check(lines[1:]) {
				accepted++
			}
		}
		if accepted < 1 || accepted == len(entries) {
			t.Fatalf("%s: %d of %d seeds accepted; want valid ones and refused ones (regenerate with -update-corpus)", target, accepted, len(entries))
		}
	}
}

func unquote(t *testing.T, line, prefix string) string {
	t.Helper()
	if !strings.HasPrefix(line, prefix) || !strings.HasSuffix(line, ")") {
		t.Fatalf("corpus line %q: want %s...)", line, prefix)
	}
	s, err := strconv.Unquote(line[len(prefix) : len(line)-1])
	if err != nil {
		t.Fatalf("corpus line %q: %v", line, err)
	}
	return s
}
