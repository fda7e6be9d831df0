package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/tenantgate/tenantgate/session"
	"github.com/tenantgate/tenantgate/signin"
)

// Options configure a Gateway.
type Options struct {
	// Upstream is the app's URL (http://127.0.0.1:3000).
	Upstream *url.URL
	// Auth serves /.auth/ and authenticates requests.
	Auth *signin.Handler
	// PassAccessToken sends the upstream the user's access token for the
	// tenant's scopes (Authorization: Bearer, X-MS-TOKEN-AAD-ACCESS-TOKEN,
	// X-MS-TOKEN-AAD-EXPIRES-ON), refreshed when due.
	PassAccessToken bool
	// ForwardAuth serves /.auth/verify. Off, that path is 404: its answer
	// carries the access token (with PassAccessToken) in response headers,
	// which any script of the app's origin could read if the gateway
	// served it to browsers; only a proxy's internal subrequest should
	// reach it (docs/forward-auth.md).
	ForwardAuth bool
	// AllowAnonymous are path prefixes served without sign-in (identity
	// headers are still removed), matched by whole segments: "/public"
	// and "/public/" both cover /public/x, not /publicity.
	AllowAnonymous []string
	// AllowedRedirectHosts are the hosts /.auth/verify?redirect=true may
	// send a browser back to (from X-Forwarded-Host); another host falls
	// back to a relative return URL.
	AllowedRedirectHosts []string
	// PublicURL is the URL browsers use (--public-url): the upstream's
	// X-Forwarded-Proto and -Host are its scheme and host. Nil: those of
	// the request the gateway received.
	PublicURL *url.URL
	// TrustedProxies are the peers (an ingress, a load balancer) whose
	// X-Forwarded-For is kept and extended; from any other peer it is
	// replaced by the peer's address. Default none.
	TrustedProxies []netip.Prefix
	// Transport reaches the upstream. Default: a transport tuned for one
	// busy upstream on a local network.
	Transport http.RoundTripper
	Logger    *slog.Logger
}

// Gateway is the reverse proxy and forward-auth endpoint. It is an
// http.Handler, safe for concurrent use.
type Gateway struct {
	o       Options
	fwd     forwarded
	cookies []string // tenantgate's own, never sent upstream
	proxy   *httputil.ReverseProxy
}

// VerifyPath is the forward-auth endpoint.
const VerifyPath = "/.auth/verify"

// New returns a Gateway.
func New(o Options) (*Gateway, error) {
	if o.Auth == nil {
		return nil, errors.New("gateway: Options.Auth is required")
	}
	if o.Upstream == nil || (o.Upstream.Scheme != "http" && o.Upstream.Scheme != "https") || o.Upstream.Host == "" {
		return nil, errors.New("gateway: the upstream must be an http:// or https:// URL, e.g. http://127.0.0.1:3000")
	}
	if o.Transport == nil {
		o.Transport = NewTransport()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	g := &Gateway{o: o, fwd: newForwarded("", "", o.TrustedProxies), cookies: o.Auth.CookieNames()}
	if o.PublicURL != nil {
		g.fwd = newForwarded(o.PublicURL.Scheme, o.PublicURL.Host, o.TrustedProxies)
	}
	g.proxy = &httputil.ReverseProxy{
		Rewrite:      g.rewrite,
		Transport:    o.Transport,
		ErrorHandler: g.upstreamError,
		ErrorLog:     slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
		// Without a pool ReverseProxy allocates a 32 KiB copy buffer per
		// response: most of a small request's garbage, and under load the
		// heap's largest item after the store's L1 (docs/performance.md).
		BufferPool: NewBufferPool(),
	}
	return g, nil
}

// NewBufferPool is the pool of copy buffers the gateway's ReverseProxy
// uses (the load harness's bare proxy uses it too, so that the two differ
// only by authentication).
func NewBufferPool() httputil.BufferPool { return new(bufferPool) }

type bufferPool struct{ p sync.Pool }

const copyBufferSize = 32 << 10 // ReverseProxy's own size

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, copyBufferSize)
}

func (b *bufferPool) Put(buf []byte) {
	if cap(buf) != copyBufferSize {
		return
	}
	buf = buf[:copyBufferSize]
	b.p.Put(&buf)
}

// NewTransport is the default upstream transport: many idle connections
// to one host (a gateway talks to one app), no compression of its own
// (the app's encoding passes through), bounded dials and headers.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		WriteBufferSize:       16 << 10,
	}
}

type ctxKey struct{}

// identity is what rewrite puts on the upstream request.
type identity struct {
	s   *session.Session
	tok signin.Token
}

// ServeHTTP cleans the path first (so that the anonymous check and the
// upstream see the same one), then routes /.auth/verify to forward-auth
// (when on), /.auth/ to sign-in, and
// everything else through the proxy, signed in or anonymous.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r, err := cleanRequest(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	switch {
	case r.URL.Path == VerifyPath && g.o.ForwardAuth:
		g.serveVerify(w, r)
		return
	case strings.HasPrefix(r.URL.Path, "/.auth/"):
		g.o.Auth.ServeHTTP(w, r)
		return
	case g.anonymous(r.URL.Path):
		g.proxy.ServeHTTP(w, r)
		return
	}
	s, tok, err := g.o.Auth.Authenticate(r, g.o.PassAccessToken)
	if err != nil {
		g.o.Auth.Challenge(w, r, err)
		return
	}
	ctx := r.Context()
	g.proxy.ServeHTTP(w, r.WithContext(context.WithValue(ctx, ctxKey{}, &identity{s: s, tok: tok})))
}

// anonymous reports a path under one of AllowAnonymous, matched by whole
// segments: /public covers /public and /public/x, never /publicity-admin.
func (g *Gateway) anonymous(path string) bool {
	for _, p := range g.o.AllowAnonymous {
		p = strings.TrimSuffix(p, "/")
		if p == "" || path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// rewrite prepares the upstream request: the identity headers a client
// sent are dropped (ReverseProxy has already dropped its X-Forwarded-*),
// the gateway's own are set for a signed-in request.
func (g *Gateway) rewrite(pr *httputil.ProxyRequest) {
	pr.SetURL(g.o.Upstream)
	g.fwd.set(pr)
	pr.Out.Host = pr.In.Host
	stripIdentity(pr.Out.Header)
	stripCookies(pr.Out.Header, g.cookies)
	if g.o.PassAccessToken {
		// The upstream trusts Authorization to be the gateway's: a client's
		// own never goes on, whether or not the gateway sets one (an
		// anonymous path, a tenant without scopes).
		delete(pr.Out.Header, "Authorization")
	}
	if id, ok := pr.In.Context().Value(ctxKey{}).(*identity); ok {
		g.setIdentity(pr.Out.Header, id.s, id.tok)
	}
}

// upstreamError answers 502 with a plain page when the app cannot be reached.
func (g *Gateway) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	g.o.Logger.Warn("gateway: upstream failed", slog.String("path", r.URL.Path), slog.Any("err", err))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusBadGateway)
	fmt.Fprintln(w, "The application is not answering. Try again in a moment.")
}
