package gateway

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"strings"
)

// ParseTrustedProxies parses --trusted-proxies: CIDRs or single
// addresses, e.g. 10.0.0.0/8,192.0.2.7.
func ParseTrustedProxies(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, &net.ParseError{Type: "trusted proxy (CIDR or address)", Text: s}
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, &net.ParseError{Type: "trusted proxy (CIDR or address)", Text: s}
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// forwarded is what the gateway tells the upstream about the client.
type forwarded struct {
	proto, host string // from the public URL; empty: from the request
	trusted     []netip.Prefix
	// protoV and hostV are proto and host as header values, made once:
	// the transport only reads them, so every request shares them.
	protoV, hostV []string
}

func newForwarded(proto, host string, trusted []netip.Prefix) forwarded {
	f := forwarded{proto: proto, host: host, trusted: trusted}
	if host != "" {
		f.protoV, f.hostV = []string{proto}, []string{host}
	}
	return f
}

func (f forwarded) trusts(addr string) bool {
	a, err := netip.ParseAddr(strings.TrimSpace(addr))
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range f.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func peer(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// chain is the X-Forwarded-For to send on: the inbound one extended with
// the peer when the peer is a trusted proxy, else the peer alone (a
// client's own X-Forwarded-For is never believed).
func (f forwarded) chain(r *http.Request) []string {
	p := peer(r)
	var hops []string
	if len(f.trusted) > 0 && f.trusts(p) {
		for _, v := range r.Header.Values("X-Forwarded-For") {
			for _, h := range strings.Split(v, ",") {
				if h = strings.TrimSpace(h); h != "" {
					hops = append(hops, h)
				}
			}
		}
	}
	return append(hops, p)
}

// clientIP is the first address from the right of the chain that is not
// a trusted proxy: the client as far as the trusted proxies can tell.
func (f forwarded) clientIP(r *http.Request) string {
	hops := f.chain(r)
	for i := len(hops) - 1; i > 0; i-- {
		if !f.trusts(hops[i]) {
			return hops[i]
		}
	}
	return hops[0]
}

// ClientIP returns session.Options.ClientIP for a gateway trusting the
// proxies in trusted: RemoteAddr's host unless it is one of them.
func ClientIP(trusted []netip.Prefix) func(*http.Request) string {
	return newForwarded("", "", trusted).clientIP
}

// set writes X-Forwarded-For, -Host and -Proto on the outbound request.
// Proto and Host are those of the public URL, the one browsers use, which
// the operator configured: behind a TLS-terminating ingress the request
// the gateway sees is plain http, and the inbound headers are the
// client's to forge.
func (f forwarded) set(pr *httputil.ProxyRequest) {
	if f.host == "" {
		pr.SetXForwarded()
	} else {
		pr.Out.Header["X-Forwarded-Host"] = f.hostV
		pr.Out.Header["X-Forwarded-Proto"] = f.protoV
	}
	if len(f.trusted) == 0 {
		// No proxy is trusted: the chain is the peer alone.
		pr.Out.Header["X-Forwarded-For"] = []string{peer(pr.In)}
		return
	}
	pr.Out.Header["X-Forwarded-For"] = []string{strings.Join(f.chain(pr.In), ", ")}
}
