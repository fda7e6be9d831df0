// Command bareproxy is the baseline of the gateway benchmark: Go's
// httputil.ReverseProxy with no authentication, rewriting as tenantgate's
// gateway does (SetURL, SetXForwarded, the client's Host) over the same
// tuned upstream transport (gateway.NewTransport) and copy buffer pool
// (gateway.NewBufferPool). With the default
// transport (2 idle connections per host) it would open and close
// connections under c=32 and look slower than it is, flattering the
// gateway's ratio to it.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tenantgate/tenantgate/gateway"
)

// headerFlag is --add-header: header values of given lengths.
type headerFlag map[string][]string

func (h *headerFlag) String() string { return fmt.Sprint(len(*h)) }
func (h *headerFlag) Set(v string) error {
	name, n, ok := strings.Cut(v, "=")
	size, err := strconv.Atoi(n)
	if !ok || name == "" || err != nil || size < 0 || size > 1<<16 {
		return fmt.Errorf("want NAME=LEN, e.g. X-Ms-Client-Principal=1600")
	}
	if *h == nil {
		*h = headerFlag{}
	}
	(*h)[http.CanonicalHeaderKey(name)] = []string{strings.Repeat("x", size)}
	return nil
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "`addr` to serve on")
	upstream := flag.String("upstream", "", "the app's `URL`")
	var add headerFlag
	flag.Var(&add, "add-header", "`NAME=LEN`: also send the upstream header NAME with a value of LEN bytes, repeatable (the same header bytes as tenantgate's identity and token headers, without the work of making them)")
	flag.Parse()
	up, err := url.Parse(*upstream)
	if err != nil || up.Host == "" {
		fmt.Fprintln(os.Stderr, "bareproxy: --upstream http://host:port is required")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bareproxy: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("listening http://%s\n", ln.Addr())
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(up)
			pr.SetXForwarded()
			pr.Out.Host = pr.In.Host
			for name, v := range add {
				pr.Out.Header[name] = v // shared, only read: as tenantgate's
			}
		},
		Transport:  gateway.NewTransport(),
		BufferPool: gateway.NewBufferPool(),
	}
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	fmt.Fprintln(os.Stderr, srv.Serve(ln))
	os.Exit(1)
}
