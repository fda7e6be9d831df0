package tokencache

import (
	"log/slog"
	"sync"
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
	// were based on its earlier content, and so also how long a state may
	// wait in the write-behind queue. Default 1 hour.
	TombstoneTTL time.Duration
	// PoolBytes bounds the memory of the clients kept per hot partition
	// (about 10 KB each, BenchmarkFootprint). Default 64 MiB; negative: no
	// pool, a new MSAL client per call (slower: it parses every time).
	PoolBytes int64
	// WriteBehindMax bounds the partitions waiting for Redis to come back
	// (each waits at most TombstoneTTL);
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
	wb     *writeBehind
	rf     refresher // the refresh lock's state (refresh.go)

	poolsMu sync.Mutex
	pools   []*pool // every Client's, for Stats
}

// New returns a Cache over kv, sealing every value with sealer.
func New(kv store.KV, sealer Sealer, o Options) *Cache {
	c := &Cache{kv: kv, sealer: sealer, o: o.withDefaults()}
	c.wb = newWriteBehind(c)
	return c
}

// Close stops the background writer after one last attempt (at most 2
// seconds) to write the states still waiting; what still waits then is
// lost, logged and counted in WriteBehindDropped.
func (c *Cache) Close() error {
	c.wb.close(closeFlushTimeout)
	c.rf.close()
	return nil
}
