package memstore

import (
	"context"
	"fmt"
	"time"

	"github.com/tenantgate/tenantgate/internal/storekit"
	"github.com/tenantgate/tenantgate/store"
)

type value struct {
	data    []byte
	version uint64
	expires time.Time
}

// lookup returns the live value under key, dropping it if it has expired.
// s.mu must be held.
func (s *Store) lookup(key string, now time.Time) (value, bool) {
	v, ok := s.values[key]
	if ok && expired(v.expires, now) {
		delete(s.values, key)
		return value{}, false
	}
	return v, ok
}

// Get returns the stored slice itself, not a copy: the contract forbids
// callers to modify it, and stored slices are never written again.
func (s *Store) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	now, err := s.begin(ctx)
	if err != nil {
		return nil, 0, err
	}
	defer s.mu.Unlock()
	v, ok := s.lookup(key, now)
	if !ok {
		return nil, 0, store.ErrNotFound
	}
	return v.data, v.version, nil
}

// CompareAndSet copies data, so callers may reuse their buffer. Versions
// come from one counter for the whole store, so they keep increasing across
// a delete even when the clock stands still.
func (s *Store) CompareAndSet(ctx context.Context, key string, version uint64, data []byte, ttl time.Duration) (uint64, error) {
	if err := validTTL(ttl); err != nil {
		return 0, err
	}
	cp := append(make([]byte, 0, len(data)), data...)
	now, err := s.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	cur, _ := s.lookup(key, now) // absent: version 0
	if cur.version != version {
		return 0, fmt.Errorf("memstore: %q: %w", key, store.ErrConflict)
	}
	s.lastVersion = storekit.NextVersion(s.lastVersion, now)
	s.values[key] = value{data: cp, version: s.lastVersion, expires: now.Add(ttl)}
	return s.lastVersion, nil
}

func (s *Store) Delete(ctx context.Context, key string) error {
	if _, err := s.begin(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	delete(s.values, key)
	return nil
}

func (s *Store) Take(ctx context.Context, key string) ([]byte, error) {
	now, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	v, ok := s.lookup(key, now)
	if !ok {
		return nil, store.ErrNotFound
	}
	delete(s.values, key)
	return v.data, nil
}
