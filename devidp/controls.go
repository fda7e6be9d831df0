package devidp

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// This file is the Go API of the test controls; controls_http.go serves the
// same controls at /_devidp/... .

// Request is one entry of the request log. It holds no tokens, secrets or
// codes.
type Request struct {
	Time     time.Time `json:"time"`
	Method   string    `json:"method"`
	Path     string    `json:"path"`
	Endpoint string    `json:"endpoint"` // openid-configuration, keys, authorize, token, logout, instance-discovery
	Grant    string    `json:"grant,omitempty"`
	Tenant   string    `json:"tenant,omitempty"`
	ClientID string    `json:"clientId,omitempty"`
	Status   int       `json:"status"`
	Error    string    `json:"error,omitempty"` // e.g. AADSTS700082
	// Claims reports that the request (authorize or token) carried a
	// claims parameter, a claims challenge being answered.
	Claims bool `json:"claims,omitempty"`
}

// QueuedError makes the IdP answer the next matching request with an Entra
// error instead of serving it.
type QueuedError struct {
	// Endpoint as in Request.Endpoint, e.g. "token".
	Endpoint string `json:"endpoint"`
	// Grant narrows a token endpoint error to one grant type, e.g.
	// "refresh_token"; empty matches any.
	Grant string `json:"grant,omitempty"`
	// Code is the AADSTS number, one of KnownErrorCodes, e.g. 50076.
	Code int `json:"code"`
	// Times is how many requests fail; 0 means 1.
	Times int `json:"times,omitempty"`
}

// Advance moves the IdP's clock forward by d (backward if negative).
func (p *IdP) Advance(d time.Duration) {
	p.mu.Lock()
	p.offset += d
	p.mu.Unlock()
}

// SetLifetimes replaces the lifetimes of tokens issued from now on; zero
// fields take the defaults.
func (p *IdP) SetLifetimes(l Lifetimes) {
	p.mu.Lock()
	p.life = l.withDefaults()
	p.mu.Unlock()
}

// Lifetimes returns the lifetimes in force.
func (p *IdP) Lifetimes() Lifetimes {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.life
}

// SetStrictRefreshRotation turns refresh token reuse detection on or off
// (see Options.StrictRefreshRotation).
func (p *IdP) SetStrictRefreshRotation(on bool) {
	p.mu.Lock()
	p.strict = on
	p.mu.Unlock()
}

// SetIgnoreMaxAge turns Options.IgnoreMaxAge on or off.
func (p *IdP) SetIgnoreMaxAge(on bool) {
	p.mu.Lock()
	p.noMaxAge = on
	p.mu.Unlock()
}

func (p *IdP) ignoresMaxAge() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.noMaxAge
}

var errResponseIssWithBrowserURL = errors.New("devidp: ResponseIss cannot be used with BrowserURL: the issuer is the URL MSAL reaches, which the browser's authorize request does not know")

// SetResponseIss turns Options.ResponseIss on or off.
func (p *IdP) SetResponseIss(on bool) error {
	if on && p.browser != "" {
		return errResponseIssWithBrowserURL
	}
	p.mu.Lock()
	p.sendIss = on
	p.mu.Unlock()
	return nil
}

func (p *IdP) sendsIss() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sendIss
}

// RevokeRefreshTokens revokes the refresh tokens of user (a user name or an
// object ID, home or guest), or of everyone when user is "". It returns how
// many were revoked; their next use fails with AADSTS700082.
func (p *IdP) RevokeRefreshTokens(user string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, g := range p.refresh {
		if g.revoked {
			continue
		}
		u := g.acct.user
		if user == "" || strings.EqualFold(u.Username, user) || strings.EqualFold(u.ObjectID, user) || strings.EqualFold(g.acct.oid, user) {
			g.revoked = true
			n++
		}
	}
	return n
}

// RotateKeys gives tenant (a name, GUID or domain) a new signing key. Older
// keys stay published in the JWKS, as in Entra, so tokens already issued
// still verify.
func (p *IdP) RotateKeys(tenant string) error {
	t := p.tenantByAnyName(tenant)
	if t == nil {
		return fmt.Errorf("devidp: rotate keys: no tenant %q", tenant)
	}
	key, err := p.newKey()
	if err != nil {
		return fmt.Errorf("devidp: rotate keys of %s: %w", t.Name, err)
	}
	k, err := newSigningKey(key, t.ID, p.Now())
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.keys[t.ID] = append([]*signingKey{k}, p.keys[t.ID]...)
	p.mu.Unlock()
	return nil
}

