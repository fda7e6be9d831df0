package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/devidp/devidptest"
	"github.com/tenantgate/tenantgate/seal"
)

// The gateway is tested as the built binary, in processes.
var (
	binOnce sync.Once
	binPath string
	binErr  error
)

func binary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tenantgate-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "tenantgate")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// proc is one running tenantgate process.
type proc struct {
	cmd *exec.Cmd
	URL string // the URL it printed
	out *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServe runs tenantgate serve with args and env, and waits until it
// prints the URL to open. The process is killed when the test ends, and
// with the test binary (Pdeathsig).
func startServe(t *testing.T, args []string, env ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary(t), append([]string{"serve"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &proc{cmd: cmd, out: new(syncBuffer)}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		keepLog(t.Name(), p.out.String())
		if t.Failed() {
			t.Logf("tenantgate serve %v output:\n%s", args, tail(p.out.String(), 4000))
		}
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			p.out.Write([]byte(line + "\n"))
			if u, ok := strings.CutPrefix(line, "tenantgate: open "); ok {
				found <- u
			}
		}
		close(found)
	}()
	select {
	case u, ok := <-found:
		if !ok {
			t.Fatalf("tenantgate serve exited before serving:\n%s", p.out)
		}
		p.URL = u
	case <-time.After(60 * time.Second):
		t.Fatalf("tenantgate serve printed no URL in 60s:\n%s", p.out)
	}
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// fixture is what a gateway deployment needs on disk: a tenant file on
// the dev IdP, a keyring, the IdP's CA.
type fixture struct {
	idp                   *devidptest.Server
	tenants, keys, caFile string
}

func newFixture(t *testing.T, idp *devidptest.Server) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{idp: idp, tenants: filepath.Join(dir, "tenants.yaml"), keys: filepath.Join(dir, "keys.txt"), caFile: filepath.Join(dir, "ca.pem")}
	scope := "api://" + idp.ClientID() + "/access_as_user"
	yaml := fmt.Sprintf(`tenants:
  contoso:
    tenantId: %s
    authorityHost: %s
    clientId: %s
    credential: {secret: {env: TG_E2E_SECRET}}
    scopes: [%q]
  fabrikam:
    tenantId: %s
    authorityHost: %s
    clientId: %s
    credential: {secret: {env: TG_E2E_SECRET}}
    scopes: [%q]
`, devidp.DemoContosoID, idp.URL, idp.ClientID(), scope, devidp.DemoFabrikamID, idp.URL, idp.ClientID(), scope)
	k, err := seal.GenerateKey("e2e")
	if err != nil {
		t.Fatal(err)
	}
	noteSecret(t, "client secret", idp.Secret())
	for path, b := range map[string][]byte{f.tenants: []byte(yaml), f.keys: []byte(k.Encode() + "\n"), f.caFile: idp.CACertPEM()} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *fixture) args(redisURL, upstream string, extra ...string) []string {
	return append([]string{"--listen", "127.0.0.1:0", "--tenants", f.tenants, "--keys", f.keys, "--ca-file", f.caFile,
		"--redis-url", redisURL, "--upstream", upstream, "--default-tenant", "contoso"}, extra...)
}

func (f *fixture) env() []string { return []string{"TG_E2E_SECRET=" + f.idp.Secret()} }

// browser is a user agent with cookies that does not follow redirects
// and trusts the dev IdP.
func browser(idp *devidptest.Server) *http.Client {
	b := idp.Browser()
	jar, _ := cookiejar.New(nil)
	b.Jar = jar
	return b
}

func send(t *testing.T, b *http.Client, method, u string, body io.Reader, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(data)
}

// signIn signs user in through gateway g's login route, as a browser
// does: the IdP's form, its form_post to the callback, the bounce.
func signIn(t *testing.T, idp *devidptest.Server, b *http.Client, g string, user string) {
	t.Helper()
	signInTo(t, idp, b, g, "contoso", user)
}

// signInTo signs user in to tenant (a tenant key) through gateway g.
func signInTo(t *testing.T, idp *devidptest.Server, b *http.Client, g, tenant, user string) {
	t.Helper()
	resp, body := send(t, b, http.MethodGet, g+"/.auth/login/"+tenant+"?post_login_redirect_uri=/", nil)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	form, err := idp.SignIn(b, resp.Header.Get("Location"), user)
	if err != nil {
		t.Fatal(err)
	}
	noteSecret(t, "authorization code", form.Get("code"))
	resp, body = send(t, b, http.MethodPost, g+"/.auth/login/aad/callback", strings.NewReader(form.Encode()), "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("callback: %d %s", resp.StatusCode, body)
	}
	resp, body = send(t, b, http.MethodGet, g+resp.Header.Get("Location"), nil)
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/" {
		t.Fatalf("finish: %d %q %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	for _, c := range cookieFor(b, g) {
		noteSecret(t, "cookie "+c.Name, c.Value)
	}
}

// echoed is what the echo upstream saw.
type echoed struct {
	Path   string              `json:"path"`
	Host   string              `json:"host"`
	Header map[string][]string `json:"header"`
}

func decodeEcho(t *testing.T, body string) echoed {
	t.Helper()
	var e echoed
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("not the echo upstream's answer: %v: %s", err, body)
	}
	return e
}

func cookieFor(b *http.Client, u string) []*http.Cookie {
	pu, _ := url.Parse(u)
	return b.Jar.Cookies(pu)
}

func newJar() http.CookieJar {
	jar, _ := cookiejar.New(nil)
	return jar
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)

// hiddenInputs reads the auto-submitting form a form_post page carries.
func hiddenInputs(page string) url.Values {
	v := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(page, -1) {
		v.Add(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return v
}
