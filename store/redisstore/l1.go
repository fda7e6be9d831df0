package redisstore

import (
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// l1 is the store's one in-process cache, fed by one invalidation source
// per mode (tracking pushes, bcast pushes, or pubsub "key|version"
// messages). It is bounded in bytes, evicts by CLOCK (a hit sets a use bit
// and moves nothing), and never serves an entry past maxStale or past the
// key's own expiry in Redis.
//
// Coherence rests on one rule, monotonic versions per key. For every key
// the L1 remembers seen, the highest version it has learnt of from any
// source: a fill (a read from Redis), this process's own write, or a
// versioned invalidation. Then:
//
//   - nothing installs a version below seen: a fill or own write that lost
//     a race with a newer write, whoever made it and in whichever order the
//     news arrives, is dropped (a miss, never a stale answer);
//   - a versioned invalidation raises seen and removes the entry if it is
//     below it;
//   - whenever seen is forgotten (an invalidation without a version: a
//     tracking push or a delete; eviction; a lost connection, which flushes
//     everything), the key's shard generation moves on, and a fill or an
//     own write installs a value only if the generation it read before
//     asking Redis is still current. So one that started before the L1
//     forgot what it knew installs nothing (an own write still raises seen).
//
// A fill that started after the last invalidation for its key was handled
// reads Redis after the write that caused it, so what it installs is at
// least that write; anything newer is reported by the next invalidation.
// An entry is therefore stale only between a write and the handling of its
// invalidation (the bounded staleness TestCoherenceHistory measures), and
// this process reads its own writes at once, because an own write raises
// seen before CompareAndSet returns.
//
// The L1 caches only keys its invalidation source covers (covers): in
// bcast and pubsub modes the keys under Options.Prefix. A key it would
// never be told about is always read from Redis.
type l1 struct {
	shards   [l1Shards]l1Shard
	seed     maphash.Seed
	maxStale time.Duration
	now      func() time.Time
	prefix   string // keys the invalidation source covers ("": all)
	// live is false while the invalidation source is not connected: then
	// nothing may be served from or stored into the L1.
	live atomic.Bool
}

const l1Shards = 32

// entryOverhead approximates the bytes an entry costs beyond key and value.
const entryOverhead = 112

type l1Shard struct {
	mu      sync.Mutex
	gen     uint64
	entries map[string]*l1Entry
	ring    []*l1Entry // CLOCK order; each entry knows its slot
	hand    int
	bytes   int64
	// maxBytes bounds bytes; an entry costing more is never stored.
	maxBytes int64
}

// l1Entry is what the L1 knows of one key: its highest seen version, and
// a value to serve if it holds one (has).
type l1Entry struct {
	key     string
	seen    uint64
	has     bool
	version uint64 // of data, <= seen
	data    []byte
	until   time.Time // served until then: stored+maxStale, or the key's expiry if sooner
	used    bool      // CLOCK's use bit, set by a hit
	slot    int
}

func newL1(maxBytes int64, maxStale time.Duration, now func() time.Time, prefix string) *l1 {
	c := &l1{seed: maphash.MakeSeed(), maxStale: maxStale, now: now, prefix: prefix}
	for i := range c.shards {
		c.shards[i].entries = make(map[string]*l1Entry)
		c.shards[i].maxBytes = maxBytes / l1Shards
	}
	return c
}

func (c *l1) shard(key string) *l1Shard {
	return &c.shards[maphash.String(c.seed, key)%l1Shards]
}

func (c *l1) covers(key string) bool { return strings.HasPrefix(key, c.prefix) }

// get returns a servable value. gen is the shard's generation to pass to
// fill if the caller goes to Redis instead.
func (c *l1) get(key string) (data []byte, version uint64, gen uint64, ok bool) {
	s := c.shard(key)
	s.mu.Lock()
	gen = s.gen
	if e := s.entries[key]; e != nil && e.has && c.live.Load() {
		if c.now().Before(e.until) {
			e.used = true
			data, version = e.data, e.version
			s.mu.Unlock()
			return data, version, gen, true
		}
		s.bytes -= int64(len(e.data))
		e.has, e.data = false, nil
	}
	s.mu.Unlock()
	return nil, 0, gen, false
}

// fill stores a value read from Redis, if no invalidation made the L1
// forget since gen was read and nothing newer has been seen. expires is
// when Redis will expire the key (zero: never, or not known).
func (c *l1) fill(key string, data []byte, version uint64, gen uint64, expires time.Time) {
	if !c.covers(key) {
		return
	}
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !c.live.Load() || s.gen != gen {
		return
	}
	s.install(key, data, version, c.until(expires))
}

// wrote records this process's own successful write of version: with data
// (pubsub, where later writes are published to us whatever we read) it is
// installed, without (tracking, bcast: Redis reports the write to us
// after the reply, or tracks the key for us only once we read it again)
// it only raises seen, which is what read-your-writes needs.
func (c *l1) wrote(key string, data []byte, version uint64, expires time.Time, install bool, gen uint64) {
	if !c.covers(key) {
		return
	}
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	// As for a fill: if the L1 forgot the key (a delete, an eviction, a
	// flush) between the write and this line, a newer write or the delete
	// may be what it forgot, so the value is not installed; raising seen
	// is always safe.
	if install && c.live.Load() && s.gen == gen {
		s.install(key, data, version, c.until(expires))
		return
	}
	s.raise(key, version)
}

// generation is key's shard generation now, for wrote.
func (c *l1) generation(key string) uint64 {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen
}

// invalidate handles news that key was written at version: seen rises to
// it and an older value goes.
func (c *l1) invalidate(key string, version uint64) {
	if !c.covers(key) {
		return
	}
	s := c.shard(key)
	s.mu.Lock()
	s.raise(key, version)
	s.mu.Unlock()
}

// forget handles news that key changed without a version (a tracking push,
// a delete, a lost compare-and-set): the L1 drops all it knows of key and
// moves the shard's generation on, so no fill from before installs.
func (c *l1) forget(key string) {
	s := c.shard(key)
	s.mu.Lock()
	s.gen++
	if e := s.entries[key]; e != nil {
		s.remove(e)
	}
	s.mu.Unlock()
}

// flush empties the L1, for a lost connection: the invalidations sent
// while it was down are gone, so nothing in it can be trusted.
func (c *l1) flush() {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		s.gen++
		clear(s.entries)
		clear(s.ring)
		s.ring = s.ring[:0]
		s.hand, s.bytes = 0, 0
		s.mu.Unlock()
	}
}

