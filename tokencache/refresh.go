package tokencache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/tenantgate/tenantgate/store"
)

// This file makes a user's refresh token redeemed once across replicas.
//
// Only MSAL knows when it is about to use the refresh token, and it sends
// that request with the caller's context. So AcquireTokenSilent marks its
// context with the partition (refreshCall), and refreshGate, a RoundTripper
// in the client's shared transport, stops the token request with
// grant_type=refresh_token: it takes the partition's lock in the store
// (renewed while held, so a slow IdP never lets the lease lapse, the
// failure of oauth2-proxy's fixed 2 s lock under rotation), re-reads the
// stored version, and lets the request go only if nobody refreshed since
// MSAL loaded the partition. Otherwise, or after waiting for another
// holder, it fails the request with errRefreshedElsewhere and
// AcquireTokenSilent calls MSAL again, which then loads the new state and
// answers from it without the network. The lock is released after MSAL
// returned, that is after the new state was exported to the store.

// Defaults of the refresh lock.
const (
	defaultRefreshLockTTL = 5 * time.Second
	// maxRefreshWait bounds how long one call keeps going back to MSAL
	// because the partition changed under it (each time, another call
	// refreshed: the others make progress). It is MSAL's own bound on a
	// request without a deadline. With tokens that are due as soon as they
	// are issued (lifetimes under MSAL's 5 minutes), every call refreshes,
	// and a call may lose the race for the lock many times in a row.
	maxRefreshWait = 30 * time.Second
	// maxCatchUp bounds how long a waiter waits for the store's copy to
	// show the version a release announced (the store's coherence window,
	// normally milliseconds).
	maxCatchUp = 2 * time.Second
)

// errRefreshedElsewhere stops MSAL's refresh request: the partition changed
// since MSAL loaded it (another replica, or another call of this process,
// refreshed), so its refresh token may be spent. It never reaches the
// caller: AcquireTokenSilent calls MSAL again.
var errRefreshedElsewhere = errors.New("tokencache: the partition was refreshed elsewhere; reload it")

// refreshCall is what AcquireTokenSilent tells the transport through the
// context: which partition the MSAL call is for, and where the lock it
// took is kept until the call ends. It is used by one call at a time (the
// pool entry's lock is held), from the goroutine MSAL calls the transport
// on.
type refreshCall struct {
	part    *partition
	held    *heldLock // the lock this call holds, nil if none
	aborted bool      // the transport stopped a refresh: call MSAL again
	// spent: what the refresh request may have done to the refresh token
	// (see spentness); the marker is kept accordingly.
	spent spentness
}

type refreshCallKey struct{}

// silent is AcquireTokenSilent's MSAL call, repeated while the transport
// finds that the partition was refreshed elsewhere. e is locked.
func (cl *Client) silent(ctx context.Context, e *entry, scopes []string, opts []confidential.AcquireSilentOption) (confidential.AuthResult, error) {
	c := cl.cache
	start := time.Now()
	for attempt := 1; ; attempt++ {
		call := &refreshCall{part: e.part}
		res, err := e.client.AcquireTokenSilent(context.WithValue(ctx, refreshCallKey{}, call), scopes, opts...)
		if call.held != nil {
			c.rf.release(ctx, c, call.held, e.part.base.version, call.spent)
		}
		if !call.aborted {
			return res, err
		}
		// MSAL's proactive refresh (refresh_in) swallows the transport's
		// error and returns the old token: still valid, but the partition
		// holds a newer one, so ask again anyway.
		if err := ctx.Err(); err != nil {
			return confidential.AuthResult{}, fmt.Errorf("tokencache: waiting for another replica's refresh of %s: %w", e.part.key, err)
		}
		if time.Since(start) > maxRefreshWait {
			return confidential.AuthResult{}, fmt.Errorf("tokencache: refresh of %s: other calls refreshed it %d times meanwhile; retry the call: %w", e.part.key, attempt, store.ErrConflict)
		}
	}
}

// refreshGate is the RoundTripper that stops MSAL's refresh requests until
// the partition's lock is held.
type refreshGate struct {
	next http.RoundTripper
	c    *Cache
}

