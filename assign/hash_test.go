package assign

import (
	"strings"
	"testing"
)

// murmur3Pinned are murmur3 x86 32-bit values with seed 0 from the
// reference implementation (the first three are the published ones). If a
// change makes these fail, every stored assignment would move: don't.
var murmur3Pinned = []struct {
	in   string
	want uint32
}{
	{"", 0},
	{"hello", 0x248bfa47},
	{"The quick brown fox jumps over the lazy dog", 0x2e4ff723},
	{"test", 0xba6bd213},
	{"Hello, world!", 0xc0363e43},
	{"a", 0x3c2569b2},
	{"ab", 0x9bbfd75f},
	{"abc", 0xb3dd93fa},
	{"abcd", 0x43ed676a},
	{"\x00\x00\x00\x00", 0x2362f9de},
	{"héllo wörld ✓", 0x0e375ad8},
	{"welcome-email:alloc:user-42", 0x22e03611},
}

func TestMurmur3Pinned(t *testing.T) {
	for _, tc := range murmur3Pinned {
		if got := Sum32(tc.in); got != tc.want {
			t.Errorf("Sum32(%q) = %#08x, want %#08x", tc.in, got, tc.want)
		}
	}
}

// TestHashPieces checks that feeding the input in pieces, across every
// block boundary, is the same as hashing it whole.
func TestHashPieces(t *testing.T) {
	s := strings.Repeat("0123456789abcdef-é", 5)
	for i := 0; i <= len(s); i++ {
		for j := i; j <= len(s); j += 3 {
			if got, want := Hash(s[:i], s[i:j], s[j:]), Sum32(s[:i]+":"+s[i:j]+":"+s[j:]); got != want {
				t.Fatalf("Hash split at %d,%d = %#x, want %#x", i, j, got, want)
			}
		}
	}
	var m hasher
	m.write("s:reroute:seg:")
	m.writeInt(17)
	m.write(":u")
	if got, want := m.sum(), Sum32("s:reroute:seg:17:u"); got != want {
		t.Errorf("writeInt: %#x, want %#x", got, want)
	}
}

func TestBucket(t *testing.T) {
	for _, tc := range []struct {
		h    uint32
		want int
	}{
		{0, 0}, {1, 0}, {429496, 0}, {429497, 1}, {0x80000000, 5000}, {0xffffffff, 9999},
	} {
		if got := Bucket(tc.h); got != tc.want {
			t.Errorf("Bucket(%d) = %d, want %d", tc.h, got, tc.want)
		}
	}
}

func BenchmarkHash(b *testing.B) {
	for _, bc := range []struct{ name, unit string }{
		{"short", "u-12345"},
		{"long", "2f1c9a4e-8b7d-4e21-9f3a-6c5d4b3a2918:customer@example.com:" + strings.Repeat("x", 150)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var sink uint32
			for i := 0; i < b.N; i++ {
				sink += Hash("welcome-email", "alloc", bc.unit)
			}
			_ = sink
		})
	}
}

// TestFinish checks the continuation of a prefix against hashing the whole input, for every alignment of prefix
// and unit.
func TestFinish(t *testing.T) {
	s := strings.Repeat("0123456789abcdef-é", 3)
	for i := 0; i <= 9; i++ {
		for j := 0; j <= 11; j++ {
			for k := 0; k <= len(s); k++ {
				pa := s[:i] + s[len(s)-j:]
				unit := s[k:]
				var a hasher
				a.write(pa)
				if got, want := a.finish(unit), Sum32(pa+unit); got != want {
					t.Fatalf("finish(%q, %q) = %#x, want %#x", pa, unit, got, want)
				}
			}
		}
	}
}

// TestFinish3 checks finish3 against finish for prefixes of every
// alignment, in every order, and units of every length to past three words.
func TestFinish3(t *testing.T) {
	s := strings.Repeat("0123456789abcdef-é", 2)
	var ps [4]hasher
	for i := range ps {
		ps[i] = prefix(s[:i+5])
	}
	for k := 0; k <= len(s); k++ {
		unit := s[k:]
		for i := range ps {
			a, b, c := &ps[i], &ps[(i+1)%4], &ps[(i+2)%4]
			ga, gb, gc := finish3(a, b, c, unit)
			if wa, wb, wc := a.finish(unit), b.finish(unit), c.finish(unit); ga != wa || gb != wb || gc != wc {
				t.Fatalf("finish3(%d, %q) = %#x %#x %#x, want %#x %#x %#x", i, unit, ga, gb, gc, wa, wb, wc)
			}
		}
	}
}

// BenchmarkPrefixes hashes one unit id under an assignment's three
// prefixes (allocation, holdout, variant): one after the other with write
// (the former way) and with finish, and all three at once with finish3.
func BenchmarkPrefixes(b *testing.B) {
	pa, pb, pc := prefix("welcome-email-2025", ":alloc:"), prefix("welcome-email-2025", ":holdout:"),
		prefix("welcome-email-2025", ":variant:", "engaged", ":")
	for _, bc := range []struct{ name, unit string }{
		{"short", "u-12345"},
		{"long", "2f1c9a4e-8b7d-4e21-9f3a-6c5d4b3a2918:customer.name+tag@example.com"},
	} {
		b.Run(bc.name+"/write", func(b *testing.B) {
			var sink uint32
			for i := 0; i < b.N; i++ {
				for _, p := range [...]hasher{pa, pb, pc} {
					p.write(bc.unit)
					sink += p.sum()
				}
			}
			_ = sink
		})
		b.Run(bc.name+"/finish", func(b *testing.B) {
			var sink uint32
			for i := 0; i < b.N; i++ {
				sink += pa.finish(bc.unit) + pb.finish(bc.unit) + pc.finish(bc.unit)
			}
			_ = sink
		})
		b.Run(bc.name+"/finish3", func(b *testing.B) {
			var sink uint32
			for i := 0; i < b.N; i++ {
				x, y, z := finish3(&pa, &pb, &pc, bc.unit)
				sink += x + y + z
			}
			_ = sink
		})
	}
}
