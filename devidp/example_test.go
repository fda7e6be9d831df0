package devidp_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/tenantgate/tenantgate/devidp"
)

// An IdP is an http.Handler; serve it however you like. (MSAL needs
// https: see package devidptest and `tenantgate devidp`.)
func ExampleNew() {
	idp, err := devidp.New(devidp.Options{})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(idp)
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var doc struct{ Issuer string }
	_ = json.NewDecoder(resp.Body).Decode(&doc)
	fmt.Println(doc.Issuer == srv.URL+"/"+devidp.DemoContosoID+"/v2.0")
	// Output: true
}

// Tests move one IdP's clock and lifetimes without touching others.
func ExampleIdP_Advance() {
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	idp, err := devidp.New(devidp.Options{Now: func() time.Time { return start }})
	if err != nil {
		panic(err)
	}
	idp.Advance(90 * time.Minute)
	fmt.Println(idp.Now().Format(time.Kitchen))
	// Output: 1:30AM
}
