package session

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/tenantgate/tenantgate/store"
)

// Query selects sessions to list: a tenant's, or with HomeAccountID one
// user's in that tenant.
type Query struct {
	TenantID      string
	HomeAccountID string
	// Cursor continues a listing from Page.Next; empty starts it.
	Cursor string
	// Limit bounds the page. Default 100, at most 1000.
	Limit int
}

// Page is one page of a listing, soonest absolute expiry first.
type Page struct {
	Sessions []Info
	// Next is the cursor of the following page; empty at the end.
	Next string
}

// List returns a page of live sessions from the tenant or user index,
// never scanning keys. Members whose session has gone (expired, revoked)
// are dropped from the index on the way.
func (m *Manager) List(ctx context.Context, q Query) (Page, error) {
	if q.TenantID == "" {
		return Page{}, errors.New("session: List needs a tenant ID")
	}
	ix := m.tenantIndex(q.TenantID)
	if q.HomeAccountID != "" {
		ix = m.userIndex(q.TenantID, q.HomeAccountID)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	after, err := parseCursor(q.Cursor)
	if err != nil {
		return Page{}, err
	}
	if _, err := m.st.IndexTrim(ctx, ix, score(m.now())); err != nil {
		return Page{}, fmt.Errorf("session: listing sessions: %w", err)
	}
	members, more, err := m.rangeAfter(ctx, ix, after, limit)
	if err != nil {
		return Page{}, fmt.Errorf("session: listing sessions: %w", err)
	}
	var page Page
	var gone []string
	for _, mb := range members {
		if !validHandle(mb.Name) { // not written by this package: never turned into a key
			gone = append(gone, mb.Name)
			continue
		}
		rec, _, err := m.peek(ctx, mb.Name)
		switch {
		case errors.Is(err, ErrNoSession):
			if m.settled(mb) {
				gone = append(gone, mb.Name)
			}
		case err != nil:
			return Page{}, fmt.Errorf("session: listing sessions: %w", err)
		default:
			page.Sessions = append(page.Sessions, rec.info)
		}
	}
	if len(gone) > 0 {
		if err := m.st.IndexRemove(ctx, ix, gone...); err != nil {
			return Page{}, fmt.Errorf("session: listing sessions: %w", err)
		}
	}
	if more && len(members) > 0 {
		page.Next = formatCursor(members[len(members)-1])
	}
	return page, nil
}

// rangeAfter returns up to limit members ordered after the cursor, and
// whether more follow. Members of equal score are ordered by name, so
// those at the cursor's score up to its name are skipped; the window grows
// when many share a score.
func (m *Manager) rangeAfter(ctx context.Context, ix string, after *store.Member, limit int) ([]store.Member, bool, error) {
	lo := math.Inf(-1)
	if after != nil {
		lo = after.Score
	}
	for n := limit + 1; ; n *= 2 {
		ms, err := m.st.IndexRange(ctx, ix, lo, math.Inf(1), n)
		if err != nil {
			return nil, false, err
		}
		full := len(ms) == n
		if after != nil {
			i := 0
			for i < len(ms) && ms[i].Score == after.Score && ms[i].Name <= after.Name {
				i++
			}
			ms = ms[i:]
		}
		if len(ms) > limit {
			return ms[:limit], true, nil
		}
		if !full {
			return ms, false, nil
		}
	}
}

func formatCursor(mb store.Member) string {
	return strconv.FormatInt(int64(mb.Score), 10) + "." + mb.Name
}

func parseCursor(c string) (*store.Member, error) {
	if c == "" {
		return nil, nil
	}
	s, name, ok := strings.Cut(c, ".")
	ms, err := strconv.ParseInt(s, 10, 64)
	if !ok || err != nil || !validHandle(name) {
		return nil, errors.New("session: the list cursor is not one List returned: start again with an empty cursor")
	}
	return &store.Member{Name: name, Score: float64(ms)}, nil
}

// Lookup returns one session's metadata by its handle. It returns
// ErrNoSession if the session is gone.
func (m *Manager) Lookup(ctx context.Context, handle string) (Info, error) {
	if !validHandle(handle) {
		return Info{}, ErrNoSession
	}
	rec, _, err := m.peek(ctx, handle)
	if err != nil {
		return Info{}, err
	}
	return rec.info, nil
}

// Revoke deletes one session by its handle. Every replica refuses it from
// then on: the store's L1 is kept coherent by the store's invalidations.
// Revoking a session that is gone is not an error.
func (m *Manager) Revoke(ctx context.Context, handle string) error {
	if !validHandle(handle) {
		return nil
	}
	if _, err := m.revoke(ctx, handle); err != nil {
		return fmt.Errorf("session: revoking session %s: %w", short(handle), err)
	}
	return nil
}

// RevokeUser deletes every session of one user in one tenant and returns
// how many there were.
func (m *Manager) RevokeUser(ctx context.Context, tenantID, homeAccountID string) (int, error) {
	return m.revokeIndex(ctx, m.userIndex(tenantID, homeAccountID))
}

// RevokeTenant deletes every session of a tenant and returns how many
// there were. A session created while it runs may survive it; running it
// again once that creation is done ends that session too.
func (m *Manager) RevokeTenant(ctx context.Context, tenantID string) (int, error) {
	return m.revokeIndex(ctx, m.tenantIndex(tenantID))
}

func (m *Manager) revokeIndex(ctx context.Context, ix string) (int, error) {
	n := 0
	for {
		ms, err := m.st.IndexRange(ctx, ix, math.Inf(-1), math.Inf(1), 500)
		if err != nil {
			return n, fmt.Errorf("session: revoking sessions: %w", err)
		}
		var names []string
		for _, mb := range ms {
			if !validHandle(mb.Name) {
				names = append(names, mb.Name)
				continue
			}
			existed, err := m.revoke(ctx, mb.Name)
			if err != nil {
				return n, fmt.Errorf("session: revoking sessions: %w", err)
			}
			if existed {
				n++
			}
			// A member without its record is kept while its session may
			// still be being created, so that a revocation run again (ops
			// runs it twice) finds the record once it lands.
			if existed || m.settled(mb) {
				names = append(names, mb.Name)
			}
		}
		if len(names) == 0 {
			return n, nil // nothing left but sessions being created
		}
		// The record named its indexes; this removes members whose record
		// was already gone as well.
		if err := m.st.IndexRemove(ctx, ix, names...); err != nil {
			return n, fmt.Errorf("session: revoking sessions: %w", err)
		}
	}
}

// createGrace is how long after a session's creation an index member may
// lack its record: Create adds the members first and writes the record
// after, so that a session that exists can always be found. Before then,
// listing and revocation leave such a member in place, or they would
// unindex a session about to exist, which no listing would show and no
// revocation by tenant or user would reach.
const createGrace = time.Minute

// settled reports whether mb's session was created longer than
// createGrace ago (its score is its absolute expiry).
func (m *Manager) settled(mb store.Member) bool {
	created := time.UnixMilli(int64(mb.Score)).Add(-m.o.AbsoluteTimeout)
	return m.o.Now().Sub(created) > createGrace
}

// revoke deletes the session under handle and its index members, and
// reports whether there was one.
func (m *Manager) revoke(ctx context.Context, handle string) (bool, error) {
	key := m.key(handle)
	data, _, err := m.st.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	rec, err := decodeRecord(m.sealer, key, data, m.o.MaxRecordBytes)
	if err != nil {
		// Unreadable: its indexes are unknown, and they drop the member
		// when they list it.
		return false, m.st.Delete(ctx, key)
	}
	rec.info.Handle = handle
	return m.remove(ctx, rec)
}

// remove deletes a record's key, then its index members.
func (m *Manager) remove(ctx context.Context, rec *record) (bool, error) {
	i := rec.info
	if err := m.st.Delete(ctx, m.key(i.Handle)); err != nil {
		return false, err
	}
	m.decoded.drop(i.Handle)
	m.revoked.Add(1)
	for _, ix := range []string{m.tenantIndex(i.TenantID), m.userIndex(i.TenantID, i.HomeAccountID)} {
		if err := m.st.IndexRemove(ctx, ix, i.Handle); err != nil {
			return true, err
		}
	}
	return true, nil
}
