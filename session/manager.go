package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/tenantgate/tenantgate/store"
)

// Store is what a Manager needs of the shared store: versioned values for
// the records, sorted indexes for the per-tenant and per-user lists.
// redisstore.Store and memstore.Store implement it.
type Store interface {
	store.KV
	store.Index
}

// Errors a caller branches on (with errors.Is).
var (
	// ErrNoSession means the request carries no valid session: no cookie,
	// a malformed or unknown one, an expired, revoked or unreadable
	// record. The user is signed out. A store failure is never this.
	ErrNoSession = errors.New("session: no session: sign in")
	// ErrTooLarge means app values would make the record exceed
	// Options.MaxRecordBytes: store less in the session.
	ErrTooLarge = errors.New("session: the session record would exceed its maximum size: store less in the session")
)

// Manager creates, reads, touches and revokes sessions. It is safe for
// concurrent use, and many Managers (replicas) may share one store.
type Manager struct {
	st         Store
	sealer     Sealer
	o          Options
	cookieName string
	secure     bool
	decoded    *decoded

	created, loaded, touched, touchFailed, rejected, badCookies, expired, revoked, merged atomic.Uint64
}

// Stats are counters since New.
type Stats struct {
	Created     uint64 // sessions created
	Loaded      uint64 // requests that found a live session
	Touched     uint64 // last-seen writes
	TouchFailed uint64 // last-seen writes that failed (the request was still served)
	Rejected    uint64 // stored records refused as corrupt, foreign or oversized
	BadCookies  uint64 // cookie values that are not a session ID
	Expired     uint64 // records found past their idle or absolute expiry
	Revoked     uint64 // sessions deleted by sign-out, replacement or revocation
	Merged      uint64 // value writes re-applied after losing to a concurrent writer
	// DecodedRecords and DecodedBytes are the decoded records kept in
	// memory (Options.DecodedRecords) and an estimate of what they hold,
	// with what callers derived from them (Session.Derived).
	DecodedRecords int
	DecodedBytes   int64
}

// Stats returns the counters.
func (m *Manager) Stats() Stats {
	n, b := m.decoded.size()
	return Stats{DecodedRecords: n, DecodedBytes: b,
		Created: m.created.Load(), Loaded: m.loaded.Load(), Touched: m.touched.Load(), TouchFailed: m.touchFailed.Load(),
		Rejected: m.rejected.Load(), BadCookies: m.badCookies.Load(), Expired: m.expired.Load(), Revoked: m.revoked.Load(), Merged: m.merged.Load(),
	}
}

// New returns a Manager over st, sealing app values with sealer.
func New(st Store, sealer Sealer, o Options) (*Manager, error) {
	if st == nil || sealer == nil {
		return nil, errors.New("session: New needs a store and a sealer (seal.Keyring)")
	}
	o, secure, err := o.resolve()
	if err != nil {
		return nil, err
	}
	m := &Manager{st: st, sealer: sealer, o: o, secure: secure, cookieName: o.CookieName, decoded: newDecoded(o.DecodedRecords, o.DecodedBytes)}
	if secure {
		m.cookieName = "__Host-" + o.CookieName
	}
	if m.o.OnError == nil {
		m.o.OnError = m.unavailable
	}
	return m, nil
}

// CookieName is the session cookie's name, with its "__Host-" prefix when
// the public URL is https.
func (m *Manager) CookieName() string { return m.cookieName }

// Session is one request's view of a session: its metadata and the app's
// values as read. It is a snapshot, not shared between requests; change
// values with Manager.SetValues.
type Session struct {
	Info
	values  map[string]string
	version uint64
	rec     *record // what it was read from (Derived); nil for a new session
}

// Value returns one app value.
func (s *Session) Value(name string) (string, bool) {
	v, ok := s.values[name]
	return v, ok
}

// Values returns a copy of the app values.
func (s *Session) Values() map[string]string { return maps.Clone(s.values) }

func (m *Manager) now() time.Time { return m.o.Now().UTC().Truncate(time.Millisecond) }

func (m *Manager) key(handle string) string { return m.o.Prefix + "s:" + handle }

func (m *Manager) tenantIndex(tenantID string) string { return m.o.Prefix + "s:t:" + tenantID }

func (m *Manager) userIndex(tenantID, homeAccountID string) string {
	return m.o.Prefix + "s:u:" + tenantID + ":" + homeAccountID
}

