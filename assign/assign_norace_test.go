//go:build !race

package assign_test

import (
	"testing"

	"github.com/spaolacci/murmur3"

	"github.com/splitcast/splitcast/assign"
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
	for _, bc := range assignCases {
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

// BenchmarkAssignRatio reports Assign's CPU time as a multiple of
// BenchmarkAssignBaseline's four library hashes, built and prebuilt, in
// alternating turns of one run (assign.CPURatio), for the same cases: the
// figures the targets are stated in (first segment <= 2x, last
// <= 3x). ns/op is per round of 1,000 calls of each and means little.
func BenchmarkAssignRatio(b *testing.B) {
	const salt, layer = "bench", "bench-layer"
	s := mustSnapshot(b, mustExperiment(b, bench3x4))
	for _, bc := range assignCases {
		b.Run(bc.name, func(b *testing.B) {
			prefixes := [4]string{layer + ":layer:", salt + ":alloc:", salt + ":holdout:", salt + ":variant:" + bc.segment + ":"}
			var inputs [4][]byte
			for i, p := range prefixes {
				inputs[i] = []byte(p + bc.unit)
			}
			if a := mustAssign(b, s, "bench", bc.unit, bc.attrs); a.Segment != bc.segment {
				b.Fatalf("Assign(%q).Segment = %q, want %q", bc.unit, a.Segment, bc.segment)
			}
			var sink uint32
			ours := func(n int) {
				for range n {
					if _, err := s.Assign("bench", bc.unit, bc.attrs); err != nil {
						b.Fatal(err)
					}
				}
			}
			var buf [128]byte
			built := func(n int) {
				for range n {
					for _, p := range prefixes {
						sink += murmur3.Sum32WithSeed(append(append(buf[:0], p...), bc.unit...), 0)
					}
				}
			}
			prebuilt := func(n int) {
				for range n {
					for _, in := range inputs {
						sink += murmur3.Sum32WithSeed(in, 0)
					}
				}
			}
			b.ReportMetric(assign.CPURatio(b.N, 1000, ours, built), "x-built")
			b.ReportMetric(assign.CPURatio(b.N, 1000, ours, prebuilt), "x-prebuilt")
			_ = sink
		})
	}
}
