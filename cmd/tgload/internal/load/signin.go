package load

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"
)

// SignInConfig signs users in through a gateway's real flow against the
// dev IdP, as a browser does: the gateway's login URL, the IdP's sign-in
// page (the user picked by username), the IdP's answer to the gateway's
// callback (a redirect or an auto-submitting form_post page), and every
// redirect after, until the gateway sends the browser to ReturnPath.
// It knows no gateway in particular: tenantgate and oauth2-proxy both
// sign in through it.
type SignInConfig struct {
	Gateway    string   // the gateway's base URL (loopback)
	LoginPath  string   // e.g. /.auth/login/aad?post_login_redirect_uri=/
	ReturnPath string   // where the flow ends, e.g. /
	Users      []string // usernames, cycled over N sign-ins
	N          int      // how many sessions
	Parallel   int      // sign-ins at once (default 4)
	IdPCA      string   // PEM file of the dev IdP's CA
}

// SignIn returns N Cookie header values, each a fresh session.
func SignIn(ctx context.Context, c SignInConfig) ([]string, error) {
	if c.N < 1 || c.N > 1_000_000 || len(c.Users) == 0 {
		return nil, errors.New("load: sign-in needs 1…1000000 sessions and at least one username")
	}
	g, err := url.Parse(c.Gateway)
	if err != nil || g.Host == "" {
		return nil, fmt.Errorf("load: --gateway %q is not a URL", c.Gateway)
	}
	if err := Loopback(g.Hostname()); err != nil {
		return nil, err
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: time.Minute}
	if c.IdPCA != "" {
		pem, err := os.ReadFile(c.IdPCA)
		if err != nil {
			return nil, fmt.Errorf("load: --idp-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("load: --idp-ca %s holds no PEM certificate", c.IdPCA)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	defer tr.CloseIdleConnections()
	par := max(1, min(c.Parallel, 64))
	if c.Parallel == 0 {
		par = 4
	}
	out := make([]string, c.N)
	errs := make(chan error, c.N)
	next := make(chan int)
	var wg sync.WaitGroup
	for range par {
		wg.Go(func() {
			for i := range next {
				cookie, err := signInOne(ctx, tr, g, c, c.Users[i%len(c.Users)])
				if err != nil {
					errs <- fmt.Errorf("load: signing in %s: %w", c.Users[i%len(c.Users)], err)
					continue
				}
				out[i] = cookie
			}
		})
	}
feed:
	for i := range c.N {
		select {
		case next <- i:
		case err := <-errs:
			errs <- err
			break feed
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		return nil, err
	default:
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

var (
	hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
	formAction  = regexp.MustCompile(`<form[^>]*action="([^"]*)"`)
)

func signInOne(ctx context.Context, tr http.RoundTripper, g *url.URL, c SignInConfig, user string) (string, error) {
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Transport: tr, Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	cur, err := g.Parse(c.LoginPath)
	if err != nil {
		return "", err
	}
	method, form := http.MethodGet, url.Values(nil)
	for step := 0; step < 12; step++ {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequestWithContext(ctx, method, cur.String(), body)
		if err != nil {
			return "", err
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		req.Header.Set("Accept", "text/html")
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		page, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			loc, err := cur.Parse(resp.Header.Get("Location"))
			if err != nil {
				return "", fmt.Errorf("step %d: bad redirect: %w", step, err)
			}
			if loc.Host == g.Host && loc.Path == c.ReturnPath && cur.Host == g.Host {
				if cs := jar.Cookies(g); len(cs) > 0 {
					return cookieHeader(cs), nil
				}
				return "", errors.New("the flow ended without a cookie")
			}
			cur, method, form = loc, http.MethodGet, nil
		case resp.StatusCode == http.StatusOK && strings.Contains(string(page), `onload="document.forms[0].submit()"`):
			m := formAction.FindSubmatch(page)
			if m == nil {
				return "", fmt.Errorf("step %d: a form_post page without an action", step)
			}
			if cur, err = cur.Parse(html.UnescapeString(string(m[1]))); err != nil {
				return "", err
			}
			form = url.Values{}
			for _, h := range hiddenInput.FindAllStringSubmatch(string(page), -1) {
				form.Add(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
			}
			method = http.MethodPost
		case resp.StatusCode == http.StatusOK && strings.Contains(string(page), `name="username"`) && method == http.MethodGet:
			method, form = http.MethodPost, url.Values{"username": {user}}
		default:
			return "", fmt.Errorf("step %d: %s %s%s answered %d", step, method, cur.Host, cur.Path, resp.StatusCode)
		}
	}
	return "", errors.New("the flow did not end in 12 steps")
}

func cookieHeader(cs []*http.Cookie) string {
	parts := make([]string, 0, len(cs))
	for _, c := range cs {
		parts = append(parts, c.Name+"="+c.Value)
	}
	return strings.Join(parts, "; ")
}
