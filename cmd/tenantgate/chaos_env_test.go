package main

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/devidp/devidptest"
	"github.com/tenantgate/tenantgate/internal/faultproxy"
)

// This file is the chaos suite's deployment: the dev IdP, three gateway
// processes, their users. chaos_load_test.go drives them; chaos_test.go
// injects the faults.

// chaosScale is how long and how hard the suite runs. make test runs the
// short one; make chaos sets TENANTGATE_CHAOS=long.
type chaosScale struct {
	rate          int           // requests per second, over all replicas
	before, fault time.Duration // steady load before a fault; how long it lasts
	settle        time.Duration // load kept after the first good answer
}

func chaosScaleFromEnv() chaosScale {
	if os.Getenv("TENANTGATE_CHAOS") == "long" {
		return chaosScale{rate: 60, before: 10 * time.Second, fault: 15 * time.Second, settle: 10 * time.Second}
	}
	return chaosScale{rate: 20, before: time.Second, fault: 3 * time.Second, settle: time.Second}
}

// chaosSeed picks users and replicas for the load; TENANTGATE_CHAOS_SEED
// replays a run.
func chaosSeed(t *testing.T) uint64 {
	seed := rand.Uint64()
	if s := os.Getenv("TENANTGATE_CHAOS_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("TENANTGATE_CHAOS_SEED=%q: want a decimal number", s)
		}
		seed = v
	}
	t.Logf("seed %d (replay with TENANTGATE_CHAOS_SEED=%d)", seed, seed)
	return seed
}

// Lifetimes of the suite's tokens. dueSoon tokens are due (MSAL renews
// within 5 minutes of expiry) 4 s after they are issued, so even a short
// run refreshes under the fault; alwaysDue tokens are due as soon as issued, so
// every request with --pass-access-token needs the IdP.
var (
	dueSoon   = devidp.Lifetimes{AccessToken: 5*time.Minute + 4*time.Second, IDToken: time.Hour}
	alwaysDue = devidp.Lifetimes{AccessToken: 4 * time.Minute, IDToken: time.Hour}
)

// chaosEnv is one deployment under test.
type chaosEnv struct {
	t        *testing.T
	idp      *devidptest.Server
	f        *fixture
	replicas []*replica
	users    []*chaosUser
}

// replica is one gateway process; proxy is nil when it talks to Redis
// directly (Sentinel and Cluster hand out the nodes' own addresses).
type replica struct {
	*proc
	proxy *faultproxy.Proxy
}

// chaosUser is one signed-in browser session.
type chaosUser struct {
	name, tenant string
	b            *http.Client
}

// sessionUsers are the sessions the load runs as: alice and fiona in two
// browsers each, so that two sessions share one token partition, and bob
// in one, the session a fault may revoke. (Sign-out deletes the user's
// token partition, which ends the user's other sessions too at their
// next token: revoking alice would sign out her second browser.)
var sessionUsers = []struct{ name, tenant string }{
	{"alice@contoso.onmicrosoft.com", "contoso"}, {"bob@contoso.onmicrosoft.com", "contoso"},
	{"fiona@fabrikam.onmicrosoft.com", "fabrikam"}, {"alice@contoso.onmicrosoft.com", "contoso"},
	{"fiona@fabrikam.onmicrosoft.com", "fabrikam"},
}

// revocable is the index in sessionUsers of bob's only session.
const revocable = 1

// newChaosEnv starts three replicas. redisTarget is the Redis address a
// replica's proxy forwards to ("" for none: redisURL is then used as is).
func newChaosEnv(t *testing.T, life devidp.Lifetimes, redisTarget, redisURL string, extra ...string) *chaosEnv {
	t.Helper()
	idp := devidptest.Start(t, devidptest.WithLifetimes(life))
	up := echoUpstream(t)
	e := &chaosEnv{t: t, idp: idp, f: newFixture(t, idp)}
	for i := range 3 {
		r := &replica{}
		u := redisURL
		if redisTarget != "" {
			r.proxy = faultproxy.Start(t, redisTarget)
			u = "redis://" + r.proxy.Addr
		}
		args := append([]string{"--pass-access-token", "--replica", fmt.Sprintf("r%d", i+1)}, extra...)
		r.proc = startServe(t, e.f.args(u, up.URL, args...), e.f.env()...)
		e.replicas = append(e.replicas, r)
	}
	for i, su := range sessionUsers {
		u := &chaosUser{name: su.name, tenant: su.tenant, b: browser(idp)}
		signInTo(t, idp, u.b, e.replicas[i%3].URL, su.tenant, su.name)
		e.users = append(e.users, u)
	}
	return e
}

// signOut signs user i out on replica r with a copy of its cookies, so that
// the load goes on sending the old cookie: the revoked session must then
// be refused everywhere.
func (e *chaosEnv) signOut(i, r int) {
	e.t.Helper()
	g := e.replicas[r].URL
	c := browser(e.idp)
	pu, _ := url.Parse(g)
	c.Jar.SetCookies(pu, e.users[i].b.Jar.Cookies(pu))
	resp, body := send(e.t, c, http.MethodPost, g+"/.auth/logout", nil, "Origin", "http://"+pu.Host)
	if resp.StatusCode != http.StatusFound {
		e.t.Fatalf("logout: %d %s", resp.StatusCode, body)
	}
}

// kill ends replica r with SIGKILL, as a crashed node or an evicted pod.
func (e *chaosEnv) kill(r int) {
	e.t.Helper()
	if err := e.replicas[r].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		e.t.Fatalf("kill replica %d: %v", r+1, err)
	}
}

// procStatus reads one field of /proc/PID/status, e.g. VmRSS in kB.
func procStatus(pid int, field string) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.ParseInt(strings.Fields(v)[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s", pid, field)
}