func newRefreshGate(c *Cache, next http.RoundTripper) *refreshGate {
	if next == nil {
		next = http.DefaultTransport
	}
	return &refreshGate{next: next, c: c}
}

func (g *refreshGate) RoundTrip(r *http.Request) (*http.Response, error) {
	call, _ := r.Context().Value(refreshCallKey{}).(*refreshCall)
	if call == nil || call.held != nil || call.part == nil || call.part.key == "" || !isRefreshGrant(r) {
		return g.next.RoundTrip(r)
	}
	held, err := g.c.rf.lock(r.Context(), g.c, call.part.key, call.part.base.version)
	if err != nil {
		if r.Body != nil {
			r.Body.Close()
		}
		if errors.Is(err, errRefreshedElsewhere) {
			call.aborted = true
			return nil, err
		}
		return nil, fmt.Errorf("tokencache: waiting for the refresh lock of %s: %w", call.part.key, err)
	}
	call.held = held
	resp, err := g.next.RoundTrip(r)
	call.spent = spentBy(resp, err)
	return resp, err
}

// spentness is what a refresh request may have done to the refresh token.
type spentness uint8

const (
	notSpent   spentness = iota // refused (4xx), failed (5xx), or never sent (dial failed)
	maybeSpent                  // sent, and no answer came back: the IdP may have rotated it
	spent                       // the IdP answered with new tokens
)

func spentBy(resp *http.Response, err error) spentness {
	var op *net.OpError
	switch {
	case err == nil && resp.StatusCode >= 200 && resp.StatusCode < 300:
		return spent
	case err == nil:
		return notSpent
	case errors.As(err, &op) && op.Op == "dial":
		return notSpent
	}
	return maybeSpent
}

// isRefreshGrant reports a POST whose form says grant_type=refresh_token.
// It reads the body through GetBody where the request offers it (MSAL's
// does), so the request is sent unchanged.
func isRefreshGrant(r *http.Request) bool {
	if r.Method != http.MethodPost || r.Body == nil || r.Body == http.NoBody {
		return false
	}
	var body []byte
	if r.GetBody != nil {
		rc, err := r.GetBody()
		if err != nil {
			return false
		}
		body, err = io.ReadAll(io.LimitReader(rc, 64<<10))
		rc.Close()
		if err != nil {
			return false
		}
	} else {
		b, err := io.ReadAll(r.Body)
		r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(b))
		if err != nil {
			return false
		}
		body = b
	}
	if !bytes.Contains(body, []byte("refresh_token")) {
		return false
	}
	form, err := url.ParseQuery(string(body))
	return err == nil && form.Get("grant_type") == "refresh_token"
}

// refresher is a Cache's side of the refresh lock: calls of this process
// in flight per partition, the subscription to releases, and counters. The
// zero value is ready; close stops the subscription.
type refresher struct {
	mu      sync.Mutex
	flights map[string]*flight        // partition key → this process's call holding or taking its lock
	signals map[string]*releaseSignal // partition key → waiters for a release announced by the store

	subMu   sync.Mutex         // guards the subscription; never held with mu
	sub     store.Subscription // nil until a first wait
	subStop context.CancelFunc
	closed  bool

	locks, waits, elsewhere, failures, lost atomic.Uint64
}

// flight is one call of this process taking or holding a partition's lock.
// Other calls of the process wait for it instead of asking the store.
type flight struct {
	done chan struct{}
	once sync.Once
}

// releaseSignal is closed when a release of its partition is announced;
// version is the version the holder left stored, set before the close.
type releaseSignal struct {
	ch      chan struct{}
	version uint64
}

// heldLock is a lock this process holds, renewed until release. With lk
// nil it is held in this process only (the store could not lock).
type heldLock struct {
	key, lockKey, owner string
	lk                  store.Locker
	from                uint64 // the version MSAL refreshes from
	spentKey            string // the marker claimed for from; "" if none
	f                   *flight
	stop                context.CancelFunc // nil until renewing
	renewed             chan struct{}      // closed when the renewer has stopped
	lost                atomic.Bool
}

