package memstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tenantgate/tenantgate/internal/storekit"
	"github.com/tenantgate/tenantgate/store"
)

// DefaultSweepInterval is how often expired entries are dropped when
// Options.SweepInterval is zero. Reads never see an expired entry whatever
// the interval: the sweep only returns memory.
const DefaultSweepInterval = 30 * time.Second

// Options configures a Store. The zero value is ready to use.
type Options struct {
	// Now is the clock for TTLs and versions; nil means time.Now. Tests
	// inject one to expire entries without sleeping.
	Now func() time.Time
	// SweepInterval is how often a background goroutine drops expired
	// entries: zero means DefaultSweepInterval, negative means never (expired
	// entries are then dropped only when touched).
	SweepInterval time.Duration
	// QueueSize bounds each subscription's queue of undelivered messages;
	// zero means 256. When a handler falls that far behind, new messages
	// for it are dropped, as the contract allows, rather than slowing the
	// publisher.
	QueueSize int
}

// Store implements store.Store in memory. It is safe for concurrent use.
// Close stops its sweeper and every subscription.
type Store struct {
	now       func() time.Time
	queueSize int

	mu          sync.Mutex
	closed      bool
	lastVersion uint64
	values      map[string]value
	indexes     map[string]*index
	locks       map[string]lease

	psMu sync.Mutex
	subs map[string]map[*subscription]struct{}

	stop        chan struct{}
	sweeperDone chan struct{}
}

var _ store.Store = (*Store)(nil)

var errClosed = fmt.Errorf("memstore: store is closed: %w", store.ErrUnavailable)

// New returns an empty store and starts its sweeper.
func New(opts Options) *Store {
	s := &Store{
		now:         opts.Now,
		queueSize:   opts.QueueSize,
		values:      make(map[string]value),
		indexes:     make(map[string]*index),
		locks:       make(map[string]lease),
		subs:        make(map[string]map[*subscription]struct{}),
		stop:        make(chan struct{}),
		sweeperDone: make(chan struct{}),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.queueSize <= 0 {
		s.queueSize = 256
	}
	interval := opts.SweepInterval
	if interval == 0 {
		interval = DefaultSweepInterval
	}
	if interval > 0 {
		go s.sweepEvery(interval)
	} else {
		close(s.sweeperDone)
	}
	return s
}

// Close stops the sweeper and every subscription, waiting for them, and
// makes every later call fail with store.ErrUnavailable. Closing twice is
// harmless.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.values, s.indexes, s.locks = nil, nil, nil
	s.mu.Unlock()

	close(s.stop)
	<-s.sweeperDone

	s.psMu.Lock()
	var all []*subscription
	for _, set := range s.subs {
		for sub := range set {
			all = append(all, sub)
		}
	}
	s.subs = nil
	s.psMu.Unlock()
	for _, sub := range all {
		_ = sub.Close()
	}
	return nil
}

func (s *Store) sweepEvery(interval time.Duration) {
	defer close(s.sweeperDone)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.sweep()
		}
	}
}

// sweep drops every expired entry. It holds the lock for one pass over the
// maps, which is fine at the sizes one process holds.
func (s *Store) sweep() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	now := s.now()
	for k, v := range s.values {
		if expired(v.expires, now) {
			delete(s.values, k)
		}
	}
	for k, ix := range s.indexes {
		if expired(ix.expires, now) {
			delete(s.indexes, k)
		}
	}
	for k, l := range s.locks {
		if expired(l.expires, now) {
			delete(s.locks, k)
		}
	}
}

// begin checks what every operation checks first and takes the lock. On
// error the lock is not held.
func (s *Store) begin(ctx context.Context) (time.Time, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, ctxErr(err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return time.Time{}, errClosed
	}
	return s.now(), nil
}

// ctxErr reports an ended context as ErrUnavailable, as a Redis timeout
// is, so that callers have one error to branch on; the cause stays
// visible to errors.Is.
func ctxErr(err error) error {
	return fmt.Errorf("memstore: %w: %w", store.ErrUnavailable, err)
}

func expired(expires, now time.Time) bool { return !now.Before(expires) }

func validTTL(ttl time.Duration) error {
	if err := storekit.ValidTTL(ttl); err != nil {
		return fmt.Errorf("memstore: %w", err)
	}
	return nil
}

var errEmptyOwner = errors.New("memstore: lock owner must not be empty; use store.NewOwner")
