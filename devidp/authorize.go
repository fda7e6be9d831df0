package devidp

import (
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// sessionCookie names the IdP's browser session, which lets prompt=none
// sign a user in again without the page.
const sessionCookie = "devidp_session"

type authCode struct {
	tenant      *Tenant
	clientID    string
	redirectURI string
	scope       string
	nonce       string
	challenge   string
	acct        *account
	sid         string
	authTime    time.Time
	expires     time.Time
	used        bool
}

// browserSession is who signed in with one browser, per tenant, and when
// each user last authenticated on the page: a silent sign-in
// (prompt=none) reports that time as auth_time, as Entra's single sign-on
// does, and max_age is measured from it.
type browserSession struct {
	sid      string
	accounts map[string]*account // by tenant ID
	authTime map[*User]time.Time
}

// redirectAllowed reports whether uri is registered for app. As in Entra,
// http://localhost and http://127.0.0.1 match on any port.
func redirectAllowed(app *App, uri string) bool {
	u, err := url.Parse(uri)
	if err != nil || uri == "" {
		return false
	}
	for _, reg := range app.RedirectURIs {
		if reg == uri {
			return true
		}
		ru, err := url.Parse(reg)
		if err != nil || ru.Scheme != "http" || u.Scheme != "http" || (ru.Hostname() != "localhost" && ru.Hostname() != "127.0.0.1") {
			continue
		}
		if ru.Hostname() == u.Hostname() && ru.Path == u.Path && u.RawQuery == "" && u.Fragment == "" {
			return true
		}
	}
	return false
}

func (p *IdP) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	seg := r.PathValue("tenant")
	var t *Tenant
	if strings.EqualFold(seg, common) || strings.EqualFold(seg, organizations) {
		// t stays nil: the user chosen decides the tenant.
	} else if t = p.dir.tenant(seg); t == nil {
		p.failPage(w, r, fail(90002, "Tenant '%s' not found.", clip(seg)))
		return
	}
	if err := r.ParseForm(); err != nil {
		p.failPage(w, r, fail(9002313, "Invalid request. The request is not a valid form."))
		return
	}
	q := r.Form
	record(r).Claims = q.Get("claims") != ""
	clientID := q.Get("client_id")
	record(r).ClientID = clip(clientID)
	app := p.dir.appByID[strings.ToLower(clientID)]
	if app == nil || (t != nil && p.dir.app(clientID, t) == nil) {
		where := seg
		if t != nil {
			where = t.Domain
		}
		p.failPage(w, r, fail(700016, "Application with identifier '%s' was not found in the directory '%s'.", clip(clientID), clip(where)))
		return
	}
	redirect := q.Get("redirect_uri")
	if !redirectAllowed(app, redirect) {
		p.failPage(w, r, fail(50011, "The redirect URI '%s' specified in the request does not match the redirect URIs configured for the application '%s'.", clip(redirect), app.ClientID))
		return
	}
	mode := q.Get("response_mode")
	if mode == "" {
		mode = "query"
	}
	if mode != "query" && mode != "form_post" {
		p.failPage(w, r, fail(9002313, "Invalid request. response_mode '%s' is not supported; use query or form_post.", clip(mode)))
		return
	}
	// issTenant is whose issuer an authorization response names (RFC 9207,
	// with Options.ResponseIss): the path's tenant, or the user's once
	// chosen at common or organizations, where an error before that
	// carries none.
	issTenant := t
	reply := func(params url.Values) {
		if s := q.Get("state"); s != "" {
			params.Set("state", s)
		}
		if p.sendsIss() && issTenant != nil {
			params.Set("iss", issuer(r, issTenant.ID))
		}
		if mode == "form_post" {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			_ = formPostPage.Execute(w, struct {
				Action string
				Params url.Values
			}{redirect, params})
			return
		}
		u, _ := url.Parse(redirect)
		v := u.Query()
		for k, vs := range params {
			v[k] = vs
		}
		u.RawQuery = v.Encode()
		http.Redirect(w, r, u.String(), http.StatusFound)
	}
	replyError := func(e *entraError) {
		if rec := record(r); rec != nil {
			rec.Error = "AADSTS" + itoa(e.aadsts)
		}
		reply(url.Values{"error": {e.code}, "error_description": {e.Error()}, "error_codes": {itoa(e.aadsts)}})
	}
	if q.Get("response_type") != "code" {
		replyError(fail(700054, "response_type '%s' is not supported; use code.", clip(q.Get("response_type"))))
		return
	}
	if q.Get("code_challenge") != "" && q.Get("code_challenge_method") != "S256" {
		replyError(fail(9002313, "Invalid request. code_challenge_method must be S256."))
		return
	}
	maxAge := time.Duration(-1)
	if v := q.Get("max_age"); v != "" {
		n, err := strconv.ParseUint(v, 10, 31)
		if err != nil {
			replyError(fail(9002313, "Invalid request. max_age must be a number of seconds."))
			return
		}
		maxAge = time.Duration(n) * time.Second
	}
	checkScopes := func(t *Tenant) *entraError {
		_, e := p.resolveScopes(t, app, q.Get("scope"), false)
		if e != nil && e.aadsts == 65001 {
			e.code = "consent_required"
		}
		return e
	}
	if t != nil {
		if e := checkScopes(t); e != nil {
			replyError(e)
			return
		}
	}
	// The users this page may sign in: the tenant's, or for common and
	// organizations the members of every workforce tenant.
	var candidates []*account
	for _, tt := range p.dir.src.Tenants {
		if (t != nil && tt.ID == t.ID) || (t == nil && tt.Kind == Workforce) {
			for _, a := range p.dir.accounts[tt.ID] {
				if t != nil || !a.guest {
					candidates = append(candidates, a)
				}
			}
		}
	}
	find := func(name string) *account {
		for _, a := range candidates {
			if strings.EqualFold(a.user.Username, name) || strings.EqualFold(a.upn, name) {
				return a
			}
		}
		return nil
	}
	sess := p.session(r)
	var acct *account
	interactive := false
	switch {
	case r.Method == http.MethodPost && r.PostForm.Has("username"):
		if acct = find(r.PostForm.Get("username")); acct == nil {
			p.signInPage(w, r, app, t, candidates, r.PostForm.Get("username"), "That user is not in this directory.", http.StatusBadRequest)
			return
		}
		interactive = true
	case q.Get("prompt") == "none":
		// As in Entra, the browser's session is the user's, not one
		// tenant's: a user signed in at home is signed in silently as a
		// guest of another tenant too.
		if sess != nil {
			for _, a := range sess.accounts {
				for _, c := range candidates {
					if c.user == a.user && (q.Get("login_hint") == "" || find(q.Get("login_hint")) == c) {
						acct = c
					}
				}
			}
		}
		if acct == nil {
			replyError(fail(50058, ""))
			return
		}
		if maxAge >= 0 && !p.ignoresMaxAge() && p.Now().Sub(p.sessionAuthTime(sess, acct)) > maxAge {
			// OpenID Connect: an authentication older than max_age must be
			// done again, which prompt=none forbids.
			issTenant = acct.tenant
			replyError(fail(50058, "The user's last authentication is older than max_age: a silent sign-in is not possible."))
			return
		}
	default:
		hint := q.Get("login_hint")
		if hint == "" && sess != nil {
			for _, a := range sess.accounts {
				if slices.Contains(candidates, a) {
					hint = a.user.Username
				}
			}
		}
		p.signInPage(w, r, app, t, candidates, hint, "", http.StatusOK)
		return
	}
	if t == nil {
		if p.dir.app(clientID, acct.tenant) == nil {
			replyError(fail(700016, "Application with identifier '%s' was not found in the directory '%s'.", app.ClientID, acct.tenant.Domain))
			return
		}
		if e := checkScopes(acct.tenant); e != nil {
			replyError(e)
			return
		}
	}
	issTenant = acct.tenant
	sess = p.signIn(w, r, sess, acct, interactive)
	code, h := randomToken("devidp.code.")
	p.mu.Lock()
	now := p.now()
	authTime := sess.authTime[acct.user]
	for k, c := range p.codes {
		if now.After(c.expires.Add(time.Hour)) {
			delete(p.codes, k)
		}
	}
	p.codes[h] = &authCode{
		tenant: acct.tenant, clientID: app.ClientID, redirectURI: redirect, scope: q.Get("scope"),
		nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), acct: acct, sid: sess.sid,
		authTime: authTime, expires: now.Add(p.life.AuthCode),
	}
	p.mu.Unlock()
	reply(url.Values{"code": {code}, "session_state": {sess.sid}})
}

