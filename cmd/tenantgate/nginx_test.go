package main

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/devidp/devidptest"
	"github.com/tenantgate/tenantgate/internal/redistest"
)

// nginxConf is the nginx configuration of docs/forward-auth.md, read from
// the page so that the documented one is the tested one, inside the main
// context the test needs (a private prefix, no daemon).
func nginxConf(t *testing.T, gateway, app, listen string) string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/forward-auth.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```nginx\n")
	conf, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/forward-auth.md has no ```nginx block")
	}
	conf = strings.NewReplacer("server 127.0.0.1:8080;", "server "+gateway+";", "server 127.0.0.1:3000;", "server "+app+";", "listen 80;", "listen "+listen+";").Replace(conf)
	return `daemon off;
master_process off;
pid {{PREFIX}}/nginx.pid;
error_log {{PREFIX}}/error.log info;
events {}
http {
  access_log off;
  client_body_temp_path {{PREFIX}}/body;
  proxy_temp_path {{PREFIX}}/proxy;
  fastcgi_temp_path {{PREFIX}}/fastcgi;
  uwsgi_temp_path {{PREFIX}}/uwsgi;
  scgi_temp_path {{PREFIX}}/scgi;
` + conf + "}\n"
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startNginx runs nginx with conf in a private prefix until the test ends.
func startNginx(t *testing.T, conf string) {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/nginx"); serr != nil {
			t.Fatal("nginx is not installed: run `apt-get install -y nginx` (make test does, as root)")
		}
		bin = "/usr/sbin/nginx"
	}
	prefix := t.TempDir()
	conf = strings.ReplaceAll(conf, "{{PREFIX}}", prefix)
	path := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", prefix, "-c", path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out := new(syncBuffer)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(prefix, "error.log"))
			t.Logf("nginx output:\n%s\nerror.log:\n%s", out, tail(string(log), 3000))
		}
	})
}

// nginx auth_request in front of /.auth/verify, as docs/forward-auth.md
// configures it: a browser that is not signed in is sent to sign in (by
// nginx's error_page, since auth_request can pass on only 2xx, 401 and
// 403), signs in through nginx, and then the app gets the identity, never
// the client's forged one.
func TestForwardAuthBehindNginx(t *testing.T) {
	srv := redistest.Standalone(t)
	idp := devidptest.Start(t)
	up := echoUpstream(t)
	f := newFixture(t, idp)
	listen := freePort(t)
	public := "http://localhost:" + strings.Split(listen, ":")[1]
	gateway := freePort(t)
	startServe(t, f.args("redis://"+srv.Addr, up.URL, "--forward-auth", "--public-url", public, "--listen", gateway), f.env()...)
	startNginx(t, nginxConf(t, gateway, strings.TrimPrefix(up.URL, "http://"), listen))

	b := browser(idp)
	var resp *http.Response
	var body string
	for deadline := time.Now().Add(10 * time.Second); ; {
		req, _ := http.NewRequest(http.MethodGet, public+"/reports?id=3", nil)
		req.Header.Set("Accept", "text/html")
		r, err := b.Do(req)
		if err == nil {
			resp = r
			r.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx does not answer: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != public+"/.auth/login/aad?post_login_redirect_uri=/reports?id=3" && resp.Header.Get("Location") != "/.auth/login/aad?post_login_redirect_uri=/reports?id=3" {
		t.Fatalf("not signed in, through nginx: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	signIn(t, idp, b, public, "alice@contoso.onmicrosoft.com")
	resp, body = send(t, b, http.MethodGet, public+"/reports", nil, forged...)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("signed in, through nginx: %d %s", resp.StatusCode, body)
	}
	e := decodeEcho(t, body)
	noForgedHeaders(t, e)
	h := http.Header(e.Header)
	if h.Get("X-Ms-Client-Principal-Name") != "alice@contoso.onmicrosoft.com" || h.Get("X-Ms-Client-Principal") == "" || h.Get("X-Ms-Client-Principal-Idp") != "aad" {
		t.Fatalf("the app behind nginx got %v", h)
	}
	// A page's own fetch('/.auth/verify') goes through nginx's client
	// path, which the documented configuration refuses: the answer would
	// hand the access token to the page's scripts.
	resp, body = send(t, b, http.MethodGet, public+"/.auth/verify", nil, "Sec-Fetch-Site", "same-origin", "Sec-Fetch-Mode", "cors")
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get("X-Ms-Client-Principal-Name") != "" {
		t.Fatalf("a client's /.auth/verify through nginx: %d %v", resp.StatusCode, resp.Header)
	}
	// An API client without a session gets nginx's 302 too in this
	// configuration; docs/forward-auth.md shows the API variant.
	resp, _ = send(t, browser(idp), http.MethodGet, public+"/reports", nil, forged...)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("no session: %d", resp.StatusCode)
	}
}
