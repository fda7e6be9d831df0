package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/internal/redistest"
)

// The chaos suite: three gateway processes under a steady load of signed-in
// users, one fault at a time, and for each a row of figures (requests,
// failures by status, sign-outs, lost sessions and tokens, recovery time)
// logged as "CHAOS| …" for docs/reliability.md. make test runs it short;
// make chaos runs it long (TENANTGATE_CHAOS=long) and collects the rows.

// fault runs the load for sc.before, then inject (which returns when the
// fault has ended), then waits for a good answer from every affected
// replica and keeps the load sc.settle longer. The row covers it all.
func (e *chaosEnv) fault(l *load, sc chaosScale, name string, affected []int, inject func()) (row, time.Time) {
	e.t.Helper()
	from := time.Now()
	refreshes := e.idp.IdP().Count("token", "refresh_token")
	time.Sleep(sc.before)
	inject()
	end := time.Now()
	rec, ok := l.waitGood(end, affected...)
	time.Sleep(sc.settle)
	rw := l.tally(name, from, time.Now())
	rw.recovery, rw.recovered = rec, ok
	rw.refreshes = e.idp.IdP().Count("token", "refresh_token") - refreshes
	return rw, end
}

// finish stops the load, proves nothing was lost on the replicas in alive,
// and reports.
func (e *chaosEnv) finish(l *load, rw row, alive ...int) {
	e.t.Helper()
	l.halt()
	rw.skipped = l.skipped.Load()
	l.check(&rw, alive...)
	e.report(rw)
}

// Redis stopped (SIGTERM: the AOF is written) and started again from its
// append-only file, appendfsync everysec.
func TestChaosRedisRestart(t *testing.T) {
	sc := chaosScaleFromEnv()
	srv := redistest.Standalone(t, redistest.WithConfig("appendonly yes", "appendfsync everysec"))
	if got := fmt.Sprint(srv.Do(t, "CONFIG", "GET", "appendfsync")); !strings.Contains(got, "everysec") {
		t.Fatalf("appendfsync: %s", got)
	}
	e := newChaosEnv(t, dueSoon, srv.Addr, "")
	l := e.startLoad(sc.rate, chaosSeed(t))
	rw, _ := e.fault(l, sc, fmt.Sprintf("Redis down %v, restarted from AOF", sc.fault), []int{0, 1, 2}, func() {
		srv.Stop(t)
		time.Sleep(sc.fault)
		srv.Restart(t)
	})
	e.finish(l, rw, 0, 1, 2)
}

// Redis crashed (SIGKILL: nothing flushed) and started again from its
// AOF. With appendfsync everysec Redis may lose the last second of writes
// by its own contract: sessions are older than that; a token refreshed in
// that second is lost from the store, and the older one, still valid or
// refreshable, is used again. The lost-token column then counts a token
// older than one already served at the final check.
func TestChaosRedisCrash(t *testing.T) {
	sc := chaosScaleFromEnv()
	srv := redistest.Standalone(t, redistest.WithConfig("appendonly yes", "appendfsync everysec"))
	e := newChaosEnv(t, dueSoon, srv.Addr, "")
	l := e.startLoad(sc.rate, chaosSeed(t))
	rw, _ := e.fault(l, sc, fmt.Sprintf("Redis SIGKILLed, down %v, restarted from AOF", sc.fault), []int{0, 1, 2}, func() {
		srv.Kill(t)
		time.Sleep(sc.fault)
		srv.Restart(t)
	})
	e.finish(l, rw, 0, 1, 2)
}

// Sentinel: the primary killed, the replica promoted; the gateways follow
// the sentinels, and a write made after the failover (a new sign-in) is
// read by the other replicas.
func TestChaosSentinelFailover(t *testing.T) {
	sc := chaosScaleFromEnv()
	s := redistest.NewSentinel(t)
	a := s.SentinelAddrs()
	u := fmt.Sprintf("redis://%s?addr=%s&addr=%s&master_set=%s", a[0], a[1], a[2], s.Master)
	e := newChaosEnv(t, dueSoon, "", u)
	l := e.startLoad(sc.rate, chaosSeed(t))
	rw, _ := e.fault(l, sc, "Sentinel: primary killed, replica promoted", []int{0, 1, 2}, func() { s.Failover(t) })
	e.writesLand(0)
	e.finish(l, rw, 0, 1, 2)
}