// refreshChannel is where releases are announced, for the whole Cache:
// one subscription per process, whatever the number of partitions.
func (c *Cache) refreshChannel() string { return c.o.Prefix + "refresh" }

func lockKey(key string) string { return key + ":refresh" }

// lock takes the partition's refresh lock for a refresh from version. It
// returns the lock to release once MSAL has returned (held in the store,
// or only in this process if the store could not lock: refresh anyway), or
// errRefreshedElsewhere when the partition moved past version, or the
// context's error.
func (rf *refresher) lock(ctx context.Context, c *Cache, key string, version uint64) (*heldLock, error) {
	waited := false
	// One call per partition per process talks to the store; the others
	// wait for it, then reload what it wrote.
	for {
		rf.mu.Lock()
		f := rf.flights[key]
		if f == nil {
			f = &flight{done: make(chan struct{})}
			if rf.flights == nil {
				rf.flights = map[string]*flight{}
			}
			rf.flights[key] = f
			rf.mu.Unlock()
			held, err := rf.acquire(ctx, c, key, version, f, waited)
			if err != nil {
				rf.land(key, f)
			}
			return held, err
		}
		rf.mu.Unlock()
		if !waited {
			waited = true
			rf.waits.Add(1)
		}
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		// The other call refreshed (its write is visible here at once:
		// the store reads its own writes), or failed: then take its turn.
		if err := rf.movedOn(ctx, c, key, version, 0); err != nil {
			return nil, err
		}
	}
}

