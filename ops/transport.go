package ops

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tenantgate/tenantgate/tokencache"
)

// idpTransport measures requests to the identity provider by endpoint and
// counts refreshes by result. It reads the token request's grant_type and
// scope and the response's error code and client_info (the account's
// uid.utid), nothing else, and keeps none of it but those.
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
	var form url.Values
	if ep == "token" && req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(io.LimitReader(req.Body, maxPeek))
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		body := b
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		form, _ = url.ParseQuery(string(b))
	}
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	code := "error"
	if err == nil {
		code = statusClass(resp.StatusCode)
	}
	t.m.idpDuration.WithLabelValues(ep, code).Observe(time.Since(start).Seconds())
	if form.Get("grant_type") != "refresh_token" {
		return resp, err
	}
	rec, home := RefreshRecord{Result: "transient", Error: "no answer"}, ""
	if err == nil {
		var peek []byte
		peek, resp.Body = peekBody(resp.Body)
		rec, home = refreshOutcome(resp.StatusCode, peek)
	}
	t.m.refreshes.WithLabelValues(rec.Result).Inc()
	// The token cache says whose refresh this is before it is sent: an
	// error answer carries no client_info. client_info and the URL's
	// tenant are for refreshes outside a tokencache silent call.
	tenantID := tenantOfPath(req.URL.Path)
	if tid, h, ok := tokencache.CallAccount(req.Context()); ok {
		tenantID, home = tid, h
	}
	if t.log != nil && home != "" {
		rec.Scopes = scopeSet(form.Get("scope"))
		t.log.Record(req.Context(), tenantID, home, rec)
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
// must sign in), transient (the IdP is down or throttling), other; with
// what failed, in words that hold nothing of the request.
func refreshOutcome(status int, body []byte) (rec RefreshRecord, home string) {
	var r struct {
		Error      string `json:"error"`
		ErrorCodes []int  `json:"error_codes"`
		ClientInfo string `json:"client_info"`
	}
	_ = json.Unmarshal(body, &r)
	if status == http.StatusOK {
		return RefreshRecord{Result: "ok"}, homeOf(r.ClientInfo)
	}
	rec.Error = "HTTP " + strconv.Itoa(status)
	if oauthCode.MatchString(r.Error) {
		rec.Error = r.Error
		if len(r.ErrorCodes) > 0 && r.ErrorCodes[0] > 0 {
			rec.Error += " AADSTS" + strconv.Itoa(r.ErrorCodes[0])
		}
	}
	switch {
	case status == http.StatusTooManyRequests || status >= 500:
		rec.Result = "transient"
	case r.Error == "invalid_grant" || r.Error == "interaction_required":
		rec.Result = "invalid_grant"
	default:
		rec.Result = "other"
	}
	return rec, ""
}

// oauthCode is what an OAuth error code looks like (RFC 6749 allows more;
// Entra's are these): anything else is not shown.
var oauthCode = regexp.MustCompile(`^[a-z_]{1,64}$`)

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
