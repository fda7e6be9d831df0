package session

import (
	"bytes"
	"sync"
)

// decoded keeps the records this process decoded last, with the stored
// bytes each came from. A read whose bytes are identical to the ones kept
// reuses the record: no JSON parsing, no opening of the seal, which are
// most of a steady request's cost when the store's L1 answers. It is safe
// because it keys on the bytes, not on versions: whatever the store
// returns is decoded at least once under this key.
//
// Records kept are shared by readers and never modified (SetValues
// clones). The bytes are the store's own, which it never modifies either.
type decoded struct {
	shards   [16]decodedShard
	perShard int
}

type decodedShard struct {
	mu sync.Mutex
	m  map[string]decodedEntry
}

type decodedEntry struct {
	raw []byte
	rec *record
}

func newDecoded(entries int) *decoded {
	if entries <= 0 {
		return nil
	}
	d := &decoded{perShard: max(1, entries/16)}
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
	if ok && bytes.Equal(e.raw, raw) {
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
	if _, ok := s.m[handle]; !ok && len(s.m) >= d.perShard {
		for k := range s.m { // an arbitrary victim: cheap, and good enough for a cache of hot sessions
			delete(s.m, k)
			break
		}
	}
	s.m[handle] = decodedEntry{raw: raw, rec: rec}
}

func (d *decoded) drop(handle string) {
	if d == nil {
		return
	}
	s := d.shard(handle)
	s.mu.Lock()
	delete(s.m, handle)
	s.mu.Unlock()
}
