// Command compare is the gateway benchmark: in one run on this machine it
// starts Redis, the dev IdP, a trivial upstream and, in front of that same
// upstream, a bare httputil.ReverseProxy, tenantgate serve, tenantgate
// serve --pass-access-token and oauth2-proxy (Redis session store, the
// dev IdP as its OIDC provider); it signs users in through each one's own
// flow, then loads them in interleaved rounds with the same connections,
// duration and requests, and prints the medians and the ratios the
// project's goals name. With --memory-sessions it then measures one
// gateway's RSS after a sweep over that many live sessions.
//
//	go run ./cmd/tgload/compare            # or: make bench-gateway
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/tenantgate/tenantgate/cmd/tgload/internal/load"
	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/seal"
)

type options struct {
	rounds, conns, sessions, memSessions int
	duration, warmup                     time.Duration
	oauth2Proxy, jsonOut, targets        string
	keep, pprof                          bool
	memoryL1, memoryLimit                string
}

func main() {
	var o options
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; each loads every target once, in a rotated order")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "one target's run in a round")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "an unmeasured run per target first")
	flag.IntVar(&o.conns, "c", 32, "connections")
	flag.IntVar(&o.sessions, "sessions", 64, "signed-in sessions per target, cycled over requests")
	flag.IntVar(&o.memSessions, "memory-sessions", 100_000, "live sessions for the RSS measurement (0: skip it)")
	flag.StringVar(&o.oauth2Proxy, "oauth2-proxy", "", "oauth2-proxy binary (default: found in PATH or $(go env GOPATH)/bin)")
	flag.StringVar(&o.jsonOut, "json", "", "also write every run and the summary to this `file`")
	flag.StringVar(&o.targets, "targets", "bare,bare-headers,tenantgate,bare-headers-pat,tenantgate-pat,oauth2-proxy", "targets to run, comma-separated (also tenantgate-anon: every path anonymous)")
	flag.StringVar(&o.memoryL1, "memory-l1", "", "the memory gateway's L1 `mode` (?l1= of --redis-url: tracking, bcast, pubsub, off; default: what the store picks)")
	flag.StringVar(&o.memoryLimit, "memory-gomemlimit", "", "GOMEMLIMIT for the memory gateway (e.g. 128MiB; default: none, Go's default GC)")
	flag.BoolVar(&o.keep, "keep", false, "keep the run's directory (logs, files) at the end")
	flag.BoolVar(&o.pprof, "pprof", false, "build tenantgate with -tags pprof and take a CPU profile of each tenantgate target in round 1 (into the kept directory)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintf(os.Stderr, "compare: %v\n", err)
		os.Exit(1)
	}
}

// env is everything the targets share.
type env struct {
	dir, bin                string
	redis, idp, upstream    *proc
	redisURL, idpURL, upURL string
	caFile, tenants, keys   string
	procs                   []*proc
}

func (e *env) close() {
	for i := len(e.procs) - 1; i >= 0; i-- {
		e.procs[i].stop()
	}
}

func (e *env) start(name string, extraEnv []string, ready *regexp.Regexp, bin string, args ...string) (*proc, string, error) {
	p, v, err := start(e.dir, name, extraEnv, ready, bin, args...)
	if err == nil {
		e.procs = append(e.procs, p)
	}
	return p, v, err
}

var (
	listeningRE  = regexp.MustCompile(`^listening (http://\S+)`)
	tenantgateRE = regexp.MustCompile(`^tenantgate: open (\S+)`)
	devidpRE     = regexp.MustCompile(`^devidp: serving (https://\S+)`)
	redisRE      = regexp.MustCompile(`Ready to accept connections`)
	o2pRE        = regexp.MustCompile(`Cookie settings`)
)

const secret = "bench-secret"

