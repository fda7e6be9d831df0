// Command webapp is a plain net/http app that signs users in with
// tenantgate's library packages: session, signin and tokencache, over the
// tenant registry. It runs with one command and nothing installed:
//
//	go run ./examples/webapp
//
// It starts the dev identity provider in-process (the demo directory:
// tenants contoso and fabrikam, users alice and fiona), keeps everything in
// memory (memstore) and prints the URL to open. The IdP's page is HTTPS
// with a CA made at start-up, so the browser warns about it once; the
// gateway's demo mode (tenantgate serve) avoids that. Swap memstore for
// redisstore.New and the dev IdP for your tenants' file to run it for real.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"html/template"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"time"

	"github.com/tenantgate/tenantgate/credential"
	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/seal"
	"github.com/tenantgate/tenantgate/session"
	"github.com/tenantgate/tenantgate/signin"
	"github.com/tenantgate/tenantgate/store/memstore"
	"github.com/tenantgate/tenantgate/tenant"
	"github.com/tenantgate/tenantgate/tokencache"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "`host:port` for the app")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *listen); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, listen string) error {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	idpURL, idpClient, err := startIdP(ctx)
	if err != nil {
		return err
	}

	st := memstore.New(memstore.Options{})
	defer st.Close()
	key, err := seal.GenerateKey("demo")
	if err != nil {
		return err
	}
	keys, err := seal.NewKeyring(key)
	if err != nil {
		return err
	}
	cache := tokencache.New(st, keys, tokencache.Options{Logger: logger})
	defer cache.Close()

	api := "api://" + devidp.DemoClientID + "/access_as_user"
	tc := func(id string) tenant.TenantConfig {
		return tenant.TenantConfig{TenantID: id, AuthorityHost: idpURL, ClientID: devidp.DemoClientID,
			Credential: credential.Config{Secret: &credential.Secret{Env: "DEMO_SECRET"}}, Scopes: []string{api}}
	}
	cfg := tenant.Config{Tenants: map[string]tenant.TenantConfig{"contoso": tc(devidp.DemoContosoID), "fabrikam": tc(devidp.DemoFabrikamID)}}
	tenants, err := tenant.Open(ctx, cfg, cache, tenant.Options{HTTPClient: idpClient, Logger: logger,
		Getenv: func(k string) string {
			if k == "DEMO_SECRET" {
				return devidp.DemoSecret
			}
			return os.Getenv(k)
		}})
	if err != nil {
		return err
	}
	defer tenants.Close()

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	public := "http://localhost:" + port
	sessions, err := session.New(st, keys, session.Options{PublicURL: public, Logger: logger})
	if err != nil {
		return err
	}
	auth, err := signin.New(signin.Options{PublicURL: public, Tenants: tenants, Sessions: sessions, Store: st, Sealer: keys,
		HTTPClient: idpClient, Logger: logger})
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.Handle("/.auth/", auth)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		s, err := sessions.Load(r.Context(), r)
		render(w, homeTmpl, map[string]any{"Session": s, "Signed": err == nil})
	})
	mux.Handle("GET /profile", auth.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := session.FromContext(r.Context())
		tok, err := auth.Token(r.Context(), r, nil)
		data := map[string]any{"Session": s, "Claims": signin.Claims(s), "Err": err}
		if err == nil {
			data["Expires"] = tok.ExpiresOn.Format(time.RFC3339)
		}
		render(w, profileTmpl, data)
	})))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	fmt.Printf("webapp: open %s and sign in as alice@contoso.onmicrosoft.com (IdP %s)\n", public, idpURL)
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// startIdP serves the dev IdP's demo directory on a free loopback port
// over HTTPS, and returns its URL and a client that trusts it.
func startIdP(ctx context.Context) (string, *http.Client, error) {
	idp, err := devidp.New(devidp.Options{})
	if err != nil {
		return "", nil, err
	}
	ca, err := devidp.NewCA()
	if err != nil {
		return "", nil, err
	}
	cert, err := ca.ServerCertificate("127.0.0.1", "localhost")
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: idp, ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	go func() { <-ctx.Done(); _ = srv.Close() }()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: ca.CertPool(), MinVersion: tls.VersionTLS12}
	return "https://" + ln.Addr().String(), &http.Client{Transport: tr, Timeout: 30 * time.Second}, nil
}

func render(w http.ResponseWriter, t *template.Template, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := t.Execute(w, data); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

var (
	homeTmpl = template.Must(template.New("home").Parse(`<!doctype html><title>tenantgate webapp</title>
<body style="font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto">
<h1>tenantgate example</h1>
{{if .Signed}}<p>Signed in as <b>{{.Session.DisplayName}}</b> ({{.Session.Username}}) in {{.Session.TenantKey}}.</p>
<p><a href="/profile">Profile and token</a> · <a href="/.auth/me">/.auth/me</a> · <a href="/.auth/login/fabrikam?post_login_redirect_uri=/profile">Switch to fabrikam</a> · <a href="/.auth/logout">Sign out</a></p>
{{else}}<p><a href="/.auth/login/contoso?post_login_redirect_uri=/profile">Sign in to contoso</a> · <a href="/.auth/login/fabrikam?post_login_redirect_uri=/profile">Sign in to fabrikam</a></p>{{end}}
</body>`))
	profileTmpl = template.Must(template.New("profile").Parse(`<!doctype html><title>Profile</title>
<body style="font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto">
<h1>{{.Session.DisplayName}}</h1>
<p>Tenant {{.Session.TenantKey}} ({{.Session.TenantID}}); session since {{.Session.Created.Format "15:04:05"}}.</p>
{{if .Err}}<p>No token: {{.Err}}</p>{{else}}<p>Access token for the demo API, from the shared cache, valid until {{.Expires}}.</p>{{end}}
<table>{{range .Claims}}<tr><td>{{.Type}}</td><td>{{.Value}}</td></tr>{{end}}</table>
<p><a href="/">Home</a> · <a href="/.auth/logout">Sign out</a></p></body>`))
)
