package storetest

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tenantgate/tenantgate/store"
)

const long = time.Minute

func testMissing(c *check) {
	k := c.key("never-written")
	c.wantAbsent(k)
	_, err := c.st.Take(c.ctx(), k)
	c.wantErr("Take of a missing key", err, store.ErrNotFound)
	c.noErr("Delete of a missing key", c.st.Delete(c.ctx(), k))
	ms, err := c.st.IndexRange(c.ctx(), k, -1e300, 1e300, 0)
	if err != nil || len(ms) != 0 {
		c.Fatalf("IndexRange of a missing index = %v, %v; want none, nil", ms, err)
	}
	n, err := c.st.IndexTrim(c.ctx(), k, 1e300)
	if err != nil || n != 0 {
		c.Fatalf("IndexTrim of a missing index = %d, %v; want 0, nil", n, err)
	}
	c.noErr("IndexRemove from a missing index", c.st.IndexRemove(c.ctx(), k, "x"))
}

func testCompareAndSet(c *check) {
	k := c.key("cas")
	buf := []byte("first")
	v1, err := c.st.CompareAndSet(c.ctx(), k, 0, buf, long)
	c.noErr("create", err)
	if v1 == 0 {
		c.Fatal("create returned version 0, which means absent")
	}
	buf[0] = 'X' // the store must have copied it
	c.wantValue(k, "first", v1)

	_, err = c.st.CompareAndSet(c.ctx(), k, 0, []byte("create again"), long)
	c.wantErr("create of an existing key", err, store.ErrConflict)
	_, err = c.st.CompareAndSet(c.ctx(), k, v1+1, []byte("wrong version"), long)
	c.wantErr("CompareAndSet with a wrong version", err, store.ErrConflict)
	c.wantValue(k, "first", v1)

	v2, err := c.st.CompareAndSet(c.ctx(), k, v1, []byte("second"), long)
	c.noErr("CompareAndSet with the current version", err)
	if v2 <= v1 {
		c.Fatalf("version went from %d to %d, want it to increase", v1, v2)
	}
	c.wantValue(k, "second", v2)
	_, err = c.st.CompareAndSet(c.ctx(), k, v1, []byte("stale"), long)
	c.wantErr("CompareAndSet with the previous version", err, store.ErrConflict)
	c.wantValue(k, "second", v2)

	_, err = c.st.CompareAndSet(c.ctx(), k, 0, []byte("x"), long)
	c.wantErr("create over a value", err, store.ErrConflict)

	// An empty value is a value, not an absence.
	e := c.key("empty")
	ve := c.set(e, "", long)
	c.wantValue(e, "", ve)
}

func testVersionsIncrease(c *check) {
	k := c.key("versions")
	var prev uint64
	for i := range 20 {
		v, err := c.st.CompareAndSet(c.ctx(), k, prev, []byte(strconv.Itoa(i)), long)
		c.noErr("write "+strconv.Itoa(i), err)
		if v <= prev {
			c.Fatalf("write %d: version %d after %d, want strictly increasing", i, v, prev)
		}
		prev = v
	}
	// A writer holding a version from before a delete must not win against
	// the value written after it.
	c.noErr("Delete", c.st.Delete(c.ctx(), k))
	v := c.set(k, "reborn", long)
	if v <= prev {
		c.Fatalf("version after delete and re-create is %d, not above %d", v, prev)
	}
	_, err := c.st.CompareAndSet(c.ctx(), k, prev, []byte("stale writer"), long)
	c.wantErr("CompareAndSet with a version from before the delete", err, store.ErrConflict)
	c.wantValue(k, "reborn", v)
}

