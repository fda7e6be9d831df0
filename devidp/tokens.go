package devidp

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"
)

// graphAppID is Microsoft Graph's app ID, the resource Entra assumes for a
// scope with no resource prefix (User.Read) and for openid-only requests.
const graphAppID = "00000003-0000-0000-c000-000000000000"

var oidcScopes = map[string]bool{"openid": true, "profile": true, "email": true, "offline_access": true}

// grant is what a successful token request grants: who, to which client,
// for which resource and permissions.
type grant struct {
	tenant   *Tenant
	client   *App
	acct     *account // nil for an app-only token
	echo     []string // scopes echoed in the reply, so MSAL caches under them
	aud      string
	scp      []string
	roles    []string
	offline  bool
	openid   bool
	nonce    string
	sid      string
	azpacr   string // 0 public, 1 secret, 2 certificate
	family   string // refresh tokens from one sign-in share a family
	authTime time.Time
}

// resolveScopes checks a space-separated scope parameter for client in t.
// As in Entra, all non-OIDC scopes must name one resource; app-only
// requests must ask for {resource}/.default.
func (p *IdP) resolveScopes(t *Tenant, client *App, scope string, appOnly bool) (*grant, *entraError) {
	g := &grant{tenant: t, client: client}
	var resource string
	var names []string
	for _, s := range strings.Fields(scope) {
		if oidcScopes[strings.ToLower(s)] {
			switch strings.ToLower(s) {
			case "offline_access":
				g.offline = true
			case "openid":
				g.openid = true
			}
			if !appOnly && strings.ToLower(s) != "offline_access" {
				g.echo = append(g.echo, strings.ToLower(s))
			}
			continue
		}
		res, name := "https://graph.microsoft.com", s
		if i := strings.LastIndex(s, "/"); i >= 0 {
			res, name = s[:i], s[i+1:]
		}
		if resource != "" && !strings.EqualFold(res, resource) {
			return nil, fail(70011, "The provided value for the input parameter 'scope' is not valid: scopes for more than one resource were requested.")
		}
		resource = res
		names = append(names, name)
		g.echo = append(g.echo, s)
	}
	if appOnly && (len(names) != 1 || names[0] != ".default") {
		return nil, fail(70011, "The provided value for the input parameter 'scope' is not valid. The scope %s is not valid: client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", clip(scope))
	}
	if resource == "" {
		if len(g.echo) == 0 {
			return nil, fail(70011, "The provided request must include a 'scope' input parameter.")
		}
		g.aud = graphAppID
		g.scp = slices.DeleteFunc(slices.Clone(g.echo), func(s string) bool { return s == "openid" })
		return g, nil
	}
	if strings.EqualFold(resource, "https://graph.microsoft.com") || resource == graphAppID {
		// Graph's permissions are not modelled: any name is granted.
		g.aud = graphAppID
		if appOnly {
			return g, nil
		}
		for _, n := range names {
			if n == ".default" {
				n = "User.Read"
			}
			g.scp = append(g.scp, n)
		}
		return g, nil
	}
	var res *App
	for i := range p.dir.src.Apps {
		a := &p.dir.src.Apps[i]
		if (strings.EqualFold(a.IdentifierURI, resource) || a.ClientID == strings.ToLower(resource)) && slices.Contains(a.Tenants, t.Name) {
			res = a
		}
	}
	if res == nil {
		return nil, fail(500011, "The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant.", clip(resource), t.Domain)
	}
	g.aud = res.ClientID
	for _, role := range res.AppRoles {
		switch {
		case appOnly && slices.Contains(role.AllowedMemberTypes, "Application"):
			g.roles = append(g.roles, role.Value)
		case !appOnly && slices.Contains(role.AllowedMemberTypes, "User"):
			g.roles = append(g.roles, role.Value) // narrowed to the user's roles in userRoles
		}
	}
	if appOnly {
		return g, nil
	}
	for _, n := range names {
		if n == ".default" {
			for _, s := range res.Scopes {
				if !s.NotConsented {
					g.scp = append(g.scp, s.Value)
				}
			}
			continue
		}
		i := slices.IndexFunc(res.Scopes, func(s Scope) bool { return strings.EqualFold(s.Value, n) })
		if i < 0 {
			return nil, fail(70011, "The provided value for the input parameter 'scope' is not valid. The scope %s does not exist on %s.", clip(n), res.IdentifierURI)
		}
		if res.Scopes[i].NotConsented {
			return nil, fail(65001, "The user or administrator has not consented to use the application with ID '%s' named '%s'. Send an interactive authorization request for this user and resource.", client.ClientID, client.Name)
		}
		g.scp = append(g.scp, res.Scopes[i].Value)
	}
	return g, nil
}