func run(ctx context.Context, o options) error {
	dir, err := os.MkdirTemp("", "tgload-compare-")
	if err != nil {
		return err
	}
	e := &env{dir: dir, bin: filepath.Join(dir, "bin")}
	defer func() {
		e.close()
		if !o.keep {
			os.RemoveAll(dir)
		} else {
			fmt.Fprintf(os.Stderr, "compare: logs and files kept in %s\n", dir)
		}
	}()
	fmt.Fprintf(os.Stderr, "compare: building into %s\n", e.bin)
	build := []string{"build", "-o", e.bin + "/"}
	if o.pprof {
		build = append(build, "-tags", "pprof")
		o.keep = true
	}
	build = append(build, "./cmd/tenantgate", "./cmd/tgload/upstream", "./cmd/tgload/bareproxy")
	if out, err := exec.CommandContext(ctx, "go", build...).CombinedOutput(); err != nil {
		return fmt.Errorf("go build (run from the module's root): %v\n%s", err, out)
	}
	if err := e.fixtures(o); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	if e.redis, _, err = e.start("redis", nil, redisRE, "redis-server", "--port", fmt.Sprint(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no"); err != nil {
		return fmt.Errorf("redis-server (apt-get install redis-server): %w", err)
	}
	e.redisURL = fmt.Sprintf("redis://127.0.0.1:%d", port)
	if e.idp, e.idpURL, err = e.start("devidp", nil, devidpRE, e.bin+"/tenantgate", "devidp", "--addr", "127.0.0.1:0",
		"--ca-out", e.caFile, "--config", filepath.Join(dir, "directory.yaml")); err != nil {
		return err
	}
	if err := e.writeTenants(); err != nil {
		return err
	}
	if e.upstream, e.upURL, err = e.start("upstream", nil, listeningRE, e.bin+"/upstream"); err != nil {
		return err
	}
	targets, err := e.startTargets(ctx, o)
	if err != nil {
		return err
	}
	rep := &report{Options: fmt.Sprintf("c=%d, %d rounds × %s per target (interleaved, rotated), %s warm-up, %d signed-in sessions per target", o.conns, o.rounds, o.duration, o.warmup, o.sessions)}
	if len(targets) > 0 {
		if err := measure(ctx, o, targets, rep); err != nil {
			return err
		}
	}
	for _, t := range targets {
		t.proc.stop() // the memory measurement has the machine to itself
	}
	if o.memSessions > 0 {
		m, err := e.memory(ctx, o)
		if err != nil {
			return fmt.Errorf("memory: %w", err)
		}
		rep.Memory = m
	}
	fmt.Print(rep.markdown())
	if o.jsonOut != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(o.jsonOut, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// fixtures writes the dev IdP's directory (one tenant, one app whose
// redirect URIs are both gateways' callbacks, the bench users) and the
// keyring.
func (e *env) fixtures(o options) error {
	e.caFile = filepath.Join(e.dir, "ca.pem")
	e.tenants = filepath.Join(e.dir, "tenants.yaml")
	e.keys = filepath.Join(e.dir, "keys.txt")
	var users strings.Builder
	for i := range o.sessions {
		fmt.Fprintf(&users, "  - {username: user%04d@contoso.onmicrosoft.com, name: User %04d, email: user%04d@contoso.example, tenant: contoso}\n", i, i, i)
	}
	dirYAML := fmt.Sprintf(`tenants:
  - {name: contoso, id: %s}
apps:
  - name: bench
    clientId: %s
    tenants: [contoso]
    redirectUris: [http://localhost/.auth/login/aad/callback, http://localhost/oauth2/callback]
    secrets: [%s]
    scopes: [access_as_user]
users:
%s`, devidp.DemoContosoID, devidp.DemoClientID, secret, users.String())
	k, err := seal.GenerateKey("bench")
	if err != nil {
		return err
	}
	for path, b := range map[string]string{filepath.Join(e.dir, "directory.yaml"): dirYAML, e.keys: k.Encode() + "\n"} {
		if err := os.WriteFile(path, []byte(b), 0o600); err != nil {
			return err
		}
	}
	return nil
}

func (e *env) writeTenants() error {
	yaml := fmt.Sprintf(`tenants:
  contoso:
    tenantId: %s
    authorityHost: %s
    clientId: %s
    credential: {secret: {env: TG_BENCH_SECRET}}
    scopes: ["api://%s/access_as_user"]
`, devidp.DemoContosoID, e.idpURL, devidp.DemoClientID, devidp.DemoClientID)
	return os.WriteFile(e.tenants, []byte(yaml), 0o600)
}

func (e *env) users(n int) []string {
	u := make([]string, n)
	for i := range u {
		u[i] = fmt.Sprintf("user%04d@contoso.onmicrosoft.com", i)
	}
	return u
}

// target is one proxy under load.
type target struct {
	name    string
	url     string // what the load hits
	cookies []string
	proc    *proc
	pprof   string // the debug listener of a -tags pprof build, or ""
}

func (e *env) serve(name, pprofAddr, redisQuery string, extra ...string) (*proc, string, error) {
	return e.serveEnv(name, pprofAddr, redisQuery, nil, extra...)
}

func (e *env) serveEnv(name, pprofAddr, redisQuery string, extraEnv []string, extra ...string) (*proc, string, error) {
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--tenants", e.tenants, "--keys", e.keys, "--ca-file", e.caFile,
		"--redis-url", e.redisURL + redisQuery, "--upstream", e.upURL, "--default-tenant", "contoso", "--replica", name}, extra...)
	env := append([]string{"TG_BENCH_SECRET=" + secret}, extraEnv...)
	if pprofAddr != "" {
		env = append(env, "TENANTGATE_PPROF_ADDR="+pprofAddr)
	}
	return e.start(name, env, tenantgateRE, e.bin+"/tenantgate", args...)
}

func (e *env) startTargets(ctx context.Context, o options) ([]*target, error) {
	var out []*target
	want := map[string]bool{}
	for _, t := range strings.Split(o.targets, ",") {
		if t = strings.TrimSpace(t); t != "" {
			want[t] = true
		}
	}
	signIn := func(gw, login string) ([]string, error) {
		return load.SignIn(ctx, load.SignInConfig{Gateway: gw, LoginPath: login, ReturnPath: "/", Users: e.users(o.sessions),
			N: o.sessions, Parallel: 4, IdPCA: e.caFile})
	}
	var tgCookies []string
	for _, name := range []string{"tenantgate", "tenantgate-pat", "tenantgate-anon"} {
		if !want[name] && !want["bare-headers"+strings.TrimPrefix(name, "tenantgate")] && !(name == "tenantgate" && (want["bare"] || want["tenantgate-anon"])) {
			continue
		}
		var extra []string
		switch name {
		case "tenantgate-pat":
			extra = []string{"--pass-access-token"}
		case "tenantgate-anon":
			// The gateway without authentication (every path anonymous): its
			// own proxying cost, which tells the sign-in's from the rest.
			extra = []string{"--allow-anonymous", "/"}
		}
		var pprofAddr string
		if o.pprof {
			port, err := freePort()
			if err != nil {
				return nil, err
			}
			pprofAddr = fmt.Sprintf("127.0.0.1:%d", port)
		}
		p, u, err := e.serve(name, pprofAddr, "", extra...)
		if err != nil {
			return nil, err
		}
		cookies, err := signIn(u, "/.auth/login/contoso?post_login_redirect_uri=/")
		if err != nil {
			return nil, fmt.Errorf("%s: %w (log: %s)", name, err, p.log)
		}
		if name == "tenantgate" {
			tgCookies = cookies
		}
		if want[name] {
			out = append(out, &target{name: name, url: loopbackURL(u) + "/bench", cookies: cookies, proc: p, pprof: pprofAddr})
		}
		if bare := "bare-headers" + strings.TrimPrefix(name, "tenantgate"); want[bare] && name != "tenantgate-anon" {
			// A bare proxy that sends the upstream the same header bytes as
			// this target does (identity, token, request ID), made for free:
			// what the target's cost owes to Easy Auth's headers.
			args, err := e.probeHeaders(ctx, u, cookies[0], name)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", bare, err)
			}
			bp, bu, err := e.start(bare, nil, listeningRE, e.bin+"/bareproxy", append([]string{"--upstream", e.upURL}, args...)...)
			if err != nil {
				return nil, err
			}
			out = append(out, &target{name: bare, url: bu + "/bench", cookies: cookies, proc: bp})
		}
	}
	if want["bare"] {
		p, u, err := e.start("bare", nil, listeningRE, e.bin+"/bareproxy", "--upstream", e.upURL)
		if err != nil {
			return nil, err
		}
		// The same cookies as tenantgate's: the same request bytes, ignored.
		out = append([]*target{{name: "bare", url: u + "/bench", cookies: tgCookies, proc: p}}, out...)
	}
	if want["oauth2-proxy"] {
		t, err := e.oauth2Proxy(ctx, o, signIn)
		if err != nil {
			return nil, fmt.Errorf("oauth2-proxy: %w", err)
		}
		out = append(out, t)
	}
	return out, nil
}

