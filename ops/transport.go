package ops

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// idpTransport measures requests to the identity provider by endpoint and
// counts refreshes by result. It reads the token request's grant_type and
// the response's error code and client_info (the account's uid.utid),
// nothing else, and keeps none of it but those.
type idpTransport struct {
	next http.RoundTripper
	m    *Metrics
	log  *RefreshLog
}

// IdPTransport wraps the IdP HTTP client's transport (nil: the default)
// with metrics and, if log is set, the per-account refresh log.
func (m *Metrics) IdPTransport(next http.RoundTripper, log *RefreshLog) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &idpTransport{next: next, m: m, log: log}
}

const maxPeek = 256 << 10

func (t *idpTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ep := endpointOf(req.URL.Path)
	grant := ""
	if ep == "token" && req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(io.LimitReader(req.Body, maxPeek))
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		body := b
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		if f, err := url.ParseQuery(string(b)); err == nil {
			grant = f.Get("grant_type")
		}
	}
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	code := "error"
	if err == nil {
		code = statusClass(resp.StatusCode)
	}
	t.m.idpDuration.WithLabelValues(ep, code).Observe(time.Since(start).Seconds())
	if grant != "refresh_token" {
		return resp, err
	}
	result, home := "transient", ""
	if err == nil {
		var peek []byte
		peek, resp.Body = peekBody(resp.Body)
		result, home = refreshOutcome(resp.StatusCode, peek)
	}
	t.m.refreshes.WithLabelValues(result).Inc()
	if t.log != nil && home != "" {
		t.log.Record(req.Context(), tenantOfPath(req.URL.Path), home, result)
	}
	return resp, err
}

// peekBody reads a bounded response body and gives back a reader of the
// whole of it.
func peekBody(rc io.ReadCloser) ([]byte, io.ReadCloser) {
	b, _ := io.ReadAll(io.LimitReader(rc, maxPeek))
	return b, struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(b), rc), rc}
}

// refreshOutcome classifies a refresh response: ok (and the account from
// client_info), invalid_grant (the refresh token is refused: the user
// must sign in), transient (the IdP is down or throttling), other.
func refreshOutcome(status int, body []byte) (result, home string) {
	var r struct {
		Error      string `json:"error"`
		ClientInfo string `json:"client_info"`
	}
	_ = json.Unmarshal(body, &r)
	switch {
	case status == http.StatusOK:
		return "ok", homeOf(r.ClientInfo)
	case status == http.StatusTooManyRequests || status >= 500:
		return "transient", ""
	case r.Error == "invalid_grant" || r.Error == "interaction_required":
		return "invalid_grant", ""
	}
	return "other", ""
}

// homeOf decodes client_info ({"uid":…,"utid":…}, base64url) into MSAL's
// home account ID, uid.utid.
func homeOf(ci string) string {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(ci, "="))
	if err != nil {
		return ""
	}
	var c struct{ UID, UTID string }
	if json.Unmarshal(b, &c) != nil || c.UID == "" || c.UTID == "" {
		return ""
	}
	return c.UID + "." + c.UTID
}

// tenantOfPath is the authority's tenant in /{tenant}/oauth2/v2.0/token.
func tenantOfPath(p string) string {
	seg, _, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/")
	return seg
}

func endpointOf(p string) string {
	switch {
	case strings.HasSuffix(p, "/token"):
		return "token"
	case strings.HasSuffix(p, "/.well-known/openid-configuration"):
		return "discovery"
	case strings.Contains(p, "/keys"):
		return "keys"
	case strings.Contains(p, "instance"):
		return "instance_discovery"
	}
	return "other"
}

func statusClass(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return string(rune('0'+code/100)) + "xx"
}