func (p *IdP) session(r *http.Request) *browserSession {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sessions[hashToken(c.Value)]
}

// signIn records acct in the browser's session, starting one if needed,
// and, for a sign-in on the page (interactive), when the user authenticated.
func (p *IdP) signIn(w http.ResponseWriter, r *http.Request, sess *browserSession, acct *account, interactive bool) *browserSession {
	p.mu.Lock()
	defer p.mu.Unlock()
	if sess == nil {
		token, h := randomToken("")
		sess = &browserSession{sid: newID(), accounts: map[string]*account{}, authTime: map[*User]time.Time{}}
		p.sessions[h] = sess
		http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: token, Path: "/", HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
	}
	sess.accounts[acct.tenant.ID] = acct
	if _, ok := sess.authTime[acct.user]; interactive || !ok {
		sess.authTime[acct.user] = p.now()
	}
	return sess
}

// sessionAuthTime is when acct's user last authenticated in sess.
func (p *IdP) sessionAuthTime(sess *browserSession, acct *account) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return sess.authTime[acct.user]
}

func (p *IdP) serveLogout(w http.ResponseWriter, r *http.Request) {
	seg := r.PathValue("tenant")
	t := p.dir.tenant(seg)
	if t == nil && !strings.EqualFold(seg, common) && !strings.EqualFold(seg, organizations) {
		p.failPage(w, r, fail(90002, "Tenant '%s' not found.", clip(seg)))
		return
	}
	if err := r.ParseForm(); err != nil {
		p.failPage(w, r, fail(9002313, "Invalid request. The request is not a valid form."))
		return
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		p.mu.Lock()
		delete(p.sessions, hashToken(c.Value))
		p.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: r.TLS != nil})
	post := r.Form.Get("post_logout_redirect_uri")
	if post == "" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = messagePage.Execute(w, struct{ Title, Message string }{"Signed out", "You signed out of devidp."})
		return
	}
	allowed := false
	for i := range p.dir.src.Apps {
		a := &p.dir.src.Apps[i]
		if (t == nil || slices.Contains(a.Tenants, t.Name)) && redirectAllowed(a, post) {
			allowed = true
		}
	}
	if !allowed {
		p.failPage(w, r, fail(50011, "The post_logout_redirect_uri '%s' is not a redirect URI of any application.", clip(post)))
		return
	}
	u, _ := url.Parse(post)
	if s := r.Form.Get("state"); s != "" {
		v := u.Query()
		v.Set("state", s)
		u.RawQuery = v.Encode()
	}
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// failPage shows an error a browser cannot be redirected with (unknown
// client or redirect URI), as Entra does: a page with the AADSTS code.
func (p *IdP) failPage(w http.ResponseWriter, r *http.Request, e *entraError) {
	record(r).Error = "AADSTS" + itoa(e.aadsts)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(e.status)
	_ = messagePage.Execute(w, struct{ Title, Message string }{"Sign-in error", e.Error()})
}

