package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tenantgate/tenantgate/cmd/tgload/internal/load"
)

// The command reads sessions from a cookie file, sends each request one
// of them, and prints a JSON result whose counts match what the server
// saw; a run with errors exits 3, bad flags exit 2.
func TestCommandCookieFileAndJSON(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Header.Get("Cookie")]++
		mu.Unlock()
		if r.Header.Get("Cookie") == "s=bad" {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "cookies.txt")
	if err := os.WriteFile(file, []byte("s=1; t=x\n\ns=2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"--url", srv.URL, "-c", "3", "--requests", "60", "--cookies", file, "--json"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var res load.Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if res.Requests != 60 || res.OK != 60 || res.Sessions != 2 || seen["s=1; t=x"] != 30 || seen["s=2"] != 30 {
		t.Errorf("result %+v, server saw %v", res, seen)
	}

	if err := os.WriteFile(file, []byte("s=bad\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := run(context.Background(), []string{"--url", srv.URL, "-c", "1", "--requests", "5", "--cookies", file}, &out, &errOut); code != 3 || !strings.Contains(out.String(), "status 401") {
		t.Errorf("a run of 401s: exit %d, report:\n%s", code, out.String())
	}
	for _, args := range [][]string{
		{"--url", srv.URL}, // no bound
		{"--url", "http://192.0.2.1/", "--requests", "1"}, // not loopback
		{"--requests", "1"}, // no URL
		{"--url", srv.URL, "--requests", "1", "-c", "100000"},   // too many connections
		{"--url", srv.URL, "--requests", "1", "stray-argument"}, // unexpected
	} {
		if code := run(context.Background(), args, &out, &errOut); code == 0 {
			t.Errorf("%q: exit 0", args)
		}
	}
}
