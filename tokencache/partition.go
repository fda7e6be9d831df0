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

// partition is the cache.ExportReplace that one MSAL client uses. It is
// bound to one partition key (the first one MSAL names) and refuses any
// other, so one client can never mix two users' tokens. It is used under
// its pool entry's lock only.
type partition struct {
	c      *Cache
	prefix string // the client's key prefix: tg1:tc:{clientID}:
	// tenant is the tenant the partition's tokens belong to, which names
	// its key. "" until bound when the authority names no tenant: then it
	// is the account's (see storeKey).
	tenant string
	// rehomeFrom is the authority's segment when it names no tenant
	// (organizations, common): MSAL files tokens under that segment, and
	// Export moves them to tenant.
	rehomeFrom string
	pk         string // MSAL's partition key, "" until bound
	key        string // the store key
	owner      string // the home account ID entries must carry; "" for the app
	loaded     bool   // the MSAL client holds the state of base
	// base is the stored state the client's state came from.
	base basis
	// plain is the serialization base holds, to skip unchanged writes.
	plain []byte
	// queued: the client's state includes one waiting in the write-behind
	// queue, which a successful write of this partition therefore lands.
	queued bool
	// signedOut: base is a sign-out's tombstone, loaded as an empty
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
	key, owner, tenant, err := storeKey(p.prefix, p.tenant, pk)
	if err != nil {
		return err
	}
	p.pk, p.key, p.owner, p.tenant = pk, key, owner, tenant
	return nil
}

// storeKey maps MSAL's partition key to a readable store key, named by
// the tenant the tokens belong to:
//
//   - the app's partition ({clientID}_{tenant}[_{hash}]_AppTokenCache) to
//     {prefix}{tenant}:app[:{hash}], tenant being the one MSAL was asked
//     for (the authority's, or WithTenantID's);
//   - a user's (uid.utid) to {prefix}{tenant}:u:{uid.utid}, tenant being
//     the one given (the authority's, or WithTenantID's), or, when none is
//     (an organizations or common authority), the account's home tenant
//     utid: the tenant such a sign-in lands in. MSAL's exported account
//     names the authority's segment as its realm ("organizations"), so
//     it cannot tell.
//
// So a client for the user's tenant reads and signs out what an
// organizations client stored, and tokens of another tenant never land
// under this one's key.
func storeKey(prefix, tenant, pk string) (key, owner, keyTenant string, err error) {
	if pk == "" || strings.ContainsAny(pk, " :\r\n\x00") {
		return "", "", "", fmt.Errorf("tokencache: MSAL asked for partition %q, which tenantgate does not store (on-behalf-of results are cached separately)", pk)
	}
	if base, ok := strings.CutSuffix(pk, "_AppTokenCache"); ok {
		parts := strings.Split(base, "_")
		if len(parts) < 2 || len(parts) > 3 || parts[1] == "" {
			return "", "", "", fmt.Errorf("tokencache: MSAL asked for app partition %q, which tenantgate cannot name", pk)
		}
		t := strings.ToLower(parts[1])
		key = prefix + t + ":app"
		if len(parts) == 3 {
			// Extra body parameters add a hash component, which keeps its own key.
			key += ":" + parts[2]
		}
		return key, "", t, nil
	}
	if tenant == "" {
		_, utid, ok := strings.Cut(pk, ".")
		if !ok || utid == "" || strings.Contains(utid, ".") {
			return "", "", "", fmt.Errorf("tokencache: home account ID %q is not uid.utid; pass the account's HomeAccountID", pk)
		}
		tenant = strings.ToLower(utid)
	}
	return prefix + tenant + ":u:" + pk, pk, tenant, nil
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
		if p.loaded && ctx.Err() == nil {
			// Redis is down but this process holds the partition: serve it.
			p.c.stats.servedLocal.Add(1)
			return nil
		}
		return fmt.Errorf("tokencache: read partition %s: %w", p.key, err)
	}
	if p.loaded && v == p.base.version {
		p.c.stats.stateHits.Add(1)
		return nil
	}
	plain, live, signedOut := emptyCache, false, false
	if v != 0 {
		switch plain, err = p.c.open(p.key, sealed); {
		case err != nil:
			plain = emptyCache
		case isTombstone(plain):
			plain, signedOut = emptyCache, true
		default:
			live = true
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
		plain, live = emptyCache, false
	}
	p.loaded, p.base, p.plain, p.queued, p.signedOut = true, basis{version: v, live: live}, plain, false, signedOut
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
	rehomed := false
	if p.rehomeFrom != "" && p.owner != "" {
		if rehomed, err = ours.rehome(p.rehomeFrom, p.tenant); err != nil {
			return err
		}
		if rehomed {
			if data, err = ours.marshal(); err != nil {
				return err
			}
		}
	}
	res, err := p.c.write(ctx, p.key, p.base, data, ours, newerSide)
	switch {
	case errors.Is(err, store.ErrUnavailable):
		// The caller gets its token; the state is written when Redis answers.
		p.c.wb.queue(p.key, data, ours, p.base)
		p.loaded, p.plain, p.queued = !rehomed, data, true
		return nil
	case err != nil:
		p.loaded = false
		return err
	case res.signedOut:
		if p.queued {
			p.c.wb.cancel(p.key)
		}
		p.loaded, p.base, p.plain, p.queued = false, basis{}, nil, false
		return nil
	}
	if p.queued {
		p.c.wb.supersede(p.key)
	}
	p.base, p.queued = basis{version: res.version, live: true}, false
	if res.merged || rehomed {
		// What is stored now differs from what the client holds: reload next time.
		p.loaded, p.plain = false, nil
	} else {
		p.loaded, p.plain = true, data
	}
	return nil
}

var _ cache.ExportReplace = (*partition)(nil)