// testConcurrentIncrements is the token cache's situation: replicas read,
// change and write back one value. No increment may be lost.
func testConcurrentIncrements(c *check) {
	const workers, each = 16, 500
	k := c.key("counter")
	c.set(k, "0", long)
	var (
		wg        sync.WaitGroup
		won       atomic.Int64
		conflicts atomic.Int64
		errOnce   sync.Once
		firstErr  error
		failed    atomic.Bool
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err })
		failed.Store(true)
	}
	for range workers {
		wg.Go(func() {
			for done := 0; done < each; {
				if failed.Load() {
					return
				}
				data, v, err := c.st.Get(c.ctx(), k)
				if err != nil {
					fail(err)
					return
				}
				n, err := strconv.Atoi(string(data))
				if err != nil {
					fail(err)
					return
				}
				_, err = c.st.CompareAndSet(c.ctx(), k, v, []byte(strconv.Itoa(n+1)), long)
				switch {
				case err == nil:
					done++
					won.Add(1)
				case errors.Is(err, store.ErrConflict):
					conflicts.Add(1)
				default:
					fail(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		c.Fatalf("increment: %v", firstErr)
	}
	c.Logf("%d increments, %d conflicts retried", won.Load(), conflicts.Load())
	if won.Load() != workers*each {
		c.Fatalf("%d compare-and-sets succeeded, want %d", won.Load(), workers*each)
	}
	c.wantValue(k, strconv.Itoa(workers*each), 0)
}

// testTakeOnce is one-time sign-in state: of many callbacks racing with the
// same state, exactly one may proceed.
func testTakeOnce(c *check) {
	const racers, rounds = 16, 10
	for round := range rounds {
		k := c.key("take-" + strconv.Itoa(round))
		c.set(k, "state", long)
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			winners atomic.Int64
			errs    = make(chan error, racers)
		)
		for range racers {
			wg.Go(func() {
				<-start
				data, err := c.st.Take(c.ctx(), k)
				switch {
				case err == nil && string(data) == "state":
					winners.Add(1)
				case err == nil:
					errs <- errors.New("Take returned " + strconv.Quote(string(data)))
				case !errors.Is(err, store.ErrNotFound):
					errs <- err
				}
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			c.Fatalf("round %d: Take: %v (losers must get ErrNotFound)", round, err)
		}
		if n := winners.Load(); n != 1 {
			c.Fatalf("round %d: %d of %d concurrent Take calls got the value, want exactly 1", round, n, racers)
		}
		c.wantAbsent(k)
	}
}

func testDelete(c *check) {
	k := c.key("deleted")
	v := c.set(k, "doomed", long)
	c.noErr("Delete", c.st.Delete(c.ctx(), k))
	c.wantAbsent(k)
	c.noErr("Delete again", c.st.Delete(c.ctx(), k))
	_, err := c.st.Take(c.ctx(), k)
	c.wantErr("Take after Delete", err, store.ErrNotFound)
	_, err = c.st.CompareAndSet(c.ctx(), k, v, []byte("resurrect"), long)
	c.wantErr("CompareAndSet with the deleted value's version", err, store.ErrConflict)
	c.wantAbsent(k)
	c.set(k, "new", long)
	c.wantValue(k, "new", 0)

	other := c.key("kept")
	c.set(other, "stays", long)
	c.noErr("Delete", c.st.Delete(c.ctx(), k))
	c.wantValue(other, "stays", 0)
}

func testTTL(c *check) {
	short := c.opts.ShortTTL
	gone, taken, kept, extended := c.key("gone"), c.key("taken"), c.key("kept"), c.key("extended")
	start := time.Now()
	// taken is written first, so once gone has expired it has too, however
	// slow the writes (TLS under the race detector takes milliseconds).
	c.set(taken, "brief", short)
	vGone := c.set(gone, "brief", short)
	c.set(kept, "durable", long)
	vExt := c.set(extended, "brief", short)
	if _, err := c.st.CompareAndSet(c.ctx(), extended, vExt, []byte("renewed"), long); err != nil {
		c.Fatalf("rewrite with a longer TTL: %v", err)
	}
	if c.soon(start) {
		c.wantValue(gone, "brief", vGone)
	}

	c.eventually("a value written with a short TTL is still there", func() bool {
		_, _, err := c.st.Get(c.ctx(), gone)
		return errors.Is(err, store.ErrNotFound)
	})
	if time.Since(start) < short*3/4 {
		c.Fatalf("a value with TTL %v expired after %v", short, time.Since(start))
	}
	_, err := c.st.Take(c.ctx(), taken)
	c.wantErr("Take of an expired value", err, store.ErrNotFound)
	c.wantValue(kept, "durable", 0)
	c.wantValue(extended, "renewed", 0) // a write sets the TTL it is given

	_, err = c.st.CompareAndSet(c.ctx(), gone, vGone, []byte("stale"), long)
	c.wantErr("CompareAndSet with an expired value's version", err, store.ErrConflict)
	c.set(gone, "again", long) // expired means absent: version 0 creates it
}

func testInvalidTTL(c *check) {
	k := c.key("bad-ttl")
	for _, ttl := range []time.Duration{0, -time.Second} {
		if _, err := c.st.CompareAndSet(c.ctx(), k, 0, []byte("x"), ttl); err == nil {
			c.Fatalf("CompareAndSet with ttl %v succeeded; every value must expire", ttl)
		}
		c.wantAbsent(k)
		if err := c.st.IndexAdd(c.ctx(), k+":ix", ttl, store.Member{Name: "m", Score: 1}); err == nil {
			c.Fatalf("IndexAdd with ttl %v succeeded", ttl)
		}
		if err := c.st.Acquire(c.ctx(), k+":lock", store.NewOwner(), ttl); err == nil {
			c.Fatalf("Acquire with ttl %v succeeded", ttl)
		}
	}
	ms, err := c.st.IndexRange(c.ctx(), k+":ix", -1e300, 1e300, 0)
	if err != nil || len(ms) != 0 {
		c.Fatalf("rejected IndexAdd left members %v (err %v)", ms, err)
	}
	c.noErr("Acquire after rejected ones", c.st.Acquire(c.ctx(), k+":lock", store.NewOwner(), long))

	v := c.set(k, "kept", long)
	if _, err := c.st.CompareAndSet(c.ctx(), k, v, []byte("changed"), 0); err == nil {
		c.Fatal("CompareAndSet of an existing value with ttl 0 succeeded")
	}
	c.wantValue(k, "kept", v)
}

// testEndedContext guards the rule that a store failure is never "signed
// out": a call whose context has ended must fail, and not with ErrNotFound.
func testEndedContext(c *check) {
	k := c.key("present")
	v := c.set(k, "value", long)
	ctx, cancel := context.WithCancel(c.ctx())
	cancel()
	_, _, err := c.st.Get(ctx, k)
	c.wantFailure("Get with an ended context", err)
	_, err = c.st.Take(ctx, k)
	c.wantFailure("Take with an ended context", err)
	_, err = c.st.CompareAndSet(ctx, k, v, []byte("changed"), long)
	c.wantFailure("CompareAndSet with an ended context", err)
	c.wantValue(k, "value", v)
}

// wantFailure wants err to say "could not answer": ErrUnavailable or the
// context's own error, never an answer such as ErrNotFound or ErrConflict.
func (c *check) wantFailure(what string, err error) {
	c.Helper()
	switch {
	case err == nil:
		c.Fatalf("%s succeeded", what)
	case errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict):
		c.Fatalf("%s: err = %v, an answer about the data; want ErrUnavailable or the context's error", what, err)
	case !errors.Is(err, store.ErrUnavailable) && !errors.Is(err, context.Canceled):
		c.Fatalf("%s: err = %v, want ErrUnavailable or context.Canceled", what, err)
	}
}