func (p *IdP) signInPage(w http.ResponseWriter, r *http.Request, app *App, t *Tenant, users []*account, hint, problem string, status int) {
	type user struct {
		Username, Name, Note string
		Checked              bool
	}
	data := struct {
		App, Tenant, Problem string
		Users                []user
		Params               url.Values
	}{App: app.Name, Problem: problem, Params: url.Values{}}
	data.Tenant = "any work account"
	if t != nil {
		data.Tenant = t.Name + " (" + t.Domain + ")"
	}
	for k, v := range r.Form {
		if k != "username" {
			data.Params[k] = v
		}
	}
	for i, a := range users {
		note := a.tenant.Name
		if a.guest {
			note = "guest from " + a.user.Tenant
		}
		checked := strings.EqualFold(hint, a.user.Username) || strings.EqualFold(hint, a.upn) || (hint == "" && i == 0)
		data.Users = append(data.Users, user{a.user.Username, a.user.Name, note, checked})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = signInTmpl.Execute(w, data)
}

func itoa(n int) string { return strconv.Itoa(n) }

var signInTmpl = template.Must(template.New("signin").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Sign in – devidp</title></head>
<body><h1>Sign in to {{.App}}</h1><p>Directory: {{.Tenant}}. devidp asks for no password: pick a user.</p>
{{if .Problem}}<p role="alert">{{.Problem}}</p>{{end}}
<form method="post">
{{range $k, $vs := .Params}}{{range $vs}}<input type="hidden" name="{{$k}}" value="{{.}}">{{end}}{{end}}
{{range .Users}}<label><input type="radio" name="username" value="{{.Username}}"{{if .Checked}} checked{{end}}> {{.Name}} &lt;{{.Username}}&gt; ({{.Note}})</label><br>
{{end}}<button type="submit">Sign in</button>
</form></body></html>
`))

var formPostPage = template.Must(template.New("formpost").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Working…</title></head>
<body onload="document.forms[0].submit()"><form method="post" action="{{.Action}}">
{{range $k, $vs := .Params}}{{range $vs}}<input type="hidden" name="{{$k}}" value="{{.}}">{{end}}{{end}}
<noscript><button type="submit">Continue</button></noscript></form></body></html>
`))

var messagePage = template.Must(template.New("message").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>{{.Title}} – devidp</title></head>
<body><h1>{{.Title}}</h1><p>{{.Message}}</p></body></html>
`))
