package tokencache

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/tenantgate/tenantgate/store"
)

// closeFlushTimeout bounds the last attempt Close makes to write what waits.
const closeFlushTimeout = 2 * time.Second

// closeRetryEvery spaces Close's attempts to write what is queued.
const closeRetryEvery = 50 * time.Millisecond

// writeBehind keeps partition states that could not be written because
// the store was unavailable, and writes them when it answers again. A new
// token must never be lost to a Redis outage (MSAL fact 9), but neither
// may a queued state undo what happened while it waited:
//
//   - each state remembers the stored version it was based on, and is
//     written over that version, never over whatever is there: a partition
//     that held tokens when read and is now absent was signed out (its
//     tombstone expired or was evicted), and the state is dropped;
//   - a state older than TombstoneTTL is dropped: past that, no tombstone
//     is left to refuse it;
//   - SignOut cancels the state queued for its key;
//   - on a conflict it merges as the older side: what is stored wins,
//     except access tokens, where the one cached later wins;
//   - Close makes one last, bounded attempt.
//
// It is safe for concurrent use.
type writeBehind struct {
	c *Cache

	mu    sync.Mutex
	m     map[string]*queued
	order []string // keys, oldest first
	seq   uint64
	kick  chan struct{}
	stop  context.CancelFunc
	done  chan struct{}
}

// queued is one partition's newest state not yet written.
type queued struct {
	data []byte
	blob blob
	base basis     // what the state was based on
	at   time.Time // when a state on this base was first queued: its age
	seq  uint64    // tells a newer state of the key from the one being written
}

func newWriteBehind(c *Cache) *writeBehind {
	ctx, stop := context.WithCancel(context.Background())
	w := &writeBehind{c: c, m: map[string]*queued{}, kick: make(chan struct{}, 1), stop: stop, done: make(chan struct{})}
	go w.run(ctx)
	return w
}

// queue keeps data, based on base, to be written to key later. A state
// already queued for key is replaced: the new one was derived from it.
func (w *writeBehind) queue(key string, data []byte, b blob, base basis) {
	st := &w.c.stats
	now := w.c.o.Now()
	w.mu.Lock()
	w.seq++
	q := &queued{data: data, blob: b, base: base, at: now, seq: w.seq}
	if old, ok := w.m[key]; ok {
		if old.base == base {
			q.at = old.at // same base: as old as the first state on it
		}
		st.wbReplaced.Add(1)
	} else {
		if len(w.order) >= w.c.o.WriteBehindMax {
			oldest := w.order[0]
			w.order = w.order[1:]
			delete(w.m, oldest)
			st.wbDropped.Add(1)
			w.c.o.Logger.Error("tokencache: write-behind queue full; dropped the oldest state", slog.String("key", oldest))
		}
		w.order = append(w.order, key)
	}
	w.m[key] = q
	st.wbQueued.Add(1)
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// cancel drops key's queued state, because the user signed out.
func (w *writeBehind) cancel(key string) {
	if w.remove(key, 0) {
		w.c.stats.wbSignedOut.Add(1)
	}
}

// supersede drops key's queued state because a newer state derived from
// it was just written: it landed as part of that one.
func (w *writeBehind) supersede(key string) {
	if w.remove(key, 0) {
		w.c.stats.wbLanded.Add(1)
	}
}

// remove deletes key's state if its seq is seq (0: any), and reports
// whether it did.
func (w *writeBehind) remove(key string, seq uint64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	q, ok := w.m[key]
	if !ok || (seq != 0 && q.seq != seq) {
		return false
	}
	delete(w.m, key)
	if i := slices.Index(w.order, key); i >= 0 {
		w.order = slices.Delete(w.order, i, i+1)
	}
	return true
}

func (w *writeBehind) pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.order)
}

func (w *writeBehind) run(ctx context.Context) {
	defer close(w.done)
	delay := w.c.o.WriteBehindRetry
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.kick:
		case <-retry:
		}
		retry = nil
		if w.flush(ctx) {
			delay = w.c.o.WriteBehindRetry
			continue
		}
		retry = time.After(delay)
		delay = min(2*delay, 5*time.Second)
	}
}

// close stops the loop and makes one last attempt, bounded by timeout;
// what still waits then is lost, counted and logged.
func (w *writeBehind) close(timeout time.Duration) {
	w.stop()
	<-w.done
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// Retry until the deadline, not once: a process stopped during a short
	// outage (a failover, a blip) would otherwise drop states that the
	// store would take a moment later.
	for !w.flush(ctx) {
		select {
		case <-ctx.Done():
		case <-time.After(closeRetryEvery):
			continue
		}
		break
	}
	if w.pending() == 0 {
		return
	}
	w.mu.Lock()
	lost := w.order
	w.m, w.order = map[string]*queued{}, nil
	w.mu.Unlock()
	for _, key := range lost {
		w.c.stats.wbDropped.Add(1)
		w.c.o.Logger.Error("tokencache: closed with a state not yet written; the user may have to sign in again", slog.String("key", key))
	}
}

// expire drops the states older than TombstoneTTL.
func (w *writeBehind) expire() {
	cutoff := w.c.o.Now().Add(-w.c.o.TombstoneTTL)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.order = slices.DeleteFunc(w.order, func(key string) bool {
		if !w.m[key].at.Before(cutoff) {
			return false
		}
		delete(w.m, key)
		w.c.stats.wbExpired.Add(1)
		w.c.o.Logger.Warn("tokencache: a queued state outlived TombstoneTTL and was dropped", slog.String("key", key))
		return true
	})
}

// flush writes what waits, oldest first; it reports whether everything
// landed or was dropped for good.
func (w *writeBehind) flush(ctx context.Context) bool {
	w.expire()
	for {
		w.mu.Lock()
		if len(w.order) == 0 {
			w.mu.Unlock()
			return true
		}
		key := w.order[0]
		q := *w.m[key]
		w.mu.Unlock()

		res, err := w.c.write(ctx, key, q.base, q.data, q.blob, olderSide)
		if errors.Is(err, store.ErrUnavailable) || ctx.Err() != nil {
			w.c.stats.wbRetries.Add(1)
			return false
		}
		if !w.remove(key, q.seq) {
			// Replaced while it was written: the newer state was derived
			// from this one, so it is based on what just landed.
			w.rebase(key, q.base, res)
			continue
		}
		switch {
		case err != nil:
			w.c.stats.wbDropped.Add(1)
			w.c.o.Logger.Error("tokencache: a queued write failed for good", slog.String("key", key), slog.Any("err", err))
		case res.signedOut:
			w.c.stats.wbSignedOut.Add(1)
		default:
			w.c.stats.wbLanded.Add(1)
		}
	}
}

// rebase moves key's replacement state from old onto what was written.
func (w *writeBehind) rebase(key string, old basis, res writeResult) {
	if res.signedOut || res.merged || res.version == 0 {
		// Merged: the store holds entries the replacement lacks, so it
		// must merge too, over the old base.
		return
	}
	w.mu.Lock()
	if q, ok := w.m[key]; ok && q.base == old {
		q.base = basis{version: res.version, live: true}
	}
	w.mu.Unlock()
}
