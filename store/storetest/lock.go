package storetest

import (
	"errors"
	"time"

	"github.com/tenantgate/tenantgate/store"
)

func testLockOwnership(c *check) {
	k := c.key("lock")
	a, b := store.NewOwner(), store.NewOwner()

	c.noErr("Acquire a free lock", c.st.Acquire(c.ctx(), k, a, long))
	c.wantErr("Acquire by another owner", c.st.Acquire(c.ctx(), k, b, long), store.ErrConflict)
	c.noErr("Acquire again by the holder", c.st.Acquire(c.ctx(), k, a, long))
	c.wantErr("Renew by another owner", c.st.Renew(c.ctx(), k, b, long), store.ErrConflict)
	c.wantErr("Release by another owner", c.st.Release(c.ctx(), k, b), store.ErrConflict)
	c.wantErr("Acquire after another owner's Renew and Release failed", c.st.Acquire(c.ctx(), k, b, long), store.ErrConflict)

	c.noErr("Renew by the holder", c.st.Renew(c.ctx(), k, a, long))
	c.noErr("Release by the holder", c.st.Release(c.ctx(), k, a))
	c.noErr("Acquire after Release", c.st.Acquire(c.ctx(), k, b, long))
	c.wantErr("Release by the previous holder", c.st.Release(c.ctx(), k, a), store.ErrConflict)
	c.noErr("Release by the holder", c.st.Release(c.ctx(), k, b))

	// Of a free lock nobody is the holder.
	c.wantErr("Renew of a free lock", c.st.Renew(c.ctx(), k, a, long), store.ErrConflict)
	c.wantErr("Release of a free lock", c.st.Release(c.ctx(), k, a), store.ErrConflict)

	// Locks are per key.
	c.noErr("Acquire", c.st.Acquire(c.ctx(), k, a, long))
	c.noErr("Acquire of another key", c.st.Acquire(c.ctx(), c.key("lock2"), b, long))
}

// testLockExpiry is the crashed-replica case: a lease that is not renewed
// lapses, one that is renewed does not.
func testLockExpiry(c *check) {
	short := c.opts.ShortTTL
	lapsed, taken, renewed := c.key("lapsed"), c.key("taken"), c.key("renewed")
	a, b := store.NewOwner(), store.NewOwner()

	start := time.Now()
	c.noErr("Acquire", c.st.Acquire(c.ctx(), lapsed, a, short))
	c.noErr("Acquire", c.st.Acquire(c.ctx(), taken, a, short))
	c.noErr("Acquire", c.st.Acquire(c.ctx(), renewed, a, short))
	c.noErr("Renew by the holder", c.st.Renew(c.ctx(), renewed, a, long))
	if c.soon(start) {
		c.wantErr("Acquire of a lock held with a short TTL", c.st.Acquire(c.ctx(), taken, b, long), store.ErrConflict)
	}

	var err error
	c.eventually("a lock that was not renewed never became free", func() bool {
		err = c.st.Acquire(c.ctx(), taken, b, long)
		return !errors.Is(err, store.ErrConflict)
	})
	c.noErr("Acquire of a lapsed lock", err)
	if time.Since(start) < short*3/4 {
		c.Fatalf("a lock with TTL %v lapsed after %v", short, time.Since(start))
	}
	c.wantErr("Acquire of a renewed lock", c.st.Acquire(c.ctx(), renewed, b, long), store.ErrConflict)
	c.wantErr("Renew by the owner of a lease another owner now holds", c.st.Renew(c.ctx(), taken, a, long), store.ErrConflict)
	// lapsed was acquired before taken with the same TTL, so it has lapsed too.
	c.wantErr("Renew of a lapsed lease", c.st.Renew(c.ctx(), lapsed, a, long), store.ErrConflict)
	c.wantErr("Release of a lapsed lease", c.st.Release(c.ctx(), lapsed, a), store.ErrConflict)
}
