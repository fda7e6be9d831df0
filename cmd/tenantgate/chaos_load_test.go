package main

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// outcome is what one request of the load observed: its history entry.
type outcome struct {
	start, end    time.Time
	user, replica int
	status        int    // 0: no HTTP answer
	err           string // the kind of transport failure when status is 0
	signOut       bool   // 401 or a redirect to sign-in
	expires       int64  // X-MS-TOKEN-AAD-EXPIRES-ON the upstream saw, on 200
	token         [8]byte
}

// load sends requests at a fixed rate as the env's users to the replicas
// in play, and keeps every outcome. The rate is kept by a ticker; when
// maxInFlight requests are waiting a tick is counted as skipped rather
// than queued, so a slow fault does not turn into a burst after it.
type load struct {
	e           *chaosEnv
	rnd         *rand.Rand
	rndMu       sync.Mutex
	inPlay      atomic.Pointer[[]int] // replica indexes that get requests
	revokedAt   []atomic.Int64        // per user: unix nanos of the sign-out, 0 if none
	stop        chan struct{}
	done        sync.WaitGroup
	inFlight    chan struct{}
	skipped     atomic.Int64
	mu          sync.Mutex
	outcomes    []outcome
	clientLimit time.Duration
	// countOnly keeps counts by status instead of every outcome: a soak
	// sends millions of requests.
	countOnly bool
	counts    map[string]int64
}

const maxInFlight = 64

func (e *chaosEnv) startLoad(rate int, seed uint64) *load {
	return e.startLoadCounting(rate, seed, false)
}

// startLoadCounting is startLoad keeping only counts when countOnly.
func (e *chaosEnv) startLoadCounting(rate int, seed uint64, countOnly bool) *load {
	l := &load{e: e, rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), stop: make(chan struct{}),
		inFlight: make(chan struct{}, maxInFlight), revokedAt: make([]atomic.Int64, len(e.users)), clientLimit: 20 * time.Second,
		countOnly: countOnly, counts: map[string]int64{}}
	l.play(0, 1, 2)
	l.done.Add(1)
	go func() {
		defer l.done.Done()
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-tick.C:
			}
			select {
			case l.inFlight <- struct{}{}:
			default:
				l.skipped.Add(1)
				continue
			}
			u, r := l.pick()
			l.done.Add(1)
			go func() {
				defer l.done.Done()
				defer func() { <-l.inFlight }()
				l.record(l.do(u, r, "/chaos"))
			}()
		}
	}()
	e.t.Cleanup(l.halt)
	return l
}

// play sets the replicas that get requests from now on.
func (l *load) play(replicas ...int) { l.inPlay.Store(&replicas) }

func (l *load) pick() (user, replica int) {
	in := *l.inPlay.Load()
	l.rndMu.Lock()
	defer l.rndMu.Unlock()
	return l.rnd.IntN(len(l.e.users)), in[l.rnd.IntN(len(in))]
}

// revoked records that user i's session was signed out now: from then on
// a 401 for it is expected, not a sign-out.
func (l *load) revoked(i int) { l.revokedAt[i].Store(time.Now().UnixNano()) }

// halt stops sending and waits for the requests in flight.
func (l *load) halt() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.done.Wait()
}

func (l *load) record(o outcome) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.countOnly {
		k := strconv.Itoa(o.status)
		if o.status == 0 {
			k = o.err
		}
		l.counts[k]++
		return
	}
	l.outcomes = append(l.outcomes, o)
}

// do sends one request as user u to replica r.
func (l *load) do(u, r int, path string) outcome {
	o := outcome{user: u, replica: r, start: time.Now()}
	req, err := http.NewRequest(http.MethodGet, l.e.replicas[r].URL+path, nil)
	if err != nil {
		o.err, o.end = "request", time.Now()
		return o
	}
	c := *l.e.users[u].b
	c.Timeout = l.clientLimit
	resp, err := c.Do(req)
	if err != nil {
		o.err = transportKind(err)
		o.end = time.Now()
		return o
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	o.end = time.Now()
	o.status = resp.StatusCode
	if err != nil {
		o.status, o.err = 0, transportKind(err)
		return o
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized,
		resp.StatusCode == http.StatusFound && strings.Contains(resp.Header.Get("Location"), "/.auth/login"):
		rev := l.revokedAt[u].Load()
		o.signOut = rev == 0 || o.end.UnixNano() < rev
	case resp.StatusCode == http.StatusOK:
		var e echoed
		if json.Unmarshal(body, &e) != nil {
			o.status, o.err = 0, "not the upstream's answer"
			return o
		}
		h := http.Header(e.Header)
		o.expires, _ = strconv.ParseInt(h.Get("X-Ms-Token-Aad-Expires-On"), 10, 64)
		sum := sha256.Sum256([]byte(h.Get("X-Ms-Token-Aad-Access-Token")))
		copy(o.token[:], sum[:])
	}
	return o
}

// transportKind names a failure to get an answer in a word, for the
// table's failure column.
func transportKind(err error) string {
	var ne interface{ Timeout() bool }
	switch s := err.Error(); {
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case strings.Contains(s, "connection refused"):
		return "refused"
	case strings.Contains(s, "connection reset"), strings.Contains(s, "EOF"):
		return "reset"
	default:
		return "transport"
	}
}

// countsNow is a copy of the counts of a countOnly load.
func (l *load) countsNow() map[string]int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int64, len(l.counts))
	for k, v := range l.counts {
		out[k] = v
	}
	return out
}

// snapshot is the outcomes so far, by start time.
func (l *load) snapshot() []outcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := slices.Clone(l.outcomes)
	sort.Slice(out, func(i, j int) bool { return out[i].start.Before(out[j].start) })
	return out
}

