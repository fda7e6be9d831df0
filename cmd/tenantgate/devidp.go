package main

import (
	"context"
	"crypto/rsa"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/tenantgate/tenantgate/devidp"
)

// runDevIDP serves devidp over HTTPS with a CA it makes, writes the CA
// certificate for other programs to trust, and prints each tenant's
// authority. Flags may also come from TENANTGATE_DEVIDP_* variables; a
// flag wins. newKey is for tests (nil: devidp.GenerateKey).
func runDevIDP(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, newKey func() (*rsa.PrivateKey, error)) int {
	fs := flag.NewFlagSet("tenantgate devidp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := func(name, def string) string {
		if v := getenv("TENANTGATE_DEVIDP_" + name); v != "" {
			return v
		}
		return def
	}
	addr := fs.String("addr", env("ADDR", "127.0.0.1:8443"), "`host:port` to serve HTTPS on (TENANTGATE_DEVIDP_ADDR)")
	caOut := fs.String("ca-out", env("CA_OUT", ""), "`file` to write the CA certificate (PEM) to, for clients to trust (TENANTGATE_DEVIDP_CA_OUT)")
	config := fs.String("config", env("CONFIG", ""), "YAML directory `file`; without it, the demo directory (TENANTGATE_DEVIDP_CONFIG)")
	controlsDefault, _ := strconv.ParseBool(env("CONTROLS", "false"))
	controls := fs.Bool("controls", controlsDefault, "serve the test controls at /_devidp/ (always on with the demo directory) (TENANTGATE_DEVIDP_CONTROLS)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *caOut == "" {
		fmt.Fprintln(stderr, "tenantgate devidp: --ca-out is required: clients must trust the CA it generates (e.g. --ca-out devidp-ca.pem)")
		return 2
	}
	opts := devidp.Options{NewKey: newKey, Controls: *controls || *config == ""}
	if *config != "" {
		d, err := devidp.LoadDirectory(*config)
		if err != nil {
			fmt.Fprintf(stderr, "tenantgate devidp: %v\n", err)
			return 1
		}
		opts.Directory = &d
	}
	if err := serveDevIDP(ctx, *addr, *caOut, opts, stdout); err != nil {
		fmt.Fprintf(stderr, "tenantgate devidp: %v\n", err)
		return 1
	}
	return 0
}

func serveDevIDP(ctx context.Context, addr, caOut string, opts devidp.Options, stdout io.Writer) error {
	idp, err := devidp.New(opts)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	names := []string{"localhost", "127.0.0.1", "::1"}
	if ip := net.ParseIP(host); ip == nil || !ip.IsUnspecified() {
		names = append(names, host)
	} else {
		host = "localhost"
		if h, err := os.Hostname(); err == nil {
			names = append(names, h)
		}
	}
	ca, err := devidp.NewCA()
	if err != nil {
		return err
	}
	cert, err := ca.ServerCertificate(names...)
	if err != nil {
		return err
	}
	if err := os.WriteFile(caOut, ca.PEM, 0o644); err != nil {
		return fmt.Errorf("write the CA certificate: %w", err)
	}
	base := "https://" + net.JoinHostPort(host, port)
	fmt.Fprintf(stdout, "devidp: serving %s (trust the CA in %s; never use devidp in production)\n", base, caOut)
	for _, t := range idp.Directory().Tenants {
		fmt.Fprintf(stdout, "authority %-12s %-9s %s/%s\n", t.Name, t.Kind, base, t.ID)
	}
	if opts.Controls {
		fmt.Fprintf(stdout, "controls  %s/_devidp/\n", base)
	}
	srv := &http.Server{
		Handler:           idp,
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
		<-done
		return nil
	}
}
