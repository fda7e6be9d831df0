// Command upstream is the app behind every proxy the gateway benchmark
// compares: as fast as net/http allows (200, a 3-byte body), so that the
// proxies' own costs are what differs.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"
)

// probe prints the identity and token headers a proxy added to r, by
// name and value length, so that the harness can give a bare proxy the
// same header bytes (bareproxy --add-header): what tenantgate's cost over
// a bare proxy owes to the headers Easy Auth's contract sends, not to its
// own work. Only /probe pays for it, never the load.
func probe(r *http.Request) {
	var out []string
	for name, v := range r.Header {
		if strings.HasPrefix(name, "X-Ms-") || name == "Authorization" || name == "X-Request-Id" {
			out = append(out, fmt.Sprintf("%s=%d", name, len(strings.Join(v, ","))))
		}
	}
	sort.Strings(out)
	fmt.Printf("probe %s: %s\n", r.Header.Get("X-Tgload-Probe"), strings.Join(out, " "))
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "`addr` to serve on")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "upstream: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("listening http://%s\n", ln.Addr())
	body := []byte("ok\n")
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/probe" {
			probe(r)
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Write(body)
	})}
	fmt.Fprintln(os.Stderr, srv.Serve(ln))
	os.Exit(1)
}
