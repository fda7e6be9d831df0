package devidp_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/devidp/devidptest"
)

// FuzzTokenForm sends arbitrary bodies to the token endpoint. Whatever the
// input, the IdP must answer (never panic), with a known status, and every
// refusal must be an Entra error body. Seeds: testdata/fuzz/FuzzTokenForm.
func FuzzTokenForm(f *testing.F) {
	idp, err := devidp.New(devidp.Options{NewKey: devidptest.Keys()})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("grant_type=client_credentials&client_id=" + devidp.DemoClientID + "&client_secret=" + devidp.DemoSecret + "&scope=api%3A%2F%2F" + devidp.DemoClientID + "%2F.default")
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, "/"+devidp.DemoContosoID+"/oauth2/v2.0/token", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		idp.ServeHTTP(rec, req)
		switch rec.Code {
		case 200:
			return
		case 400, 401, 413:
		default:
			t.Fatalf("status %d", rec.Code)
		}
		var b struct {
			Error string `json:"error"`
			Codes []int  `json:"error_codes"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil || b.Error == "" || len(b.Codes) != 1 {
			t.Fatalf("refusal is not an Entra error body: %q", rec.Body.String())
		}
	})
}

// FuzzParseAssertion feeds arbitrary strings to the client-assertion
// parser. Seeds: testdata/fuzz/FuzzParseAssertion.
func FuzzParseAssertion(f *testing.F) {
	f.Add("eyJhbGciOiJQUzI1NiJ9.e30.AA")
	f.Fuzz(func(t *testing.T, s string) {
		_ = devidp.ParseAssertion(s)
	})
}
