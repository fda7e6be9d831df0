package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/redis/rueidis"

	"github.com/tenantgate/tenantgate/internal/storekit"
	"github.com/tenantgate/tenantgate/store"
)

// Store keeps the store contract on Redis. It is safe for concurrent use.
type Store struct {
	o     Options
	c     rueidis.Client
	mode  Mode
	where string // the redacted address, for errors
	l1    *l1    // every mode but off
	inv   string // the invalidation channel of the pubsub mode

	stop    context.CancelFunc
	wg      sync.WaitGroup
	closing sync.Once

	hits, misses, invalidations, flushes, corrupt atomic.Uint64
}

var _ store.Store = (*Store)(nil)

// Stats are counters since New.
type Stats struct {
	Mode          Mode
	L1Hits        uint64 // reads served without a round trip
	L1Misses      uint64 // reads that asked Redis (always, in ModeOff)
	Invalidations uint64 // invalidations received (pubsub messages, tracking pushes)
	Flushes       uint64 // whole-L1 flushes after a lost subscriber or connection
	Corrupt       uint64 // values not in the store's format, treated as absent
	L1Entries     int    // entries held now
	L1Bytes       int64  // approximate bytes held now
}

// Stats returns the counters.
func (s *Store) Stats() Stats {
	st := Stats{
		Mode: s.mode, L1Hits: s.hits.Load(), L1Misses: s.misses.Load(),
		Invalidations: s.invalidations.Load(), Flushes: s.flushes.Load(), Corrupt: s.corrupt.Load(),
	}
	if s.l1 != nil {
		st.L1Entries, st.L1Bytes = s.l1.size()
	}
	return st
}

// Mode is the L1 mode chosen at start-up.
func (s *Store) Mode() Mode { return s.mode }

// Client is the underlying rueidis client, for commands the contract does
// not cover (operations tooling). Writes through it bypass the L1's
// invalidation in pubsub mode.
func (s *Store) Client() rueidis.Client { return s.c }

// Close stops the invalidation subscriber and closes the connections.
func (s *Store) Close() error {
	s.closing.Do(func() {
		if s.stop != nil {
			s.stop()
		}
		s.wg.Wait()
		s.c.Close()
	})
	return nil
}

func (s *Store) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.o.OpTimeout)
}

// unavailable wraps a failure to reach or use Redis. Keys name tenants and
// hashes, never secrets, so they may appear in errors.
func (s *Store) unavailable(op, key string, err error) error {
	return fmt.Errorf("redisstore: %s %q on %s: %w: %w", op, key, s.where, store.ErrUnavailable, err)
}

const versionLen = 16

func formatVersion(v uint64) string {
	const hexdigits = "0123456789abcdef"
	var b [versionLen]byte
	for i := versionLen - 1; i >= 0; i-- {
		b[i] = hexdigits[v&0xf]
		v >>= 4
	}
	return string(b[:])
}

// decode splits a stored value. It does not copy: the bytes alias the
// string, which may be shared with the L1, hence the contract's rule that
// callers never modify what Get returns.
func decode(stored string) (data []byte, version uint64, ok bool) {
	if len(stored) < versionLen {
		return nil, 0, false
	}
	v, err := strconv.ParseUint(stored[:versionLen], 16, 64)
	if err != nil || v == 0 {
		return nil, 0, false
	}
	rest := stored[versionLen:]
	if len(rest) == 0 {
		return []byte{}, v, true
	}
	return unsafe.Slice(unsafe.StringData(rest), len(rest)), v, true
}

// Get reads key through the L1.
func (s *Store) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	// A caller that has given up gets no answer, not even a local one:
	// the same call must not succeed or fail by what the L1 holds.
	if err := ctx.Err(); err != nil {
		return nil, 0, s.unavailable("get", key, err)
	}
	var gen uint64
	if s.l1 != nil {
		data, v, g, ok := s.l1.get(key)
		if ok {
			s.hits.Add(1)
			return data, v, nil
		}
		gen = g
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	data, v, expires, err := s.fetch(ctx, key)
	if err != nil {
		return nil, 0, err
	}
	if s.l1 != nil {
		s.l1.fill(key, data, v, gen, expires)
	}
	return data, v, nil
}

