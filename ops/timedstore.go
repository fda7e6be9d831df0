package ops

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenantgate/tenantgate/store"
)

// Backend is the store the gateway runs on: what memstore and redisstore
// implement.
type Backend interface {
	store.KV
	store.Taker
	store.Index
	store.Locker
	store.PubSub
}

// The operations timed, as label values.
const (
	opGet = iota
	opCAS
	opDelete
	opTake
	opIndexAdd
	opIndexRemove
	opIndexRange
	opIndexTrim
	opLock
	opPublish
	nOps
)

var opNames = [nOps]string{"get", "compare_and_set", "delete", "take", "index_add", "index_remove", "index_range", "index_trim", "lock", "publish"}

const (
	outOK = iota
	outNotFound
	outConflict
	outError
	nOutcomes
)

var outcomeNames = [nOutcomes]string{"ok", "not_found", "conflict", "error"}

// timedStore measures every operation of a Backend, L1 hits included,
// with observers resolved once so that a measurement costs two clock
// reads and an atomic add.
type timedStore struct {
	Backend
	obs [nOps][nOutcomes]prometheus.Observer
}

// TimeStore returns st with its operations' latency exported as
// tenantgate_store_operation_duration_seconds.
func (m *Metrics) TimeStore(st Backend) Backend {
	t := &timedStore{Backend: st}
	for op := range nOps {
		for out := range nOutcomes {
			t.obs[op][out] = m.storeDuration.WithLabelValues(opNames[op], outcomeNames[out])
		}
	}
	return t
}

func (t *timedStore) done(op int, start time.Time, err error) {
	out := outOK
	switch {
	case err == nil:
	case errors.Is(err, store.ErrNotFound):
		out = outNotFound
	case errors.Is(err, store.ErrConflict):
		out = outConflict
	default:
		out = outError
	}
	t.obs[op][out].Observe(time.Since(start).Seconds())
}

func (t *timedStore) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	start := time.Now()
	b, v, err := t.Backend.Get(ctx, key)
	t.done(opGet, start, err)
	return b, v, err
}

func (t *timedStore) CompareAndSet(ctx context.Context, key string, version uint64, data []byte, ttl time.Duration) (uint64, error) {
	start := time.Now()
	v, err := t.Backend.CompareAndSet(ctx, key, version, data, ttl)
	t.done(opCAS, start, err)
	return v, err
}

func (t *timedStore) Delete(ctx context.Context, key string) error {
	start := time.Now()
	err := t.Backend.Delete(ctx, key)
	t.done(opDelete, start, err)
	return err
}

func (t *timedStore) Take(ctx context.Context, key string) ([]byte, error) {
	start := time.Now()
	b, err := t.Backend.Take(ctx, key)
	t.done(opTake, start, err)
	return b, err
}

func (t *timedStore) IndexAdd(ctx context.Context, index string, ttl time.Duration, members ...store.Member) error {
	start := time.Now()
	err := t.Backend.IndexAdd(ctx, index, ttl, members...)
	t.done(opIndexAdd, start, err)
	return err
}

func (t *timedStore) IndexRemove(ctx context.Context, index string, names ...string) error {
	start := time.Now()
	err := t.Backend.IndexRemove(ctx, index, names...)
	t.done(opIndexRemove, start, err)
	return err
}

func (t *timedStore) IndexRange(ctx context.Context, index string, lo, hi float64, limit int) ([]store.Member, error) {
	start := time.Now()
	ms, err := t.Backend.IndexRange(ctx, index, lo, hi, limit)
	t.done(opIndexRange, start, err)
	return ms, err
}

func (t *timedStore) IndexTrim(ctx context.Context, index string, hi float64) (int, error) {
	start := time.Now()
	n, err := t.Backend.IndexTrim(ctx, index, hi)
	t.done(opIndexTrim, start, err)
	return n, err
}

func (t *timedStore) Acquire(ctx context.Context, key, owner string, ttl time.Duration) error {
	start := time.Now()
	err := t.Backend.Acquire(ctx, key, owner, ttl)
	t.done(opLock, start, err)
	return err
}

func (t *timedStore) Publish(ctx context.Context, channel string, msg []byte) error {
	start := time.Now()
	err := t.Backend.Publish(ctx, channel, msg)
	t.done(opPublish, start, err)
	return err
}
