package devidp

import (
	"crypto/rsa"
	"time"
)

// IDs of the demo directory. They are fixed so that documentation, scripts
// and configuration can name them.
const (
	DemoClientID    = "7e0a6e11-aaaa-4aaa-8aaa-00000000a001"
	DemoSecret      = "dev~tenantgate-demo-secret"
	DemoContosoID   = "c0a7f4a1-1111-4c11-8c11-000000000001"
	DemoFabrikamID  = "fab0d4e2-2222-4f22-8f22-000000000002"
	DemoWoodgroveID = "d00d6a0e-3333-4d33-8d33-000000000003"
)

// Demo is the built-in directory: workforce tenants contoso and fabrikam, a
// CIAM tenant woodgrove, the app tenantgate-demo registered in all three
// with a secret and a certificate (made from newKey), and users, among them
// alice, a member of contoso and a guest in fabrikam.
//
// Redirect URIs on http://localhost and http://127.0.0.1 match any port, as
// in Entra, so a local app may listen wherever it likes.
func Demo(newKey func() (*rsa.PrivateKey, error)) (Directory, error) {
	if newKey == nil {
		newKey = GenerateKey
	}
	key, err := newKey()
	if err != nil {
		return Directory{}, err
	}
	cert, err := NewAppCertificate(key, "tenantgate-demo", time.Now())
	if err != nil {
		return Directory{}, err
	}
	return Directory{
		Tenants: []Tenant{
			{Name: "contoso", ID: DemoContosoID, Kind: Workforce},
			{Name: "fabrikam", ID: DemoFabrikamID, Kind: Workforce},
			{Name: "woodgrove", ID: DemoWoodgroveID, Kind: CIAM},
		},
		Apps: []App{{
			Name:     "tenantgate-demo",
			ClientID: DemoClientID,
			Tenants:  []string{"contoso", "fabrikam", "woodgrove"},
			RedirectURIs: []string{
				"http://localhost/callback",
				"http://127.0.0.1/callback",
				"http://localhost/.auth/login/aad/callback",
				"https://app.example/callback",
			},
			Secrets:      []string{DemoSecret},
			Certificates: []Certificate{cert},
			Scopes: []Scope{
				{Value: "access_as_user"},
				{Value: "Tasks.Read"},
				{Value: "Tasks.Admin", NotConsented: true},
			},
			AppRoles: []AppRole{
				{Value: "Tasks.Approver", AllowedMemberTypes: []string{"User"}},
				{Value: "Tasks.ReadAll", AllowedMemberTypes: []string{"Application"}},
			},
		}},
		Users: []User{
			{
				Username: "alice@contoso.onmicrosoft.com", Name: "Alice Adams", Email: "alice@contoso.example",
				ObjectID: "a11ce000-0000-4000-8000-00000000a11c", Tenant: "contoso",
				GuestIn: []Guest{{Tenant: "fabrikam", ObjectID: "a11ce000-0000-4000-8000-0000000fab01"}},
				Roles:   []string{"Tasks.Approver"},
			},
			{
				Username: "bob@contoso.onmicrosoft.com", Name: "Bob Brown", Email: "bob@contoso.example",
				ObjectID: "b0b00000-0000-4000-8000-000000000b0b", Tenant: "contoso",
			},
			{
				Username: "fiona@fabrikam.onmicrosoft.com", Name: "Fiona Fischer", Email: "fiona@fabrikam.example",
				ObjectID: "f10a0000-0000-4000-8000-00000000f10a", Tenant: "fabrikam",
			},
			{
				Username: "wendy@woodgrove.example", Name: "Wendy Wood", Email: "wendy@woodgrove.example",
				ObjectID: "0e0d1000-0000-4000-8000-00000000e0d1", Tenant: "woodgrove",
			},
		},
	}, nil
}
