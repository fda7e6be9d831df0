package tokencache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"

	"github.com/tenantgate/tenantgate/store"
)

// emptyCache is what MSAL must be given for an absent partition: without it
// Replace would leave the previous partition's tokens in the client, and
// the next Export would write them under this partition's key.
var emptyCache = []byte("{}")

// tombstonePrefix starts the value sign-out leaves instead of deleting a
// partition, so that a replica that read the partition before the sign-out
// cannot write the tokens back by merging into an absent key.
const tombstonePrefix = `{"tg_signed_out":`

func isTombstone(plain []byte) bool { return bytes.HasPrefix(plain, []byte(tombstonePrefix)) }

// maxCASAttempts bounds the merge-and-retry loop of a contended write.
const maxCASAttempts = 8

// partition is the cache.ExportReplace that one MSAL client uses. It is
// bound to one partition key (the first one MSAL names) and refuses any
// other, so one client can never mix two users' tokens. It is used under
// its pool entry's lock only.
type partition struct {
	c      *Cache
	scope  string // the key prefix of the client: tg1:tc:{clientID}:{tenant}:
	pk     string // MSAL's partition key, "" until bound
	key    string // the store key
	owner  string // the home account ID entries must carry; "" for the app
	loaded bool   // the MSAL client holds the state of version
	// version is the stored version the client's state came from (0: absent).
	version uint64
	// plain is the serialization that version holds, to skip unchanged writes.
	plain []byte
	// signedOut: version is a sign-out's tombstone, loaded as an empty
	// cache. Only a sign-in (signIn) may write over it: MSAL re-reads the
	// partition before writing a refreshed token, so a refresh that was at
	// the IdP during the sign-out would otherwise write the user back in.
	signedOut, signIn bool
}

// bind fixes the partition on first use and checks it on every later one.
func (p *partition) bind(pk string) error {
	if p.pk == pk && p.key != "" {
		return nil
	}
	if p.key != "" {
		return fmt.Errorf("tokencache: a client bound to partition %q was asked for %q; clients are never shared between partitions", p.pk, pk)
	}
	key, owner, err := storeKey(p.scope, pk)
	if err != nil {
		return err
	}
	p.pk, p.key, p.owner = pk, key, owner
	return nil
}

// storeKey maps MSAL's partition key to a readable store key: the app
// partition ({clientID}_{tenant}[_{hash}]_AppTokenCache) to …:app[:hash],
// a user's (uid.utid) to …:u:{uid.utid}.
func storeKey(scope, pk string) (key, owner string, err error) {
	if pk == "" || strings.ContainsAny(pk, " \r\n") {
		return "", "", fmt.Errorf("tokencache: MSAL asked for partition %q, which tenantgate does not store (on-behalf-of results are cached separately)", pk)
	}
	if base, ok := strings.CutSuffix(pk, "_AppTokenCache"); ok {
		// Extra body parameters add a hash component, which keeps its own key.
		parts := strings.Split(base, "_")
		if len(parts) >= 3 {
			return scope + "app:" + parts[len(parts)-1], "", nil
		}
		return scope + "app", "", nil
	}
	return scope + "u:" + pk, pk, nil
}

// Replace loads the partition into the MSAL client, unless the client
// already holds the stored version: the common case, which then costs one
// L1 read and no parsing.
func (p *partition) Replace(ctx context.Context, u cache.Unmarshaler, hints cache.ReplaceHints) error {
	if err := p.bind(hints.PartitionKey); err != nil {
		return err
	}
	sealed, v, err := p.c.kv.Get(ctx, p.key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		v = 0
	case err != nil:
		if p.loaded {
			// Redis is down but this process holds the partition: serve it.
			p.c.stats.servedLocal.Add(1)
			return nil
		}
		return fmt.Errorf("tokencache: read partition %s: %w", p.key, err)
	}
	if p.loaded && v == p.version {
		p.c.stats.hits.Add(1)
		return nil
	}
	plain := emptyCache
	signedOut := false
	if v != 0 {
		if plain, err = p.c.open(p.key, sealed); err != nil {
			plain = emptyCache
		} else if isTombstone(plain) {
			plain, signedOut = emptyCache, true
		}
	}
	if v == 0 {
		p.c.stats.misses.Add(1)
	} else {
		p.c.stats.loads.Add(1)
	}
	if err := u.Unmarshal(plain); err != nil {
		p.loaded = false
		p.c.stats.refusedOpen.Add(1)
		p.c.o.Logger.Warn("tokencache: stored partition is not an MSAL cache; treated as absent", slog.String("key", p.key))
		if err := u.Unmarshal(emptyCache); err != nil {
			return fmt.Errorf("tokencache: reset partition %s: %w", p.key, err)
		}
		plain = emptyCache
	}
	p.loaded, p.version, p.plain, p.signedOut = true, v, plain, signedOut
	return nil
}

