package memstore

import (
	"sync/atomic"
	"time"
)

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
	ws.Add(stale)
	s.watches[key] = ws
	return v.expires, true
}

// changed fires the watches of key. s.mu must be held.
func (s *Store) changed(key string) {
	if ws, ok := s.watches[key]; ok {
		ws.Fire()
		delete(s.watches, key)
	}
}

// fireAll fires every watch, when the store closes. s.mu must be held.
func (s *Store) fireAll() {
	for k := range s.watches {
		s.changed(k)
	}
}
