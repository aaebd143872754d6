package fatigue

import "math/bits"

// Key is a unit's key in the fatigue state: SipHash-2-4 of its id with
// the zero key, which is ClickHouse's sipHash64(unit), so that a refresh
// reads sends and signals as fixed-width keys (no string per row to decode
// and hash) that name the same unit as KeyOf here. 64 bits: two units of a
// few million share a key with a chance below one in a million.
type Key uint64

// KeyOf is unit's Key.
func KeyOf(unit string) Key { return Key(sipHash(0, 0, unit)) }

// sipHash is SipHash-2-4 of s with the key (k0, k1).
func sipHash(k0, k1 uint64, s string) uint64 {
	v0 := k0 ^ 0x736f6d6570736575
	v1 := k1 ^ 0x646f72616e646f6d
	v2 := k0 ^ 0x6c7967656e657261
	v3 := k1 ^ 0x7465646279746573
	round := func() {
		v0 += v1
		v1 = bits.RotateLeft64(v1, 13)
		v1 ^= v0
		v0 = bits.RotateLeft64(v0, 32)
		v2 += v3
		v3 = bits.RotateLeft64(v3, 16)
		v3 ^= v2
		v0 += v3
		v3 = bits.RotateLeft64(v3, 21)
		v3 ^= v0
		v2 += v1
		v1 = bits.RotateLeft64(v1, 17)
		v1 ^= v2
		v2 = bits.RotateLeft64(v2, 32)
	}
	n := len(s)
	for ; len(s) >= 8; s = s[8:] {
		m := le64(s)
		v3 ^= m
		round()
		round()
		v0 ^= m
	}
	m := uint64(n) << 56
	for i := len(s) - 1; i >= 0; i-- {
		m |= uint64(s[i]) << (8 * i)
	}
	v3 ^= m
	round()
	round()
	v0 ^= m
	v2 ^= 0xff
	round()
	round()
	round()
	round()
	return v0 ^ v1 ^ v2 ^ v3
}

// le64 is the first 8 bytes of s as a little-endian word (one load: the
// compiler combines the byte loads).
func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}
