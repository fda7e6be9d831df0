package devidp

import (
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionSkew is the clock difference tolerated on a client assertion's
// exp and nbf.
const assertionSkew = time.Minute

// authenticateClient authenticates the confidential client of a token
// request in tenant t by client_secret_basic, client_secret_post or a
// certificate-signed client assertion, and returns its azpacr (1 secret,
// 2 certificate).
func (p *IdP) authenticateClient(r *http.Request, form url.Values, t *Tenant) (*App, string, *entraError) {
	clientID, secret, basic := r.BasicAuth()
	if basic {
		// RFC 6749 2.3.1: both halves are form-encoded before Basic encoding.
		var err1, err2 error
		clientID, err1 = url.QueryUnescape(clientID)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return nil, "", fail(9002313, "Invalid request. The Authorization header is malformed.")
		}
	} else {
		clientID, secret = form.Get("client_id"), form.Get("client_secret")
	}
	var ca *clientAssertion
	if s := form.Get("client_assertion"); s != "" || form.Has("client_assertion_type") {
		if form.Get("client_assertion_type") != assertionType {
			return nil, "", fail(9002313, "Invalid request. client_assertion_type must be %s.", assertionType)
		}
		var err error
		if ca, err = parseAssertion(s); err != nil {
			return nil, "", fail(50027, "JWT token is invalid or malformed: %v.", err)
		}
		if clientID == "" {
			clientID = ca.claims.Issuer
		}
	}
	if clientID == "" {
		return nil, "", fail(900144, "The request body must contain the following parameter: 'client_id'.")
	}
	record(r).ClientID = clip(clientID)
	app := p.dir.app(clientID, t)
	if app == nil {
		return nil, "", fail(700016, "Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant.", clip(clientID), t.Domain)
	}
	switch {
	case secret != "":
		for _, s := range app.Secrets {
			if subtle.ConstantTimeCompare([]byte(s), []byte(secret)) == 1 {
				return app, "1", nil
			}
		}
		return nil, "", fail(7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", app.ClientID)
	case ca != nil:
		if e := p.verifyAssertion(r, ca, app, t); e != nil {
			return nil, "", e
		}
		return app, "2", nil
	}
	return nil, "", fail(7000218, "")
}

// clientAssertion is a parsed, not yet verified, client assertion.
type clientAssertion struct {
	token      *jwt.JSONWebToken
	thumbprint []byte
	sha256     bool // x5t#S256 rather than x5t (SHA-1)
	claims     jwt.Claims
}

// parseAssertion parses a client assertion as MSAL and other Entra clients
// write it: a compact JWS, PS256 or RS256, with the certificate's
// thumbprint in x5t#S256 or x5t. It checks form only; verifyAssertion
// checks signature, audience and time.
func parseAssertion(s string) (*clientAssertion, error) {
	if len(s) > 16<<10 {
		return nil, errors.New("assertion too large")
	}
	tok, err := jwt.ParseSigned(s, []jose.SignatureAlgorithm{jose.PS256, jose.RS256})
	if err != nil {
		return nil, errors.New("not a signed JWT with algorithm PS256 or RS256")
	}
	if len(tok.Headers) != 1 {
		return nil, errors.New("exactly one signature is required")
	}
	ca := &clientAssertion{token: tok}
	h := tok.Headers[0].ExtraHeaders
	var tp any
	if v, ok := h["x5t#S256"]; ok {
		tp, ca.sha256 = v, true
	} else if v, ok := h["x5t"]; ok {
		tp = v
	} else {
		return nil, errors.New("header has neither x5t#S256 nor x5t")
	}
	str, ok := tp.(string)
	if !ok {
		return nil, errors.New("certificate thumbprint is not a string")
	}
	if ca.thumbprint, err = decodeThumbprint(str); err != nil {
		return nil, err
	}
	if want := map[bool]int{true: sha256.Size, false: sha1.Size}[ca.sha256]; len(ca.thumbprint) != want {
		return nil, fmt.Errorf("certificate thumbprint has %d bytes, want %d", len(ca.thumbprint), want)
	}
	if err := tok.UnsafeClaimsWithoutVerification(&ca.claims); err != nil {
		return nil, errors.New("claims are not a JSON object of registered claims")
	}
	return ca, nil
}

// decodeThumbprint accepts standard base64 (what MSAL sends) and base64url
// (what RFC 7515 says), padded or not.
func decodeThumbprint(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("certificate thumbprint is not base64")
}

// verifyAssertion checks ca against app's registered certificates, the
// token endpoint as audience, its time window and that its jti is new.
func (p *IdP) verifyAssertion(r *http.Request, ca *clientAssertion, app *App, t *Tenant) *entraError {
	var key *rsa.PublicKey
	for _, c := range p.appCertificates(app) {
		cert, err := parseCertificatePEM(c.PEM)
		if err != nil {
			continue
		}
		var sum []byte
		if ca.sha256 {
			s := sha256.Sum256(cert.Raw)
			sum = s[:]
		} else {
			s := sha1.Sum(cert.Raw)
			sum = s[:]
		}
		if subtle.ConstantTimeCompare(sum, ca.thumbprint) == 1 {
			key, _ = cert.PublicKey.(*rsa.PublicKey)
		}
	}
	if key == nil {
		return fail(700027, "Client assertion failed signature validation: the key with this thumbprint was not found among the certificates of app '%s'.", app.ClientID)
	}
	var claims jwt.Claims
	if err := ca.token.Claims(key, &claims); err != nil {
		return fail(700027, "Client assertion failed signature validation for app '%s'.", app.ClientID)
	}
	if claims.Issuer != app.ClientID || claims.Subject != app.ClientID {
		return fail(700027, "Client assertion iss and sub must be the client ID '%s'.", app.ClientID)
	}
	if !p.isTokenEndpoint(r, claims.Audience, t) {
		return fail(700027, "Client assertion audience claim does not match the token endpoint of tenant '%s'.", t.ID)
	}
	now := p.Now()
	if claims.Expiry == nil || claims.ID == "" {
		return fail(700027, "Client assertion must contain exp and jti claims.")
	}
	if now.After(claims.Expiry.Time().Add(assertionSkew)) || (claims.NotBefore != nil && now.Add(assertionSkew).Before(claims.NotBefore.Time())) {
		return fail(700024, "Client assertion is not within its valid time range. Current time: %s, assertion valid from %s to %s.",
			now.UTC().Format(time.RFC3339), validFrom(claims), claims.Expiry.Time().UTC().Format(time.RFC3339))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for jti, exp := range p.jtis {
		if now.After(exp.Add(assertionSkew)) {
			delete(p.jtis, jti)
		}
	}
	jti := app.ClientID + "|" + claims.ID
	if _, seen := p.jtis[jti]; seen {
		return fail(700027, "Client assertion with this jti was already used; an assertion must be used once.")
	}
	p.jtis[jti] = claims.Expiry.Time()
	return nil
}

func validFrom(c jwt.Claims) string {
	if c.NotBefore == nil {
		return "-"
	}
	return c.NotBefore.Time().UTC().Format(time.RFC3339)
}

// isTokenEndpoint reports whether aud names this token endpoint: the host
// the client used and a tenant segment naming t (GUID, domain, or the
// segment of this request).
func (p *IdP) isTokenEndpoint(r *http.Request, aud jwt.Audience, t *Tenant) bool {
	for _, a := range aud {
		u, err := url.Parse(a)
		if err != nil || !strings.EqualFold(u.Host, r.Host) {
			continue
		}
		parts := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
		if len(parts) != 4 || parts[1] != "oauth2" || parts[2] != "v2.0" || parts[3] != "token" {
			continue
		}
		if strings.EqualFold(parts[0], r.PathValue("tenant")) || p.dir.tenant(parts[0]) == t {
			return true
		}
	}
	return false
}
