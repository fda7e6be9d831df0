package redisstore

import (
	"container/list"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tenantgate/tenantgate/store"
)

// l1 is the store's in-process cache: bounded in bytes, entries evicted
// least recently used first, never older than maxStale and never past the
// key's own expiry in Redis. The expiry matters in pubsub mode, where
// nothing is published when Redis expires a key; the tracking modes are
// told, but the cap costs nothing there.
//
// A read that races an invalidation must not be cached, or a stale value
// would outlive the message that should have removed it. So each shard
// counts invalidations (gen): a reader notes gen before asking Redis and
// stores the answer only if gen has not moved since.
type l1 struct {
	shards   [l1Shards]l1Shard
	seed     maphash.Seed
	maxStale time.Duration
	now      func() time.Time
	// live is false while the invalidation subscriber is not subscribed:
	// then nothing may be served from or stored into the L1.
	live atomic.Bool
}

const l1Shards = 32

// entryOverhead approximates the bytes an entry costs beyond key and value.
const entryOverhead = 96

type l1Shard struct {
	mu       sync.Mutex
	gen      uint64
	entries  map[string]*list.Element
	lru      list.List // front: most recently used
	bytes    int64
	maxBytes int64
}

type l1Entry struct {
	key     string
	data    []byte
	version uint64
	until   time.Time // served until then: stored+maxStale, or the key's expiry if sooner
	// watches are set stale when this entry stops being current (see
	// store.Watcher).
	watches store.Watches
}

func newL1(maxBytes int64, maxStale time.Duration, now func() time.Time) *l1 {
	c := &l1{seed: maphash.MakeSeed(), maxStale: maxStale, now: now}
	for i := range c.shards {
		c.shards[i].entries = make(map[string]*list.Element)
		c.shards[i].maxBytes = maxBytes / l1Shards
	}
	return c
}

func (c *l1) shard(key string) *l1Shard {
	return &c.shards[maphash.String(c.seed, key)%l1Shards]
}

// get returns a live entry. gen is the shard's generation to pass to put if
// the caller goes to Redis instead.
func (c *l1) get(key string) (data []byte, version uint64, gen uint64, ok bool) {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !c.live.Load() {
		return nil, 0, s.gen, false
	}
	if el, found := s.entries[key]; found {
		e := el.Value.(*l1Entry)
		if c.now().Before(e.until) {
			s.lru.MoveToFront(el)
			return e.data, e.version, s.gen, true
		}
		s.remove(el)
	}
	return nil, 0, s.gen, false
}

// put stores a value read from Redis, unless an invalidation arrived since
// gen was read. expires is when Redis will expire the key (zero: never, or
// not known).
func (c *l1) put(key string, data []byte, version uint64, gen uint64, expires time.Time) {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !c.live.Load() || s.gen != gen {
		return
	}
	s.store(key, data, version, c.until(expires))
}

// until is how long an entry stored now may be served.
func (c *l1) until(expires time.Time) time.Time {
	u := c.now().Add(c.maxStale)
	if !expires.IsZero() && expires.Before(u) {
		return expires
	}
	return u
}

// wrote records this process's own successful write. Writes from the
// same process are ordered by Redis before their messages reach us, so a
// later message for an older version evicts this one: harmless, only a miss.
func (c *l1) wrote(key string, data []byte, version uint64, expires time.Time) {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	if !c.live.Load() {
		return
	}
	s.store(key, data, version, c.until(expires))
}

// invalidate evicts key unless the cached copy is exactly version (0: always).
func (c *l1) invalidate(key string, version uint64) {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.entries[key]; ok && (version == 0 || el.Value.(*l1Entry).version != version) {
		s.gen++
		s.remove(el)
	} else if !ok {
		s.gen++
	}
}

// flush empties the L1, for a lost subscriber connection: the messages sent
// while it was down are gone, so no entry can be trusted.
func (c *l1) flush() {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		s.gen++
		for _, el := range s.entries {
			el.Value.(*l1Entry).watches.Fire()
		}
		clear(s.entries)
		s.lru.Init()
		s.bytes = 0
		s.mu.Unlock()
	}
}

// watch registers stale on key's entry if it holds version; until is when
// the entry stops being served (the staleness cap or the key's expiry).
func (c *l1) watch(key string, version uint64, stale *atomic.Bool) (until time.Time, ok bool) {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !c.live.Load() {
		return time.Time{}, false
	}
	el, found := s.entries[key]
	if !found {
		return time.Time{}, false
	}
	e := el.Value.(*l1Entry)
	until = e.until
	if e.version != version || !c.now().Before(until) {
		return time.Time{}, false
	}
	e.watches.Add(stale)
	return until, true
}

func (c *l1) size() (entries int, bytes int64) {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		entries += len(s.entries)
		bytes += s.bytes
		s.mu.Unlock()
	}
	return entries, bytes
}

func (s *l1Shard) store(key string, data []byte, version uint64, until time.Time) {
	cost := int64(len(key) + len(data) + entryOverhead)
	if cost > s.maxBytes {
		if el, ok := s.entries[key]; ok {
			s.remove(el)
		}
		return
	}
	if el, ok := s.entries[key]; ok {
		e := el.Value.(*l1Entry)
		s.bytes += int64(len(data) - len(e.data))
		if e.version != version {
			e.watches.Fire()
		}
		e.data, e.version, e.until = data, version, until
		s.lru.MoveToFront(el)
	} else {
		s.entries[key] = s.lru.PushFront(&l1Entry{key: key, data: data, version: version, until: until})
		s.bytes += cost
	}
	for s.bytes > s.maxBytes {
		s.remove(s.lru.Back())
	}
}

func (s *l1Shard) remove(el *list.Element) {
	e := el.Value.(*l1Entry)
	e.watches.Fire()
	s.lru.Remove(el)
	delete(s.entries, e.key)
	s.bytes -= int64(len(e.key) + len(e.data) + entryOverhead)
}
