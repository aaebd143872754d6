//go:build !race

package assign

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/spaolacci/murmur3"
)

// TestHashMatchesLibrary pins our murmur3 to github.com/spaolacci/murmur3.
// It cannot run under -race: the library's Sum32WithSeed trips checkptr.
func TestHashMatchesLibrary(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 300)
	for i := 0; i < 20000; i++ {
		n := r.IntN(len(buf))
		for j := range n {
			buf[j] = byte(r.Uint32())
		}
		if got, want := Sum32(string(buf[:n])), murmur3.Sum32WithSeed(buf[:n], 0); got != want {
			t.Fatalf("Sum32(%x) = %#x, murmur3 says %#x", buf[:n], got, want)
		}
	}
	for _, tc := range murmur3Pinned {
		if got := murmur3.Sum32WithSeed([]byte(tc.in), 0); got != tc.want {
			t.Errorf("murmur3.Sum32WithSeed(%q) = %#08x, pinned %#08x", tc.in, got, tc.want)
		}
	}
}

// BenchmarkHashLibrary is BenchmarkHash's inputs hashed by the library, the
// floor Hash is measured against in the same run: "built" writes the input
// into a stack buffer first, as Hash's callers would have to; "prebuilt"
// hashes an input made before the loop.
func BenchmarkHashLibrary(b *testing.B) {
	for _, bc := range []struct{ name, unit string }{
		{"short", "u-12345"},
		{"long", "2f1c9a4e-8b7d-4e21-9f3a-6c5d4b3a2918:customer@example.com:" + strings.Repeat("x", 150)},
	} {
		b.Run(bc.name+"/built", func(b *testing.B) {
			b.ReportAllocs()
			// Outside the loop: zeroing the buffer per call would cost more
			// than the copy.
			var buf [256]byte
			var sink uint32
			for i := 0; i < b.N; i++ {
				in := append(append(buf[:0], "welcome-email:alloc:"...), bc.unit...)
				sink += murmur3.Sum32WithSeed(in, 0)
			}
			_ = sink
		})
		in := []byte("welcome-email:alloc:" + bc.unit)
		b.Run(bc.name+"/prebuilt", func(b *testing.B) {
			b.ReportAllocs()
			var sink uint32
			for i := 0; i < b.N; i++ {
				sink += murmur3.Sum32WithSeed(in, 0)
			}
			_ = sink
		})
	}
}

// BenchmarkHashRatio reports Hash's CPU time as a multiple of the
// library's on the same inputs, in alternating turns of one run
// (CPURatio): x-prebuilt against Sum32WithSeed of an input made before
// the loop, x-built against building it into a stack buffer first. ns/op
// is per round of 2,000 calls of each and means little.
func BenchmarkHashRatio(b *testing.B) {
	for _, bc := range []struct{ name, unit string }{
		{"short", "u-12345"},
		{"long", "2f1c9a4e-8b7d-4e21-9f3a-6c5d4b3a2918:customer@example.com:" + strings.Repeat("x", 150)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var sink uint32
			ours := func(n int) {
				for range n {
					sink += Hash("welcome-email", "alloc", bc.unit)
				}
			}
			in := []byte("welcome-email:alloc:" + bc.unit)
			prebuilt := func(n int) {
				for range n {
					sink += murmur3.Sum32WithSeed(in, 0)
				}
			}
			var buf [256]byte
			built := func(n int) {
				for range n {
					sink += murmur3.Sum32WithSeed(append(append(buf[:0], "welcome-email:alloc:"...), bc.unit...), 0)
				}
			}
			b.ReportMetric(CPURatio(b.N, 2000, ours, prebuilt), "x-prebuilt")
			b.ReportMetric(CPURatio(b.N, 2000, ours, built), "x-built")
			_ = sink
		})
	}
}
