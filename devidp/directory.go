package devidp

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Directory is what an IdP knows: tenants, app registrations and users. It is
// plain data so that it can be written in YAML (LoadDirectory), built in Go,
// and returned as JSON by the /_devidp/directory control.
type Directory struct {
	Tenants []Tenant `yaml:"tenants" json:"tenants"`
	Apps    []App    `yaml:"apps" json:"apps"`
	Users   []User   `yaml:"users" json:"users"`
}

// TenantKind says which kind of Entra tenant a Tenant imitates.
type TenantKind string

// The tenant kinds. CIAM tenants (Entra External ID) are also reachable at
// https://{tenantID}.ciamlogin.com/{tenantID}, the authority form MSAL uses for them.
const (
	Workforce TenantKind = "workforce"
	CIAM      TenantKind = "ciam"
)

// Tenant is a directory tenant. Its GUID is what issuers carry; its domain is
// the other name Entra accepts in a URL.
type Tenant struct {
	// Name is a short handle for tests and configuration, e.g. "contoso".
	Name string `yaml:"name" json:"name"`
	// ID is the tenant ID, a lowercase GUID.
	ID string `yaml:"id" json:"id"`
	// Domain defaults to Name + ".onmicrosoft.com".
	Domain string     `yaml:"domain,omitempty" json:"domain"`
	Kind   TenantKind `yaml:"kind,omitempty" json:"kind"`
}

// App is an app registration. As in Entra, one registration (one client ID)
// can be used in several tenants: those listed in Tenants.
type App struct {
	Name     string   `yaml:"name" json:"name"`
	ClientID string   `yaml:"clientId" json:"clientId"`
	Tenants  []string `yaml:"tenants" json:"tenants"`
	// RedirectURIs must match a request's redirect_uri exactly.
	RedirectURIs []string      `yaml:"redirectUris,omitempty" json:"redirectUris"`
	Secrets      []string      `yaml:"secrets,omitempty" json:"secrets"`
	Certificates []Certificate `yaml:"certificates,omitempty" json:"certificates"`
	// IdentifierURI names the app as a resource in scopes; it defaults to
	// "api://" + ClientID. The client ID itself is always accepted too.
	IdentifierURI string    `yaml:"identifierUri,omitempty" json:"identifierUri"`
	Scopes        []Scope   `yaml:"scopes,omitempty" json:"scopes"`
	AppRoles      []AppRole `yaml:"appRoles,omitempty" json:"appRoles"`
}

// Certificate is a client certificate registered for an app. PrivateKeyPEM
// is never needed by the IdP; it is kept only for demo data, so that scripts
// can read it from /_devidp/directory and sign client assertions.
type Certificate struct {
	PEM string `yaml:"pem,omitempty" json:"pem"`
	// PEMFile names a file holding PEM, in YAML only; LoadDirectory reads it.
	PEMFile       string `yaml:"pemFile,omitempty" json:"-"`
	PrivateKeyPEM string `yaml:"privateKeyPem,omitempty" json:"privateKeyPem,omitempty"`
}

// Scope is a delegated permission an app exposes. Consent is assumed (as if
// an administrator had granted it) unless NotConsented is set, which makes
// requests for it fail with consent_required (AADSTS65001).
type Scope struct {
	Value        string `yaml:"value" json:"value"`
	NotConsented bool   `yaml:"notConsented,omitempty" json:"notConsented,omitempty"`
}

// AppRole is a role an app exposes. Roles allowing "Application" go into
// app-only tokens (client credentials) for the app as a resource; roles
// allowing "User" go into a user's tokens when the user holds them.
type AppRole struct {
	Value              string   `yaml:"value" json:"value"`
	AllowedMemberTypes []string `yaml:"allowedMemberTypes,omitempty" json:"allowedMemberTypes"`
}

