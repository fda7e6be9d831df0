package tokencache_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"

	"github.com/tenantgate/tenantgate/store"
)

// The designs tenantgate's tokencache replaces, as MSAL Go cache.ExportReplace
// implementations over a store.KV. Tests show what goes wrong with them (see
// msalfacts_test.go); benchmarks compare against them.

// naiveTTL is how long the naive accessors keep what they write.
const naiveTTL = 24 * time.Hour

// emptyMSALCache is the serialization of an empty MSAL cache.
var emptyMSALCache = []byte("{}")

// naiveAccessor is the obvious Redis cache for MSAL Go: one store key per
// MSAL partition key (prefix + partition key), Replace loads it into the
// client, Export writes the client's whole cache back, unversioned: the last
// writer wins. It keeps no state of its own, so one accessor may serve many
// clients, or one client shared by concurrent callers (which is wrong: see
// TestMSALFact01SharedClientLosesTokens).
//
// With emptyOnMiss false it reproduces the second classic mistake: a
// Replace of a missing partition leaves the client's previous cache in
// place, and the next Export writes it under the new partition's key.
type naiveAccessor struct {
	kv          store.KV
	prefix      string
	emptyOnMiss bool

	// Counters, for tests and benchmarks.
	replaces atomic.Int64 // Replace calls
	misses   atomic.Int64 // of those, for an absent partition
	exports  atomic.Int64 // Export calls
	writes   atomic.Int64 // store writes (every Export writes)
}

var _ cache.ExportReplace = (*naiveAccessor)(nil)

// newNaiveAccessor returns a naive accessor keeping partition pk at
// prefix+pk in kv. emptyOnMiss makes Replace of an absent partition
// unmarshal {} (the fix for MSAL fact 2).
func newNaiveAccessor(kv store.KV, prefix string, emptyOnMiss bool) *naiveAccessor {
	return &naiveAccessor{kv: kv, prefix: prefix, emptyOnMiss: emptyOnMiss}
}

// key is where partition pk is stored.
func (a *naiveAccessor) key(pk string) string { return a.prefix + pk }

func (a *naiveAccessor) Replace(ctx context.Context, u cache.Unmarshaler, hints cache.ReplaceHints) error {
	a.replaces.Add(1)
	data, _, err := a.kv.Get(ctx, a.key(hints.PartitionKey))
	switch {
	case errors.Is(err, store.ErrNotFound):
		a.misses.Add(1)
		if a.emptyOnMiss {
			return u.Unmarshal(emptyMSALCache)
		}
		return nil
	case err != nil:
		return fmt.Errorf("naive cache: read %s: %w", a.key(hints.PartitionKey), err)
	}
	return u.Unmarshal(data)
}

func (a *naiveAccessor) Export(ctx context.Context, m cache.Marshaler, hints cache.ExportHints) error {
	a.exports.Add(1)
	data, err := m.Marshal()
	if err != nil {
		return err
	}
	if err := overwrite(ctx, a.kv, a.key(hints.PartitionKey), data); err != nil {
		return fmt.Errorf("naive cache: write %s: %w", a.key(hints.PartitionKey), err)
	}
	a.writes.Add(1)
	return nil
}

// overwrite is an unversioned SET on a store that only offers
// compare-and-set: whatever is stored is replaced, last writer wins.
func overwrite(ctx context.Context, kv store.KV, key string, data []byte) error {
	for {
		_, v, err := kv.Get(ctx, key)
		if errors.Is(err, store.ErrNotFound) {
			v = 0
		} else if err != nil {
			return err
		}
		_, err = kv.CompareAndSet(ctx, key, v, data, naiveTTL)
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
}

// tenantBlobAccessor is the seed system's design (MSAL Node + Redis,
// shared/seed/000_ce07ad586eb5f13f.txt) in Go: ONE blob per tenant holding
// every user's tokens (and the app's), read and unmarshaled on every
// Replace whatever the partition, and written back on Export when the
// serialized cache differs from what was last read or written (MSAL Node's
// cacheHasChanged; MSAL Go has no such flag). One shared client per tenant
// is then safe, since every partition is the same blob, but every call pays
// for parsing every user's tokens of the tenant, and concurrent replicas
// overwrite each other's writes.
type tenantBlobAccessor struct {
	kv  store.KV
	key string

	mu   sync.Mutex
	last []byte // the blob as last read or written

	replaces atomic.Int64
	exports  atomic.Int64
	writes   atomic.Int64
}

var _ cache.ExportReplace = (*tenantBlobAccessor)(nil)

// newTenantBlobAccessor returns an accessor keeping a tenant's whole MSAL
// cache under key.
func newTenantBlobAccessor(kv store.KV, key string) *tenantBlobAccessor {
	return &tenantBlobAccessor{kv: kv, key: key}
}

func (a *tenantBlobAccessor) Replace(ctx context.Context, u cache.Unmarshaler, _ cache.ReplaceHints) error {
	a.replaces.Add(1)
	data, _, err := a.kv.Get(ctx, a.key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil // as the seed: nothing stored, nothing to deserialize
	case err != nil:
		return fmt.Errorf("tenant blob cache: read %s: %w", a.key, err)
	}
	if err := u.Unmarshal(data); err != nil {
		return err
	}
	a.mu.Lock()
	a.last = data
	a.mu.Unlock()
	return nil
}

func (a *tenantBlobAccessor) Export(ctx context.Context, m cache.Marshaler, _ cache.ExportHints) error {
	a.exports.Add(1)
	data, err := m.Marshal()
	if err != nil {
		return err
	}
	a.mu.Lock()
	unchanged := bytes.Equal(data, a.last)
	a.mu.Unlock()
	if unchanged {
		return nil
	}
	if err := overwrite(ctx, a.kv, a.key, data); err != nil {
		return fmt.Errorf("tenant blob cache: write %s: %w", a.key, err)
	}
	a.writes.Add(1)
	a.mu.Lock()
	a.last = data
	a.mu.Unlock()
	return nil
}