// waitGood polls the outcomes until every replica in affected has
// answered 200 to a request sent after since, and returns the time from
// since to the last of those first good answers. It waits 60 s at most:
// a loaded machine is slow, a broken recovery is forever.
func (l *load) waitGood(since time.Time, affected ...int) (time.Duration, bool) {
	deadline := time.Now().Add(60 * time.Second)
	for {
		var worst time.Duration
		ok := true
		for _, r := range affected {
			first, found := time.Time{}, false
			for _, o := range l.snapshot() {
				if o.replica == r && o.status == http.StatusOK && !o.start.Before(since) {
					first, found = o.end, true
					break
				}
			}
			if !found {
				ok = false
				break
			}
			worst = max(worst, first.Sub(since))
		}
		if ok {
			return worst, true
		}
		if time.Now().After(deadline) {
			return 0, false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// row is one line of a fault's table in docs/reliability.md.
type row struct {
	fault          string
	requests, ok   int
	failures       map[string]int // "503", "reset", "timeout", …
	signOuts       int
	lostSessions   int
	lostTokens     int
	recovery       time.Duration
	recovered      bool
	skipped        int64
	refusedRevoked int // 401s for the revoked session: expected
	// refreshes is the refresh grants the IdP served meanwhile: a token
	// lost from the store and healed by one more refresh shows here, not
	// in lostTokens.
	refreshes int
}

// tally counts the outcomes of requests sent in [from, to).
func (l *load) tally(fault string, from, to time.Time) row {
	rw := row{fault: fault, failures: map[string]int{}}
	for _, o := range l.snapshot() {
		if o.start.Before(from) || !o.start.Before(to) {
			continue
		}
		rw.requests++
		switch {
		case o.status == http.StatusOK:
			rw.ok++
		case o.signOut:
			rw.signOuts++
			rw.failures[strconv.Itoa(o.status)]++
		case o.status == http.StatusUnauthorized:
			rw.refusedRevoked++
		case o.status == 0:
			rw.failures[o.err]++
		default:
			rw.failures[strconv.Itoa(o.status)]++
		}
	}
	return rw
}

// check proves that no session and no fresh token was lost: each user
// whose session was never revoked gets 200 from every replica in alive
// (polled: a replica may still be recovering), with a token that expires
// no earlier than the newest one the load saw for that user. It fills the
// row's lost columns.
func (l *load) check(rw *row, alive ...int) {
	newest := map[string]int64{}
	for _, o := range l.snapshot() {
		if o.status == http.StatusOK {
			n := l.e.users[o.user].name
			newest[n] = max(newest[n], o.expires)
		}
	}
	for u := range l.e.users {
		if l.revokedAt[u].Load() != 0 {
			continue
		}
		for _, r := range alive {
			o := l.pollOK(u, r)
			switch {
			case o.status == http.StatusUnauthorized || o.signOut:
				rw.lostSessions++
				l.e.t.Errorf("%s: user %d (%s) signed out on replica %d after the fault", rw.fault, u, l.e.users[u].name, r+1)
			case o.status != http.StatusOK:
				l.e.t.Errorf("%s: user %d on replica %d still failing after 60 s: %d %s", rw.fault, u, r+1, o.status, o.err)
			case o.expires < newest[l.e.users[u].name]:
				rw.lostTokens++
				l.e.t.Errorf("%s: user %d on replica %d gets a token expiring at %d, older than one already served (%d): a fresh token was lost",
					rw.fault, u, r+1, o.expires, newest[l.e.users[u].name])
			}
		}
	}
}

func (l *load) pollOK(u, r int) outcome {
	deadline := time.Now().Add(60 * time.Second)
	for {
		o := l.do(u, r, "/chaos/check")
		if o.status == http.StatusOK || o.status == http.StatusUnauthorized || o.signOut || time.Now().After(deadline) {
			return o
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// report logs rw in the fixed format make chaos collects (lines starting
// "CHAOS|") and fails the test on the columns that must be zero.
func (e *chaosEnv) report(rw row) {
	e.t.Helper()
	var fails []string
	for k, n := range rw.failures {
		fails = append(fails, fmt.Sprintf("%s×%d", k, n))
	}
	sort.Strings(fails)
	if len(fails) == 0 {
		fails = []string{"none"}
	}
	rec := "never"
	if rw.recovered {
		rec = rw.recovery.Round(10 * time.Millisecond).String()
	}
	line := fmt.Sprintf("| %s | %d | %d | %s | %d | %d | %d | %s | %d |", rw.fault, rw.requests, rw.ok, strings.Join(fails, " "), rw.signOuts, rw.lostSessions, rw.lostTokens, rec, rw.refreshes)
	e.t.Logf("CHAOS%s", line)
	e.t.Logf("%s: %d refresh grants at the IdP (last column); %d refusals of the revoked session (expected); %d ticks skipped so far at %d requests in flight",
		rw.fault, rw.refreshes, rw.refusedRevoked, rw.skipped, maxInFlight)
	if rw.signOuts != 0 {
		e.t.Errorf("%s: %d requests answered as signed out for sessions never revoked", rw.fault, rw.signOuts)
	}
	if rw.lostSessions != 0 || rw.lostTokens != 0 {
		e.t.Errorf("%s: %d sessions and %d fresh tokens lost", rw.fault, rw.lostSessions, rw.lostTokens)
	}
	if !rw.recovered {
		e.t.Errorf("%s: no good answer within 60 s of the fault's end", rw.fault)
	}
	if path := os.Getenv("TENANTGATE_CHAOS_TABLE"); path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintln(f, line)
			f.Close()
		}
	}
}
