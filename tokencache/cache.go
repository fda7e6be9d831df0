package tokencache

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tenantgate/tenantgate/store"
)

// Sealer seals values at rest, bound to the name they are stored under, so
// that a value copied under another user's or tenant's key fails to open.
// seal.Keyring implements it. It must be safe for concurrent use.
type Sealer interface {
	Seal(plaintext []byte, name string) ([]byte, error)
	Open(sealed []byte, name string) ([]byte, error)
}

// Options configure a Cache. The zero value is usable.
type Options struct {
	// Prefix starts every key. Default "tg1:tc:".
	Prefix string
	// RefreshTokenTTL is how long a user partition is kept after its last
	// write: the refresh token's lifetime. Default 90 days, Entra's
	// sliding lifetime for confidential clients.
	RefreshTokenTTL time.Duration
	// TombstoneTTL is how long a signed-out partition refuses writes that
	// were based on its earlier content. Default 1 hour.
	TombstoneTTL time.Duration
	// PoolBytes bounds the memory of the clients kept per hot partition
	// (about 10 KB each, BenchmarkFootprint). Default 64 MiB; negative: no
	// pool, a new MSAL client per call (slower: it parses every time).
	PoolBytes int64
	// WriteBehindMax bounds the partitions waiting for Redis to come back;
	// beyond it the oldest is dropped (and counted). Default 10,000.
	WriteBehindMax int
	// WriteBehindRetry is the first retry delay; it doubles to 5s. Default 100ms.
	WriteBehindRetry time.Duration
	Logger           *slog.Logger
	Now              func() time.Time

	// RefreshLockTTL is the lease of the lock a replica holds on a
	// partition while it redeems the refresh token (refresh.go); it is
	// renewed every third of it while the IdP answers, and bounds how
	// long a crashed holder blocks the others. Default 5s.
	RefreshLockTTL time.Duration
}

func (o Options) withDefaults() Options {
	if o.Prefix == "" {
		o.Prefix = "tg1:tc:"
	}
	if o.RefreshTokenTTL <= 0 {
		o.RefreshTokenTTL = 90 * 24 * time.Hour
	}
	if o.TombstoneTTL <= 0 {
		o.TombstoneTTL = time.Hour
	}
	if o.PoolBytes == 0 {
		o.PoolBytes = 64 << 20
	}
	if o.WriteBehindMax <= 0 {
		o.WriteBehindMax = 10_000
	}
	if o.WriteBehindRetry <= 0 {
		o.WriteBehindRetry = 100 * time.Millisecond
	}
	if o.RefreshLockTTL <= 0 {
		o.RefreshLockTTL = defaultRefreshLockTTL
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Cache is the shared token cache. Build MSAL clients on it with
// NewClient. It is safe for concurrent use; Close stops its background
// writer.
type Cache struct {
	kv     store.KV
	sealer Sealer
	o      Options
	stats  counters
	rf     refresher // the refresh lock's state (refresh.go)

	wbMu    sync.Mutex
	wb      map[string]pendingWrite // key → the newest state not yet written
	wbOrder []string
	wbSeq   uint64
	wbKick  chan struct{}
	stop    context.CancelFunc
	done    chan struct{}
}

type pendingWrite struct {
	data []byte
	blob blob
	seq  uint64 // tells a newer state of the same key from the one being written
}

// New returns a Cache over kv, sealing every value with sealer.
func New(kv store.KV, sealer Sealer, o Options) *Cache {
	ctx, stop := context.WithCancel(context.Background())
	c := &Cache{kv: kv, sealer: sealer, o: o.withDefaults(), wb: map[string]pendingWrite{},
		wbKick: make(chan struct{}, 1), stop: stop, done: make(chan struct{})}
	go c.writeBehind(ctx)
	return c
}

// Close stops the background writer; writes still waiting are lost (and
// were counted as queued).
func (c *Cache) Close() error {
	c.stop()
	<-c.done
	c.rf.close()
	return nil
}

// queue keeps a state that could not be written because the store was
// unavailable, to write it when the store answers again.
func (c *Cache) queue(key string, data []byte, b blob) {
	c.wbMu.Lock()
	if _, ok := c.wb[key]; !ok {
		if len(c.wbOrder) >= c.o.WriteBehindMax {
			oldest := c.wbOrder[0]
			c.wbOrder = c.wbOrder[1:]
			delete(c.wb, oldest)
			c.stats.wbDropped.Add(1)
		}
		c.wbOrder = append(c.wbOrder, key)
	}
	c.wbSeq++
	c.wb[key] = pendingWrite{data: data, blob: b, seq: c.wbSeq}
	c.stats.wbQueued.Add(1)
	c.wbMu.Unlock()
	select {
	case c.wbKick <- struct{}{}:
	default:
	}
}

func (c *Cache) writeBehind(ctx context.Context) {
	defer close(c.done)
	delay := c.o.WriteBehindRetry
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.wbKick:
		case <-retry:
		}
		retry = nil
		if c.flushPending(ctx) {
			delay = c.o.WriteBehindRetry
			continue
		}
		retry = time.After(delay)
		delay = min(2*delay, 5*time.Second)
	}
}

