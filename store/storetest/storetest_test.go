package storetest_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/store"
	"github.com/tenantgate/tenantgate/store/memstore"
	"github.com/tenantgate/tenantgate/store/storetest"
)

// broken wraps a correct store with one bug each. The suite is only worth
// running if it catches them.
var broken = map[string]struct {
	wrap  func(store.Store) store.Store
	cases string // the subtests that must catch it
}{
	"lost-update":         {func(s store.Store) store.Store { return lostUpdate{s} }, "ConcurrentIncrements"},
	"take-not-atomic":     {func(s store.Store) store.Store { return racyTake{s} }, "TakeOnce"},
	"release-any-owner":   {func(s store.Store) store.Store { return anyOwner{s} }, "LockOwnership"},
	"ttl-ignored":         {func(s store.Store) store.Store { return noTTL{s} }, "TTL"},
	"lock-never-expires":  {func(s store.Store) store.Store { return stickyLock{s} }, "LockExpiry"},
	"index-unsorted":      {func(s store.Store) store.Store { return unsorted{s} }, "IndexOrder"},
	"index-ttl-shortens":  {func(s store.Store) store.Store { return shortens{s} }, "IndexTTL"},
	"cancel-is-not-found": {func(s store.Store) store.Store { return cancelNotFound{s} }, "EndedContext"},
	"close-keeps-going":   {func(s store.Store) store.Store { return leakyClose{s} }, "PubSub"},
}

const brokenEnv = "STORETEST_BROKEN"

// TestBrokenStores runs the suite on each broken store in a child process
// (a failing subtest cannot be observed from inside) and wants it to fail.
func TestBrokenStores(t *testing.T) {
	if os.Getenv(brokenEnv) != "" {
		t.Skip("child process")
	}
	names := make([]string, 0, len(broken))
	for n := range broken {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		t.Run(n, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), os.Args[0],
				"-test.run=^TestBrokenChild$/^("+broken[n].cases+")$", "-test.count=1")
			cmd.Env = append(os.Environ(), brokenEnv+"="+n)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed a store with bug %q:\n%s", n, out)
			}
			if !strings.Contains(string(out), "--- FAIL: TestBrokenChild/") {
				t.Fatalf("the child did not fail in a subtest:\n%s", out)
			}
		})
	}
}

func TestBrokenChild(t *testing.T) {
	b, ok := broken[os.Getenv(brokenEnv)]
	if !ok {
		t.Skip("run by TestBrokenStores")
	}
	storetest.RunOptions(t, func(t *testing.T) store.Store {
		s := memstore.New(memstore.Options{})
		t.Cleanup(func() { _ = s.Close() })
		return b.wrap(s)
	}, storetest.Options{Timeout: 500 * time.Millisecond})
}

type lostUpdate struct{ store.Store }

// CompareAndSet checks the version only on create: last writer wins.
func (s lostUpdate) CompareAndSet(ctx context.Context, key string, v uint64, data []byte, ttl time.Duration) (uint64, error) {
	if v != 0 {
		_, v, _ = s.Get(ctx, key)
	}
	return s.Store.CompareAndSet(ctx, key, v, data, ttl)
}

type racyTake struct{ store.Store }

func (s racyTake) Take(ctx context.Context, key string) ([]byte, error) {
	data, _, err := s.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	time.Sleep(time.Millisecond)
	return data, s.Delete(ctx, key)
}

type anyOwner struct{ store.Store }

// Release reports success to a caller that does not hold the lock.
func (s anyOwner) Release(ctx context.Context, key, owner string) error {
	if err := s.Store.Release(ctx, key, owner); !errors.Is(err, store.ErrConflict) {
		return err
	}
	return nil
}

type noTTL struct{ store.Store }

func (s noTTL) CompareAndSet(ctx context.Context, key string, v uint64, data []byte, ttl time.Duration) (uint64, error) {
	return s.Store.CompareAndSet(ctx, key, v, data, time.Hour)
}

type stickyLock struct{ store.Store }

func (s stickyLock) Acquire(ctx context.Context, key, owner string, ttl time.Duration) error {
	return s.Store.Acquire(ctx, key, owner, time.Hour)
}

type unsorted struct{ store.Store }

func (s unsorted) IndexRange(ctx context.Context, ix string, min, max float64, limit int) ([]store.Member, error) {
	ms, err := s.Store.IndexRange(ctx, ix, min, max, 0)
	slices.Reverse(ms)
	if limit > 0 && len(ms) > limit {
		ms = ms[:limit]
	}
	return ms, err
}

type shortens struct{ store.Store }

func (s shortens) IndexAdd(ctx context.Context, ix string, ttl time.Duration, ms ...store.Member) error {
	got, _ := s.Store.IndexRange(ctx, ix, -1e308, 1e308, 0)
	_ = s.Store.IndexRemove(ctx, ix, names(got)...)
	return s.Store.IndexAdd(ctx, ix, ttl, append(got, ms...)...)
}

func names(ms []store.Member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Name
	}
	return out
}

type leakyClose struct{ store.Store }

func (s leakyClose) Subscribe(ctx context.Context, ch string, h func([]byte)) (store.Subscription, error) {
	sub, err := s.Store.Subscribe(context.WithoutCancel(ctx), ch, h)
	return noClose{sub}, err
}

type noClose struct{ store.Subscription }

func (noClose) Close() error { return nil }

type cancelNotFound struct{ store.Store }

// Get answers "absent" when it could not ask: the bug that signs users out
// when Redis is slow.
func (s cancelNotFound) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	data, v, err := s.Store.Get(ctx, key)
	if ctx.Err() != nil {
		return nil, 0, store.ErrNotFound
	}
	return data, v, err
}