// acquire takes the store's lock, waiting while another replica holds it.
func (rf *refresher) acquire(ctx context.Context, c *Cache, key string, version uint64, f *flight, waited bool) (*heldLock, error) {
	lk, ok := c.kv.(store.Locker)
	if !ok {
		// A store without locks (none of tenantgate's): this process's
		// calls still refresh one at a time.
		return &heldLock{key: key, f: f}, nil
	}
	// This call is the process's only waiter on key's releases.
	defer rf.forget(key)
	ttl := c.o.RefreshLockTTL
	owner := store.NewOwner()
	subscribed := false
	var hint uint64 // the version the last announced release left
	for {
		sig := rf.signal(key)
		err := lk.Acquire(ctx, lockKey(key), owner, ttl)
		switch {
		case err == nil:
			rf.locks.Add(1)
			return rf.claim(ctx, c, lk, key, owner, version, hint, f)
		case errors.Is(err, store.ErrConflict):
		case ctx.Err() != nil:
			return nil, ctx.Err()
		default:
			// The store cannot lock (down): a refresh that might race
			// another replica's is better than no token.
			rf.failures.Add(1)
			c.o.Logger.Warn("tokencache: refresh lock unavailable; refreshing without it", slog.String("key", key), slog.Any("err", err))
			return &heldLock{key: key, f: f}, nil
		}
		if !waited {
			waited = true
			rf.waits.Add(1)
		}
		if !subscribed {
			subscribed = true
			if rf.subscribe(c) {
				// Releases announced before the subscription are lost:
				// ask again before waiting for one.
				continue
			}
		}
		select {
		case <-sig.ch:
			hint = sig.version
		case <-time.After(pollInterval(ttl)):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if err := rf.movedOn(ctx, c, key, version, hint); err != nil {
			return nil, err
		}
	}
}

// claim checks, with the lock just taken, that the refresh token MSAL
// holds is unspent, and starts renewing the lock.
//
// The stored version is read through the store's copy, which may lag
// behind another replica's write for the store's coherence window; so the
// lock is not enough. The refresh also claims a marker named by the
// version it refreshes from, which a successful refresh keeps for
// spentTTL: the marker answers from Redis itself, never from a copy.
func (rf *refresher) claim(ctx context.Context, c *Cache, lk store.Locker, key, owner string, version, hint uint64, f *flight) (*heldLock, error) {
	h := &heldLock{key: key, lk: lk, lockKey: lockKey(key), owner: owner, from: version, f: f}
	if err := rf.movedOn(ctx, c, key, version, hint); err != nil {
		rf.release(ctx, c, h, version, notSpent)
		return nil, err
	}
	spent := spentKey(key, version)
	switch err := lk.Acquire(ctx, spent, owner, c.o.RefreshLockTTL); {
	case err == nil:
		h.spentKey = spent
	case errors.Is(err, store.ErrConflict):
		// Refreshed from this version already: this replica's copy lags.
		// Give it a moment before MSAL reloads it.
		rf.elsewhere.Add(1)
		rf.release(ctx, c, h, version, notSpent)
		select {
		case <-time.After(pollInterval(c.o.RefreshLockTTL)):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return nil, errRefreshedElsewhere
	case ctx.Err() != nil:
		rf.release(ctx, c, h, version, notSpent)
		return nil, ctx.Err()
	}
	// Any other failure: the lock is held, refresh without the marker.
	rf.renew(c, h)
	return h, nil
}

// spentTTL is how long a refresh's marker outlives it: longer than any
// store's copy may lag (redisstore's L1 serves a value at most a minute
// without asking Redis).
const spentTTL = 2 * time.Minute

func spentKey(key string, version uint64) string {
	return key + ":refreshed:" + strconv.FormatUint(version, 16)
}

// pollInterval is how often a waiter asks again when no release is
// announced (a lost message, a store that cannot publish, a crashed holder).
func pollInterval(ttl time.Duration) time.Duration {
	return min(max(ttl/8, 20*time.Millisecond), 500*time.Millisecond)
}

// movedOn returns errRefreshedElsewhere if the stored partition is no
// longer at version. hint, when not 0, is a version a release announced:
// the store's copy may lag behind it for its coherence window, and a read
// that still shows version is asked again until it catches up.
func (rf *refresher) movedOn(ctx context.Context, c *Cache, key string, version, hint uint64) error {
	// The lock may be held already and is not renewed yet: wait no
	// longer than a third of its lease.
	deadline := time.Now().Add(min(maxCatchUp, c.o.RefreshLockTTL/3))
	for {
		_, v, err := c.kv.Get(ctx, key)
		switch {
		case errors.Is(err, store.ErrNotFound):
			v = 0
		case err != nil:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// Unreadable now: the lock is held, so refreshing is safe
			// unless the holder before wrote what cannot be read.
			return nil
		}
		if v != version {
			rf.elsewhere.Add(1)
			return errRefreshedElsewhere
		}
		if hint == 0 || hint == version || time.Now().After(deadline) {
			return nil
		}
		select {
		case <-time.After(5 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// renew renews a lock just taken (and its marker), every third of its
// TTL, until release.
func (rf *refresher) renew(c *Cache, h *heldLock) {
	ctx, stop := context.WithCancel(context.Background())
	h.stop, h.renewed = stop, make(chan struct{})
	ttl := c.o.RefreshLockTTL
	go func() {
		defer close(h.renewed)
		t := time.NewTicker(max(ttl/3, time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			err := h.lk.Renew(ctx, h.lockKey, h.owner, ttl)
			if err == nil && h.spentKey != "" {
				err = h.lk.Renew(ctx, h.spentKey, h.owner, ttl)
			}
			switch {
			case err == nil, ctx.Err() != nil:
			case errors.Is(err, store.ErrConflict):
				// Lapsed (the store was unreachable longer than the TTL):
				// another replica may refresh too. Nothing to undo here;
				// say so.
				rf.lapsed(c, h)
				return
			}
		}
	}()
}

func (rf *refresher) lapsed(c *Cache, h *heldLock) {
	if !h.lost.Swap(true) {
		rf.lost.Add(1)
		c.o.Logger.Warn("tokencache: refresh lock lapsed while refreshing", slog.String("key", h.key))
	}
}

// release frees a held lock and announces the version the holder left
// stored, so waiters on every replica reload it; then this process's
// waiters go on. The marker stays for spentTTL if the refresh wrote a new
// version, and goes if not (the refresh failed: let another try).
//
// sp says whether the refresh reached the IdP: if the IdP answered with
// tokens its marker is kept for spentTTL even when the new state is not
// stored yet (queued in write-behind while Redis blinked), since another
// replica redeeming the same refresh token would get invalid_grant and,
// under rotation with reuse detection, revoke the sign-in.
func (rf *refresher) release(ctx context.Context, c *Cache, h *heldLock, version uint64, sp spentness) {
	if h.lk != nil {
		if h.stop != nil {
			h.stop()
			<-h.renewed
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.o.RefreshLockTTL)
		defer cancel()
		if h.spentKey != "" {
			switch {
			case version != h.from || sp == spent:
				_ = h.lk.Renew(ctx, h.spentKey, h.owner, spentTTL)
			case sp == maybeSpent:
				// A lost answer: hold other replicas off for a lease, long
				// enough for a late write to land, not the full spentTTL.
				_ = h.lk.Renew(ctx, h.spentKey, h.owner, c.o.RefreshLockTTL)
			default:
				_ = h.lk.Release(ctx, h.spentKey, h.owner)
			}
		}
		err := h.lk.Release(ctx, h.lockKey, h.owner)
		if errors.Is(err, store.ErrConflict) {
			rf.lapsed(c, h)
		}
		if p, ok := c.kv.(store.Publisher); ok && err == nil {
			// Best effort: a waiter that misses it polls.
			_ = p.Publish(ctx, c.refreshChannel(), []byte(h.key+"|"+strconv.FormatUint(version, 16)))
		}
		rf.announce(h.key, version)
	}
	rf.land(h.key, h.f)
}

// land ends a flight, once: the process's other calls of the partition go
// on.
func (rf *refresher) land(key string, f *flight) {
	rf.mu.Lock()
	if rf.flights[key] == f {
		delete(rf.flights, key)
	}
	rf.mu.Unlock()
	f.once.Do(func() { close(f.done) })
}

// signal returns the signal the next announced release of key closes.
func (rf *refresher) signal(key string) *releaseSignal {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	s := rf.signals[key]
	if s == nil {
		if rf.signals == nil {
			rf.signals = map[string]*releaseSignal{}
		}
		s = &releaseSignal{ch: make(chan struct{})}
		rf.signals[key] = s
	}
	return s
}

// forget drops key's signal: its one waiter has stopped waiting.
func (rf *refresher) forget(key string) {
	rf.mu.Lock()
	delete(rf.signals, key)
	rf.mu.Unlock()
}

// announce wakes the waiters of key's release.
func (rf *refresher) announce(key string, version uint64) {
	rf.mu.Lock()
	s := rf.signals[key]
	delete(rf.signals, key)
	rf.mu.Unlock()
	if s != nil {
		s.version = version
		close(s.ch)
	}
}

// subscribe starts the process's subscription to releases if the store
// offers one and it is not running. It reports whether it started now.
func (rf *refresher) subscribe(c *Cache) bool {
	sb, ok := c.kv.(store.Subscriber)
	if !ok {
		return false
	}
	rf.subMu.Lock()
	defer rf.subMu.Unlock()
	if rf.sub != nil || rf.closed {
		return false
	}
	ctx, stop := context.WithCancel(context.Background())
	sub, err := sb.Subscribe(ctx, c.refreshChannel(), func(msg []byte) {
		key, v, ok := strings.Cut(string(msg), "|")
		if !ok {
			return
		}
		version, err := strconv.ParseUint(v, 16, 64)
		if err != nil {
			return
		}
		rf.announce(key, version)
	})
	if err != nil {
		stop()
		// Waiters poll; the next wait tries again.
		c.o.Logger.Warn("tokencache: cannot subscribe to refresh releases; waiters poll", slog.Any("err", err))
		return false
	}
	rf.sub, rf.subStop = sub, stop
	return true
}

// close stops the subscription.
func (rf *refresher) close() {
	rf.subMu.Lock()
	sub, stop := rf.sub, rf.subStop
	rf.sub, rf.closed = nil, true
	rf.subMu.Unlock()
	if sub != nil {
		sub.Close()
		stop()
	}
}
