package fatigue

import (
	"math/rand/v2"
	"testing"
)

// TestMurmur64A pins murmur64A to values ClickHouse 18.16 gave for
// murmurHash2_64 (analytics/clickhouse's TestFatigueKeys holds the two
// equal on many more ids, against a real server).
func TestMurmur64A(t *testing.T) {
	for s, want := range map[string]uint64{"": 0, "abc": 11297775770902552315} {
		if got := murmur64A(s); got != want {
			t.Errorf("murmur64A(%q) = %d, want %d", s, got, want)
		}
	}
}

// hexKeyByTable is hexKey as it was, a table look-up per digit: the
// reference TestHexKeyEqualsTable holds the word-at-a-time one to.
func hexKeyByTable(id string) (uint64, bool) {
	if len(id) < 18 {
		return 0, false
	}
	var k uint64
	for _, c := range []byte(id[2:18]) {
		var d uint64
		switch {
		case c >= '0' && c <= '9':
			d = uint64(c - '0')
		case c >= 'a' && c <= 'f':
			d = uint64(c-'a') + 10
		case c >= 'A' && c <= 'F':
			d = uint64(c-'A') + 10
		default:
			return 0, false
		}
		k = k<<4 | d
	}
	return k, true
}

// TestHexKeyEqualsTable: every byte value at every digit's place, and
// random ids of hex digits in both cases, read alike by both.
func TestHexKeyEqualsTable(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const digits = "0123456789abcdefABCDEF"
	id := func() []byte {
		b := []byte("x:")
		for range 32 {
			b = append(b, digits[r.IntN(len(digits))])
		}
		return b
	}
	check := func(s string) {
		t.Helper()
		gk, gok := hexKey(s)
		wk, wok := hexKeyByTable(s)
		if gk != wk && (gok || wok) || gok != wok {
			t.Fatalf("hexKey(%q) = %#x, %v; by table %#x, %v", s, gk, gok, wk, wok)
		}
	}
	valid := 0
	for pos := 2; pos < 18; pos++ {
		for c := range 256 {
			b := id()
			b[pos] = byte(c)
			check(string(b))
			if _, ok := hexKey(string(b)); ok {
				valid++
			}
		}
	}
	if valid != 16*len(digits) {
		t.Fatalf("%d ids read as valid, want %d", valid, 16*len(digits))
	}
	for range 100000 {
		check(string(id()))
	}
	for _, s := range []string{"", "x:", "x:0123456789abcde", "x:0123456789abcdef", "x:ffffffffffffffff", "x:0000000000000000"} {
		check(s)
	}
}