// Cluster of three primaries with a replica each: one primary killed, its
// replica promoted by the cluster.
func TestChaosClusterFailover(t *testing.T) {
	sc := chaosScaleFromEnv()
	c := redistest.NewReplicatedCluster(t, 3)
	a := c.Addrs()
	u := fmt.Sprintf("redis://%s?addr=%s&addr=%s", a[0], a[1], a[2])
	e := newChaosEnv(t, dueSoon, "", u)
	l := e.startLoad(sc.rate, chaosSeed(t))
	rw, _ := e.fault(l, sc, "Cluster: a primary killed, its replica promoted", []int{0, 1, 2}, func() { c.Failover(t, 0) })
	e.writesLand(1)
	e.finish(l, rw, 0, 1, 2)
}

// writesLand signs a new session in on replica r after a failover and
// uses it on the other two, which can only know it from Redis.
func (e *chaosEnv) writesLand(r int) {
	e.t.Helper()
	b := browser(e.idp)
	signInTo(e.t, e.idp, b, e.replicas[r].URL, "contoso", "bob@contoso.onmicrosoft.com")
	for i, g := range e.replicas {
		if i == r {
			continue
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, body := send(e.t, b, http.MethodGet, g.URL+"/after-failover", nil)
			if resp.StatusCode == http.StatusOK {
				break
			}
			if resp.StatusCode == http.StatusUnauthorized || time.Now().After(deadline) {
				e.t.Fatalf("a session created after the failover on replica %d, on replica %d: %d %s", r+1, i+1, resp.StatusCode, body)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// One replica loses Redis (latency, then a black hole, then a cut) while
// the others keep it: it answers 503, never "signed out"; the others are
// unaffected; a session revoked meanwhile on another replica is refused by
// it once it reconnects, whatever its L1 held.
func TestChaosReplicaCut(t *testing.T) {
	sc := chaosScaleFromEnv()
	srv := redistest.Standalone(t)
	e := newChaosEnv(t, dueSoon, srv.Addr, "")
	l := e.startLoad(sc.rate, chaosSeed(t))
	px := e.replicas[2].proxy

	rw, _ := e.fault(l, sc, "replica 3 → Redis +300 ms each way", []int{2}, func() {
		px.SetLatency(300 * time.Millisecond)
		time.Sleep(sc.fault)
		px.Heal()
	})
	e.report(rw)

	// The hole outlasts the store's detection of a dead connection
	// (OpTimeout + ConnWriteTimeout, about 5 s: until then it serves its
	// L1, see TestPartitionedStoreStopsServingItsL1), so the replica's
	// answer to a partition is seen, not only its L1.
	hole := max(sc.fault, 9*time.Second)
	var revokedAt, healed time.Time
	rw, healed = e.fault(l, sc, fmt.Sprintf("replica 3 → Redis black hole %v, bob revoked meanwhile", hole), []int{2}, func() {
		px.BlackHole()
		// bob's only session, signed out on replica 1 while replica 3 has
		// it in its L1 and cannot hear the invalidation.
		e.signOut(revocable, 0)
		l.revoked(revocable)
		revokedAt = time.Now()
		time.Sleep(hole)
		px.Heal()
	})
	e.report(rw)
	e.partitionedAnswers(l, revokedAt, healed)
	e.revocationHonoured(l, healed)

	rw, _ = e.fault(l, sc, "replica 3 → Redis cut (connections reset)", []int{2}, func() {
		px.Cut()
		time.Sleep(sc.fault)
		px.Heal()
	})
	e.finish(l, rw, 0, 1, 2)
	e.othersUnaffected(l)
}

// partitionedAnswers: in the black hole the cut replica answered 503
// (once it noticed) and never signed anyone out (tally checks sign-outs).
// It logs how long it served bob's revoked session from its L1.
func (e *chaosEnv) partitionedAnswers(l *load, from, to time.Time) {
	e.t.Helper()
	by := map[int]int{}
	var stale time.Duration
	for _, o := range l.snapshot() {
		if o.replica != 2 || o.start.Before(from) || !o.start.Before(to) {
			continue
		}
		by[o.status]++
		if o.user == revocable && o.status == http.StatusOK {
			stale = max(stale, o.start.Sub(from))
		}
	}
	e.t.Logf("replica 3 in the black hole answered (status: count, 0 = no answer): %v; served the revoked session from its L1 until %v after the revocation", by, stale.Round(time.Millisecond))
	if by[http.StatusServiceUnavailable] == 0 {
		e.t.Errorf("replica 3 never answered 503 while cut from Redis: %v", by)
	}
}

// revocationHonoured: once replica 3 answers again after the heal, bob's
// revoked cookie is refused there, on every request.
func (e *chaosEnv) revocationHonoured(l *load, healed time.Time) {
	e.t.Helper()
	// Probe directly too: the load may not pick bob on replica 3 often.
	deadline := time.Now().Add(60 * time.Second)
	for {
		o := l.do(revocable, 2, "/chaos/revoked")
		if o.status == http.StatusUnauthorized {
			e.t.Logf("replica 3 refuses the revoked session (probed %v after the heal)", o.end.Sub(healed).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("replica 3 still answers %d for a session revoked during its cut, 60 s after the heal", o.status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	reconnected, ok := time.Time{}, false
	for _, o := range l.snapshot() {
		if o.replica == 2 && o.status == http.StatusOK && !o.start.Before(healed) {
			reconnected, ok = o.end, true
			break
		}
	}
	if !ok {
		return
	}
	for _, o := range l.snapshot() {
		if o.user == revocable && o.replica == 2 && o.start.After(reconnected) && o.status == http.StatusOK {
			e.t.Errorf("replica 3 served the revoked session at %v, after it had reconnected at %v", o.start.Sub(healed), reconnected.Sub(healed))
		}
	}
}

// othersUnaffected: replicas 1 and 2 answered 200 to everything but the
// revoked session's requests during the whole test.
func (e *chaosEnv) othersUnaffected(l *load) {
	e.t.Helper()
	bad := map[string]int{}
	for _, o := range l.snapshot() {
		if o.replica == 2 || o.status == http.StatusOK || (o.status == http.StatusUnauthorized && !o.signOut) {
			continue
		}
		bad[fmt.Sprintf("replica %d: %d %s", o.replica+1, o.status, o.err)]++
	}
	if len(bad) != 0 {
		e.t.Errorf("the replicas that kept Redis failed requests while replica 3 was cut: %v", bad)
	}
}

// A replica killed with SIGKILL while requests are in flight: those fail
// (the connection is gone), every user goes on on the other two without
// signing in again.
func TestChaosReplicaKilled(t *testing.T) {
	sc := chaosScaleFromEnv()
	srv := redistest.Standalone(t)
	e := newChaosEnv(t, dueSoon, srv.Addr, "")
	l := e.startLoad(sc.rate, chaosSeed(t))
	rw, killed := e.fault(l, sc, "replica 3 SIGKILLed mid-request", []int{0, 1}, func() {
		// Requests held at the upstream for 300 ms, so some are in flight.
		for u := range e.users {
			l.done.Add(1)
			go func() { defer l.done.Done(); l.record(l.do(u, 2, "/slow")) }()
		}
		time.Sleep(100 * time.Millisecond)
		l.play(0, 1)
		e.kill(2)
	})
	inFlight := 0
	for _, o := range l.snapshot() {
		if o.replica == 2 && o.status == 0 && o.start.Before(killed) {
			inFlight++
		}
	}
	t.Logf("%d requests in flight on replica 3 when it was killed", inFlight)
	e.finish(l, rw, 0, 1)
}

// The IdP down, then answering in 2 s, while every request needs a token
// refresh (4-minute tokens are always due): 503, never a sign-out; then
// recovery.
func TestChaosIdP(t *testing.T) {
	sc := chaosScaleFromEnv()
	srv := redistest.Standalone(t)
	e := newChaosEnv(t, alwaysDue, srv.Addr, "")
	l := e.startLoad(sc.rate, chaosSeed(t))
	idp := e.idp.IdP()
	rw, _ := e.fault(l, sc, "IdP down (503 temporarily_unavailable), tokens due", []int{0, 1, 2}, func() {
		idp.SetOutage(time.Hour)
		time.Sleep(sc.fault)
		idp.SetOutage(0)
	})
	if rw.failures["503"] == 0 {
		t.Errorf("the IdP was down while every request needed a token, and no request got 503: %v", rw.failures)
	}
	e.report(rw)
	rw, _ = e.fault(l, sc, "IdP answering in 2 s, tokens due", []int{0, 1, 2}, func() {
		idp.SetLatency(2 * time.Second)
		time.Sleep(sc.fault)
		idp.SetLatency(0)
	})
	e.finish(l, rw, 0, 1, 2)
}