// Export writes the client's state if it changed. MSAL calls it after every
// network acquisition, changed or not.
func (p *partition) Export(ctx context.Context, m cache.Marshaler, hints cache.ExportHints) error {
	if err := p.bind(hints.PartitionKey); err != nil {
		return err
	}
	data, err := m.Marshal()
	if err != nil {
		return fmt.Errorf("tokencache: serialize partition %s: %w", p.key, err)
	}
	if p.loaded && bytes.Equal(data, p.plain) {
		p.c.stats.skippedWrites.Add(1)
		return nil
	}
	if p.loaded && p.signedOut && !p.signIn {
		// Tokens refreshed from before a sign-out: they must not come back.
		p.c.stats.droppedAfterSignOut.Add(1)
		p.loaded = false
		return nil
	}
	ours, err := parseBlob(data)
	if err == nil {
		err = ours.checkAccounts(p.owner)
	}
	if err != nil {
		p.loaded = false // the client's state is not what is stored: reload next time
		p.c.stats.refusedForeign.Add(1)
		p.c.o.Logger.Error("tokencache: refused to write a partition", slog.String("key", p.key), slog.Any("err", err))
		return err
	}
	nv, merged, err := p.c.write(ctx, p.key, p.version, data, ours)
	switch {
	case errors.Is(err, store.ErrUnavailable):
		// The caller gets its token; the state is written when Redis answers.
		p.c.queue(p.key, data, ours)
		p.loaded, p.plain = true, data
		return nil
	case err != nil:
		p.loaded = false
		return err
	case merged:
		// What is stored now is more than the client holds: reload next time.
		p.loaded, p.version, p.plain = false, nv, nil
	default:
		p.loaded, p.version, p.plain = true, nv, data
	}
	return nil
}

// write stores data under key over version, merging with whatever another
// writer stored meanwhile. merged reports that the stored value differs from
// data.
func (c *Cache) write(ctx context.Context, key string, version uint64, data []byte, ours blob) (nv uint64, merged bool, err error) {
	for attempt := 0; attempt < maxCASAttempts; attempt++ {
		sealed, err := c.sealer.Seal(data, key)
		if err != nil {
			return 0, false, fmt.Errorf("tokencache: seal %s: %w", key, err)
		}
		nv, err = c.kv.CompareAndSet(ctx, key, version, sealed, ours.ttl(c.o.Now(), c.o.RefreshTokenTTL))
		if err == nil {
			c.stats.writes.Add(1)
			return nv, merged, nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return 0, false, fmt.Errorf("tokencache: write %s: %w", key, err)
		}
		c.stats.conflicts.Add(1)
		cur, cv, err := c.kv.Get(ctx, key)
		var theirs blob
		switch {
		case errors.Is(err, store.ErrNotFound):
			cv, theirs = 0, blob{}
		case err != nil:
			return 0, false, fmt.Errorf("tokencache: re-read %s: %w", key, err)
		default:
			plain, oerr := c.open(key, cur)
			switch {
			case oerr != nil:
				theirs = blob{} // unreadable: overwrite it
			case isTombstone(plain):
				// Signed out since we read: our tokens must not come back.
				c.stats.droppedAfterSignOut.Add(1)
				return cv, true, nil
			default:
				if theirs, err = parseBlob(plain); err != nil {
					theirs = blob{}
				}
			}
		}
		ours = merge(ours, theirs)
		if data, err = ours.marshal(); err != nil {
			return 0, false, err
		}
		version, merged = cv, true
		c.stats.merges.Add(1)
	}
	return 0, false, fmt.Errorf("tokencache: write %s: still conflicting after %d attempts: %w", key, maxCASAttempts, store.ErrConflict)
}

// open unseals a stored partition; a value that fails to open (copied from
// another key, corrupted, sealed with an unknown key) is counted, logged
// with its key and treated as absent.
func (c *Cache) open(key string, sealed []byte) ([]byte, error) {
	plain, err := c.sealer.Open(sealed, key)
	if err != nil {
		c.stats.refusedOpen.Add(1)
		c.o.Logger.Warn("tokencache: stored partition does not open; treated as absent", slog.String("key", key), slog.Any("err", err))
		return nil, err
	}
	return plain, nil
}

// signOut replaces a user's partition with a tombstone.
func (c *Cache) signOut(ctx context.Context, key string) error {
	sealed, err := c.sealer.Seal(fmt.Appendf(nil, "%s%d}", tombstonePrefix, c.o.Now().Unix()), key)
	if err != nil {
		return err
	}
	for attempt := 0; attempt < maxCASAttempts; attempt++ {
		_, v, err := c.kv.Get(ctx, key)
		if errors.Is(err, store.ErrNotFound) {
			v = 0
		} else if err != nil {
			return fmt.Errorf("tokencache: sign out %s: %w", key, err)
		}
		_, err = c.kv.CompareAndSet(ctx, key, v, sealed, c.o.TombstoneTTL)
		if !errors.Is(err, store.ErrConflict) {
			if err != nil {
				return fmt.Errorf("tokencache: sign out %s: %w", key, err)
			}
			return nil
		}
	}
	return fmt.Errorf("tokencache: sign out %s: %w", key, store.ErrConflict)
}

var _ cache.ExportReplace = (*partition)(nil)
