package tokencache

import (
	"context"
	"slices"
	"sync/atomic"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/tenantgate/tenantgate/store"
)

// answers are a partition's last silent results, one per scope set, all
// from one stored version. They answer a repeated call without MSAL: what
// MSAL would return, minus re-reading its maps and decoding the ID token.
//
// Their results are immutable once published in the pool, and read
// without locks. With a store that implements store.Watcher, the store
// sets stale the moment its copy of the partition changes (another
// replica's write, an eviction, a lost connection), so a hit costs no
// store lookup at all: at 10,000 users that lookup's cache misses were
// most of the hit. Until a watch is in place (the store's L1 may not hold
// the partition yet, as right after this process wrote it), and always with
// a store that cannot watch (Redis with the L1 off), a hit checks the
// stored version instead.
type answers struct {
	stale   atomic.Bool  // set by the store's watch
	used    atomic.Bool  // set on a hit, cleared by the pool's clock hand
	watched atomic.Bool  // a watch is in place; set after until
	until   atomic.Int64 // the store's staleness cap for its copy, Unix ns (0: none)
	key     string       // the partition's store key
	version uint64
	first   scoped
	more    []scoped
}

// scoped is one scope set's result.
type scoped struct {
	key   string    // the scopes, joined by spaces
	until time.Time // when MSAL would refresh it: 5 minutes before expiry, or refresh_in
	res   confidential.AuthResult
	// granted holds res.GrantedScopes when they are few, as they usually
	// are: a hit copies them from here instead of from a slice elsewhere in
	// memory, one cache miss less at 10,000 users.
	granted  [inlineScopes]string
	ngranted int // -1: they are in res.GrantedScopes
}

const inlineScopes = 4

func newScoped(key string, until time.Time, res confidential.AuthResult) scoped {
	r := scoped{key: key, until: until, res: res, ngranted: -1}
	if len(res.GrantedScopes) <= inlineScopes {
		r.ngranted = copy(r.granted[:], res.GrantedScopes)
		r.res.GrantedScopes = nil
	}
	return r
}

// grantedScopes returns a copy the caller owns: the answers are shared.
func (r *scoped) grantedScopes() []string {
	if r.ngranted < 0 {
		return slices.Clone(r.res.GrantedScopes)
	}
	if r.ngranted == 0 {
		return []string{}
	}
	return append([]string(nil), r.granted[:r.ngranted]...)
}

// maxAnswers bounds the scope sets remembered per partition.
const maxAnswers = 8

// fast answers a silent call from a partition's answers (nil: none) when
// they still hold: the store has not changed the partition since, and the
// token is not due for refresh.
func (cl *Client) fast(ctx context.Context, a *answers, key string) (confidential.AuthResult, bool) {
	if a == nil || a.stale.Load() {
		return confidential.AuthResult{}, false
	}
	r := &a.first
	if r.key != key {
		if r = a.find(key); r == nil {
			return confidential.AuthResult{}, false
		}
	}
	now := cl.cache.o.Now()
	if !now.Before(r.until) {
		return confidential.AuthResult{}, false
	}
	if !a.watched.Load() {
		if !cl.confirm(ctx, a) {
			return confidential.AuthResult{}, false
		}
	} else if u := a.until.Load(); u != 0 && now.UnixNano() >= u {
		return confidential.AuthResult{}, false
	}
	cl.cache.stats.hits.Add(1)
	res := r.res
	res.GrantedScopes = r.grantedScopes()
	res.DeclinedScopes = slices.Clone(res.DeclinedScopes)
	res.Metadata.TokenSource = confidential.TokenSourceCache
	return res, true
}

func (a *answers) find(key string) *scoped {
	for i := range a.more {
		if a.more[i].key == key {
			return &a.more[i]
		}
	}
	return nil
}

// confirm checks unwatched answers against the stored version, and has
// the store watch them from now on if it can.
func (cl *Client) confirm(ctx context.Context, a *answers) bool {
	if _, v, err := cl.cache.kv.Get(ctx, a.key); err != nil || v != a.version {
		return false
	}
	a.watch(cl.cache.kv)
	return true
}

// remember publishes res as the answer for key, beside the entry's other
// answers that still hold. e is locked.
func (cl *Client) remember(e *entry, key string, res confidential.AuthResult) {
	p := e.part
	if !p.loaded {
		// Merged or refused: what is stored differs from what MSAL holds.
		cl.pool.publish(e, nil)
		return
	}
	until := res.ExpiresOn.Add(-expiryMargin)
	if r := res.Metadata.RefreshOn; !r.IsZero() && r.Before(until) {
		until = r
	}
	n := &answers{key: p.key, version: p.version, first: newScoped(key, until, res)}
	if old := cl.pool.current(e); old != nil && old.version == p.version && !old.stale.Load() {
		for _, r := range append([]scoped{old.first}, old.more...) {
			if r.key != key && len(n.more) < maxAnswers-1 {
				n.more = append(n.more, r)
			}
		}
	}
	n.watch(cl.cache.kv)
	cl.pool.publish(e, n)
}

// watch asks the store, if it can, to mark a stale when the partition
// changes. Two callers may both register: the store bounds its watches.
func (a *answers) watch(kv store.KV) {
	w, ok := kv.(store.Watcher)
	if !ok {
		return
	}
	until, ok := w.Watch(a.key, a.version, &a.stale)
	if !ok {
		return
	}
	if !until.IsZero() {
		a.until.Store(until.UnixNano())
	}
	a.watched.Store(true)
}
