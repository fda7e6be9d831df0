package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/devidp/devidptest"
	"github.com/tenantgate/tenantgate/internal/redistest"
)

// echoUpstream answers with what it received; /ws echoes bytes after a
// WebSocket upgrade; /sse streams two events with a pause between;
// /slow answers after a while.
func echoUpstream(t *testing.T) *httptest.Server {
	t.Helper()
	release := make(chan struct{})
	var once sync.Once
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			http.Error(w, "upgrade required", http.StatusBadRequest)
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		rw.Flush()
		io.Copy(conn, rw)
	})
	mux.HandleFunc("/sse", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: one\n\n")
		http.NewResponseController(w).Flush()
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
		fmt.Fprint(w, "data: two\n\n")
	})
	mux.HandleFunc("/sse/release", func(w http.ResponseWriter, r *http.Request) { once.Do(func() { close(release) }) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		json.NewEncoder(w).Encode(echoed{Path: r.URL.Path, Host: r.Host, Header: r.Header})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(echoed{Path: r.URL.Path, Host: r.Host, Header: r.Header})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// forged is what a client sends to pose as someone else.
var forged = []string{
	"X-MS-CLIENT-PRINCIPAL", base64.StdEncoding.EncodeToString([]byte(`{"auth_typ":"aad","claims":[{"typ":"name","val":"Mallory"}]}`)),
	"X-MS-CLIENT-PRINCIPAL-NAME", "mallory@evil.example",
	"x-ms-client-principal-id", "00000000-0000-0000-0000-000000000bad",
	"X-Ms-Client-Principal-Idp", "evil",
	"X-MS-TOKEN-AAD-ACCESS-TOKEN", "forged.token.value",
	"X-MS-TOKEN-AAD-REFRESH-TOKEN", "forged",
}

func noForgedHeaders(t *testing.T, e echoed) {
	t.Helper()
	for name, v := range e.Header {
		for _, s := range v {
			if strings.Contains(s, "mallory") || strings.Contains(s, "Mallory") || strings.Contains(s, "forged") || strings.Contains(s, "0bad") || s == "evil" {
				t.Errorf("a forged header reached the upstream: %s: %s", name, s)
			}
		}
	}
}

// Three gateway processes on one Redis and one keyring, the dev IdP, an
// echo upstream: what the users do with it, step by step.
func TestServeEndToEnd(t *testing.T) {
	srv := redistest.Standalone(t)
	idp := devidptest.Start(t)
	up := echoUpstream(t)
	f := newFixture(t, idp)
	redisURL := "redis://" + srv.Addr
	var gw []*proc
	for range 3 {
		gw = append(gw, startServe(t, f.args(redisURL, up.URL, "--pass-access-token", "--forward-auth", "--allow-anonymous", "/public"), f.env()...))
	}
	b := browser(idp)
	signIn(t, idp, b, gw[0].URL, "alice@contoso.onmicrosoft.com")

	t.Run("identity on every replica", func(t *testing.T) {
		for _, g := range gw[1:] {
			resp, body := send(t, b, http.MethodGet, g.URL+"/hello?x=1", nil, forged...)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: %d %s", g.URL, resp.StatusCode, body)
			}
			e := decodeEcho(t, body)
			noForgedHeaders(t, e)
			h := http.Header(e.Header)
			noteSecret(t, "access token", strings.TrimPrefix(h.Get("Authorization"), "Bearer "))
			if h.Get("X-Ms-Client-Principal-Name") != "alice@contoso.onmicrosoft.com" || h.Get("X-Ms-Client-Principal-Idp") != "aad" || h.Get("X-Ms-Client-Principal-Id") == "" {
				t.Errorf("identity headers: %v", h)
			}
			raw, err := base64.StdEncoding.DecodeString(h.Get("X-Ms-Client-Principal"))
			var p struct {
				AuthType string `json:"auth_typ"`
				Claims   []struct{ Typ, Val string }
				NameType string `json:"name_typ"`
				RoleType string `json:"role_typ"`
			}
			if err != nil || json.Unmarshal(raw, &p) != nil || p.AuthType != "aad" || p.NameType == "" || p.RoleType == "" || len(p.Claims) < 5 {
				t.Errorf("X-MS-CLIENT-PRINCIPAL: %v %s", err, raw)
			}
			if !strings.HasPrefix(h.Get("Authorization"), "Bearer ") || h.Get("X-Ms-Token-Aad-Access-Token") == "" || h.Get("X-Ms-Token-Aad-Expires-On") == "" {
				t.Errorf("token headers missing: %v", h)
			}
			if h.Get("X-Ms-Token-Aad-Refresh-Token") != "" {
				t.Error("a refresh token header reached the upstream")
			}
			// From --public-url (the URL browsers use), which the fixture
			// leaves at its default, http://localhost:PORT.
			pu, _ := url.Parse(g.URL)
			if h.Get("X-Forwarded-Proto") != "http" || h.Get("X-Forwarded-Host") != "localhost:"+pu.Port() || h.Get("X-Forwarded-For") != "127.0.0.1" {
				t.Errorf("X-Forwarded-*: %v", h)
			}
		}
	})
	t.Run("forged headers never reach the upstream", func(t *testing.T) {
		anon := browser(idp)
		resp, body := send(t, anon, http.MethodGet, gw[1].URL+"/private", nil, forged...)
		if resp.StatusCode != http.StatusUnauthorized || strings.Contains(body, "mallory") {
			t.Fatalf("forged identity, not signed in: %d %s", resp.StatusCode, body)
		}
		resp, body = send(t, anon, http.MethodGet, gw[1].URL+"/private", nil, append([]string{"Accept", "text/html"}, forged...)...)
		if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), "/.auth/login/aad?post_login_redirect_uri=%2Fprivate") {
			t.Fatalf("browser not signed in: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		resp, body = send(t, anon, http.MethodGet, gw[1].URL+"/public/page", nil, forged...)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("anonymous path: %d %s", resp.StatusCode, body)
		}
		e := decodeEcho(t, body)
		noForgedHeaders(t, e)
		for name := range e.Header {
			if strings.HasPrefix(strings.ToLower(name), "x-ms-") {
				t.Errorf("anonymous request carries %s", name)
			}
		}
	})
	t.Run("forward-auth contract", func(t *testing.T) {
		g := gw[1].URL
		resp, _ := send(t, b, http.MethodGet, g+"/.auth/verify", nil, forged...)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Ms-Client-Principal-Name") != "alice@contoso.onmicrosoft.com" || resp.Header.Get("X-Ms-Client-Principal") == "" || resp.Header.Get("X-Ms-Token-Aad-Access-Token") == "" {
			t.Fatalf("signed in: %d %v", resp.StatusCode, resp.Header)
		}
		anon := browser(idp)
		nav := []string{"Accept", "text/html", "X-Forwarded-Method", "GET", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "app.example", "X-Forwarded-Uri", "/reports?id=1"}
		resp, _ = send(t, anon, http.MethodGet, g+"/.auth/verify", nil, nav...)
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Location") != "" {
			t.Fatalf("no session, no redirect asked: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		resp, _ = send(t, anon, http.MethodGet, g+"/.auth/verify?redirect=true", nil, nav...)
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/.auth/login/aad?post_login_redirect_uri=%2Freports%3Fid%3D1" {
			t.Fatalf("redirect asked, host not allowed: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		resp, _ = send(t, anon, http.MethodGet, g+"/.auth/verify?redirect=true", nil, "Accept", "application/json")
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("redirect asked by an API call: %d", resp.StatusCode)
		}
	})
	t.Run("websocket", func(t *testing.T) {
		u, _ := url.Parse(gw[2].URL)
		conn, err := net.Dial("tcp", "127.0.0.1:"+u.Port())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		var cookies []string
		for _, c := range cookieFor(b, gw[2].URL) {
			cookies = append(cookies, c.Name+"="+c.Value)
		}
		fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nCookie: %s\r\n\r\n", u.Host, strings.Join(cookies, "; "))
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("upgrade: %v %v", err, resp)
		}
		conn.Write([]byte("ping through the gateway"))
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		got := make([]byte, len("ping through the gateway"))
		if _, err := io.ReadFull(br, got); err != nil || string(got) != "ping through the gateway" {
			t.Fatalf("echo over the upgraded connection: %q %v", got, err)
		}
	})
	t.Run("streaming is not buffered", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, gw[1].URL+"/sse", nil)
		resp, err := b.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		line := make(chan string, 1)
		go func() {
			l, _ := bufio.NewReader(resp.Body).ReadString('\n')
			line <- l
		}()
		select {
		case l := <-line:
			if l != "data: one\n" {
				t.Fatalf("first event %q", l)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the first event was held back until the stream ended")
		}
		send(t, b, http.MethodGet, up.URL+"/sse/release", nil)
	})
	t.Run("sign-out on one replica is refused on another within a second", func(t *testing.T) {
		other := browser(idp)
		signIn(t, idp, other, gw[0].URL, "bob@contoso.onmicrosoft.com")
		if resp, _ := send(t, other, http.MethodGet, gw[0].URL+"/x", nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("before: %d", resp.StatusCode)
		}
		u, _ := url.Parse(gw[2].URL)
		resp, body := send(t, other, http.MethodPost, gw[2].URL+"/.auth/logout", nil, "Origin", "http://"+u.Host)
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("logout: %d %s", resp.StatusCode, body)
		}
		start := time.Now()
		// The browser dropped nothing: resend the old cookie to replica 1.
		for {
			resp, _ := send(t, other, http.MethodGet, gw[0].URL+"/x", nil)
			if resp.StatusCode == http.StatusUnauthorized {
				break
			}
			if time.Since(start) > time.Second {
				t.Fatalf("replica 1 still serves the signed-out session after %v", time.Since(start))
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	t.Run("Redis paused is 503, then the same cookie works", func(t *testing.T) {
		srv.Pause(t)
		resp, _ := send(t, b, http.MethodGet, gw[1].URL+"/x", nil)
		srv.Resume(t)
		// An L1 hit may still answer while Redis sleeps; what must never
		// happen is a sign-out.
		if resp.StatusCode != http.StatusServiceUnavailable && resp.StatusCode != http.StatusOK {
			t.Fatalf("with Redis paused: %d", resp.StatusCode)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp, body := send(t, b, http.MethodGet, gw[1].URL+"/x", nil)
			if resp.StatusCode == http.StatusOK {
				break
			}
			if resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
				t.Fatalf("after Redis resumed: %d %s", resp.StatusCode, body)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	t.Run("upstream down is 502", func(t *testing.T) {
		g := startServe(t, f.args(redisURL, "http://127.0.0.1:1"), f.env()...)
		c := browser(idp)
		signIn(t, idp, c, g.URL, "alice@contoso.onmicrosoft.com")
		resp, body := send(t, c, http.MethodGet, g.URL+"/x", nil)
		if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "not answering") {
			t.Fatalf("upstream down: %d %s", resp.StatusCode, body)
		}
	})
	t.Run("SIGTERM during load fails no request in flight", func(t *testing.T) {
		g := startServe(t, f.args(redisURL, up.URL), f.env()...)
		c := browser(idp)
		signIn(t, idp, c, g.URL, "alice@contoso.onmicrosoft.com")
		var wg sync.WaitGroup
		var mu sync.Mutex
		statuses := map[int]int{}
		started := make(chan struct{}, 16)
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest(http.MethodGet, g.URL+"/slow", nil)
				for _, ck := range cookieFor(c, g.URL) {
					req.AddCookie(ck)
				}
				started <- struct{}{}
				resp, err := http.DefaultClient.Do(req)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					statuses[-1]++
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				statuses[resp.StatusCode]++
			}()
		}
		for range 16 {
			<-started
		}
		time.Sleep(100 * time.Millisecond) // all 16 are at the upstream
		if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if statuses[http.StatusOK] != 16 {
			t.Fatalf("requests in flight at SIGTERM: %v, want 16 × 200", statuses)
		}
		if err := g.cmd.Wait(); err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	})
}

// 200 concurrent requests of one user whose access token is due, spread
// over three gateway processes with --pass-access-token: the IdP sees one
// refresh, under strict refresh-token rotation (a second redemption of the
// same refresh token would revoke the sign-in), and every request succeeds.
func TestServeOneRefreshAcrossReplicas(t *testing.T) {
	srv := redistest.Standalone(t)
	idp := devidptest.Start(t)
	idp.IdP().SetStrictRefreshRotation(true)
	up := echoUpstream(t)
	f := newFixture(t, idp)
	var gw []*proc
	for range 3 {
		gw = append(gw, startServe(t, f.args("redis://"+srv.Addr, up.URL, "--pass-access-token"), f.env()...))
	}
	b := browser(idp)
	idp.IdP().SetLifetimes(devidp.Lifetimes{AccessToken: 4 * time.Minute}) // due at once: MSAL refreshes 5 minutes early
	signIn(t, idp, b, gw[0].URL, "alice@contoso.onmicrosoft.com")
	idp.IdP().SetLifetimes(devidp.Lifetimes{})
	idp.IdP().ResetRequests()

	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	tokens := map[string]bool{}
	start := make(chan struct{})
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodGet, gw[i%3].URL+"/api", nil)
			for _, c := range cookieFor(b, gw[i%3].URL) {
				req.AddCookie(c)
			}
			<-start
			resp, err := http.DefaultClient.Do(req)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				statuses[-1]++
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			statuses[resp.StatusCode]++
			if resp.StatusCode == http.StatusOK {
				var e echoed
				if json.Unmarshal(body, &e) == nil {
					tokens[http.Header(e.Header).Get("X-Ms-Token-Aad-Access-Token")] = true
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	grants := idp.IdP().Count("token", "refresh_token")
	if statuses[http.StatusOK] != 200 || grants != 1 {
		t.Fatalf("200 requests over 3 replicas with a due token: statuses %v, %d refresh grants at the IdP; want 200 × 200 and 1 grant", statuses, grants)
	}
	if len(tokens) != 1 {
		t.Errorf("the upstream saw %d different access tokens, want the one refreshed", len(tokens))
	}
}

// Without --forward-auth, /.auth/verify is 404: its answer carries the
// access token, which the browser (any script of the app's origin) would
// read through it, although /.auth/me hides it without --expose-tokens.
func TestVerifyIsOffWithoutForwardAuth(t *testing.T) {
	srv := redistest.Standalone(t)
	idp := devidptest.Start(t)
	up := echoUpstream(t)
	f := newFixture(t, idp)
	g := startServe(t, f.args("redis://"+srv.Addr, up.URL, "--pass-access-token"), f.env()...)
	b := browser(idp)
	signIn(t, idp, b, g.URL, "alice@contoso.onmicrosoft.com")
	if _, me := send(t, b, http.MethodGet, g.URL+"/.auth/me", nil); strings.Contains(me, "access_token") {
		t.Fatal("/.auth/me exposes the tokens without --expose-tokens")
	}
	resp, _ := send(t, b, http.MethodGet, g.URL+"/.auth/verify", nil, "Sec-Fetch-Site", "same-origin", "Sec-Fetch-Mode", "cors")
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get("X-Ms-Token-Aad-Access-Token") != "" || resp.Header.Get("Authorization") != "" {
		t.Fatalf("/.auth/verify without --forward-auth: %d %v", resp.StatusCode, resp.Header)
	}
}
