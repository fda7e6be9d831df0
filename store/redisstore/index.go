package redisstore

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/tenantgate/tenantgate/internal/storekit"
	"github.com/tenantgate/tenantgate/store"
)

func formatScore(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "+inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// IndexAdd adds or re-scores members of a sorted set and keeps it alive at
// least ttl.
func (s *Store) IndexAdd(ctx context.Context, index string, ttl time.Duration, members ...store.Member) error {
	if err := storekit.ValidTTL(ttl); err != nil {
		return err
	}
	if len(members) == 0 {
		return nil
	}
	args := make([]string, 0, 1+2*len(members))
	args = append(args, ttlMillis(ttl))
	for _, m := range members {
		if math.IsNaN(m.Score) {
			return fmt.Errorf("redisstore: index add %q: member %q has a NaN score", index, m.Name)
		}
		args = append(args, formatScore(m.Score), m.Name)
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	if err := indexAddScript.Exec(ctx, s.c, []string{index}, args).Error(); err != nil {
		return s.unavailable("index add", index, err)
	}
	return nil
}

// IndexRemove removes members.
func (s *Store) IndexRemove(ctx context.Context, index string, names ...string) error {
	if len(names) == 0 {
		return nil
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	if err := s.c.Do(ctx, s.c.B().Zrem().Key(index).Member(names...).Build()).Error(); err != nil {
		return s.unavailable("index remove", index, err)
	}
	return nil
}

// IndexRange returns members scored within [min, max], lowest first.
// ZRANGEBYSCORE rather than ZRANGE … BYSCORE keeps Redis 6.0 (Azure Cache
// for Redis) supported.
func (s *Store) IndexRange(ctx context.Context, index string, min, max float64, limit int) ([]store.Member, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	b := s.c.B().Zrangebyscore().Key(index).Min(formatScore(min)).Max(formatScore(max)).Withscores()
	var cmd rueidis.Completed
	if limit > 0 {
		cmd = b.Limit(0, int64(limit)).Build()
	} else {
		cmd = b.Build()
	}
	scores, err := s.c.Do(ctx, cmd).AsZScores()
	if err != nil {
		return nil, s.unavailable("index range", index, err)
	}
	out := make([]store.Member, len(scores))
	for i, z := range scores {
		out[i] = store.Member{Name: z.Member, Score: z.Score}
	}
	return out, nil
}

// IndexTrim removes members scored at or below max.
func (s *Store) IndexTrim(ctx context.Context, index string, max float64) (int, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	n, err := s.c.Do(ctx, s.c.B().Zremrangebyscore().Key(index).Min("-inf").Max(formatScore(max)).Build()).AsInt64()
	if err != nil {
		return 0, s.unavailable("index trim", index, err)
	}
	return int(n), nil
}
