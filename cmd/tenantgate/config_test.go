package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// One set of names in three places, and the order they win in: a flag
// over the environment over the file.
func TestSettingsPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tenantgate.yaml")
	os.WriteFile(file, []byte("redis:\n  url: redis://file:6379\nlisten: 127.0.0.1:1111\npublic-url: https://file.example\nallow-anonymous: [/a, /b]\n"), 0o600)
	env := map[string]string{"TENANTGATE_LISTEN": "127.0.0.1:2222", "TENANTGATE_PASS_ACCESS_TOKEN": "true"}
	var c serveConfig
	s := newServeFlags(&c, io.Discard)
	if err := s.fs.Parse([]string{"--public-url", "https://flag.example"}); err != nil {
		t.Fatal(err)
	}
	if err := s.resolve(file, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, got, want string }{
		{"redis.url from the file", c.redisURL, "redis://file:6379"},
		{"listen: the environment over the file", c.listen, "127.0.0.1:2222"},
		{"public-url: the flag over the file", c.publicURL, "https://flag.example"},
		{"allow-anonymous as a YAML list", strings.Join(c.allowAnonymous, ","), "/a,/b"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	if !c.passAccessToken {
		t.Error("TENANTGATE_PASS_ACCESS_TOKEN=true did not set --pass-access-token")
	}
}

func TestSettingsRefuseWhatTheyDoNotKnow(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tenantgate.yaml")
	os.WriteFile(file, []byte("redis:\n  urll: redis://x\n"), 0o600)
	var c serveConfig
	s := newServeFlags(&c, io.Discard)
	_ = s.fs.Parse(nil)
	err := s.resolve(file, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), `unknown setting "redis.urll"`) {
		t.Fatalf("misspelt key: %v", err)
	}
	s = newServeFlags(&c, io.Discard)
	_ = s.fs.Parse(nil)
	err = s.resolve("", func(k string) string {
		if k == "TENANTGATE_PASS_ACCESS_TOKEN" {
			return "yes please"
		}
		return ""
	})
	if err == nil || !strings.Contains(err.Error(), "TENANTGATE_PASS_ACCESS_TOKEN") {
		t.Fatalf("bad boolean in the environment: %v", err)
	}
}

// --check loads everything and exits 0 when it is good; otherwise it
// names what is wrong and exits non-zero, without serving.
func TestServeCheck(t *testing.T) {
	var out, errb strings.Builder
	if c := runServe(t.Context(), []string{"--check", "--listen", "127.0.0.1:0"}, func(string) string { return "" }, &out, &errb); c != 0 || !strings.Contains(out.String(), "ok: demo mode") {
		t.Fatalf("demo --check: %d %q %q", c, out.String(), errb.String())
	}
	bad := filepath.Join(t.TempDir(), "tenants.yaml")
	os.WriteFile(bad, []byte("tenants:\n  contoso:\n    tenantId: not-a-guid\n    clientId: x\n"), 0o600)
	out.Reset()
	errb.Reset()
	if c := runServe(t.Context(), []string{"--check", "--listen", "127.0.0.1:0", "--tenants", bad}, func(string) string { return "" }, &out, &errb); c == 0 || !strings.Contains(errb.String(), "tenantId") {
		t.Fatalf("bad tenant file --check: %d %q", c, errb.String())
	}
	out.Reset()
	errb.Reset()
	if c := runServe(t.Context(), []string{"--check", "--listen", "127.0.0.1:0", "--redis-url", "redis://127.0.0.1:1"}, func(string) string { return "" }, &out, &errb); c == 0 || !strings.Contains(errb.String(), "--redis-url") {
		t.Fatalf("unreachable Redis --check: %d %q", c, errb.String())
	}
	for _, age := range []string{"1500ms", "-1h"} {
		out.Reset()
		errb.Reset()
		if c := runServe(t.Context(), []string{"--check", "--listen", "127.0.0.1:0", "--max-auth-age", age}, func(string) string { return "" }, &out, &errb); c == 0 || !strings.Contains(errb.String(), "--max-auth-age") {
			t.Fatalf("--max-auth-age %s --check: %d %q", age, c, errb.String())
		}
	}
	out.Reset()
	if c := runServe(t.Context(), []string{"--check", "--listen", "127.0.0.1:0", "--max-auth-age", "12h"}, func(string) string { return "" }, &out, &errb); c != 0 {
		t.Fatalf("--max-auth-age 12h --check: %d %q", c, errb.String())
	}
}

// FuzzParseConfig: any settings file parses or is refused with an error
// naming the file; nothing panics, and every name found maps to a key.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{"redis:\n  url: redis://x\n", "listen: :8080\nallow-anonymous: [/a, /b]\n", "a: {b: {c: [1, {d: 2}]}}", "- 1\n- 2\n", "", "&a [*a]", "x: !!binary aGk="} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseConfig(b, "f.yaml")
		if err != nil {
			if !strings.Contains(err.Error(), "f.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for k := range m {
			if strings.ContainsRune(k, '.') {
				t.Fatalf("name %q keeps a dot", k)
			}
		}
	})
}

// A YAML list is already split: an element holding a comma stays one
// value; the environment's values are comma-separated.
func TestConfigFileListElementIsNotSplit(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tenantgate.yaml")
	os.WriteFile(file, []byte("allow-anonymous: [\"/a,b\", /c]\n"), 0o600)
	var c serveConfig
	s := newServeFlags(&c, io.Discard)
	if err := s.fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if err := s.resolve(file, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	if len(c.allowAnonymous) != 2 || c.allowAnonymous[0] != "/a,b" || c.allowAnonymous[1] != "/c" {
		t.Errorf("from the file: %q", c.allowAnonymous)
	}
	var e serveConfig
	s = newServeFlags(&e, io.Discard)
	s.fs.Parse(nil)
	if err := s.resolve("", func(k string) string { return map[string]string{"TENANTGATE_ALLOW_ANONYMOUS": "/a, /b"}[k] }); err != nil || strings.Join(e.allowAnonymous, "|") != "/a|/b" {
		t.Errorf("from the environment: %q %v", e.allowAnonymous, err)
	}
}

// The routes are at the root: a --public-url with a path is refused at
// start-up with a clear error, before anything listens.
func TestPublicURLWithAPathIsRefused(t *testing.T) {
	var out, errOut syncBuffer
	// Bounded, so that a regression (serving anyway) fails instead of hanging.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	code := runServe(ctx, []string{"--public-url", "https://app.example/portal", "--listen", "127.0.0.1:0"}, func(string) string { return "" }, &out, &errOut)
	if code == 0 || !strings.Contains(errOut.String(), "without a path") {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
}