// until is how long an entry stored now may be served.
func (c *l1) until(expires time.Time) time.Time {
	u := c.now().Add(c.maxStale)
	if !expires.IsZero() && expires.Before(u) {
		return expires
	}
	return u
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

// entry returns key's entry, adding one that knows nothing if there is
// none and it fits.
func (s *l1Shard) entry(key string) *l1Entry {
	if e := s.entries[key]; e != nil {
		return e
	}
	cost := int64(len(key) + entryOverhead)
	if cost > s.maxBytes {
		return nil
	}
	e := &l1Entry{key: key, slot: len(s.ring)}
	s.entries[key] = e
	s.ring = append(s.ring, e)
	s.bytes += cost
	return e
}

// raise records that version exists: seen rises and an older value goes.
// With no room to remember it, the shard forgets instead.
func (s *l1Shard) raise(key string, version uint64) {
	e := s.entry(key)
	if e == nil {
		s.gen++
		return
	}
	if version > e.seen {
		e.seen = version
	}
	if e.has && e.version < e.seen {
		s.bytes -= int64(len(e.data))
		e.has, e.data = false, nil
	}
	s.evict(e)
}

// install stores a value unless a newer version has been seen.
func (s *l1Shard) install(key string, data []byte, version uint64, until time.Time) {
	if int64(len(key)+len(data)+entryOverhead) > s.maxBytes {
		s.raise(key, version)
		return
	}
	e := s.entry(key)
	if e == nil || version < e.seen {
		return
	}
	e.seen = version
	s.bytes += int64(len(data) - len(e.data))
	e.has, e.version, e.data, e.until = true, version, data, until
	s.evict(e)
}

// evict removes entries by CLOCK until the shard fits, sparing keep.
// Eviction forgets seen versions, so it moves the generation on.
func (s *l1Shard) evict(keep *l1Entry) {
	for s.bytes > s.maxBytes && len(s.ring) > 1 {
		if s.hand >= len(s.ring) {
			s.hand = 0
		}
		e := s.ring[s.hand]
		if e == keep || e.used {
			e.used = false
			s.hand++
			continue
		}
		s.gen++
		s.remove(e)
	}
}

func (s *l1Shard) remove(e *l1Entry) {
	last := len(s.ring) - 1
	s.ring[e.slot] = s.ring[last]
	s.ring[e.slot].slot = e.slot
	s.ring[last] = nil
	s.ring = s.ring[:last]
	delete(s.entries, e.key)
	s.bytes -= int64(len(e.key) + len(e.data) + entryOverhead)
}
