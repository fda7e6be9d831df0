package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/devidp/devidptest"
)

// The command's whole promise: start, write a CA that makes its HTTPS
// trusted, print authorities that the real MSAL Go can use.
func TestDevIDPCommandServesTrustedAuthorities(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	out, w := io.Pipe()
	code := make(chan int, 1)
	env := map[string]string{"TENANTGATE_DEVIDP_ADDR": "127.0.0.1:0", "TENANTGATE_DEVIDP_CA_OUT": caFile}
	go func() {
		code <- runDevIDP(ctx, nil, func(k string) string { return env[k] }, w, io.Discard, devidptest.Keys())
		w.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if c := <-code; c != 0 {
			t.Errorf("exit code %d", c)
		}
	})

	authorities := map[string]string{}
	sc := bufio.NewScanner(out)
	for len(authorities) < 3 && sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 4 && f[0] == "authority" {
			authorities[f[1]] = f[3]
		}
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	if len(authorities) != 3 {
		t.Fatalf("printed authorities: %v", authorities)
	}
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatal("--ca-out holds no certificate")
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: newTLS(pool)}}

	cred, _ := confidential.NewCredFromSecret(devidp.DemoSecret)
	app, err := confidential.New(authorities["fabrikam"], devidp.DemoClientID, cred,
		confidential.WithHTTPClient(hc), confidential.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.AcquireTokenByCredential(ctx, []string{"api://" + devidp.DemoClientID + "/.default"}); err != nil {
		t.Fatal(err)
	}
	// The demo always has its controls.
	base := strings.TrimSuffix(authorities["contoso"], "/"+devidp.DemoContosoID)
	resp, err := hc.Get(base + "/_devidp/directory")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/_devidp/directory: %d", resp.StatusCode)
	}
}

func TestDevIDPCommandRefusesBadInput(t *testing.T) {
	noEnv := func(string) string { return "" }
	var stderr strings.Builder
	if c := runDevIDP(context.Background(), []string{"--addr", "127.0.0.1:0"}, noEnv, io.Discard, &stderr, devidptest.Keys()); c != 2 || !strings.Contains(stderr.String(), "--ca-out is required") {
		t.Fatalf("without --ca-out: %d %q", c, stderr.String())
	}
	stderr.Reset()
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	_ = os.WriteFile(bad, []byte("tenants:\n  - name: x\n    id: nope\n"), 0o600)
	args := []string{"--addr", "127.0.0.1:0", "--ca-out", filepath.Join(t.TempDir(), "ca.pem"), "--config", bad}
	if c := runDevIDP(context.Background(), args, noEnv, io.Discard, &stderr, devidptest.Keys()); c != 1 || !strings.Contains(stderr.String(), "tenants[0]: id") {
		t.Fatalf("bad config: %d %q", c, stderr.String())
	}
}

func TestUnknownCommand(t *testing.T) {
	var stderr strings.Builder
	if c := run(context.Background(), []string{"nope"}, io.Discard, &stderr); c != 2 || !strings.Contains(stderr.String(), "unknown command") {
		t.Fatalf("%d %q", c, stderr.String())
	}
}

func newTLS(pool *x509.CertPool) *tls.Config { return &tls.Config{RootCAs: pool} }
