package memstore

import (
	"context"
	"fmt"
	"time"

	"github.com/tenantgate/tenantgate/store"
)

type lease struct {
	owner   string
	expires time.Time
}

// holder returns the lock's live lease, dropping it if it has expired.
// s.mu must be held.
func (s *Store) holder(key string, now time.Time) (lease, bool) {
	l, ok := s.locks[key]
	if ok && expired(l.expires, now) {
		delete(s.locks, key)
		return lease{}, false
	}
	return l, ok
}

func (s *Store) Acquire(ctx context.Context, key, owner string, ttl time.Duration) error {
	if err := checkLockArgs(owner, ttl); err != nil {
		return err
	}
	now, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	if l, held := s.holder(key, now); held && l.owner != owner {
		return fmt.Errorf("memstore: lock %q is held by another owner: %w", key, store.ErrConflict)
	}
	s.locks[key] = lease{owner: owner, expires: now.Add(ttl)}
	return nil
}

// Renew fails with ErrConflict when owner no longer holds the lock, also
// when it simply expired: either way the owner's work is unprotected and it
// must know.
func (s *Store) Renew(ctx context.Context, key, owner string, ttl time.Duration) error {
	if err := checkLockArgs(owner, ttl); err != nil {
		return err
	}
	now, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	if l, held := s.holder(key, now); !held || l.owner != owner {
		return fmt.Errorf("memstore: lock %q is not held by this owner: %w", key, store.ErrConflict)
	}
	s.locks[key] = lease{owner: owner, expires: now.Add(ttl)}
	return nil
}

// Release fails with ErrConflict when owner does not hold the lock, like
// Renew.
func (s *Store) Release(ctx context.Context, key, owner string) error {
	if owner == "" {
		return errEmptyOwner
	}
	now, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	if l, held := s.holder(key, now); !held || l.owner != owner {
		return fmt.Errorf("memstore: lock %q is not held by this owner: %w", key, store.ErrConflict)
	}
	delete(s.locks, key)
	return nil
}

func checkLockArgs(owner string, ttl time.Duration) error {
	if owner == "" {
		return errEmptyOwner
	}
	return validTTL(ttl)
}