// Create signs the request in as id: it removes the session the request
// carries, if any, mints a new ID, stores the record and sets the cookie.
// A session ID is never reused across sign-in, tenant switch or sign-out,
// so a cookie planted before sign-in is worthless after it (no fixation).
func (m *Manager) Create(ctx context.Context, w http.ResponseWriter, r *http.Request, id Identity) (*Session, error) {
	if err := id.validate(); err != nil {
		return nil, err
	}
	if old, ok := m.requestID(r); ok {
		if _, err := m.revoke(ctx, old.handle()); err != nil {
			return nil, fmt.Errorf("session: removing the request's previous session before signing in (retry the sign-in once the store answers): %w", err)
		}
	}
	sid := newID()
	now := m.now()
	rec := &record{info: Info{
		Handle:          sid.handle(),
		Identity:        id,
		Created:         now,
		LastSeen:        now,
		IdleExpires:     now.Add(m.o.IdleTimeout),
		AbsoluteExpires: now.Add(m.o.AbsoluteTimeout),
		ClientIP:        truncate(m.o.ClientIP(r), 64),
		UserAgent:       truncate(r.UserAgent(), 256),
		Replica:         m.o.Replica,
	}}
	data, err := m.encode(rec)
	if err != nil {
		return nil, err
	}
	// Indexes first: a session that exists can always be found, and so
	// revoked, by tenant and user. A member without a record is dropped
	// when listed.
	member := store.Member{Name: rec.info.Handle, Score: score(rec.info.AbsoluteExpires)}
	for _, ix := range []string{m.tenantIndex(id.TenantID), m.userIndex(id.TenantID, id.HomeAccountID)} {
		if err := m.st.IndexAdd(ctx, ix, m.o.AbsoluteTimeout, member); err != nil {
			return nil, fmt.Errorf("session: indexing the new session (retry the sign-in once the store answers): %w", err)
		}
	}
	v, err := m.st.CompareAndSet(ctx, m.key(rec.info.Handle), 0, data, rec.info.IdleExpires.Sub(now))
	if err != nil {
		return nil, fmt.Errorf("session: storing the new session (retry the sign-in once the store answers): %w", err)
	}
	m.created.Add(1)
	http.SetCookie(w, m.cookie(sid.cookieValue()))
	return &Session{Info: rec.info, values: rec.values, version: v}, nil
}

// Load returns the request's session. It returns ErrNoSession when there
// is none (or it is expired, revoked or unreadable) and an error wrapping
// store.ErrUnavailable when the store cannot answer: the caller must then
// answer 503, not treat the user as signed out. Load touches the session
// when due (see Options.IdleTimeout); a failed touch is logged and counted,
// and the session is still returned.
func (m *Manager) Load(ctx context.Context, r *http.Request) (*Session, error) {
	sid, ok := m.requestID(r)
	if !ok {
		return nil, ErrNoSession
	}
	handle := sid.handle()
	rec, version, err := m.read(ctx, handle)
	if err != nil {
		return nil, err
	}
	m.loaded.Add(1)
	s := &Session{Info: rec.info, values: rec.values, version: version, rec: rec}
	now := m.now()
	if next := minTime(now.Add(m.o.IdleTimeout), rec.info.AbsoluteExpires); next.Sub(rec.info.IdleExpires) >= m.o.IdleTimeout/10 {
		m.touch(ctx, s, now, next)
	}
	return s, nil
}

// touch writes last-seen and the later idle expiry. Losing to a concurrent
// write is fine: that writer kept the session alive too, or the next
// request touches again.
func (m *Manager) touch(ctx context.Context, s *Session, now, idleExpires time.Time) {
	// The read was served (perhaps by the L1 while Redis hangs): a touch
	// may cost the request a little, never the store's whole timeout.
	ctx, cancel := context.WithTimeout(ctx, touchTimeout)
	defer cancel()
	rec := &record{info: s.Info, values: s.values}
	rec.info.LastSeen, rec.info.IdleExpires = now, idleExpires
	data, err := m.encode(rec)
	if err == nil {
		var v uint64
		v, err = m.st.CompareAndSet(ctx, m.key(s.Handle), s.version, data, idleExpires.Sub(now))
		if err == nil {
			m.touched.Add(1)
			s.Info, s.version, s.rec = rec.info, v, nil // as SetValues: no longer the record read
			return
		}
	}
	if errors.Is(err, store.ErrConflict) {
		return
	}
	m.touchFailed.Add(1)
	m.o.Logger.Warn("session: last-seen not written; the session is served and touched again on its next request",
		slog.String("session", short(s.Handle)), slog.Any("error", err))
}

// read fetches and checks a live record.
func (m *Manager) read(ctx context.Context, handle string) (*record, uint64, error) {
	return m.readKeep(ctx, handle, true)
}

// peek is read for operators' listings: a record it decodes is not kept,
// so that listing a tenant's sessions does not push the sessions serving
// requests out of the decoded records (and their derived values with them).
func (m *Manager) peek(ctx context.Context, handle string) (*record, uint64, error) {
	return m.readKeep(ctx, handle, false)
}

