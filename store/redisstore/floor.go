package redisstore

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// floors gives this process read-your-writes in the tracking modes.
//
// Redis 7 sends the invalidation of a key a client wrote itself after the
// reply to the write, so for a moment the client-side cache still holds the
// old value: a read right after our own compare-and-set would see it. A
// write therefore leaves a floor, the lowest version a read may return for
// a short while; a cached answer below it is fetched again without the
// cache. Floors end when a read reaches them or after floorLife, long after
// any invalidation has arrived.
type floors struct {
	mu  sync.Mutex
	m   map[string]floor
	n   atomic.Int64 // len(m), read without the lock on every Get
	now func() time.Time
}

type floor struct {
	version uint64 // math.MaxUint64 after a delete: any cached value is stale
	until   time.Time
}

const (
	floorLife = time.Second
	// maxFloors bounds the map; past it expired floors are swept.
	maxFloors = 1 << 16
)

const deleted = math.MaxUint64

func newFloors(now func() time.Time) *floors {
	return &floors{m: map[string]floor{}, now: now}
}

func (f *floors) set(key string, version uint64) {
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.m) >= maxFloors {
		for k, fl := range f.m {
			if now.After(fl.until) {
				delete(f.m, k)
			}
			f.n.Store(int64(len(f.m)))
		}
	}
	f.m[key] = floor{version: version, until: now.Add(floorLife)}
	f.n.Store(int64(len(f.m)))
}

// stale reports whether a cached read of key at version (0: absent) is
// older than this process's own last write of it.
func (f *floors) stale(key string, version uint64) bool {
	if f.n.Load() == 0 {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	fl, ok := f.m[key]
	if !ok {
		return false
	}
	if f.now().After(fl.until) || (fl.version != deleted && version >= fl.version) || (fl.version == deleted && version == 0) {
		delete(f.m, key)
		f.n.Store(int64(len(f.m)))
		return false
	}
	return true
}
