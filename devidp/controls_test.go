package devidp_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/devidp/devidptest"
)

// control calls an HTTP test control and decodes its JSON reply into out.
func control(t *testing.T, srv *devidptest.Server, method, path, body string, out any) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+"/_devidp/"+path, strings.NewReader(body))
	resp, err := srv.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatal(err)
		}
	}
}

func appToken(t *testing.T, srv *devidptest.Server) (int, entraBody, string) {
	return post(t, srv, "contoso.onmicrosoft.com", url.Values{"grant_type": {"client_credentials"}, "client_id": {srv.ClientID()},
		"client_secret": {srv.Secret()}, "scope": {"api://" + srv.ClientID() + "/.default"}})
}

func TestHTTPControls(t *testing.T) {
	srv := devidptest.Start(t)
	idp := srv.IdP()

	t.Run("clock", func(t *testing.T) {
		before := idp.Now()
		control(t, srv, "POST", "clock", `{"advance":"2h"}`, nil)
		if d := idp.Now().Sub(before); d < 2*time.Hour || d > 2*time.Hour+time.Minute {
			t.Fatalf("clock moved %v, want 2h", d)
		}
	})
	t.Run("lifetimes", func(t *testing.T) {
		control(t, srv, "POST", "lifetimes", `{"accessToken":"4m","refreshIn":"2m"}`, nil)
		defer idp.SetLifetimes(devidp.Lifetimes{})
		_, _, raw := appToken(t, srv)
		var r struct{ ExpiresIn, RefreshIn int }
		_ = json.Unmarshal([]byte(strings.NewReplacer("expires_in", "ExpiresIn", "refresh_in", "RefreshIn").Replace(raw)), &r)
		if r.ExpiresIn != 240 || r.RefreshIn != 120 {
			t.Fatalf("expires_in %d refresh_in %d, want 240 and 120", r.ExpiresIn, r.RefreshIn)
		}
	})
	t.Run("errors", func(t *testing.T) {
		control(t, srv, "POST", "errors", `{"endpoint":"token","grant":"client_credentials","code":50076,"times":2}`, nil)
		for range 2 {
			st, b, raw := appToken(t, srv)
			wantError(t, st, b, raw, 400, "interaction_required", 50076)
			if b.Claims == "" {
				t.Fatal("no claims challenge")
			}
		}
		if st, _, _ := appToken(t, srv); st != 200 {
			t.Fatalf("the queued error outlived its count: %d", st)
		}
	})
	t.Run("outage", func(t *testing.T) {
		control(t, srv, "POST", "outage", `{"for":"1m"}`, nil)
		st, b, raw := appToken(t, srv)
		wantError(t, st, b, raw, 503, "temporarily_unavailable", 90033)
		control(t, srv, "DELETE", "outage", "", nil)
		if st, _, _ := appToken(t, srv); st != 200 {
			t.Fatalf("after the outage: %d", st)
		}
	})
	t.Run("latency", func(t *testing.T) {
		control(t, srv, "POST", "latency", `{"latency":"150ms"}`, nil)
		start := time.Now()
		appToken(t, srv)
		control(t, srv, "POST", "latency", `{"latency":"0s"}`, nil)
		if d := time.Since(start); d < 150*time.Millisecond {
			t.Fatalf("request took %v, want at least 150ms", d)
		}
	})
	t.Run("keys", func(t *testing.T) {
		control(t, srv, "POST", "keys/rotate", `{"tenant":"fabrikam"}`, nil)
		var jwks struct{ Keys []map[string]any }
		resp, err := srv.HTTPClient().Get(srv.Authority("fabrikam") + "/discovery/v2.0/keys")
		if err != nil {
			t.Fatal(err)
		}
		_ = json.NewDecoder(resp.Body).Decode(&jwks)
		resp.Body.Close()
		if len(jwks.Keys) != 2 || jwks.Keys[0]["kid"] == jwks.Keys[1]["kid"] || jwks.Keys[0]["x5t"] == nil {
			t.Fatalf("JWKS after rotation: %v", jwks.Keys)
		}
	})
	t.Run("revoke", func(t *testing.T) {
		c, v := code(t, srv, "contoso", "bob@contoso.onmicrosoft.com")
		post(t, srv, "contoso.onmicrosoft.com", redeem(srv, c, v))
		var out struct{ Revoked int }
		control(t, srv, "POST", "revoke", `{"user":"bob@contoso.onmicrosoft.com"}`, &out)
		if out.Revoked != 1 {
			t.Fatalf("revoked %d, want 1", out.Revoked)
		}
	})
	t.Run("requests", func(t *testing.T) {
		control(t, srv, "DELETE", "requests", "", nil)
		appToken(t, srv)
		var out struct {
			Requests []devidp.Request
			Counts   map[string]int
		}
		control(t, srv, "GET", "requests", "", &out)
		if len(out.Requests) != 1 || out.Counts["token/client_credentials"] != 1 || out.Requests[0].ClientID != srv.ClientID() {
			t.Fatalf("log: %+v", out)
		}
	})
	t.Run("directory", func(t *testing.T) {
		var d struct {
			Tenants []struct{ Name, Authority string }
			Apps    []devidp.App
		}
		control(t, srv, "GET", "directory", "", &d)
		a := d.Apps[0]
		if a.ClientID != devidp.DemoClientID || a.Secrets[0] != devidp.DemoSecret || !strings.Contains(a.Certificates[0].PEM, "BEGIN CERTIFICATE") ||
			!strings.Contains(a.Certificates[0].PrivateKeyPEM, "PRIVATE KEY") || len(d.Tenants) != 3 || d.Tenants[0].Authority != srv.Authority("contoso") {
			t.Fatalf("directory: %+v", d)
		}
	})
}

func TestControlsAreOffUnlessEnabled(t *testing.T) {
	idp, err := devidp.New(devidp.Options{NewKey: devidptest.Keys()})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	idp.ServeHTTP(rec, httptest.NewRequest("POST", "/_devidp/clock", bytes.NewBufferString(`{"advance":"1h"}`)))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("control served without Options.Controls: %d", rec.Code)
	}
}
