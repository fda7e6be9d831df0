package memstore

import (
	"bytes"
	"testing"
	"time"
)

// 6 KB is one user's sealed MSAL token cache, the value read most.
var value6KB = bytes.Repeat([]byte{'v'}, 6<<10)

func BenchmarkGet(b *testing.B) {
	s := New(Options{})
	defer s.Close()
	ctx := b.Context()
	if _, err := s.CompareAndSet(ctx, "k", 0, value6KB, time.Hour); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(value6KB)))
	for b.Loop() {
		if _, _, err := s.Get(ctx, "k"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCompareAndSet(b *testing.B) {
	s := New(Options{})
	defer s.Close()
	ctx := b.Context()
	v, err := s.CompareAndSet(ctx, "k", 0, value6KB, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(value6KB)))
	for b.Loop() {
		if v, err = s.CompareAndSet(ctx, "k", v, value6KB, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}
