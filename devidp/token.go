package devidp

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Grant types of the token endpoint.
const (
	grantAuthCode     = "authorization_code"
	grantRefresh      = "refresh_token"
	grantClientCreds  = "client_credentials"
	grantJWTBearer    = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	requestedTokenOBO = "on_behalf_of"
)

// refreshGrant is what the IdP remembers about a refresh token.
type refreshGrant struct {
	tenant   *Tenant
	clientID string
	acct     *account
	expires  time.Time
	family   string
	sid      string
	authTime time.Time
	used     bool
	revoked  bool
}

func (p *IdP) serveToken(w http.ResponseWriter, r *http.Request) {
	t, multi, ok := p.pathTenant(w, r, true)
	if !ok {
		return
	}
	if err := r.ParseForm(); err != nil {
		e := fail(9002313, "Invalid request. The request body is not a valid form.")
		if _, tooBig := errors.AsType[*http.MaxBytesError](err); tooBig {
			e = fail(9002313, "Invalid request. The request body is larger than %d bytes.", maxBody)
			e.status = http.StatusRequestEntityTooLarge
		}
		p.fail(w, r, e)
		return
	}
	form := r.PostForm
	if a := form.Get("client_assertion"); a != "" && p.onAssert != nil {
		p.onAssert(a) // every one that arrived, even if refused below
	}
	record(r).Claims = form.Get("claims") != ""
	gt := form.Get("grant_type")
	switch gt {
	case grantAuthCode, grantRefresh, grantClientCreds, grantJWTBearer:
		record(r).Grant = gt
	case "":
		p.fail(w, r, fail(900144, "The request body must contain the following parameter: 'grant_type'."))
		return
	default:
		record(r).Grant = "unsupported"
		p.fail(w, r, fail(70003, "The app requested an unsupported grant type '%s'.", clip(gt)))
		return
	}
	if e := p.takeQueued("token", gt); e != nil {
		p.fail(w, r, e)
		return
	}
	var e *entraError
	switch gt {
	case grantAuthCode:
		e = p.redeemCode(w, r, form, t)
	case grantRefresh:
		e = p.redeemRefresh(w, r, form, t)
	case grantClientCreds, grantJWTBearer:
		if multi != "" {
			e = fail(90002, "Tenant '%s' cannot be used for this grant: use a tenant-specific endpoint.", multi)
		} else if gt == grantClientCreds {
			e = p.clientCredentials(w, r, form, t)
		} else {
			e = p.onBehalfOf(w, r, form, t)
		}
	}
	if e != nil {
		p.fail(w, r, e)
	}
}

func (p *IdP) redeemCode(w http.ResponseWriter, r *http.Request, form url.Values, t *Tenant) *entraError {
	code := form.Get("code")
	if code == "" {
		return fail(900144, "The request body must contain the following parameter: 'code'.")
	}
	p.mu.Lock()
	c := p.codes[hashToken(code)]
	p.mu.Unlock()
	if c == nil {
		return fail(9002313, "Invalid request. The authorization code is malformed or was not issued by this service.")
	}
	if t == nil {
		t = c.tenant
		record(r).Tenant = t.ID
	} else if t != c.tenant {
		return fail(70000, "Provided grant is invalid or malformed: the code was issued in another tenant.")
	}
	app, acr, e := p.authenticateClient(r, form, t)
	if e != nil {
		return e
	}
	if app.ClientID != c.clientID {
		return fail(70000, "Provided grant is invalid or malformed: the code was issued to another client.")
	}
	p.mu.Lock()
	used, now := c.used, p.now()
	c.used = true
	p.mu.Unlock()
	switch {
	case used:
		return fail(54005, "")
	case now.After(c.expires):
		return fail(70008, "")
	case form.Get("redirect_uri") != c.redirectURI:
		return fail(50011, "The redirect URI '%s' specified in the request does not match the redirect URI of the authorization request.", clip(form.Get("redirect_uri")))
	}
	if c.challenge != "" {
		sum := sha256.Sum256([]byte(form.Get("code_verifier")))
		if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(c.challenge)) != 1 {
			return fail(501481, "")
		}
	}
	scope := form.Get("scope")
	if scope == "" {
		scope = c.scope
	}
	g, e := p.resolveScopes(t, app, scope, false)
	if e != nil {
		return e
	}
	g.acct, g.nonce, g.sid, g.authTime, g.azpacr = c.acct, c.nonce, c.sid, c.authTime, acr
	p.issue(w, r, g, form.Get("client_info") == "1")
	return nil
}

