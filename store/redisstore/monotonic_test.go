package redisstore

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/internal/redistest"
)

func liveL1() *l1 {
	c := newL1(1<<20, time.Minute, time.Now, "tg1:")
	c.live.Store(true)
	return c
}

// Reader 1 notes the generation and fetches V1; reader 2 fetches V2 and
// stores it; the pubsub message "k|V2" arrives and matches what the L1
// holds; then reader 1 stores V1. Without monotonic versions the L1
// accepted V1 and served it until L1MaxStale.
func TestL1RefusesOlderFillAfterMatchingInvalidation(t *testing.T) {
	c := liveL1()
	const k = "tg1:k"
	_, _, gen1, _ := c.get(k)
	_, _, gen2, _ := c.get(k)
	c.fill(k, []byte("V2"), 2, gen2, time.Time{})
	c.invalidate(k, 2)
	c.fill(k, []byte("V1"), 1, gen1, time.Time{})
	if data, v, _, ok := c.get(k); ok && v < 2 {
		t.Fatalf("the L1 serves %q version %d after seeing version 2", data, v)
	}
}

// Our compare-and-set returns V2; before it is recorded, another
// replica's "k|V3" is handled; then the own write is recorded. Without
// monotonic versions the L1 installed V2 over the news of V3.
func TestL1RefusesOwnWriteBelowNewerInvalidation(t *testing.T) {
	c := liveL1()
	const k = "tg1:k"
	gen := c.generation(k)
	c.invalidate(k, 3)
	c.wrote(k, []byte("V2"), 2, time.Time{}, true, gen)
	if data, v, _, ok := c.get(k); ok && v < 3 {
		t.Fatalf("the L1 serves %q version %d after seeing version 3", data, v)
	}
	// And the same with a value: V3 cached, V2's own write comes late.
	_, _, gen, _ = c.get("tg1:j")
	c.fill("tg1:j", []byte("V3"), 3, gen, time.Time{})
	c.wrote("tg1:j", []byte("V2"), 2, time.Time{}, true, c.generation("tg1:j"))
	if data, v, _, ok := c.get("tg1:j"); !ok || v != 3 {
		t.Fatalf("the L1 serves %q version %d (%v); want V3 kept", data, v, ok)
	}
}

// A fill that started before the L1 forgot a key (a versionless
// invalidation, an eviction, a flush) installs nothing, even at a version
// no lower than any it still knows.
func TestL1RefusesFillAcrossForget(t *testing.T) {
	for name, forget := range map[string]func(c *l1, key string){
		"forget": func(c *l1, key string) { c.forget(key) },
		"flush":  func(c *l1, _ string) { c.flush() },
		"evict": func(c *l1, key string) {
			s, g0 := c.shard(key), c.shardGen(key)
			for i := 0; c.shardGen(key) == g0 && i < 1<<12; i++ {
				k := "tg1:filler:" + strconv.Itoa(i)
				if c.shard(k) == s {
					_, _, g, _ := c.get(k)
					c.fill(k, make([]byte, 1<<10), 1, g, time.Time{})
				}
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			c := newL1(32*4<<10, time.Minute, time.Now, "tg1:")
			c.live.Store(true)
			const k = "tg1:k"
			_, _, gen, _ := c.get(k)
			forget(c, k)
			c.fill(k, []byte("V1"), 1, gen, time.Time{})
			if data, v, _, ok := c.get(k); ok {
				t.Fatalf("a fill from before the L1 forgot %s installed %q version %d", k, data, v)
			}
		})
	}
}

func (c *l1) shardGen(key string) uint64 {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen
}

// Consumers choose their own key prefixes (tokencache: tg1:tc:). bcast
// tracking asks Redis only for the store's Prefix, and the pubsub channel
// is named after it: a key outside it that the L1 cached would never be
// invalidated, while the start-up self-test, probing under the prefix,
// passed. The L1 must not cache what it cannot be told about.
func TestBcastKeysOutsidePrefixStayCoherent(t *testing.T) {
	testOutsidePrefix(t, ModeBcast, "app:")
}

// The pubsub variant: a replica with another store Prefix publishes on
// another channel.
func TestPubSubKeysOutsidePrefixStayCoherent(t *testing.T) {
	testOutsidePrefix(t, ModePubSub, "other:")
}

func testOutsidePrefix(t *testing.T, mode Mode, writerPrefix string) {
	srv := redistest.Standalone(t)
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	r, err := New(ctx, Options{Addrs: []string{srv.Addr}, L1: mode, Prefix: "app:", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w, err := New(ctx, Options{Addrs: []string{srv.Addr}, L1: mode, Prefix: writerPrefix, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	const key = "tg1:tc:client:tenant:user"
	v1, err := w.CompareAndSet(ctx, key, 0, []byte("one"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, v, err := r.Get(ctx, key); err != nil || v != v1 {
			t.Fatalf("Get = version %d, %v; want %d", v, err, v1)
		}
	}
	v2, err := w.CompareAndSet(ctx, key, v1, []byte("two"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Second)
	for {
		_, v, err := r.Get(ctx, key)
		if err == nil && v == v2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a key outside Prefix still reads version %d (%v) 1s after another replica wrote %d", v, err, v2)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Our compare-and-set of V2 ran in Redis; before it is recorded, the L1
// forgets the key: another replica's delete ("k|0"), or "k|V3" followed
// by a flush (a lost subscription) or an eviction. Then seen is gone, and
// only the generation tells the late own write that something newer may
// exist (found by review: P served a deleted value for L1MaxStale).
func TestL1RefusesOwnWriteAcrossForget(t *testing.T) {
	for name, lose := range map[string]func(c *l1, k string){
		"delete": func(c *l1, k string) { c.forget(k) },
		"flush":  func(c *l1, k string) { c.invalidate(k, 3); c.flush() },
	} {
		t.Run(name, func(t *testing.T) {
			c := liveL1()
			const k = "tg1:k"
			gen := c.generation(k) // CompareAndSet reads it before the script
			lose(c, k)
			c.wrote(k, []byte("V2"), 2, time.Now().Add(time.Hour), true, gen)
			if data, v, _, ok := c.get(k); ok {
				t.Fatalf("the late own write installed %q version %d after the L1 forgot the key", data, v)
			}
		})
	}
}