// probeHeaders sends one request through gateway g with cookie, which
// the upstream answers at /probe by printing the identity and token
// headers it got, by length; it returns them as bareproxy's --add-header
// flags.
func (e *env) probeHeaders(ctx context.Context, g, cookie, name string) ([]string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, loopbackURL(g)+"/probe", nil)
	req.Header.Set("Cookie", cookie)
	req.Header.Set("X-Tgload-Probe", name)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("probe through %s: %d", name, resp.StatusCode)
	}
	prefix := "probe " + name + ": "
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		data, _ := os.ReadFile(e.upstream.log)
		for line := range strings.Lines(string(data)) {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), prefix); ok {
				var args []string
				for _, h := range strings.Fields(rest) {
					args = append(args, "--add-header", h)
				}
				fmt.Fprintf(os.Stderr, "compare: %s sends the upstream %s\n", name, rest)
				return args, nil
			}
		}
	}
	return nil, fmt.Errorf("the upstream printed no probe line for %s (log %s)", name, e.upstream.log)
}

// loopbackURL makes http://localhost:P http://127.0.0.1:P, so that every
// target is loaded at the same address family.
func loopbackURL(u string) string { return strings.Replace(u, "//localhost:", "//127.0.0.1:", 1) }

func (e *env) oauth2Proxy(ctx context.Context, o options, signIn func(gw, login string) ([]string, error)) (*target, error) {
	bin := o.oauth2Proxy
	if bin == "" {
		if p, err := exec.LookPath("oauth2-proxy"); err == nil {
			bin = p
		} else if gp, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			bin = filepath.Join(strings.TrimSpace(string(gp)), "bin", "oauth2-proxy")
		}
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, errors.New("not found: go install github.com/oauth2-proxy/oauth2-proxy/v7@latest, or pass --oauth2-proxy, or leave it out of --targets")
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	base := fmt.Sprintf("http://localhost:%d", port)
	cookieSecret := strings.Repeat("b", 32)
	p, _, err := e.start("oauth2-proxy", nil, o2pRE, bin,
		"--http-address", fmt.Sprintf("127.0.0.1:%d", port),
		"--provider", "oidc", "--oidc-issuer-url", e.idpURL+"/"+devidp.DemoContosoID+"/v2.0",
		"--provider-ca-file", e.caFile,
		"--client-id", devidp.DemoClientID, "--client-secret", secret,
		"--redirect-url", base+"/oauth2/callback", "--upstream", e.upURL+"/",
		"--cookie-secret", cookieSecret, "--cookie-secure=false", "--email-domain", "*",
		"--scope", "openid profile email", "--skip-provider-button", "--insecure-oidc-allow-unverified-email",
		"--session-store-type", "redis", "--redis-connection-url", e.redisURL,
		// per-request log lines cost oauth2-proxy CPU that tenantgate does
		// not spend (it logs no request): off, so the comparison is fair.
		"--request-logging=false")
	if err != nil {
		return nil, err
	}
	// It logs no line once it listens: wait for the port.
	if err := waitPort(fmt.Sprintf("127.0.0.1:%d", port), 30*time.Second); err != nil {
		return nil, fmt.Errorf("%w (log: %s)", err, p.log)
	}
	cookies, err := signIn(base, "/oauth2/start?rd=/")
	if err != nil {
		return nil, fmt.Errorf("%w (log: %s)", err, p.log)
	}
	return &target{name: "oauth2-proxy", url: fmt.Sprintf("http://127.0.0.1:%d/bench", port), cookies: cookies, proc: p}, nil
}
