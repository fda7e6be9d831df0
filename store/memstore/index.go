package memstore

import (
	"cmp"
	"context"
	"errors"
	"math"
	"slices"
	"time"

	"github.com/tenantgate/tenantgate/store"
)

// index is a map of member scores; ranges sort on demand. Indexes hold a
// tenant's or a user's sessions, so sorting a few thousand members per range
// is cheaper than keeping a balanced tree correct.
type index struct {
	scores  map[string]float64
	expires time.Time
}

var errNaN = errors.New("memstore: index score must be a number, not NaN")

// liveIndex returns the index if it exists and has not expired. s.mu must be
// held.
func (s *Store) liveIndex(name string, now time.Time) *index {
	ix, ok := s.indexes[name]
	if !ok {
		return nil
	}
	if expired(ix.expires, now) {
		delete(s.indexes, name)
		return nil
	}
	return ix
}

func (s *Store) IndexAdd(ctx context.Context, name string, ttl time.Duration, members ...store.Member) error {
	if err := validTTL(ttl); err != nil {
		return err
	}
	for _, m := range members {
		if math.IsNaN(m.Score) {
			return errNaN
		}
	}
	now, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	ix := s.liveIndex(name, now)
	if ix == nil {
		if len(members) == 0 {
			return nil // like ZADD, adding nothing creates nothing
		}
		ix = &index{scores: make(map[string]float64, len(members))}
		s.indexes[name] = ix
	}
	for _, m := range members {
		ix.scores[m.Name] = m.Score
	}
	if exp := now.Add(ttl); exp.After(ix.expires) {
		ix.expires = exp
	}
	return nil
}

func (s *Store) IndexRemove(ctx context.Context, name string, names ...string) error {
	now, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	ix := s.liveIndex(name, now)
	if ix == nil {
		return nil
	}
	for _, n := range names {
		delete(ix.scores, n)
	}
	if len(ix.scores) == 0 {
		delete(s.indexes, name) // an empty sorted set does not exist in Redis either
	}
	return nil
}

// IndexRange orders equal scores by name, as Redis does.
func (s *Store) IndexRange(ctx context.Context, name string, min, max float64, limit int) ([]store.Member, error) {
	now, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	ix := s.liveIndex(name, now)
	var out []store.Member
	if ix != nil {
		for n, sc := range ix.scores {
			if min <= sc && sc <= max {
				out = append(out, store.Member{Name: n, Score: sc})
			}
		}
	}
	s.mu.Unlock() // sort outside the lock
	slices.SortFunc(out, func(a, b store.Member) int {
		if c := cmp.Compare(a.Score, b.Score); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit:limit]
	}
	return out, nil
}

func (s *Store) IndexTrim(ctx context.Context, name string, max float64) (int, error) {
	now, err := s.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	ix := s.liveIndex(name, now)
	if ix == nil {
		return 0, nil
	}
	removed := 0
	for n, sc := range ix.scores {
		if sc <= max {
			delete(ix.scores, n)
			removed++
		}
	}
	if len(ix.scores) == 0 {
		delete(s.indexes, name)
	}
	return removed, nil
}
