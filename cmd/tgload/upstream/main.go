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
	"time"
)

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
		w.Header().Set("Content-Type", "text/plain")
		w.Write(body)
	})}
	fmt.Fprintln(os.Stderr, srv.Serve(ln))
	os.Exit(1)
}