func (m *Manager) readKeep(ctx context.Context, handle string, keep bool) (*record, uint64, error) {
	key := m.key(handle)
	data, version, err := m.st.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, ErrNoSession
	}
	if err != nil {
		return nil, 0, fmt.Errorf("session: reading session %s (answer 503 and keep the session; it works again once the store answers): %w", short(handle), err)
	}
	rec := m.decoded.get(handle, data)
	if rec == nil {
		if rec, err = decodeRecord(m.sealer, key, data, m.o.MaxRecordBytes); err != nil {
			m.decoded.drop(handle)
			m.rejected.Add(1)
			m.o.Logger.Warn("session: stored record refused; treated as no session", slog.String("key", key), slog.String("why", err.Error()))
			return nil, 0, ErrNoSession
		}
		rec.info.Handle = handle
		if keep {
			m.decoded.put(handle, data, rec)
		}
	}
	if !m.now().Before(rec.info.IdleExpires) {
		m.expired.Add(1)
		// Redis expires the key by itself; memstore and a slow clock may
		// still show it, so delete it now. A failure changes nothing: the
		// record is refused whoever reads it.
		_, _ = m.remove(ctx, rec)
		return nil, 0, ErrNoSession
	}
	return rec, version, nil
}

// SetValues sets and removes app values of s in one write. Concurrent
// writers of the same session (two requests, two replicas) lose nothing:
// on a conflict SetValues re-reads the record and applies the same edit,
// field by field, to what is there now. On success s shows the result.
func (m *Manager) SetValues(ctx context.Context, s *Session, set map[string]string, remove ...string) error {
	rec := &record{info: s.Info, values: s.values}
	version := s.version
	for attempt := 0; ; attempt++ {
		next := rec.clone()
		if next.values == nil {
			next.values = make(map[string]string, len(set))
		}
		maps.Copy(next.values, set)
		for _, name := range remove {
			delete(next.values, name)
		}
		if len(next.values) == 0 {
			next.values = nil
		}
		data, err := m.encode(next)
		if err != nil {
			return err
		}
		now := m.now()
		v, err := m.st.CompareAndSet(ctx, m.key(s.Handle), version, data, next.info.IdleExpires.Sub(now))
		if err == nil {
			// s no longer shows the record it was read from: what was
			// derived from that record is not s's any more.
			s.Info, s.values, s.version, s.rec = next.info, next.values, v, nil
			return nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("session: writing values of session %s: %w", s.Short(), err)
		}
		if attempt == maxAttempts {
			return fmt.Errorf("session: writing values of session %s: still conflicting after %d attempts; retry the request: %w", s.Short(), attempt+1, err)
		}
		m.merged.Add(1)
		if err := backoff(ctx, attempt); err != nil {
			return fmt.Errorf("session: writing values of session %s: %w: %w", s.Short(), store.ErrUnavailable, err)
		}
		rec, version, err = m.read(ctx, s.Handle)
		if err != nil {
			return err
		}
	}
}

const maxAttempts = 64

// touchTimeout bounds the last-seen write a request may wait for.
const touchTimeout = 500 * time.Millisecond

// backoff spreads writers that keep colliding: from the third attempt a
// random pause up to 100µs·2^attempt, at most 20ms, so that many writers of
// one session take turns instead of re-reading in lockstep.
func backoff(ctx context.Context, attempt int) error {
	if attempt < 2 {
		return nil
	}
	ceiling := min(100*time.Microsecond<<min(attempt, 10), 20*time.Millisecond)
	t := time.NewTimer(rand.N(ceiling))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Destroy signs the request out: it deletes its session, if any, and
// clears the cookie. When the store fails, the cookie is kept and the
// error returned, so that sign-out can be retried rather than appear done
// while the session stays valid.
func (m *Manager) Destroy(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	if sid, ok := m.requestID(r); ok {
		if _, err := m.revoke(ctx, sid.handle()); err != nil {
			return fmt.Errorf("session: signing out (the session is still valid; retry the sign-out): %w", err)
		}
	}
	http.SetCookie(w, m.cookie(""))
	return nil
}

func (m *Manager) encode(rec *record) ([]byte, error) {
	data, err := encodeRecord(m.sealer, m.key(rec.info.Handle), rec)
	if err != nil {
		return nil, err
	}
	if len(data) > m.o.MaxRecordBytes {
		return nil, ErrTooLarge
	}
	return data, nil
}

// score is an index score: the absolute expiry in Unix milliseconds, exact
// in a float64.
func score(t time.Time) float64 { return float64(t.UnixMilli()) }

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
