package storetest

import (
	"sync/atomic"
	"time"

	"github.com/tenantgate/tenantgate/store"
)

// testWatch checks store.Watcher, for stores that implement it: a watch
// is refused for a version the store does not hold, and fires on the
// store's own write, delete and take, and by the value's expiry.
func testWatch(c *check) {
	w, ok := c.st.(store.Watcher)
	if !ok {
		c.Log("the store does not implement store.Watcher: nothing to check")
		return
	}
	k := c.key("watched")
	v := c.set(k, "a", long)

	if _, ok := w.Watch(k, v+1, new(atomic.Bool)); ok {
		c.Fatal("Watch of a version the key does not hold succeeded")
	}
	if _, ok := w.Watch(c.key("absent"), v, new(atomic.Bool)); ok {
		c.Fatal("Watch of an absent key succeeded")
	}

	stale := c.watch(w, k, v)
	c.wantValue(k, "a", v)
	if stale.Load() {
		c.Fatal("a watch fired although the value did not change")
	}
	v2, err := c.st.CompareAndSet(c.ctx(), k, v, []byte("b"), long)
	c.noErr("CompareAndSet", err)
	if !stale.Load() {
		c.Fatal("a watch did not fire when the store itself wrote the key")
	}

	stale = c.watch(w, k, v2)
	c.noErr("Delete", c.st.Delete(c.ctx(), k))
	if !stale.Load() {
		c.Fatal("a watch did not fire when the store itself deleted the key")
	}

	v3 := c.set(k, "c", long)
	stale = c.watch(w, k, v3)
	_, err = c.st.Take(c.ctx(), k)
	c.noErr("Take", err)
	if !stale.Load() {
		c.Fatal("a watch did not fire when the key was taken")
	}

	// Many watches on one key are bounded by firing the oldest: every
	// watch is either still registered or fired, none is forgotten.
	v4 := c.set(k, "d", long)
	flags := make([]*atomic.Bool, 64)
	for i := range flags {
		flags[i] = c.watch(w, k, v4)
	}
	_, err = c.st.CompareAndSet(c.ctx(), k, v4, []byte("e"), long)
	c.noErr("CompareAndSet", err)
	for i, f := range flags {
		if !f.Load() {
			c.Fatalf("watch %d of %d did not fire on a write", i+1, len(flags))
		}
	}

	e := c.key("expiring")
	ve := c.set(e, "x", c.opts.ShortTTL)
	var until time.Time
	stale = new(atomic.Bool)
	c.eventually("Watch succeeds for a value just read", func() bool {
		c.wantValue(e, "x", ve)
		var ok bool
		until, ok = w.Watch(e, ve, stale)
		return ok
	})
	c.eventually("a watch of an expiring value fires, or its until passes", func() bool {
		return stale.Load() || (!until.IsZero() && !time.Now().Before(until))
	})
}

// watch reads key (stores with an L1 cache what they read) and watches it
// at version, retrying while the store has not cached it yet.
func (c *check) watch(w store.Watcher, key string, version uint64) *atomic.Bool {
	c.Helper()
	stale := new(atomic.Bool)
	c.eventually("Watch succeeds for a value just read", func() bool {
		if _, v, err := c.st.Get(c.ctx(), key); err != nil || v != version {
			c.Fatalf("Get(%s) = version %d, %v; want version %d", key, v, err, version)
		}
		_, ok := w.Watch(key, version, stale)
		return ok
	})
	return stale
}
