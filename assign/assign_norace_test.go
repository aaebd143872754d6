//go:build !race

package assign_test

import (
	"testing"

	"github.com/spaolacci/murmur3"
)

// BenchmarkAssignBaseline is the floor BenchmarkAssign is measured against,
// in the same run: four library hashes of the hash inputs of one unit (layer
// slot, allocation, holdout, variant; docs/assignment.md), for the same
// cases. "built" writes each input into a stack buffer first, as anything
// that hashes a unit id it has just been given must; "prebuilt" hashes inputs
// made before the loop, the bare cost of the hash. The benchmark experiment
// has no layer, so Assign itself hashes three of the four. It cannot run
// under -race: the library's Sum32WithSeed trips checkptr.
func BenchmarkAssignBaseline(b *testing.B) {
	const salt, layer = "bench", "bench-layer"
	for _, bc := range []struct{ name, unit, segment string }{
		{"short/first-segment", "u-12345", "pro-eu"},
		{"short/last-segment", "u-12345", "rest"},
		{"long/last-segment", "2f1c9a4e-8b7d-4e21-9f3a-6c5d4b3a2918:customer.name+tag@example.com", "rest"},
	} {
		prefixes := [4]string{layer + ":layer:", salt + ":alloc:", salt + ":holdout:", salt + ":variant:" + bc.segment + ":"}
		b.Run(bc.name+"/built", func(b *testing.B) {
			b.ReportAllocs()
			// Outside the loop: zeroing the buffer per call would cost more
			// than the copy.
			var buf [128]byte
			var sink uint32
			for i := 0; i < b.N; i++ {
				for _, p := range prefixes {
					in := append(append(buf[:0], p...), bc.unit...)
					sink += murmur3.Sum32WithSeed(in, 0)
				}
			}
			_ = sink
		})
		var inputs [4][]byte
		for i, p := range prefixes {
			inputs[i] = []byte(p + bc.unit)
		}
		b.Run(bc.name+"/prebuilt", func(b *testing.B) {
			b.ReportAllocs()
			var sink uint32
			for i := 0; i < b.N; i++ {
				for _, in := range inputs {
					sink += murmur3.Sum32WithSeed(in, 0)
				}
			}
			_ = sink
		})
	}
}
