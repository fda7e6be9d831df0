//go:build pprof

package main

import (
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof" // the point of this build: profiles on a debug listener
	"os"
)

// A binary built with -tags pprof (the load harness's --pprof does it)
// serves net/http/pprof on TENANTGATE_PPROF_ADDR, a loopback address, so
// that a CPU profile can be taken under load. Release builds have none of
// it.
func init() {
	addr := os.Getenv("TENANTGATE_PPROF_ADDR")
	if addr == "" {
		return
	}
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		fmt.Fprintln(os.Stderr, "tenantgate: TENANTGATE_PPROF_ADDR must be a loopback host:port; pprof not served")
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "tenantgate: pprof: %v\n", err)
		return
	}
	go func() { _ = http.Serve(ln, http.DefaultServeMux) }()
}