// User is a person with a home tenant and, optionally, guest accounts in
// other tenants. Object IDs of guest accounts are derived when not given.
type User struct {
	// Username is the user principal name in the home tenant.
	Username string  `yaml:"username" json:"username"`
	Name     string  `yaml:"name,omitempty" json:"name"`
	Email    string  `yaml:"email,omitempty" json:"email,omitempty"`
	ObjectID string  `yaml:"objectId,omitempty" json:"objectId"`
	Tenant   string  `yaml:"tenant" json:"tenant"`
	GuestIn  []Guest `yaml:"guestIn,omitempty" json:"guestIn,omitempty"`
	// Roles are app role values assigned to the user, in every app that
	// exposes them.
	Roles []string `yaml:"roles,omitempty" json:"roles,omitempty"`
}

// Guest is a user's guest account in another tenant.
type Guest struct {
	Tenant   string `yaml:"tenant" json:"tenant"`
	ObjectID string `yaml:"objectId,omitempty" json:"objectId,omitempty"`
}

var guidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// derivedGUID makes a stable GUID from names, so that a directory written by
// hand needs no invented object IDs and the same file gives the same IDs.
func derivedGUID(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	h := hex.EncodeToString(sum[:16])
	return h[0:8] + "-" + h[8:12] + "-8" + h[13:16] + "-8" + h[17:20] + "-" + h[20:32]
}

// account is a user as seen in one tenant: a member or a guest.
type account struct {
	user   *User
	tenant *Tenant
	oid    string
	upn    string
	guest  bool
}

// home is the account's home tenant ID and object ID: what client_info carries.
func (a *account) home(d *directory) (uid, utid string) {
	return a.user.ObjectID, d.tenantByName[a.user.Tenant].ID
}

// directory is a validated Directory with lookups.
type directory struct {
	src          Directory
	tenantByName map[string]*Tenant
	tenantByKey  map[string]*Tenant // GUID and domain, lowercase
	appByID      map[string]*App
	accounts     map[string][]*account // by tenant ID, in directory order
}