// fetch reads key from Redis with a plain GET (in tracking mode the
// server then tracks the key for this connection) and, when there is an
// L1, the key's PTTL in the same round trip: the L1 must not serve a key
// past its expiry, and Redis publishes nothing when a key expires (pubsub)
// or reports it only when it gets round to deleting it (tracking, bcast).
func (s *Store) fetch(ctx context.Context, key string) (data []byte, version uint64, expires time.Time, err error) {
	s.misses.Add(1)
	var resp rueidis.RedisResult
	if s.l1 != nil {
		now := s.o.Now()
		rs := s.c.DoMulti(ctx, s.c.B().Get().Key(key).Build(), s.c.B().Pttl().Key(key).Build())
		resp = rs[0]
		if ms, err := rs[1].AsInt64(); err == nil && ms > 0 {
			expires = now.Add(time.Duration(ms) * time.Millisecond)
		}
	} else {
		resp = s.c.Do(ctx, s.c.B().Get().Key(key).Build())
	}
	str, err := resp.ToString()
	if rueidis.IsRedisNil(err) {
		return nil, 0, time.Time{}, fmt.Errorf("redisstore: get %q: %w", key, store.ErrNotFound)
	}
	if err != nil {
		return nil, 0, time.Time{}, s.unavailable("get", key, err)
	}
	data, version, ok := decode(str)
	if !ok {
		s.corrupt.Add(1)
		s.o.Logger.Warn("redisstore: value is not in the store's format; treated as absent", slog.String("key", key))
		return nil, 0, time.Time{}, fmt.Errorf("redisstore: get %q: value not in the store's format: %w", key, store.ErrNotFound)
	}
	return data, version, expires, nil
}

func ttlMillis(ttl time.Duration) string {
	return strconv.FormatInt(max(1, ttl.Milliseconds()), 10)
}

// CompareAndSet writes key if its version is still version.
func (s *Store) CompareAndSet(ctx context.Context, key string, version uint64, data []byte, ttl time.Duration) (uint64, error) {
	if err := storekit.ValidTTL(ttl); err != nil {
		return 0, err
	}
	now := s.o.Now()
	nv := storekit.NextVersion(version, now)
	want := ""
	if version != 0 {
		want = formatVersion(version)
	}
	val := formatVersion(nv) + string(data)
	ch, msg := s.invalidation(key, nv)
	var gen uint64
	if s.l1 != nil {
		gen = s.l1.generation(key)
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	n, err := casScript.Exec(ctx, s.c, []string{key}, []string{want, val, ttlMillis(ttl), ch, msg}).AsInt64()
	if err != nil {
		return 0, s.unavailable("compare-and-set", key, err)
	}
	if n == 0 {
		// The caller's version came from somewhere, often this L1: a
		// conflict proves that copy old, and a retry must not read it
		// again while its invalidation is still on the way.
		if s.l1 != nil {
			s.l1.forget(key)
		}
		return 0, fmt.Errorf("redisstore: compare-and-set %q: %w", key, store.ErrConflict)
	}
	if s.l1 != nil {
		// In pubsub mode every later write is published to us, so our own
		// value can be served. Under tracking, Redis stops tracking a key
		// for the client that wrote it (and bcast reports our own write
		// back to us): there the write only raises the key's seen
		// version, which keeps every older copy out, and the next read
		// fetches it and is tracked anew.
		s.l1.wrote(key, []byte(val[versionLen:]), nv, now.Add(ttl), s.mode == ModePubSub, gen)
	}
	return nv, nil
}

// invalidation is the channel and message a write of key publishes in
// pubsub mode; none in the other modes, where Redis tracks for us.
func (s *Store) invalidation(key string, version uint64) (channel, msg string) {
	if s.mode != ModePubSub {
		return "", ""
	}
	return s.inv, key + "|" + formatVersion(version)
}

// Delete removes key.
func (s *Store) Delete(ctx context.Context, key string) error {
	_, err := s.take(ctx, "delete", key)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// Take reads and deletes key in one step.
func (s *Store) Take(ctx context.Context, key string) ([]byte, error) {
	return s.take(ctx, "take", key)
}

func (s *Store) take(ctx context.Context, op, key string) ([]byte, error) {
	ch, msg := s.invalidation(key, 0)
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	str, err := delScript.Exec(ctx, s.c, []string{key}, []string{ch, msg}).ToString()
	if s.l1 != nil {
		s.l1.forget(key)
	}
	if rueidis.IsRedisNil(err) {
		return nil, fmt.Errorf("redisstore: %s %q: %w", op, key, store.ErrNotFound)
	}
	if err != nil {
		return nil, s.unavailable(op, key, err)
	}
	data, _, ok := decode(str)
	if !ok {
		s.corrupt.Add(1)
		return nil, fmt.Errorf("redisstore: %s %q: value not in the store's format: %w", op, key, store.ErrNotFound)
	}
	return []byte(string(data)), nil
}
