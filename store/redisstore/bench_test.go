package redisstore_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/tenantgate/tenantgate/internal/redistest"
	"github.com/tenantgate/tenantgate/store/redisstore"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// value6KB is the size of one user's MSAL cache partition.
var value6KB = make([]byte, 6<<10)

// BenchmarkGet compares a read served by each L1 mode with a read that goes
// to Redis (l1=off) and with a raw rueidis GET on the same server: the floor
// of any read that leaves the process.
func BenchmarkGet(b *testing.B) {
	srv := redistest.Standalone(b)
	ctx := context.Background()
	key := "tg1:bench:get"
	for _, mode := range []redisstore.Mode{redisstore.ModeTracking, redisstore.ModeBcast, redisstore.ModePubSub, redisstore.ModeOff} {
		name := "l1-hit/" + string(mode)
		if mode == redisstore.ModeOff {
			name = "l1-miss"
		}
		b.Run(name, func(b *testing.B) {
			s, err := redisstore.New(ctx, redisstore.Options{Addrs: []string{srv.Addr}, L1: mode, Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if err := s.Delete(ctx, key+string(mode)); err != nil {
				b.Fatal(err)
			}
			if _, err := s.CompareAndSet(ctx, key+string(mode), 0, value6KB, time.Hour); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := s.Get(ctx, key+string(mode)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("rueidis-get", func(b *testing.B) {
		c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr}, DisableCache: true})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		if err := c.Do(ctx, c.B().Set().Key(key).Value(string(value6KB)).Build()).Error(); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Do(ctx, c.B().Get().Key(key).Build()).AsBytes(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkCompareAndSet(b *testing.B) {
	srv := redistest.Standalone(b)
	ctx := context.Background()
	for _, mode := range []redisstore.Mode{redisstore.ModeTracking, redisstore.ModePubSub} {
		b.Run(string(mode), func(b *testing.B) {
			s, err := redisstore.New(ctx, redisstore.Options{Addrs: []string{srv.Addr}, L1: mode, Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			key := "tg1:bench:cas:" + string(mode)
			if err := s.Delete(ctx, key); err != nil {
				b.Fatal(err)
			}
			var v uint64
			b.ReportAllocs()
			for b.Loop() {
				if v, err = s.CompareAndSet(ctx, key, v, value6KB, time.Hour); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