// compile validates d and builds the lookups. Errors name the offending
// field, e.g. "users[2].tenant".
func compile(src Directory) (*directory, error) {
	d := &directory{
		src:          src,
		tenantByName: map[string]*Tenant{},
		tenantByKey:  map[string]*Tenant{},
		appByID:      map[string]*App{},
		accounts:     map[string][]*account{},
	}
	bad := func(field string, i int, format string, args ...any) error {
		return fmt.Errorf("devidp: directory: %s[%d]: %s", field, i, fmt.Sprintf(format, args...))
	}
	if len(src.Tenants) == 0 {
		return nil, fmt.Errorf("devidp: directory: tenants: at least one tenant is needed")
	}
	for i := range d.src.Tenants {
		t := &d.src.Tenants[i]
		t.ID = strings.ToLower(t.ID)
		switch {
		case t.Name == "":
			return nil, bad("tenants", i, "name: missing")
		case !guidRE.MatchString(t.ID):
			return nil, bad("tenants", i, "id: %q is not a GUID", t.ID)
		case d.tenantByName[t.Name] != nil:
			return nil, bad("tenants", i, "name: %q is used twice", t.Name)
		}
		if t.Domain == "" {
			t.Domain = t.Name + ".onmicrosoft.com"
		}
		switch t.Kind {
		case "":
			t.Kind = Workforce
		case Workforce, CIAM:
		default:
			return nil, bad("tenants", i, "kind: %q is neither %q nor %q", t.Kind, Workforce, CIAM)
		}
		for _, k := range []string{t.ID, strings.ToLower(t.Domain)} {
			if d.tenantByKey[k] != nil {
				return nil, bad("tenants", i, "id or domain %q is used twice", k)
			}
			d.tenantByKey[k] = t
		}
		d.tenantByName[t.Name] = t
	}
	for i := range d.src.Apps {
		a := &d.src.Apps[i]
		a.ClientID = strings.ToLower(a.ClientID)
		if !guidRE.MatchString(a.ClientID) {
			return nil, bad("apps", i, "clientId: %q is not a GUID", a.ClientID)
		}
		if d.appByID[a.ClientID] != nil {
			return nil, bad("apps", i, "clientId: %q is used twice", a.ClientID)
		}
		if len(a.Tenants) == 0 {
			return nil, bad("apps", i, "tenants: the app is registered in no tenant")
		}
		for _, tn := range a.Tenants {
			if d.tenantByName[tn] == nil {
				return nil, bad("apps", i, "tenants: no tenant named %q", tn)
			}
		}
		if a.IdentifierURI == "" {
			a.IdentifierURI = "api://" + a.ClientID
		}
		for j, c := range a.Certificates {
			if _, err := parseCertificatePEM(c.PEM); err != nil {
				return nil, bad("apps", i, "certificates[%d].pem: %v", j, err)
			}
		}
		for j, s := range a.Scopes {
			if s.Value == "" || strings.ContainsAny(s.Value, " /") {
				return nil, bad("apps", i, "scopes[%d].value: %q is not a scope name", j, s.Value)
			}
		}
		d.appByID[a.ClientID] = a
	}
	seen := map[string]bool{}
	for i := range d.src.Users {
		u := &d.src.Users[i]
		home := d.tenantByName[u.Tenant]
		switch {
		case u.Username == "" || !strings.Contains(u.Username, "@"):
			return nil, bad("users", i, "username: %q is not a user principal name", u.Username)
		case seen[strings.ToLower(u.Username)]:
			return nil, bad("users", i, "username: %q is used twice", u.Username)
		case home == nil:
			return nil, bad("users", i, "tenant: no tenant named %q", u.Tenant)
		}
		seen[strings.ToLower(u.Username)] = true
		u.ObjectID = strings.ToLower(u.ObjectID)
		if u.ObjectID == "" {
			u.ObjectID = derivedGUID("user", home.ID, u.Username)
		} else if !guidRE.MatchString(u.ObjectID) {
			return nil, bad("users", i, "objectId: %q is not a GUID", u.ObjectID)
		}
		if u.Name == "" {
			u.Name = u.Username
		}
		d.accounts[home.ID] = append(d.accounts[home.ID], &account{user: u, tenant: home, oid: u.ObjectID, upn: u.Username})
		for j := range u.GuestIn {
			g := &u.GuestIn[j]
			gt := d.tenantByName[g.Tenant]
			if gt == nil || gt == home {
				return nil, bad("users", i, "guestIn[%d].tenant: %q is not another tenant", j, g.Tenant)
			}
			g.ObjectID = strings.ToLower(g.ObjectID)
			if g.ObjectID == "" {
				g.ObjectID = derivedGUID("guest", gt.ID, u.Username)
			} else if !guidRE.MatchString(g.ObjectID) {
				return nil, bad("users", i, "guestIn[%d].objectId: %q is not a GUID", j, g.ObjectID)
			}
			upn := strings.ReplaceAll(u.Username, "@", "_") + "#EXT#@" + gt.Domain
			d.accounts[gt.ID] = append(d.accounts[gt.ID], &account{user: u, tenant: gt, oid: g.ObjectID, upn: upn, guest: true})
		}
	}
	return d, nil
}

// tenant resolves a URL's tenant segment: a GUID or a domain, as in Entra.
func (d *directory) tenant(key string) *Tenant {
	return d.tenantByKey[strings.ToLower(key)]
}

// app returns the app registration clientID if it is registered in t.
func (d *directory) app(clientID string, t *Tenant) *App {
	a := d.appByID[strings.ToLower(clientID)]
	if a == nil || !slices.Contains(a.Tenants, t.Name) {
		return nil
	}
	return a
}

// account finds a user in tenant t by sign-in name (home UPN or guest UPN)
// or object ID.
func (d *directory) account(t *Tenant, name string) *account {
	for _, a := range d.accounts[t.ID] {
		if strings.EqualFold(a.user.Username, name) || strings.EqualFold(a.upn, name) || a.oid == strings.ToLower(name) {
			return a
		}
	}
	return nil
}

// cloneDirectory copies src deeply, so that compile's normalising and the
// IdP's later reads never alias the caller's slices.
func cloneDirectory(src Directory) Directory {
	b, err := json.Marshal(src)
	if err != nil {
		panic("devidp: directory does not marshal: " + err.Error())
	}
	var d Directory
	if err := json.Unmarshal(b, &d); err != nil {
		panic("devidp: directory does not unmarshal: " + err.Error())
	}
	return d
}
