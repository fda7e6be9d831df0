package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/tenantgate/tenantgate/internal/storekit"
	"github.com/tenantgate/tenantgate/store"
)

// Acquire takes the lock for owner.
func (s *Store) Acquire(ctx context.Context, key, owner string, ttl time.Duration) error {
	return s.lock(ctx, "acquire", key, owner, ttl)
}

// Renew extends owner's lock.
func (s *Store) Renew(ctx context.Context, key, owner string, ttl time.Duration) error {
	return s.lock(ctx, "renew", key, owner, ttl)
}

// Release frees owner's lock. An owner whose lease lapsed gets
// ErrConflict: whatever it did under the lock may have overlapped another
// owner's work.
func (s *Store) Release(ctx context.Context, key, owner string) error {
	return s.lock(ctx, "release", key, owner, time.Millisecond)
}

func (s *Store) lock(ctx context.Context, op, key, owner string, ttl time.Duration) error {
	if err := storekit.ValidTTL(ttl); err != nil {
		return err
	}
	if owner == "" {
		return fmt.Errorf("redisstore: lock %s %q: empty owner: use store.NewOwner", op, key)
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	n, err := lockScript.Exec(ctx, s.c, []string{key}, []string{owner, ttlMillis(ttl), op}).AsInt64()
	if err != nil {
		return s.unavailable("lock "+op, key, err)
	}
	if n == 0 {
		return fmt.Errorf("redisstore: lock %s %q: not held by this owner: %w", op, key, store.ErrConflict)
	}
	return nil
}
