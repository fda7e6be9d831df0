package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/store"
)

// Options tunes the suite for a backend. The zero value suits a local
// backend.
type Options struct {
	// Prefix starts every key and channel name; it must be unique per run.
	// Empty means "tg1:test:" followed by 16 random hex digits and ":".
	Prefix string
	// ShortTTL is the TTL of everything the suite waits to see expire, and
	// the lease of locks it waits to see lapse. Zero means 200ms; a backend
	// with coarser expiry needs more.
	ShortTTL time.Duration
	// Timeout bounds every wait for something asynchronous: expiry, message
	// delivery. Zero means 2s. Waits poll and end as soon as they succeed, so
	// a generous Timeout costs nothing when the backend is correct.
	Timeout time.Duration
}

// Run runs the suite with default Options. newStore is called once per
// subtest and must return a ready store; it is responsible for closing it
// (t.Cleanup), since only the caller knows what else to tear down.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	RunOptions(t, newStore, Options{})
}

// RunOptions runs the suite with opts. Subtests run one after another, so a
// caller can run the suite, change the backend (a failover) and run it again.
func RunOptions(t *testing.T, newStore func(t *testing.T) store.Store, opts Options) {
	if opts.Prefix == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		opts.Prefix = "tg1:test:" + hex.EncodeToString(b[:]) + ":"
	}
	if opts.ShortTTL <= 0 {
		opts.ShortTTL = 200 * time.Millisecond
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Second
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &check{
				T:    t,
				st:   newStore(t),
				opts: opts,
				ns:   opts.Prefix + tc.name + ":",
			}
			tc.run(c)
		})
	}
}

var cases = []struct {
	name string
	run  func(c *check)
}{
	{"Missing", testMissing},
	{"CompareAndSet", testCompareAndSet},
	{"VersionsIncrease", testVersionsIncrease},
	{"ConcurrentIncrements", testConcurrentIncrements},
	{"TakeOnce", testTakeOnce},
	{"Delete", testDelete},
	{"TTL", testTTL},
	{"InvalidTTL", testInvalidTTL},
	{"EndedContext", testEndedContext},
	{"LockOwnership", testLockOwnership},
	{"LockExpiry", testLockExpiry},
	{"IndexOrder", testIndexOrder},
	{"IndexTTL", testIndexTTL},
	{"PubSub", testPubSub},
}

// check is one subtest's view: its store, its key namespace and helpers.
type check struct {
	*testing.T
	st   store.Store
	opts Options
	ns   string
}

// key returns a name unique to this run and subtest.
func (c *check) key(name string) string { return c.ns + name }

func (c *check) ctx() context.Context { return c.Context() }

// set writes data under key, which must be absent, and returns its version.
func (c *check) set(key string, data string, ttl time.Duration) uint64 {
	c.Helper()
	v, err := c.st.CompareAndSet(c.ctx(), key, 0, []byte(data), ttl)
	if err != nil {
		c.Fatalf("CompareAndSet(%s, 0): %v", key, err)
	}
	if v == 0 {
		c.Fatalf("CompareAndSet(%s, 0) returned version 0, which means absent", key)
	}
	return v
}

// wantValue fails unless key holds data at version (0: any version).
func (c *check) wantValue(key, data string, version uint64) {
	c.Helper()
	got, v, err := c.st.Get(c.ctx(), key)
	if err != nil {
		c.Fatalf("Get(%s): %v, want %q", key, err, data)
	}
	if string(got) != data {
		c.Fatalf("Get(%s) = %q, want %q", key, got, data)
	}
	if version != 0 && v != version {
		c.Fatalf("Get(%s) version = %d, want %d, the version its write returned", key, v, version)
	}
}

// wantAbsent fails unless key holds nothing.
func (c *check) wantAbsent(key string) {
	c.Helper()
	got, v, err := c.st.Get(c.ctx(), key)
	if !errors.Is(err, store.ErrNotFound) {
		c.Fatalf("Get(%s) = %q version %d, err %v; want ErrNotFound", key, got, v, err)
	}
}

// wantErr fails unless err matches target.
func (c *check) wantErr(what string, err, target error) {
	c.Helper()
	if !errors.Is(err, target) {
		c.Fatalf("%s: err = %v, want %v", what, err, target)
	}
}

// noErr fails on err.
func (c *check) noErr(what string, err error) {
	c.Helper()
	if err != nil {
		c.Fatalf("%s: %v", what, err)
	}
}

// eventually polls cond until it holds or Timeout passes.
func (c *check) eventually(what string, cond func() bool) {
	c.Helper()
	deadline := time.Now().Add(c.opts.Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			c.Fatalf("after %v: %s", c.opts.Timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// soon reports whether less than half of ShortTTL has passed since start:
// only then can the suite assert that something has not expired yet without
// being flaky on a loaded machine.
func (c *check) soon(start time.Time) bool { return time.Since(start) < c.opts.ShortTTL/2 }

func joinMembers(ms []store.Member) string {
	var b strings.Builder
	for i, m := range ms {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(m.Name)
	}
	return b.String()
}
