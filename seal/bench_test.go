package seal

import (
	"bytes"
	"testing"
)

// 6 KB is the size of one user's MSAL token cache, the value sealed most.
func BenchmarkSeal(b *testing.B) {
	kr := testKeyring(b, "k1")
	pt := bytes.Repeat([]byte{'t'}, 6<<10)
	dst := make([]byte, 0, len(pt)+kr.Overhead())
	b.Run("6KB", func(b *testing.B) {
		b.SetBytes(int64(len(pt)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := kr.AppendSeal(dst[:0], pt, name); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkOpen(b *testing.B) {
	kr := testKeyring(b, "k1")
	pt := bytes.Repeat([]byte{'t'}, 6<<10)
	sealed, err := kr.Seal(pt, name)
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]byte, 0, len(pt))
	b.Run("6KB", func(b *testing.B) {
		b.SetBytes(int64(len(pt)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := kr.AppendOpen(dst[:0], sealed, name); err != nil {
				b.Fatal(err)
			}
		}
	})
}
