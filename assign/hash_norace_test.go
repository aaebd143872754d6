//go:build !race

package assign

import (
	"math/rand/v2"
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