// randomToken returns an opaque token and the hash it is stored under, so
// that a memory dump of the IdP does not hold usable codes or tokens.
func randomToken(prefix string) (token, hash string) {
	var b [32]byte
	_, _ = rand.Read(b[:])
	token = prefix + base64.RawURLEncoding.EncodeToString(b[:])
	return token, hashToken(token)
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// pairwiseSub is Entra's per-app subject: the same user has a different sub
// in every app, so apps cannot correlate users by it.
func pairwiseSub(tenantID, oid, appID string) string {
	sum := sha256.Sum256([]byte(tenantID + "|" + oid + "|" + appID))
	return base64.RawURLEncoding.EncodeToString(sum[:])[:43]
}

// servicePrincipalID is the object ID of an app's service principal in a
// tenant: the oid of its app-only tokens.
func servicePrincipalID(tenantID, clientID string) string {
	return derivedGUID("sp", tenantID, clientID)
}

func (p *IdP) sign(tenantID string, claims map[string]any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	p.mu.Lock()
	k := p.keys[tenantID][0]
	p.mu.Unlock()
	return k.sign(payload)
}

// issue mints the tokens g grants and writes Entra's token reply.
func (p *IdP) issue(w http.ResponseWriter, r *http.Request, g *grant, wantClientInfo bool) {
	p.mu.Lock()
	now, life := p.now(), p.life
	p.mu.Unlock()
	iss := issuer(r, g.tenant.ID)
	at := map[string]any{
		"aud": g.aud, "iss": iss, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(life.AccessToken).Unix(),
		"azp": g.client.ClientID, "azpacr": g.azpacr, "tid": g.tenant.ID, "uti": newID(), "ver": "2.0",
	}
	reply := map[string]any{
		"token_type":     "Bearer",
		"scope":          strings.Join(g.echo, " "),
		"expires_in":     int(life.AccessToken / time.Second),
		"ext_expires_in": int(life.AccessToken / time.Second),
	}
	if life.RefreshIn > 0 {
		reply["refresh_in"] = int(life.RefreshIn / time.Second)
	}
	if g.acct == nil {
		sp := servicePrincipalID(g.tenant.ID, g.client.ClientID)
		at["oid"], at["sub"], at["idtyp"] = sp, sp, "app"
		reply["scope"] = strings.Join(g.echo, " ")
	} else {
		a := g.acct
		at["oid"], at["sub"], at["name"], at["preferred_username"] = a.oid, pairwiseSub(g.tenant.ID, a.oid, g.aud), a.user.Name, a.user.Username
		if len(g.scp) > 0 {
			at["scp"] = strings.Join(g.scp, " ")
		}
		if g.sid != "" {
			at["sid"] = g.sid
		}
	}
	if roles := p.userRoles(g, g.roles); len(roles) > 0 {
		at["roles"] = roles
	}
	var err error
	if reply["access_token"], err = p.sign(g.tenant.ID, at); err != nil {
		http.Error(w, "devidp: signing failed", http.StatusInternalServerError)
		return
	}
	if g.acct != nil {
		a := g.acct
		uid, utid := a.home(p.dir)
		if g.openid {
			id := map[string]any{
				"aud": g.client.ClientID, "iss": iss, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(life.IDToken).Unix(),
				"tid": g.tenant.ID, "oid": a.oid, "sub": pairwiseSub(g.tenant.ID, a.oid, g.client.ClientID), "ver": "2.0",
				"name": a.user.Name, "preferred_username": a.user.Username, "uti": newID(),
			}
			if g.nonce != "" {
				id["nonce"] = g.nonce
			}
			if g.sid != "" {
				id["sid"] = g.sid
			}
			if a.user.Email != "" {
				id["email"] = a.user.Email
			}
			if a.guest {
				id["idp"] = "https://sts.windows.net/" + utid + "/"
			}
			if !g.authTime.IsZero() {
				id["auth_time"] = g.authTime.Unix()
			}
			var clientRoles []string
			for _, role := range g.client.AppRoles {
				if slices.Contains(role.AllowedMemberTypes, "User") {
					clientRoles = append(clientRoles, role.Value)
				}
			}
			if roles := p.userRoles(g, clientRoles); len(roles) > 0 {
				id["roles"] = roles
			}
			if reply["id_token"], err = p.sign(g.tenant.ID, id); err != nil {
				http.Error(w, "devidp: signing failed", http.StatusInternalServerError)
				return
			}
		}
		if g.offline {
			reply["refresh_token"] = p.newRefreshToken(g, now, life)
		}
		if wantClientInfo {
			ci, _ := json.Marshal(map[string]string{"uid": uid, "utid": utid})
			reply["client_info"] = base64.RawURLEncoding.EncodeToString(ci)
		}
	}
	writeJSON(w, http.StatusOK, reply)
}

// userRoles narrows candidate roles to those the grant's user holds; an
// app-only grant keeps them all.
func (p *IdP) userRoles(g *grant, candidates []string) []string {
	if g.acct == nil {
		return candidates
	}
	var out []string
	for _, r := range candidates {
		if slices.Contains(g.acct.user.Roles, r) {
			out = append(out, r)
		}
	}
	return out
}
