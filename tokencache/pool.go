package tokencache

import (
	"sync"
	"sync/atomic"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
)

// pool keeps one MSAL client per hot partition, with the state it last
// loaded, so that a partition unchanged since then needs no parsing, and
// the partition's last answers, so that a repeated call needs no MSAL at
// all (see answers).
//
// The answers are read without any lock: a lookup takes only its shard's
// read lock, and use is marked with a bit that eviction clears (CLOCK), not
// by moving the entry in a list. A list-ordered LRU touched two other
// entries per hit, and one mutex serialized every hit of a Client; at
// 10,000 users those cache misses cost more than the rest of the hit.
//
// An entry's MSAL client is used by one call at a time (its lock is held
// across the MSAL call: MSAL's Replace swaps the client's whole cache). The
// pool is bounded by an estimate of the bytes its entries hold; a negative
// budget disables it, and every call then builds a new client.
type pool struct {
	shards [poolShards]poolShard

	mu       sync.Mutex // guards ring, hand, bytes; taken before a shard's
	ring     []*entry   // every pooled entry, in no order; eviction's clock
	hand     int
	bytes    int64
	maxBytes int64
}

const poolShards = 64

type poolShard struct {
	mu      sync.RWMutex
	entries map[string]slot
	_       [32]byte // keep shards' locks on separate cache lines
}

// slot is what the pool holds for a partition. The answers sit in the
// map itself, so that a hit goes from the map straight to them without
// touching the entry: one cache miss less at 10,000 users.
type slot struct {
	e *entry
	a *answers // nil: none
}

type entry struct {
	used atomic.Bool // set on use, cleared by eviction's clock hand

	mu     sync.Mutex // held across MSAL calls
	pk     string
	gen    uint64 // the credential generation client was built with
	client confidential.Client
	part   *partition
	idx    int // position in the pool's ring; -1 when not pooled
	cost   int64
}

// An entry costs about entryBase plus stateFactor times its serialized
// state: BenchmarkFootprint measured 12.2 KB per hot partition for a 4.7 KB
// state, remembered answer included (2026-11-27).
const (
	entryBase   = 3 << 10
	stateFactor = 2
)

func newPool(maxBytes int64) *pool {
	p := &pool{maxBytes: maxBytes}
	for i := range p.shards {
		p.shards[i].entries = map[string]slot{}
	}
	return p
}

// shard picks pk's shard from its first bytes: home account IDs start
// with a random object ID, and hashing the whole key twice (here and in
// the map) would cost more than the spread gains.
func (p *pool) shard(pk string) *poolShard {
	var h uint32
	for i := 0; i < len(pk) && i < 8; i++ {
		h = h*31 + uint32(pk[i])
	}
	return &p.shards[h%poolShards]
}

// answers returns pk's published answers, or nil.
func (p *pool) answers(pk string) *answers {
	if p.maxBytes < 0 {
		return nil
	}
	s := p.shard(pk)
	s.mu.RLock()
	a := s.entries[pk].a
	s.mu.RUnlock()
	if a != nil && !a.used.Load() {
		a.used.Store(true)
	}
	return a
}

// publish makes a e's answers (nil: none), if e is still pooled.
func (p *pool) publish(e *entry, a *answers) {
	if p.maxBytes < 0 {
		return
	}
	s := p.shard(e.pk)
	s.mu.Lock()
	if cur, ok := s.entries[e.pk]; ok && cur.e == e {
		s.entries[e.pk] = slot{e: e, a: a}
	}
	s.mu.Unlock()
}

// current returns e's published answers. e is locked by the caller.
func (p *pool) current(e *entry) *answers {
	if p.maxBytes < 0 {
		return nil
	}
	s := p.shard(e.pk)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if cur := s.entries[e.pk]; cur.e == e {
		return cur.a
	}
	return nil
}

// acquire returns pk's entry, locked for the caller, creating it if
// needed. An entry built with a credential older than generation gen is
// replaced: a hot entry is never evicted, so this check, not a clear at
// rotation time, is what keeps it from using a rotated-out credential.
func (p *pool) acquire(pk string, gen uint64, create func(string) (*entry, error)) (*entry, error) {
	if p.maxBytes >= 0 {
		s := p.shard(pk)
		s.mu.RLock()
		e := s.entries[pk].e
		s.mu.RUnlock()
		if e != nil && e.gen >= gen {
			e.used.Store(true)
			e.mu.Lock()
			return e, nil
		}
	}
	e, err := create(pk)
	if err != nil {
		return nil, err
	}
	e.idx = -1
	if p.maxBytes >= 0 {
		e = p.insert(e)
	}
	e.mu.Lock()
	return e, nil
}

// insert pools e, or returns the entry a concurrent caller pooled first
// with a credential at least as new. An entry with an older credential
// gives way to e.
func (p *pool) insert(e *entry) *entry {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.shard(e.pk)
	s.mu.RLock()
	cur, ok := s.entries[e.pk]
	s.mu.RUnlock()
	if ok {
		if cur.e.gen >= e.gen {
			return cur.e
		}
		p.remove(cur.e)
	}
	s.mu.Lock()
	s.entries[e.pk] = slot{e: e}
	s.mu.Unlock()
	e.used.Store(true)
	e.cost = entryBase
	e.idx = len(p.ring)
	p.ring = append(p.ring, e)
	p.bytes += e.cost
	p.evict()
	return e
}

// release unlocks e and accounts for how much its state grew or shrank.
func (p *pool) release(e *entry) {
	cost := int64(entryBase + stateFactor*len(e.part.plain))
	e.mu.Unlock()
	if p.maxBytes < 0 {
		return
	}
	p.mu.Lock()
	if e.idx >= 0 {
		p.bytes += cost - e.cost
		e.cost = cost
		p.evict()
	}
	p.mu.Unlock()
}

// evict drops entries over the budget, sparing those used since the clock
// hand last passed them. An entry in use leaves the pool but stays valid
// for its holder. p.mu must be held.
func (p *pool) evict() {
	for p.bytes > p.maxBytes && len(p.ring) > 1 {
		if p.hand >= len(p.ring) {
			p.hand = 0
		}
		e := p.ring[p.hand]
		if e.used.Swap(false) || p.answeredSince(e) {
			p.hand++
			continue
		}
		p.remove(e)
	}
}

// answeredSince reports whether e's answers served a hit since the clock
// hand last passed, and clears that mark.
func (p *pool) answeredSince(e *entry) bool {
	s := p.shard(e.pk)
	s.mu.RLock()
	cur := s.entries[e.pk]
	s.mu.RUnlock()
	return cur.e == e && cur.a != nil && cur.a.used.Swap(false)
}

// remove takes e out of the ring and its shard. p.mu must be held.
func (p *pool) remove(e *entry) {
	last := len(p.ring) - 1
	p.ring[e.idx] = p.ring[last]
	p.ring[e.idx].idx = e.idx
	p.ring[last] = nil
	p.ring = p.ring[:last]
	e.idx = -1
	p.bytes -= e.cost
	s := p.shard(e.pk)
	s.mu.Lock()
	if s.entries[e.pk].e == e {
		delete(s.entries, e.pk)
	}
	s.mu.Unlock()
}

// drop removes pk's entry, so its answers are served no more.
func (p *pool) drop(pk string) {
	if p.maxBytes < 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.shard(pk)
	s.mu.RLock()
	e := s.entries[pk].e
	s.mu.RUnlock()
	if e != nil {
		p.remove(e)
	}
}

// size is the number of entries and their estimated bytes.
func (p *pool) size() (int, int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.ring), p.bytes
}
