package tokencache

import (
	"container/list"
	"sync"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
)

// pool keeps one MSAL client per hot partition, with the state it last
// loaded, so that a partition unchanged since then needs no parsing. An
// entry is used by one call at a time (its lock is held across the MSAL
// call: MSAL's Replace swaps the client's whole cache). The pool is bounded
// by an estimate of the bytes its entries hold; a negative budget disables
// it, and every call then builds a new client.
type pool struct {
	mu       sync.Mutex
	entries  map[string]*entry
	lru      list.List // of *entry, front: most recently used
	bytes    int64
	maxBytes int64
}

type entry struct {
	mu     sync.Mutex
	pk     string
	client confidential.Client
	part   *partition
	el     *list.Element // nil when not in the pool
	cost   int64
	// results are the last silent results per scope set, valid while the
	// partition's version is the one they came from (see Client.hit).
	results map[string]result
}

// An entry costs about entryBase plus stateFactor times its serialized
// state: BenchmarkFootprint measured 12.2 KB per hot partition for a 4.7 KB
// state, remembered result included (2026-11-27).
const (
	entryBase   = 3 << 10
	stateFactor = 2
)

func newPool(maxBytes int64) *pool {
	return &pool{entries: map[string]*entry{}, maxBytes: maxBytes}
}

// acquire returns pk's entry, locked for the caller.
func (p *pool) acquire(pk string, create func(string) (*entry, error)) (*entry, error) {
	if p.maxBytes < 0 {
		e, err := create(pk)
		if err != nil {
			return nil, err
		}
		e.mu.Lock()
		return e, nil
	}
	p.mu.Lock()
	e, ok := p.entries[pk]
	if ok {
		p.lru.MoveToFront(e.el)
	} else {
		var err error
		if e, err = create(pk); err != nil {
			p.mu.Unlock()
			return nil, err
		}
		e.cost = entryBase
		e.el = p.lru.PushFront(e)
		p.entries[pk] = e
		p.bytes += e.cost
		p.evict()
	}
	p.mu.Unlock()
	e.mu.Lock()
	return e, nil
}

// release unlocks e and accounts for how much its state grew or shrank.
func (p *pool) release(e *entry) {
	cost := int64(entryBase + stateFactor*len(e.part.plain))
	e.mu.Unlock()
	if p.maxBytes < 0 {
		return
	}
	p.mu.Lock()
	if e.el != nil {
		p.bytes += cost - e.cost
		e.cost = cost
		p.evict()
	}
	p.mu.Unlock()
}

// evict drops least recently used entries over the budget. An entry in
// use leaves the pool but stays valid for its holder.
func (p *pool) evict() {
	for p.bytes > p.maxBytes && p.lru.Len() > 1 {
		p.remove(p.lru.Back().Value.(*entry))
	}
}

func (p *pool) remove(e *entry) {
	p.lru.Remove(e.el)
	e.el = nil
	delete(p.entries, e.pk)
	p.bytes -= e.cost
}

func (p *pool) drop(pk string) {
	p.mu.Lock()
	if e, ok := p.entries[pk]; ok {
		p.remove(e)
	}
	p.mu.Unlock()
}

func (p *pool) clear() {
	p.mu.Lock()
	for _, e := range p.entries {
		p.remove(e)
	}
	p.mu.Unlock()
}

// size is the number of entries and their estimated bytes.
func (p *pool) size() (int, int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.entries), p.bytes
}

// credHolder lets the credential change under concurrent calls.
type credHolder struct {
	mu   sync.RWMutex
	cred confidential.Credential
}

func (h *credHolder) set(c confidential.Credential) {
	h.mu.Lock()
	h.cred = c
	h.mu.Unlock()
}

func (h *credHolder) get() confidential.Credential {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.cred
}