func (p *IdP) redeemRefresh(w http.ResponseWriter, r *http.Request, form url.Values, t *Tenant) *entraError {
	token := form.Get("refresh_token")
	if token == "" {
		return fail(900144, "The request body must contain the following parameter: 'refresh_token'.")
	}
	p.mu.Lock()
	rg := p.refresh[hashToken(token)]
	p.mu.Unlock()
	if rg == nil {
		return fail(9002313, "Invalid request. The refresh token is malformed or was not issued by this service.")
	}
	if t == nil {
		t = rg.tenant
		record(r).Tenant = t.ID
	} else if t != rg.tenant {
		return fail(70000, "Provided grant is invalid or malformed: the refresh token was issued in another tenant.")
	}
	app, acr, e := p.authenticateClient(r, form, t)
	if e != nil {
		return e
	}
	if app.ClientID != rg.clientID {
		return fail(70000, "Provided grant is invalid or malformed: the refresh token was issued to another client.")
	}
	p.mu.Lock()
	now := p.now()
	switch {
	case rg.revoked:
		e = fail(700082, "The refresh token has been revoked.")
	case now.After(rg.expires):
		e = fail(700082, "The refresh token has expired due to inactivity. The token was issued on %s and was inactive for longer than its lifetime.", rg.authTime.UTC().Format(time.RFC3339))
	case p.strict && rg.used:
		// Reuse of a rotated token means it leaked: end the whole chain.
		for _, other := range p.refresh {
			if other.family == rg.family {
				other.revoked = true
			}
		}
		e = fail(700082, "The refresh token was already used; every refresh token of this sign-in is now revoked.")
	}
	rg.used = true
	p.mu.Unlock()
	if e != nil {
		return e
	}
	if form.Get("scope") == "" {
		return fail(900144, "The request body must contain the following parameter: 'scope'.")
	}
	g, e := p.resolveScopes(t, app, form.Get("scope"), false)
	if e != nil {
		return e
	}
	g.acct, g.sid, g.authTime, g.family, g.azpacr, g.offline = rg.acct, rg.sid, rg.authTime, rg.family, acr, true
	p.issue(w, r, g, form.Get("client_info") == "1")
	return nil
}

func (p *IdP) clientCredentials(w http.ResponseWriter, r *http.Request, form url.Values, t *Tenant) *entraError {
	app, acr, e := p.authenticateClient(r, form, t)
	if e != nil {
		return e
	}
	g, e := p.resolveScopes(t, app, form.Get("scope"), true)
	if e != nil {
		return e
	}
	g.azpacr = acr
	p.issue(w, r, g, false)
	return nil
}

// onBehalfOf exchanges a user's access token, issued to the calling app,
// for a token to another resource for the same user.
func (p *IdP) onBehalfOf(w http.ResponseWriter, r *http.Request, form url.Values, t *Tenant) *entraError {
	if form.Get("requested_token_use") != requestedTokenOBO {
		return fail(9002313, "Invalid request. requested_token_use must be on_behalf_of for the jwt-bearer grant.")
	}
	app, acr, e := p.authenticateClient(r, form, t)
	if e != nil {
		return e
	}
	acct, sid, e := p.verifyUserAssertion(form.Get("assertion"), app, t)
	if e != nil {
		return e
	}
	g, e := p.resolveScopes(t, app, form.Get("scope"), false)
	if e != nil {
		return e
	}
	g.acct, g.sid, g.azpacr = acct, sid, acr
	p.issue(w, r, g, form.Get("client_info") == "1")
	return nil
}

// verifyUserAssertion checks an OBO assertion: an unexpired user access
// token signed by t's keys, whose audience is app.
func (p *IdP) verifyUserAssertion(s string, app *App, t *Tenant) (*account, string, *entraError) {
	if s == "" {
		return nil, "", fail(900144, "The request body must contain the following parameter: 'assertion'.")
	}
	tok, err := jwt.ParseSigned(s, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil || len(tok.Headers) != 1 {
		return nil, "", fail(50027, "JWT token is invalid or malformed.")
	}
	p.mu.Lock()
	var key *signingKey
	for _, k := range p.keys[t.ID] {
		if k.kid == tok.Headers[0].KeyID {
			key = k
		}
	}
	now := p.now()
	p.mu.Unlock()
	var claims struct {
		jwt.Claims
		TID   string `json:"tid"`
		OID   string `json:"oid"`
		IDTyp string `json:"idtyp"`
		SID   string `json:"sid"`
	}
	if key == nil || tok.Claims(&key.key.PublicKey, &claims) != nil {
		return nil, "", fail(50013, "Assertion failed signature validation: it was not signed by a key of tenant '%s'.", t.ID)
	}
	if claims.TID != t.ID || !claims.Audience.Contains(app.ClientID) && !claims.Audience.Contains(app.IdentifierURI) {
		return nil, "", fail(50013, "Assertion audience does not match the client app presenting the assertion, or it was issued in another tenant.")
	}
	if claims.Expiry == nil || now.After(claims.Expiry.Time()) {
		return nil, "", fail(500133, "")
	}
	acct := p.dir.account(t, claims.OID)
	if claims.IDTyp == "app" || acct == nil {
		return nil, "", fail(50013, "Assertion is not a user's access token.")
	}
	return acct, claims.SID, nil
}

// newRefreshToken stores a refresh token for g's user and client. Tokens
// of one sign-in share a family, which reuse detection revokes together.
func (p *IdP) newRefreshToken(g *grant, now time.Time, life Lifetimes) string {
	token, h := randomToken("devidp.rt.")
	family := g.family
	if family == "" {
		family = newID()
	}
	authTime := g.authTime
	if authTime.IsZero() {
		authTime = now
	}
	p.mu.Lock()
	// Forget tokens a day after they expired, so a long-running IdP does
	// not grow without bound; until then their use still reports expiry.
	for k, old := range p.refresh {
		if now.After(old.expires.Add(24 * time.Hour)) {
			delete(p.refresh, k)
		}
	}
	p.refresh[h] = &refreshGrant{
		tenant: g.tenant, clientID: g.client.ClientID, acct: g.acct, expires: now.Add(life.RefreshToken),
		family: family, sid: g.sid, authTime: authTime,
	}
	p.mu.Unlock()
	return token
}
