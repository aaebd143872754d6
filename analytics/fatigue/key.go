package fatigue

// Key is a unit's key in the fatigue state: MurmurHash64A of its id with
// seed 0, which is ClickHouse's murmurHash2_64(unit), so that a refresh
// reads sends and signals as fixed-width keys (no string per row to decode
// and hash) that name the same unit as KeyOf here. 64 bits: two units of a
// few million share a key with a chance below one in a million (they would
// then share their caps and suppressions). MurmurHash rather than SipHash:
// a tenth of the check's time less, and the keys are only ever compared,
// never exposed to anyone who could pick ids to collide them on purpose
// for gain (a collision only withholds messages).
type Key uint64

// KeyOf is unit's Key.
func KeyOf(unit string) Key { return Key(murmur64A(unit)) }

// murmur64A is Austin Appleby's MurmurHash64A of s with seed 0.
func murmur64A(s string) uint64 {
	const m, r = 0xc6a4a7935bd1e995, 47
	h := uint64(len(s)) * m
	for ; len(s) >= 8; s = s[8:] {
		k := le64(s)
		k *= m
		k ^= k >> r
		k *= m
		h ^= k
		h *= m
	}
	if len(s) > 0 {
		for i := len(s) - 1; i >= 0; i-- {
			h ^= uint64(s[i]) << (8 * i)
		}
		h *= m
	}
	h ^= h >> r
	h *= m
	h ^= h >> r
	return h
}

// le64 is the first 8 bytes of s as a little-endian word (one load: the
// compiler combines the byte loads).
func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}
