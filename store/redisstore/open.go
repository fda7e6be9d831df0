package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/rueidis"

	"github.com/tenantgate/tenantgate/store"
)

// New connects to Redis, checks that it can do what the store needs, and
// picks the L1 mode: the one asked for, or with ModeAuto the first of
// tracking, bcast, pubsub and off that passes a live self-test. A server that
// cannot be reached, refuses the credentials or fails TLS verification is
// an error naming the address; it never hangs past the dial and operation
// timeouts.
func New(ctx context.Context, o Options) (*Store, error) {
	o, err := o.resolve()
	if err != nil {
		return nil, err
	}
	where := o.redacted()
	plain, err := rueidis.NewClient(o.clientOption(ModeOff))
	if err != nil {
		return nil, connectError(where, err)
	}
	if err := checkBasics(ctx, plain, &o); err != nil {
		plain.Close()
		return nil, fmt.Errorf("redisstore: %s: %w", where, err)
	}
	candidates := []Mode{o.L1}
	if o.L1 == ModeAuto {
		candidates = []Mode{ModeTracking, ModeBcast, ModePubSub, ModeOff}
	}
	var refusals []error
	for _, mode := range candidates {
		s, err := open(ctx, o, mode, plain, where)
		if err == nil {
			o.Logger.Info("redisstore: connected", slog.String("addr", where), slog.String("l1", string(mode)),
				slog.String("topology", string(s.c.Mode())), slog.Any("refused", errors.Join(refusals...)))
			return s, nil
		}
		refusals = append(refusals, fmt.Errorf("%s: %w", mode, err))
		o.Logger.Info("redisstore: L1 mode refused", slog.String("addr", where), slog.String("l1", string(mode)), slog.Any("err", err))
	}
	plain.Close()
	return nil, fmt.Errorf("redisstore: %s: no L1 mode works: %w", where, errors.Join(refusals...))
}

func connectError(where string, err error) error {
	return fmt.Errorf("redisstore: cannot connect to %s (check the address, TLS settings and credentials: username and password or access key): %w: %w",
		where, store.ErrUnavailable, err)
}

// checkBasics runs what every mode needs: a round trip and the Lua
// compare-and-set, so that a server refusing scripts fails now with a clear
// error rather than on the first sign-in.
func checkBasics(ctx context.Context, c rueidis.Client, o *Options) error {
	ctx, cancel := context.WithTimeout(ctx, o.OpTimeout)
	defer cancel()
	if err := c.Do(ctx, c.B().Ping().Build()).Error(); err != nil {
		return fmt.Errorf("PING failed: %w: %w", store.ErrUnavailable, err)
	}
	probe := o.Prefix + "selftest:lua:" + store.NewOwner()
	err := casScript.Exec(ctx, c, []string{probe}, []string{"", formatVersion(1), "10000", "", ""}).Error()
	if err != nil {
		return fmt.Errorf("the server refused the Lua compare-and-set (EVALSHA/EVAL); tenantgate needs scripting enabled and allowed for its user (+@scripting): %w", err)
	}
	c.Do(ctx, c.B().Del().Key(probe).Build())
	return nil
}

// open builds a store in mode, proving the mode works with a live self-test.
// plain is a client without tracking; open takes it over when the mode
// needs no other.
func open(ctx context.Context, o Options, mode Mode, plain rueidis.Client, where string) (*Store, error) {
	sctx, stop := context.WithCancel(context.Background())
	s := &Store{o: o, mode: mode, where: where, stop: stop, inv: o.Prefix + "l1:inv"}
	fail := func(err error) (*Store, error) {
		s.stop()
		s.wg.Wait()
		if s.c != plain && s.c != nil {
			s.c.Close()
		}
		return nil, err
	}
	switch mode {
	case ModeOff:
		s.c = plain
		return s, nil
	case ModePubSub:
		s.c = plain
		s.l1 = newL1(o.L1MaxBytes, o.L1MaxStale, o.Now, o.Prefix)
		if err := s.startInvalidation(sctx); err != nil {
			return fail(err)
		}
		if err := selfTestL1(ctx, s, plain); err != nil {
			return fail(err)
		}
		return s, nil
	}
	// Tracking and bcast: the server pushes invalidations on the
	// connections that read (tracking) or for every key under the prefix
	// (bcast), without versions; rueidis reports nil when a connection is
	// lost, and then nothing in the L1 can be trusted. Reads are plain
	// GETs, never DoCache: rueidis's own client-side cache stays empty and
	// the L1 is the only copy.
	prefix := ""
	if mode == ModeBcast {
		prefix = o.Prefix
	}
	s.l1 = newL1(o.L1MaxBytes, o.L1MaxStale, o.Now, prefix)
	s.l1.live.Store(true)
	opt := o.clientOption(mode)
	opt.OnInvalidations = func(keys []rueidis.RedisMessage) {
		if keys == nil {
			s.l1.flush()
			s.flushes.Add(1)
			return
		}
		for _, k := range keys {
			if key, err := k.ToString(); err == nil {
				s.invalidations.Add(1)
				s.l1.forget(key)
			}
		}
	}
	c, err := rueidis.NewClient(opt)
	if err != nil {
		return fail(err)
	}
	s.c = c
	if err := selfTestL1(ctx, s, plain); err != nil {
		return fail(err)
	}
	plain.Close()
	return s, nil
}

// selfTestWait bounds how long a self-test waits for an invalidation.
const selfTestWait = time.Second

// selfTestL1 proves the L1 works for the keys it will cache, through the
// paths Get and CompareAndSet use: a value read under the prefix is served
// from the L1, a write by another connection (in pubsub mode one that
// publishes, as another replica's does) reaches it within selfTestWait,
// and the new value is served from the L1 again.
func selfTestL1(ctx context.Context, s *Store, other rueidis.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 4*s.o.OpTimeout+3*selfTestWait)
	defer cancel()
	probe := s.o.Prefix + "selftest:l1:" + store.NewOwner()
	defer other.Do(context.Background(), other.B().Del().Key(probe).Build())
	write := func(prev, next uint64) error {
		ch, msg := s.invalidation(probe, next)
		want := ""
		if prev != 0 {
			want = formatVersion(prev)
		}
		n, err := casScript.Exec(ctx, other, []string{probe}, []string{want, formatVersion(next) + "x", "10000", ch, msg}).AsInt64()
		if err == nil && n != 1 {
			err = errors.New("the probe changed under the self-test")
		}
		return err
	}
	// until polls Get until ok accepts what it read and the read was an
	// L1 hit (hit) or any read (!hit).
	until := func(what string, hit bool, ok func(version uint64) bool) error {
		deadline := time.Now().Add(selfTestWait)
		for {
			hits := s.hits.Load()
			_, v, err := s.Get(ctx, probe)
			if err != nil {
				return fmt.Errorf("self-test: probe read failed: %w", err)
			}
			if ok(v) && (!hit || s.hits.Load() > hits) {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("self-test: %s within %v", what, selfTestWait)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if err := write(0, 1); err != nil {
		return fmt.Errorf("self-test: probe write failed: %w", err)
	}
	if err := until("a value read was not served from the L1", true, func(v uint64) bool { return v == 1 }); err != nil {
		return err
	}
	if err := write(1, 2); err != nil {
		return fmt.Errorf("self-test: probe write failed: %w", err)
	}
	if err := until("a write by another connection did not reach the L1", false, func(v uint64) bool { return v == 2 }); err != nil {
		return err
	}
	return until("a value read after an invalidation was not served from the L1", true, func(v uint64) bool { return v == 2 })
}