var endpoints = map[string]bool{
	"openid-configuration": true, "keys": true, "authorize": true,
	"token": true, "logout": true, "instance-discovery": true,
}

// QueueError queues e; see QueuedError.
func (p *IdP) QueueError(e QueuedError) error {
	if _, ok := catalog[e.Code]; !ok {
		return fmt.Errorf("devidp: queue error: AADSTS%d is not one devidp knows; see KnownErrorCodes", e.Code)
	}
	if !endpoints[e.Endpoint] {
		return fmt.Errorf("devidp: queue error: unknown endpoint %q", e.Endpoint)
	}
	if e.Times <= 0 {
		e.Times = 1
	}
	p.mu.Lock()
	p.queue = append(p.queue, e)
	p.mu.Unlock()
	return nil
}

// takeQueued consumes one queued error matching the endpoint and grant.
func (p *IdP) takeQueued(endpoint, grant string) *entraError {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range p.queue {
		q := &p.queue[i]
		if q.Endpoint != endpoint || (q.Grant != "" && q.Grant != grant) {
			continue
		}
		q.Times--
		code := q.Code
		if q.Times == 0 {
			p.queue = append(p.queue[:i], p.queue[i+1:]...)
		}
		return fail(code, "")
	}
	return nil
}

// SetOutage makes every endpoint answer 503 temporarily_unavailable for d
// of IdP time from now; d <= 0 ends an outage.
func (p *IdP) SetOutage(d time.Duration) {
	p.mu.Lock()
	p.outageEnd = p.now().Add(d)
	p.mu.Unlock()
}

// SetLatency delays every response by d, to test timeouts and concurrency.
func (p *IdP) SetLatency(d time.Duration) {
	p.mu.Lock()
	p.latency = d
	p.mu.Unlock()
}

// Requests returns the request log, oldest first.
func (p *IdP) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Request(nil), p.log...)
}

// Count returns how many requests reached endpoint with grant ("" for any
// grant), e.g. Count("token", "refresh_token") to assert that exactly one
// refresh happened.
func (p *IdP) Count(endpoint, grant string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, r := range p.log {
		if r.Endpoint == endpoint && (grant == "" || r.Grant == grant) {
			n++
		}
	}
	return n
}

// Counts returns the request counts by "endpoint" and "endpoint/grant".
func (p *IdP) Counts() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := map[string]int{}
	for _, r := range p.log {
		c[r.Endpoint]++
		if r.Grant != "" {
			c[r.Endpoint+"/"+r.Grant]++
		}
	}
	return c
}

// ResetRequests empties the request log.
func (p *IdP) ResetRequests() {
	p.mu.Lock()
	p.log = nil
	p.mu.Unlock()
}

// Directory returns a copy of the directory served, with defaults filled in.
func (p *IdP) Directory() Directory {
	p.mu.Lock()
	defer p.mu.Unlock()
	return cloneDirectory(p.dir.src)
}

// SetAppCertificates replaces the client certificates registered for the
// app clientID, as an administrator does in Entra when rotating one: add
// the new certificate beside the old, then remove the old. Client
// assertions signed with a certificate no longer listed fail with
// AADSTS700027 from the next request on.
func (p *IdP) SetAppCertificates(clientID string, certs []Certificate) error {
	app := p.dir.appByID[strings.ToLower(clientID)]
	if app == nil {
		return fmt.Errorf("devidp: set app certificates: no app with client ID %q", clientID)
	}
	for i, c := range certs {
		if _, err := parseCertificatePEM(c.PEM); err != nil {
			return fmt.Errorf("devidp: set app certificates: certificates[%d].pem: %v", i, err)
		}
	}
	p.mu.Lock()
	app.Certificates = append([]Certificate(nil), certs...)
	p.mu.Unlock()
	return nil
}

// appCertificates is app's certificates now; SetAppCertificates may
// replace them while the IdP serves.
func (p *IdP) appCertificates(app *App) []Certificate {
	p.mu.Lock()
	defer p.mu.Unlock()
	return app.Certificates
}

// tenantByAnyName resolves a tenant's name, GUID or domain.
func (p *IdP) tenantByAnyName(s string) *Tenant {
	if t := p.dir.tenantByName[s]; t != nil {
		return t
	}
	return p.dir.tenant(s)
}

// Tenant returns the tenant named by name, GUID or domain.
func (p *IdP) Tenant(name string) (Tenant, bool) {
	t := p.tenantByAnyName(name)
	if t == nil {
		return Tenant{}, false
	}
	return *t, true
}
