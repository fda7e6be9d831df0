package session

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults for the zero values of Options. The absolute timeout is Easy
// Auth's session lifetime (8 hours); the idle timeout ends a session left
// alone for an hour, the usual figure for a line-of-business app.
const (
	DefaultIdleTimeout     = time.Hour
	DefaultAbsoluteTimeout = 8 * time.Hour
	DefaultCookieName      = "tg_session"
	DefaultPrefix          = "tg1:"
	DefaultMaxRecordBytes  = 64 << 10
	DefaultDecodedRecords  = 10_000
	DefaultDecodedBytes    = 16 << 20
	// DefaultRetryAfter is the Retry-After of the default 503 answer.
	DefaultRetryAfter = 5 * time.Second
)

// Options configure a Manager. The zero value is usable (https cookies).
type Options struct {
	// PublicURL is the URL browsers reach the app at. With https (or
	// empty) the cookie is "__Host-"+CookieName, Secure, HttpOnly,
	// SameSite=Lax, Path=/. With http it must be a loopback host
	// (http://localhost:8080, for development): the cookie is then
	// CookieName without Secure. Any other http URL is refused, since the
	// cookie would travel in clear.
	PublicURL string
	// CookieName is the cookie's name before any prefix. Default "tg_session".
	CookieName string

	// IdleTimeout ends a session with no request for that long. Default 1h.
	// A request moves the idle expiry (a write, "touch") only when that
	// moves it by at least a tenth of IdleTimeout, so steady traffic costs
	// no write; the idle expiry never passes the absolute one.
	IdleTimeout time.Duration
	// AbsoluteTimeout ends a session that long after sign-in, however
	// active. Default 8h. IdleTimeout may not exceed it.
	AbsoluteTimeout time.Duration

	// Prefix starts every key; it should be the store's prefix (redisstore's
	// bcast tracking subscribes to it). Default "tg1:".
	Prefix string
	// Replica names this process in the records it creates, for operators.
	Replica string
	// MaxRecordBytes bounds a stored record: larger writes are refused with
	// ErrTooLarge and larger reads treated as absent. Default 64 KiB.
	MaxRecordBytes int
	// DecodedRecords bounds the decoded records kept in memory, so that a
	// steady request neither parses nor unseals its record. Default
	// 10,000; negative: none.
	DecodedRecords int
	// DecodedBytes bounds the same records by an estimate of their memory,
	// with what callers derive from them (Session.Derived: the gateway's
	// identity headers): about twice the stored record, 3 to 4 KB for a
	// sign-in's claims, far more with many group claims. Default 16 MiB.
	DecodedBytes int64

	// ClientIP returns the client address recorded at creation. Default:
	// the host of r.RemoteAddr. Behind a proxy, supply one that trusts only
	// the proxy's header.
	ClientIP func(r *http.Request) string
	// OnError answers a request whose session could not be read because
	// the store failed (err wraps store.ErrUnavailable). Default: 503 with
	// Retry-After, and the error logged.
	OnError func(w http.ResponseWriter, r *http.Request, err error)

	Logger *slog.Logger
	Now    func() time.Time
}

func (o Options) resolve() (Options, bool, error) {
	if o.CookieName == "" {
		o.CookieName = DefaultCookieName
	}
	if !validCookieName(o.CookieName) {
		return o, false, fmt.Errorf("session: cookie name %q is not a cookie token: use letters, digits, '-' or '_'", o.CookieName)
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.AbsoluteTimeout <= 0 {
		o.AbsoluteTimeout = DefaultAbsoluteTimeout
	}
	if o.IdleTimeout > o.AbsoluteTimeout {
		return o, false, fmt.Errorf("session: idle timeout %v exceeds the absolute timeout %v: lower it or raise the absolute one", o.IdleTimeout, o.AbsoluteTimeout)
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.MaxRecordBytes <= 0 {
		o.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if o.DecodedBytes <= 0 {
		o.DecodedBytes = DefaultDecodedBytes
	}
	if o.DecodedRecords == 0 {
		o.DecodedRecords = DefaultDecodedRecords
	}
	if o.ClientIP == nil {
		o.ClientIP = remoteHost
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	secure, err := secureURL(o.PublicURL)
	return o, secure, err
}

// secureURL reports whether cookies for publicURL must be Secure.
func secureURL(publicURL string) (bool, error) {
	if publicURL == "" {
		return true, nil
	}
	u, err := url.Parse(publicURL)
	if err != nil || u.Host == "" {
		return false, errors.New("session: the public URL does not parse: expected https://host[:port]")
	}
	switch u.Scheme {
	case "https":
		return true, nil
	case "http":
		if isLoopback(u.Hostname()) {
			return false, nil
		}
		return false, fmt.Errorf("session: public URL %s is http on a non-loopback host: the session cookie would travel in clear; use https (http is only for localhost)", u.Redacted())
	}
	return false, fmt.Errorf("session: public URL scheme %q is not http or https", u.Scheme)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func validCookieName(name string) bool {
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return name != ""
}

func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
