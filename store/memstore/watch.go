package memstore

import (
	"sync/atomic"
	"time"
)

// maxWatches bounds the watches one key holds; the oldest is fired (set
// stale) to make room, which only costs its holder a re-read.
const maxWatches = 8

// Watch implements store.Watcher: stale is set when key's value at version
// is replaced, deleted, taken or expires, or when the store closes.
func (s *Store) Watch(key string, version uint64, stale *atomic.Bool) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return time.Time{}, false
	}
	v, ok := s.lookup(key, s.now())
	if !ok || v.version != version {
		return time.Time{}, false
	}
	ws := s.watches[key]
	if len(ws) >= maxWatches {
		ws[0].Store(true)
		ws = append(ws[:0], ws[1:]...)
	}
	s.watches[key] = append(ws, stale)
	return v.expires, true
}

// changed fires the watches of key. s.mu must be held.
func (s *Store) changed(key string) {
	ws, ok := s.watches[key]
	if !ok {
		return
	}
	for _, w := range ws {
		w.Store(true)
	}
	delete(s.watches, key)
}

// fireAll fires every watch, when the store closes. s.mu must be held.
func (s *Store) fireAll() {
	for k := range s.watches {
		s.changed(k)
	}
}
