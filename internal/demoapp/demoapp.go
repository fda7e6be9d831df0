// Package demoapp is the app that tenantgate serve runs behind the gateway
// in demo mode: a page that shows who the gateway says is signed in (from
// Easy Auth's headers only, as an app in any language would read them),
// the tenant and the access token's expiry, a button that calls a demo API
// with the bearer token, tenant switching and sign-out.
package demoapp

import (
	"encoding/base64"
	"encoding/json"
	"html/template"
	"net/http"
	"strings"
	"time"
)

// Handler returns the demo app. tenants are the tenant keys to offer
// switching to.
func Handler(tenants []string) http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { home(w, r, tenants) })
	m.HandleFunc("GET /api/tasks", api)
	m.HandleFunc("GET /call-api", callAPI)
	return m
}

type claim struct {
	Type  string `json:"typ"`
	Value string `json:"val"`
}

type principal struct {
	Claims []claim `json:"claims"`
}

// who reads X-MS-CLIENT-PRINCIPAL, as any Easy Auth app does.
func who(r *http.Request) (map[string][]string, bool) {
	raw, err := base64.StdEncoding.DecodeString(r.Header.Get("X-MS-CLIENT-PRINCIPAL"))
	if err != nil || len(raw) == 0 {
		return nil, false
	}
	var p principal
	if json.Unmarshal(raw, &p) != nil {
		return nil, false
	}
	out := map[string][]string{}
	for _, c := range p.Claims {
		out[c.Type] = append(out[c.Type], c.Value)
	}
	return out, true
}

func first(m map[string][]string, k string) string {
	if v := m[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func home(w http.ResponseWriter, r *http.Request, tenants []string) {
	claims, ok := who(r)
	data := map[string]any{"Signed": ok, "Tenants": tenants}
	if ok {
		data["Name"] = first(claims, "name")
		data["User"] = r.Header.Get("X-MS-CLIENT-PRINCIPAL-NAME")
		data["ObjectID"] = r.Header.Get("X-MS-CLIENT-PRINCIPAL-ID")
		data["TenantID"] = first(claims, "tid")
		data["Roles"] = claims["roles"]
		data["Expires"] = r.Header.Get("X-MS-TOKEN-AAD-EXPIRES-ON")
	}
	render(w, homeTmpl, data)
}

// api is the demo API: it answers a caller with a bearer token with what
// the token says (audience, scopes, expiry). It does not verify the token:
// it is reached only through the gateway, which got it from the IdP.
func api(w http.ResponseWriter, r *http.Request) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	parts := strings.Split(tok, ".")
	if !ok || len(parts) != 3 {
		w.Header().Set("WWW-Authenticate", "Bearer")
		http.Error(w, "a bearer token is required", http.StatusUnauthorized)
		return
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	var c map[string]any
	if err != nil || json.Unmarshal(payload, &c) != nil {
		http.Error(w, "the bearer token is not a JWT", http.StatusUnauthorized)
		return
	}
	exp, _ := c["exp"].(float64)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"message": "hello from the demo API", "aud": c["aud"], "scp": c["scp"], "tid": c["tid"],
		"name": c["name"], "expires": time.Unix(int64(exp), 0).UTC().Format(time.RFC3339),
	})
}

// callAPI is the button: the app calls its API with the token the gateway
// passed it, as a backend would call a downstream API.
func callAPI(w http.ResponseWriter, r *http.Request) {
	rec := &recorder{header: http.Header{}}
	req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, "/api/tasks", nil)
	req.Header.Set("Authorization", r.Header.Get("Authorization"))
	api(rec, req)
	render(w, apiTmpl, map[string]any{"Status": rec.status, "Body": rec.body.String()})
}

type recorder struct {
	header http.Header
	status int
	body   strings.Builder
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(s int)   { r.status = s }
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}

func render(w http.ResponseWriter, t *template.Template, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
	_ = t.Execute(w, data)
}

const style = `<style>body{font-family:system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem;color:#222}
dt{font-weight:600;margin-top:.6rem}a.button,button{display:inline-block;margin:.3rem .4rem .3rem 0;padding:.45rem .9rem;border:1px solid #357;border-radius:.3rem;background:#eef4fb;color:#124;text-decoration:none;font-size:1rem}</style>`

var (
	homeTmpl = template.Must(template.New("home").Parse(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>tenantgate demo</title>` + style + `</head><body>
<h1>tenantgate demo</h1>
{{if .Signed}}<p id="who">Signed in as <b>{{.Name}}</b> ({{.User}})</p>
<dl><dt>Tenant ID</dt><dd id="tid">{{.TenantID}}</dd><dt>Object ID</dt><dd>{{.ObjectID}}</dd>
<dt>App roles</dt><dd>{{range .Roles}}{{.}} {{else}}none{{end}}</dd>
<dt>Access token expires</dt><dd id="expires">{{.Expires}}</dd></dl>
<p><a class="button" id="call" href="/call-api">Call the demo API with the bearer token</a></p>
<p>Switch tenant: {{range .Tenants}}<a class="button" href="/.auth/login/{{.}}?post_login_redirect_uri=/">{{.}}</a>{{end}}</p>
<p><a class="button" href="/.auth/me">/.auth/me</a> <a class="button" id="signout" href="/.auth/logout">Sign out</a></p>
{{else}}<p>Not signed in.</p><p><a class="button" href="/.auth/login/aad?post_login_redirect_uri=/">Sign in</a></p>{{end}}
<p style="color:#666">This page is the upstream app. It knows the user only from the X-MS-CLIENT-PRINCIPAL headers the gateway sets, like an app behind Easy Auth.</p>
</body></html>`))
	apiTmpl = template.Must(template.New("api").Parse(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Demo API</title>` + style + `</head><body>
<h1>Demo API answered {{.Status}}</h1><pre id="api">{{.Body}}</pre><p><a class="button" href="/">Back</a></p></body></html>`))
)
