package devidp

import (
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"strings"
)

// Multi-tenant aliases Entra accepts in place of a tenant in URLs. Their
// discovery documents carry "{tenantid}" in the issuer, for the client to
// substitute with the tid claim.
const (
	common        = "common"
	organizations = "organizations"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// pathTenant resolves the {tenant} segment. multi reports "common" or
// "organizations"; otherwise t is the tenant, or an AADSTS90002 error is
// written and both are zero.
func (p *IdP) pathTenant(w http.ResponseWriter, r *http.Request, allowMulti bool) (t *Tenant, multi string, ok bool) {
	seg := r.PathValue("tenant")
	if allowMulti && (strings.EqualFold(seg, common) || strings.EqualFold(seg, organizations)) {
		record(r).Tenant = strings.ToLower(seg)
		return nil, strings.ToLower(seg), true
	}
	t = p.dir.tenant(seg)
	if t == nil {
		p.fail(w, r, fail(90002, "Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", clip(seg)))
		return nil, "", false
	}
	record(r).Tenant = t.ID
	return t, "", true
}

// clip shortens caller input echoed in an error, so that error bodies stay small.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

func (p *IdP) serveConfiguration(w http.ResponseWriter, r *http.Request) {
	t, multi, ok := p.pathTenant(w, r, true)
	if !ok {
		return
	}
	seg, iss := multi, issuer(r, "{tenantid}")
	if t != nil {
		seg, iss = t.ID, issuer(r, t.ID)
	}
	base := baseURL(r) + "/" + seg
	pages := base
	if p.browser != "" {
		pages = p.browser + "/" + seg
	}
	meta := map[string]any{
		"issuer":                                iss,
		"authorization_endpoint":                pages + "/oauth2/v2.0/authorize",
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"end_session_endpoint":                  pages + "/oauth2/v2.0/logout",
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"response_modes_supported":              []string{"query", "form_post"},
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported":      []string{"S256"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"claims_supported": []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce",
			"preferred_username", "name", "tid", "ver", "oid", "email", "roles", "sid"},
		"request_uri_parameter_supported": false,
		"http_logout_supported":           true,
		"frontchannel_logout_supported":   true,
		"cloud_instance_name":             "microsoftonline.com",
		"tenant_region_scope":             "WW",
	}
	if p.sendsIss() {
		meta["authorization_response_iss_parameter_supported"] = true
	}
	writeJSON(w, http.StatusOK, meta)
}

func (p *IdP) serveKeys(w http.ResponseWriter, r *http.Request) {
	t, _, ok := p.pathTenant(w, r, true)
	if !ok {
		return
	}
	tenants := p.dir.src.Tenants
	if t != nil {
		tenants = []Tenant{*t}
	}
	keys := []map[string]any{}
	p.mu.Lock()
	for _, t := range tenants {
		for _, k := range p.keys[t.ID] {
			keys = append(keys, k.jwk(issuer(r, t.ID)))
		}
	}
	p.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}

// serveInstanceDiscovery answers MSAL's instance discovery, which it sends
// to login.microsoftonline.com for any authority host it does not know,
// unless the client is built with WithInstanceDiscovery(false).
func (p *IdP) serveInstanceDiscovery(w http.ResponseWriter, r *http.Request) {
	u, err := url.Parse(r.URL.Query().Get("authorization_endpoint"))
	parts := []string{}
	if err == nil {
		parts = strings.Split(strings.Trim(u.Path, "/"), "/")
	}
	if err != nil || u.Scheme != "https" || u.Host == "" || len(parts) == 0 || parts[0] == "" {
		p.fail(w, r, fail(50049, ""))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": "https://" + u.Host + "/" + parts[0] + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata": []map[string]any{{
			"preferred_network": u.Host,
			"preferred_cache":   u.Host,
			"aliases":           []string{u.Host},
		}},
	})
}

var indexPage = template.Must(template.New("index").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>devidp</title></head>
<body><h1>devidp</h1><p>An Entra ID–compatible identity provider for development and tests. Never use it in production.</p>
<table><tr><th>tenant</th><th>kind</th><th>authority</th></tr>
{{range .}}<tr><td>{{.Name}}</td><td>{{.Kind}}</td><td><code>{{.Authority}}</code></td></tr>
{{end}}</table></body></html>
`))

func (p *IdP) serveIndex(w http.ResponseWriter, r *http.Request) {
	type row struct{ Name, Kind, Authority string }
	var rows []row
	for _, t := range p.dir.src.Tenants {
		rows = append(rows, row{t.Name, string(t.Kind), baseURL(r) + "/" + t.ID})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = indexPage.Execute(w, rows)
}
