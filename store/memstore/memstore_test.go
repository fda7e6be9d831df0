package memstore

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/store"
)

// The conformance suite runs on memstore beside every Redis topology in
// storetest's TestConformance.

// clock is a manual clock for tests that expire entries without sleeping.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestInjectedClock(t *testing.T) {
	clk := newClock()
	s := New(Options{Now: clk.Now, SweepInterval: -1})
	defer s.Close()
	ctx := t.Context()

	v1, err := s.CompareAndSet(ctx, "k", 0, []byte("v"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if want := uint64(clk.Now().UnixMicro()); v1 != want {
		t.Errorf("version %d, want the clock's microseconds %d", v1, want)
	}
	_ = s.Acquire(ctx, "lock", "a", time.Minute)
	_ = s.IndexAdd(ctx, "ix", time.Minute, store.Member{Name: "m", Score: 1})

	clk.Advance(time.Minute - time.Microsecond)
	if _, _, err := s.Get(ctx, "k"); err != nil {
		t.Fatalf("value gone before its TTL: %v", err)
	}
	clk.Advance(time.Microsecond)
	if _, _, err := s.Get(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("value still there at its TTL: %v", err)
	}
	if err := s.Acquire(ctx, "lock", "b", time.Minute); err != nil {
		t.Fatalf("lock still held at its TTL: %v", err)
	}
	if ms, _ := s.IndexRange(ctx, "ix", 0, 10, 0); len(ms) != 0 {
		t.Fatalf("index still there at its TTL: %v", ms)
	}

	// The clock standing still must not repeat a version, even across a delete.
	v2, _ := s.CompareAndSet(ctx, "k", 0, []byte("v"), time.Minute)
	_ = s.Delete(ctx, "k")
	v3, _ := s.CompareAndSet(ctx, "k", 0, []byte("v"), time.Minute)
	if !(v1 < v2 && v2 < v3) {
		t.Fatalf("versions %d, %d, %d with a stopped clock: want strictly increasing", v1, v2, v3)
	}
}

func TestSweeperDropsExpired(t *testing.T) {
	clk := newClock()
	s := New(Options{Now: clk.Now, SweepInterval: time.Millisecond})
	defer s.Close()
	ctx := t.Context()
	_, _ = s.CompareAndSet(ctx, "brief", 0, []byte("v"), time.Second)
	_, _ = s.CompareAndSet(ctx, "durable", 0, []byte("v"), time.Hour)
	_ = s.IndexAdd(ctx, "ix", time.Second, store.Member{Name: "m"})
	_ = s.Acquire(ctx, "lock", "a", time.Second)
	clk.Advance(2 * time.Second)

	deadline := time.Now().Add(2 * time.Second)
	for {
		s.mu.Lock()
		nv, ni, nl := len(s.values), len(s.indexes), len(s.locks)
		s.mu.Unlock()
		if nv == 1 && ni == 0 && nl == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sweeper left %d values, %d indexes, %d locks; want 1, 0, 0", nv, ni, nl)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCloseStopsEverything(t *testing.T) {
	s := New(Options{SweepInterval: time.Millisecond})
	ctx := t.Context()
	delivered := make(chan struct{}, 10)
	sub, err := s.Subscribe(ctx, "ch", func([]byte) { delivered <- struct{}{} })
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.sweeperDone:
	default:
		t.Fatal("sweeper still running after Close returned")
	}
	select {
	case <-sub.(*subscription).done:
	default:
		t.Fatal("subscription still running after Close returned")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for what, err := range map[string]error{
		"Publish":       s.Publish(ctx, "ch", []byte("x")),
		"Delete":        s.Delete(ctx, "k"),
		"Acquire":       s.Acquire(ctx, "l", "o", time.Second),
		"IndexAdd":      s.IndexAdd(ctx, "i", time.Second),
		"IndexRemove":   s.IndexRemove(ctx, "i", "m"),
		"Release":       s.Release(ctx, "l", "o"),
		"Renew":         s.Renew(ctx, "l", "o", time.Second),
		"CompareAndSet": second(s.CompareAndSet(ctx, "k", 0, nil, time.Second)),
		"Get":           third(s.Get(ctx, "k")),
		"Take":          second(s.Take(ctx, "k")),
		"IndexRange":    second(s.IndexRange(ctx, "i", 0, 1, 0)),
		"IndexTrim":     second(s.IndexTrim(ctx, "i", 1)),
		"Subscribe":     second(s.Subscribe(ctx, "ch", func([]byte) {})),
	} {
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s after Close: err = %v, want ErrUnavailable", what, err)
		}
	}
	if len(delivered) != 0 {
		t.Fatal("a message was delivered after Close")
	}
}

func second[T any](_ T, err error) error        { return err }
func third[T, U any](_ T, _ U, err error) error { return err }

func TestNoSweeper(t *testing.T) {
	s := New(Options{SweepInterval: -1})
	select {
	case <-s.sweeperDone:
	default:
		t.Fatal("a negative SweepInterval still started a sweeper")
	}
	_ = s.Close()
}

// A handler that calls the store would deadlock if delivery held a lock.
func TestHandleMayCallStore(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	ctx := t.Context()
	got := make(chan string, 1)
	sub, err := s.Subscribe(ctx, "ch", func(msg []byte) {
		data, _, err := s.Get(ctx, string(msg))
		if err == nil {
			_ = s.Publish(ctx, "other", data)
		}
		got <- string(data)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	_, _ = s.CompareAndSet(ctx, "k", 0, []byte("value"), time.Minute)
	_ = s.Publish(ctx, "ch", []byte("k"))
	select {
	case v := <-got:
		if v != "value" {
			t.Fatalf("handler read %q", v)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("handler that calls the store never finished: delivery holds a lock")
	}
}

// A stuck handler costs its own messages, never the publisher's progress.
func TestSlowSubscriberDoesNotBlockPublisher(t *testing.T) {
	s := New(Options{QueueSize: 4})
	defer s.Close()
	ctx := t.Context()
	release := make(chan struct{})
	var n int
	sub, err := s.Subscribe(ctx, "ch", func([]byte) { <-release; n++ })
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 100 {
			_ = s.Publish(ctx, "ch", []byte("x"))
		}
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Publish blocked on a stuck subscriber")
	}
	close(release)
	_ = sub.Close()
	if n > 4+1 {
		t.Fatalf("handler ran %d times with a queue of 4 and one in hand", n)
	}
}

func TestPublishCopies(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	ctx := t.Context()
	got := make(chan []byte, 1)
	sub, _ := s.Subscribe(ctx, "ch", func(msg []byte) { got <- msg })
	defer sub.Close()
	buf := []byte("orig")
	_ = s.Publish(ctx, "ch", buf)
	copy(buf, "XXXX")
	if msg := <-got; string(msg) != "orig" {
		t.Fatalf("subscriber saw %q after the publisher reused its buffer", msg)
	}
}

func TestBadInput(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	ctx := t.Context()
	if err := s.IndexAdd(ctx, "ix", time.Minute, store.Member{Name: "m", Score: math.NaN()}); err == nil {
		t.Error("IndexAdd accepted a NaN score")
	}
	if err := s.Acquire(ctx, "l", "", time.Minute); err == nil {
		t.Error("Acquire accepted an empty owner")
	}
	if _, err := s.Subscribe(ctx, "ch", nil); err == nil {
		t.Error("Subscribe accepted a nil handle")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := s.Get(cancelled, "k"); !errors.Is(err, context.Canceled) || !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Get with a cancelled context: %v", err)
	}
}
