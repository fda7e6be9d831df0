package session

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// decoded keeps the records this process decoded last, with a digest of
// the stored bytes each came from. A read whose bytes have the same
// digest and length reuses the record: no JSON parsing, no opening of the
// seal, which are most of a steady request's cost when the store's L1
// answers. It is safe because it keys on the bytes, not on versions:
// whatever the store returns is decoded at least once under this key. The
// digest is a 64-bit maphash with a seed chosen at start-up, so that two
// versions of one session's record that differ are told apart but for a
// chance of 2^-64 that no one outside the process can aim at; it keeps no
// reference to the bytes, which would hold values the store's L1 has
// evicted beyond its byte budget (docs/performance.md, memory).
//
// Records kept are shared by readers and never modified (SetValues
// clones).
type decoded struct {
	shards        [16]decodedShard
	perShard      int   // entries
	perShardBytes int64 // estimated bytes
	seed          maphash.Seed
	bytes         atomic.Int64 // the estimate of what the entries hold
}

type decodedShard struct {
	mu    sync.Mutex
	m     map[string]decodedEntry
	bytes int64
}

type decodedEntry struct {
	sum  uint64
	n    int
	cost int64
	rec  *record
}

// decodedCost estimates what a decoded record of n stored bytes holds in
// memory: its fields and values (about the stored size) and what callers
// derive from it (the gateway's identity headers, about as much again).
func decodedCost(n int) int64 { return int64(2*n + 256) }

func newDecoded(entries int, bytes int64) *decoded {
	if entries <= 0 {
		return nil
	}
	d := &decoded{perShard: max(1, entries/16), perShardBytes: max(1, bytes/16), seed: maphash.MakeSeed()}
	for i := range d.shards {
		d.shards[i].m = make(map[string]decodedEntry)
	}
	return d
}

// shard picks by the handle's first hex digit: handles are hashes.
func (d *decoded) shard(handle string) *decodedShard {
	if handle == "" {
		return &d.shards[0]
	}
	c := handle[0]
	if c >= 'a' {
		c -= 'a' - 10
	} else {
		c -= '0'
	}
	return &d.shards[c&15]
}

func (d *decoded) get(handle string, raw []byte) *record {
	if d == nil {
		return nil
	}
	s := d.shard(handle)
	s.mu.Lock()
	e, ok := s.m[handle]
	s.mu.Unlock()
	if ok && e.n == len(raw) && e.sum == maphash.Bytes(d.seed, raw) {
		return e.rec
	}
	return nil
}

func (d *decoded) put(handle string, raw []byte, rec *record) {
	if d == nil {
		return
	}
	s := d.shard(handle)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.m[handle]; ok {
		delete(s.m, handle)
		s.bytes -= old.cost
		d.bytes.Add(-old.cost)
	}
	e := decodedEntry{sum: maphash.Bytes(d.seed, raw), n: len(raw), cost: decodedCost(len(raw)), rec: rec}
	for k, v := range s.m { // arbitrary victims: cheap, and good enough for a cache of hot sessions
		if len(s.m) < d.perShard && s.bytes+e.cost <= d.perShardBytes {
			break
		}
		delete(s.m, k)
		s.bytes -= v.cost
		d.bytes.Add(-v.cost)
	}
	s.m[handle] = e
	s.bytes += e.cost
	d.bytes.Add(e.cost)
}

// size is the number of records kept and the estimate of their bytes.
func (d *decoded) size() (int, int64) {
	if d == nil {
		return 0, 0
	}
	n := 0
	for i := range d.shards {
		s := &d.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n, d.bytes.Load()
}

func (d *decoded) drop(handle string) {
	if d == nil {
		return
	}
	s := d.shard(handle)
	s.mu.Lock()
	if e, ok := s.m[handle]; ok {
		delete(s.m, handle)
		s.bytes -= e.cost
		d.bytes.Add(-e.cost)
	}
	s.mu.Unlock()
}