// flushPending writes what waits, oldest first; it reports whether
// everything landed.
func (c *Cache) flushPending(ctx context.Context) bool {
	for {
		c.wbMu.Lock()
		if len(c.wbOrder) == 0 {
			c.wbMu.Unlock()
			return true
		}
		key := c.wbOrder[0]
		p := c.wb[key]
		c.wbMu.Unlock()

		// Merge into whatever is stored now: version 0 first, and the
		// conflict path reads and merges.
		_, _, err := c.write(ctx, key, 0, p.data, p.blob)
		if errors.Is(err, store.ErrUnavailable) || ctx.Err() != nil {
			return false
		}
		c.wbMu.Lock()
		if cur, ok := c.wb[key]; ok && cur.seq == p.seq {
			delete(c.wb, key)
			c.wbOrder = c.wbOrder[1:]
		}
		c.wbMu.Unlock()
		if err != nil {
			c.stats.wbDropped.Add(1)
			c.o.Logger.Error("tokencache: a queued write failed for good", slog.String("key", key), slog.Any("err", err))
			continue
		}
		c.stats.wbLanded.Add(1)
	}
}

// Stats are the cache's counters since New.
type Stats struct {
	Hits                uint64 // MSAL served from a partition already in memory: no read of Redis beyond the L1, no parsing
	Loads               uint64 // partitions read and parsed
	Misses              uint64 // partitions absent
	Writes              uint64 // partitions written
	SkippedWrites       uint64 // exports that changed nothing
	Conflicts           uint64 // compare-and-set conflicts with another writer
	Merges              uint64 // merges after a conflict
	RefusedForeign      uint64 // writes refused: the cache held another account or was malformed
	RefusedOpen         uint64 // stored values that failed to open or parse, treated as absent
	DroppedAfterSignOut uint64 // writes dropped because the user signed out meanwhile
	ServedLocal         uint64 // calls served from memory while the store was unavailable
	WriteBehindQueued   uint64 // states kept because the store was unavailable
	WriteBehindLanded   uint64 // of those, written later
	WriteBehindDropped  uint64 // of those, lost (queue full or write refused)
	WriteBehindPending  int    // waiting now
	OBOHits             uint64 // on-behalf-of results served from tenantgate's own entries
	// The refresh lock (refresh.go).
	RefreshLocks        uint64 // refresh locks taken in the store
	RefreshWaits        uint64 // refreshes that waited for another call's or replica's
	RefreshedElsewhere  uint64 // refreshes not sent: the partition was refreshed meanwhile, and reloaded
	RefreshLockFailures uint64 // refreshes sent without the lock: the store could not lock
	RefreshLockLost     uint64 // locks that lapsed while held (the store was unreachable longer than RefreshLockTTL)
}

// Stats returns the counters. The metrics code registers a Cache through
// this one method.
func (c *Cache) Stats() Stats {
	s := &c.stats
	c.wbMu.Lock()
	pending := len(c.wbOrder)
	c.wbMu.Unlock()
	return Stats{
		Hits: s.hits.Load(), Loads: s.loads.Load(), Misses: s.misses.Load(), Writes: s.writes.Load(),
		SkippedWrites: s.skippedWrites.Load(), Conflicts: s.conflicts.Load(), Merges: s.merges.Load(),
		RefusedForeign: s.refusedForeign.Load(), RefusedOpen: s.refusedOpen.Load(),
		DroppedAfterSignOut: s.droppedAfterSignOut.Load(), ServedLocal: s.servedLocal.Load(),
		WriteBehindQueued: s.wbQueued.Load(), WriteBehindLanded: s.wbLanded.Load(), WriteBehindDropped: s.wbDropped.Load(),
		WriteBehindPending: pending, OBOHits: s.oboHits.Load(),
		RefreshLocks: c.rf.locks.Load(), RefreshWaits: c.rf.waits.Load(), RefreshedElsewhere: c.rf.elsewhere.Load(),
		RefreshLockFailures: c.rf.failures.Load(), RefreshLockLost: c.rf.lost.Load(),
	}
}

type counters struct {
	hits, loads, misses, writes, skippedWrites, conflicts, merges atomic.Uint64
	refusedForeign, refusedOpen, droppedAfterSignOut, servedLocal atomic.Uint64
	wbQueued, wbLanded, wbDropped, oboHits                        atomic.Uint64
}
