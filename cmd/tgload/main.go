// Command tgload sends authenticated load to a gateway on this machine
// and reports req/s, latency percentiles and answers by status. It signs
// its users in beforehand through the gateway's real sign-in flow against
// the dev IdP (--signin-users), or reads their cookies from a file
// (--cookies, written by --write-cookies). Runs are bounded in time and
// count and refuse any host that is not loopback.
//
//	tgload --gateway http://localhost:8080 --idp-ca devidp-ca.pem --signin-users 64 \
//	       --url http://localhost:8080/ -c 32 --duration 10s
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tenantgate/tenantgate/cmd/tgload/internal/load"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tgload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		c     load.Config
		s     load.SignInConfig
		users string
	)
	fs.StringVar(&c.URL, "url", "", "the `URL` to load (loopback only); absent with --write-cookies: sign in only")
	fs.IntVar(&c.Connections, "c", 32, "connections, one per worker, kept alive")
	fs.DurationVar(&c.Duration, "duration", 0, "how long to run (at most 10m)")
	fs.Int64Var(&c.Requests, "requests", 0, "how many requests to send (with --duration: whichever comes first)")
	fs.IntVar(&c.Expect, "expect", 200, "the status that counts as success")
	fs.DurationVar(&c.Timeout, "timeout", 10*time.Second, "one request's timeout")
	cookies := fs.String("cookies", "", "`file` of Cookie header values, one session a line")
	writeCookies := fs.String("write-cookies", "", "`file` to write the signed-in sessions' cookies to (mode 0600)")
	fs.IntVar(&s.N, "signin-users", 0, "sign this many sessions in first, through --gateway's real flow")
	fs.StringVar(&s.Gateway, "gateway", "", "the gateway's base `URL` to sign in through")
	fs.StringVar(&s.IdPCA, "idp-ca", "", "the dev IdP's CA certificate (PEM `file`)")
	fs.StringVar(&users, "users", "alice@contoso.onmicrosoft.com,bob@contoso.onmicrosoft.com", "usernames to sign in, comma-separated, cycled (the demo directory's by default)")
	fs.StringVar(&s.LoginPath, "login-path", "/.auth/login/aad?post_login_redirect_uri=/", "the login route (oauth2-proxy: /oauth2/start?rd=/)")
	fs.StringVar(&s.ReturnPath, "return-path", "/", "the path the sign-in flow ends on")
	fs.IntVar(&s.Parallel, "signin-parallel", 4, "sign-ins at once")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tgload: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if *cookies != "" {
		lines, err := readCookies(*cookies)
		if err != nil {
			fmt.Fprintf(stderr, "tgload: %v\n", err)
			return 1
		}
		c.Cookies = append(c.Cookies, lines...)
	}
	if s.N > 0 {
		s.Users = strings.Split(users, ",")
		t0 := time.Now()
		got, err := load.SignIn(ctx, s)
		if err != nil {
			fmt.Fprintf(stderr, "tgload: %v\n", err)
			return 1
		}
		fmt.Fprintf(stderr, "tgload: signed %d sessions in through %s in %s\n", len(got), s.Gateway, time.Since(t0).Round(time.Millisecond))
		c.Cookies = append(c.Cookies, got...)
	}
	if *writeCookies != "" {
		if err := os.WriteFile(*writeCookies, []byte(strings.Join(c.Cookies, "\n")+"\n"), 0o600); err != nil {
			fmt.Fprintf(stderr, "tgload: --write-cookies: %v\n", err)
			return 1
		}
	}
	if c.URL == "" {
		if *writeCookies != "" {
			return 0
		}
		fmt.Fprintln(stderr, "tgload: --url is required (or --write-cookies to sign in only)")
		return 2
	}
	res, err := load.Run(ctx, c)
	if err != nil {
		fmt.Fprintf(stderr, "tgload: %v\n", err)
		return 2
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(res)
	} else {
		fmt.Fprint(stdout, res.Text())
	}
	if res.Errors > 0 {
		return 3
	}
	return 0
}

func readCookies(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--cookies: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--cookies %s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--cookies %s: no cookie in it", path)
	}
	return out, nil
}
