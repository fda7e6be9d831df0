package main

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/tenantgate/tenantgate/credential"
	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/internal/demoapp"
	"github.com/tenantgate/tenantgate/tenant"
)

// demoIdP is the dev identity provider that demo mode embeds. MSAL reaches
// it over HTTPS with a CA made at start-up that only this process trusts;
// browsers reach its pages (authorize, logout) over plain HTTP on
// loopback, so no page a browser visits needs that CA.
type demoIdP struct {
	httpsURL string
	client   *http.Client
	servers  []*http.Server
}

func startDemoIdP(ctx context.Context, logger *slog.Logger) (_ *demoIdP, err error) {
	tlsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	pageLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tlsLn.Close()
		return nil, err
	}
	served := false
	defer func() {
		if !served { // every failure below: nothing serves the listeners
			tlsLn.Close()
			pageLn.Close()
		}
	}()
	idp, err := devidp.New(devidp.Options{BrowserURL: "http://" + pageLn.Addr().String()})
	if err != nil {
		return nil, err
	}
	ca, err := devidp.NewCA()
	if err != nil {
		return nil, err
	}
	cert, err := ca.ServerCertificate("127.0.0.1", "localhost")
	if err != nil {
		return nil, err
	}
	errLog := slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
	d := &demoIdP{httpsURL: "https://" + tlsLn.Addr().String()}
	secure := &http.Server{Handler: idp, ReadHeaderTimeout: 10 * time.Second, ErrorLog: errLog,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	pages := &http.Server{Handler: idp, ReadHeaderTimeout: 10 * time.Second, ErrorLog: errLog}
	served = true
	go func() { _ = secure.ServeTLS(tlsLn, "", "") }()
	go func() { _ = pages.Serve(pageLn) }()
	d.servers = []*http.Server{secure, pages}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: ca.CertPool(), MinVersion: tls.VersionTLS12}
	d.client = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	logger.Info("tenantgate serve: demo identity provider", slog.String("url", d.httpsURL), slog.String("pages", "http://"+pageLn.Addr().String()))
	return d, nil
}

func (d *demoIdP) close() {
	for _, s := range d.servers {
		_ = s.Close()
	}
}

// demoSecretEnv carries the demo app's client secret to the tenant
// registry, the way a real secret arrives.
const demoSecretEnv = "TENANTGATE_DEMO_CLIENT_SECRET"

// config is the demo tenant file: contoso and fabrikam, whose users
// (alice, bob, fiona) sign in with the demo app registration.
func (d *demoIdP) config() tenant.Config {
	tc := func(id string) tenant.TenantConfig {
		return tenant.TenantConfig{TenantID: id, AuthorityHost: d.httpsURL, ClientID: devidp.DemoClientID,
			Credential: credential.Config{Secret: &credential.Secret{Env: demoSecretEnv}},
			Scopes:     []string{"api://" + devidp.DemoClientID + "/access_as_user"}}
	}
	return tenant.Config{Tenants: map[string]tenant.TenantConfig{"contoso": tc(devidp.DemoContosoID), "fabrikam": tc(devidp.DemoFabrikamID)}}
}

func (d *demoIdP) getenv(next func(string) string) func(string) string {
	return func(k string) string {
		if k == demoSecretEnv {
			return devidp.DemoSecret
		}
		return next(k)
	}
}

// startDemoApp serves the built-in demo app on a loopback port and returns
// its URL.
func startDemoApp(a *app, tenants *tenant.Registry) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	var keys []string
	for _, t := range tenants.Tenants() {
		keys = append(keys, t.Key)
	}
	srv := &http.Server{Handler: demoapp.Handler(keys), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	a.closers = append(a.closers, func() { _ = srv.Close() })
	return "http://" + ln.Addr().String(), nil
}
