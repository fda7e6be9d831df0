package tokencache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/tenantgate/tenantgate/store"
)

// maxCASAttempts bounds the merge-and-retry loop of a contended write.
const maxCASAttempts = 8

// basis is the stored state a write was derived from.
type basis struct {
	version uint64 // 0: absent
	// live: the version held tokens, not a tombstone. A live basis that is
	// absent by the time of the write was signed out (its tombstone expired
	// or was evicted), so the write is dropped; a tombstone or absence that
	// is absent still is nothing to protect.
	live bool
}

// side says which state wins a merge where both hold an entry.
type side bool

const (
	newerSide side = false // ours was just received from the identity provider
	olderSide side = true  // ours waited in the write-behind queue: what is stored is newer
)

// writeResult is what a write did.
type writeResult struct {
	version   uint64 // the stored version now
	merged    bool   // the stored value differs from what was written: it holds another writer's entries too
	signedOut bool   // dropped: the user signed out since the basis was read
}

// write stores data under key over base, merging with whatever another
// writer stored meanwhile, as side.
func (c *Cache) write(ctx context.Context, key string, base basis, data []byte, ours blob, as side) (writeResult, error) {
	var res writeResult
	// version and live follow the latest state read: a live version that
	// vanishes is a sign-out, whichever read saw it.
	version, live := base.version, base.live
	for attempt := 0; attempt < maxCASAttempts; attempt++ {
		sealed, err := c.sealer.Seal(data, key)
		if err != nil {
			return res, fmt.Errorf("tokencache: seal %s: %w", key, err)
		}
		nv, err := c.kv.CompareAndSet(ctx, key, version, sealed, ours.ttl(c.o.Now(), c.o.RefreshTokenTTL))
		if err == nil {
			c.stats.writes.Add(1)
			res.version = nv
			return res, nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return res, fmt.Errorf("tokencache: write %s: %w", key, err)
		}
		c.stats.conflicts.Add(1)
		cur, cv, err := c.kv.Get(ctx, key)
		var theirs blob
		switch {
		case errors.Is(err, store.ErrNotFound):
			if live {
				// It held tokens when read and is gone: signed out, and
				// the tombstone is no longer there to say so.
				return c.signedOut(key, 0), nil
			}
			cv, theirs = 0, blob{}
		case err != nil:
			return res, fmt.Errorf("tokencache: re-read %s: %w", key, err)
		default:
			plain, oerr := c.open(key, cur)
			switch {
			case oerr != nil:
				theirs, live = blob{}, false // unreadable: overwrite it
			case isTombstone(plain):
				return c.signedOut(key, cv), nil
			default:
				if theirs, err = parseBlob(plain); err != nil {
					theirs, live = blob{}, false
				} else {
					live = true
				}
			}
		}
		if as == olderSide {
			ours = merge(theirs, ours)
		} else {
			ours = merge(ours, theirs)
		}
		if data, err = ours.marshal(); err != nil {
			return res, err
		}
		version, res.merged = cv, true
		c.stats.merges.Add(1)
	}
	return res, fmt.Errorf("tokencache: write %s: still conflicting after %d attempts: %w", key, maxCASAttempts, store.ErrConflict)
}

func (c *Cache) signedOut(key string, version uint64) writeResult {
	c.stats.droppedAfterSignOut.Add(1)
	c.o.Logger.Info("tokencache: dropped a write: the user signed out since it was read", slog.String("key", key))
	return writeResult{version: version, merged: true, signedOut: true}
}

// open unseals a stored partition; a value that fails to open (copied from
// another key, corrupted, sealed with an unknown key) is counted, logged
// with its key and treated as absent.
func (c *Cache) open(key string, sealed []byte) ([]byte, error) {
	plain, err := c.sealer.Open(sealed, key)
	if err != nil {
		c.stats.refusedOpen.Add(1)
		c.o.Logger.Warn("tokencache: stored partition does not open; treated as absent", slog.String("key", key), slog.Any("err", err))
		return nil, err
	}
	return plain, nil
}

// signOut replaces a user's partition with a tombstone, and cancels any
// state of it still waiting to be written.
func (c *Cache) signOut(ctx context.Context, key string) error {
	c.wb.cancel(key)
	sealed, err := c.sealer.Seal(fmt.Appendf(nil, "%s%d}", tombstonePrefix, c.o.Now().Unix()), key)
	if err != nil {
		return err
	}
	for attempt := 0; attempt < maxCASAttempts; attempt++ {
		_, v, err := c.kv.Get(ctx, key)
		if errors.Is(err, store.ErrNotFound) {
			v = 0
		} else if err != nil {
			return fmt.Errorf("tokencache: sign out %s: %w; try again when the store answers", key, err)
		}
		_, err = c.kv.CompareAndSet(ctx, key, v, sealed, c.o.TombstoneTTL)
		if !errors.Is(err, store.ErrConflict) {
			if err != nil {
				return fmt.Errorf("tokencache: sign out %s: %w; try again when the store answers", key, err)
			}
			return nil
		}
	}
	return fmt.Errorf("tokencache: sign out %s: %w", key, store.ErrConflict)
}
