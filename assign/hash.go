package assign

import "strconv"

// Hash returns the murmur3 x86 32-bit hash, seed 0, of the UTF-8 string
// salt + ":" + purpose + ":" + unit: the hash input of every assignment
// decision (docs/assignment.md lists the purposes). It allocates nothing.
//
// It is murmur3 written out here rather than a call to
// github.com/spaolacci/murmur3: v1.1.0's Sum32WithSeed reads through a bare
// uintptr, which the race detector's checkptr mode rejects with a fatal
// error, and every test in this repository runs with -race. A test pins this
// implementation to the library and to the reference values.
func Hash(salt, purpose, unit string) uint32 {
	h, acc, sh := blocks(0, 0, 0, salt)
	h, acc, sh = colon(h, acc, sh)
	h, acc, sh = blocks(h, acc, sh, purpose)
	h, acc, sh = colon(h, acc, sh)
	h, acc, _ = blocks(h, acc, sh, unit)
	return fmix(h, uint32(acc), uint32(len(salt)+len(purpose)+len(unit)+2))
}

// HashInput returns the string that Hash(salt, purpose, unit) hashes, for
// logs, debugging and test vectors.
func HashInput(salt, purpose, unit string) string {
	return salt + ":" + purpose + ":" + unit
}

// Sum32 returns the murmur3 x86 32-bit hash of data with seed 0.
func Sum32(data string) uint32 {
	h, acc, _ := blocks(0, 0, 0, data)
	return fmix(h, uint32(acc), uint32(len(data)))
}

// Bucket maps a hash to one of 10,000 buckets: floor(h * 10000 / 2^32).
func Bucket(h uint32) int {
	return int(uint64(h) * buckets >> 32)
}

const buckets = 10000

const (
	c1 = 0xcc9e2d51
	c2 = 0x1b873593
)

// hasher is murmur3 x86 32-bit, seed 0, fed in pieces so that a hash input
// made of several strings is never concatenated (no allocation, no length
// limit). Bytes are consumed as little-endian 32-bit blocks across pieces.
type hasher struct {
	h   uint32
	n   uint32 // total length
	acc uint64 // pending bytes, little-endian; fewer than 4
	sh  uint   // 8 × the number of pending bytes
}

// blocks continues the state (h, acc, sh) of a hasher with s. It takes and
// returns the state as values so that it stays in registers, where fields
// of a hasher would be stored back after every block.
//
// A piece starts anywhere within a block (a prefix such as "bench:holdout:"
// leaves two bytes pending), so each load of s is shifted in over the
// pending bytes: a shift and an or per load more than an aligned hash, and
// no byte loop. sh&63 tells the compiler that the shifts are in range (sh
// is at most 24), sparing a compare and a mask per load.
func blocks(h uint32, acc uint64, sh uint, s string) (uint32, uint64, uint) {
	whole := s
	// Two blocks per 8-byte load: half the loop overhead, which is most of
	// the cost beside murmur3's own chain. The loops index s rather than
	// reslice it (a reslice costs a pointer mask per turn), and a piece
	// that starts on a block boundary skips the shifts: with both, a long
	// input hashes in 1.13x the library's time rather than 1.5x
	// (BenchmarkHashRatio/long).
	if len(s) >= 8 {
		i := 0
		if sh == 0 {
			for ; i+8 <= len(s); i += 8 {
				w := load64(s[i : i+8])
				h = mix(mix(h, uint32(w)), uint32(w>>32))
			}
		} else {
			// The bytes shifted out of the top of lo are the next pending
			// ones.
			ls, rs := sh&63, (63-sh)&63
			for ; i+8 <= len(s); i += 8 {
				w := load64(s[i : i+8])
				lo := acc | w<<ls
				h = mix(mix(h, uint32(lo)), uint32(lo>>32))
				acc = w >> rs >> 1
			}
		}
		s = s[i:]
	}
	if len(s) >= 4 {
		acc |= uint64(uint32(s[0])|uint32(s[1])<<8|uint32(s[2])<<16|uint32(s[3])<<24) << (sh & 63)
		h = mix(h, uint32(acc))
		acc >>= 32
		s = s[4:]
	}
	r := uint(len(s))
	if r == 0 {
		return h, acc, sh
	}
	var t uint32
	if len(whole) >= 4 {
		// The last four bytes, shifted down to the r not yet hashed: one
		// load instead of a byte loop.
		b := whole[len(whole)-4:]
		t = (uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24) >> ((32 - 8*r) & 31)
	} else {
		for i := range r {
			t |= uint32(s[i]) << (8 * i & 31)
		}
	}
	acc |= uint64(t) << (sh & 63)
	sh += 8 * r
	if sh >= 32 {
		h = mix(h, uint32(acc))
		acc >>= 32
		sh -= 32
	}
	return h, acc, sh
}

// colon is blocks of ":", the separator of every hash input.
func colon(h uint32, acc uint64, sh uint) (uint32, uint64, uint) {
	acc |= ':' << sh
	sh += 8
	if sh == 32 {
		return mix(h, uint32(acc)), 0, 0
	}
	return h, acc, sh
}

func (m *hasher) write(s string) {
	m.h, m.acc, m.sh = blocks(m.h, m.acc, m.sh, s)
	m.n += uint32(len(s))
}

// finish returns the hash of m's input continued with s, leaving m as it
// is (a compiled prefix is reused for every unit).
func (m *hasher) finish(s string) uint32 {
	h, acc, _ := blocks(m.h, m.acc, m.sh, s)
	return fmix(h, uint32(acc), m.n+uint32(len(s)))
}

// finish3 is finish of a, b and c with the same s, as an assignment's
// allocation, holdout and variant hashes are. Each murmur3 hash is one
// chain of dependent multiplies: three chains interleaved run side by side
// in the CPU in about the time of one, and s is loaded once for all three.
func finish3(a, b, c *hasher, s string) (uint32, uint32, uint32) {
	ha, hb, hc := a.h, b.h, c.h
	acca, accb, accc := a.acc, b.acc, c.acc
	sha, shb, shc := a.sh&63, b.sh&63, c.sh&63
	n := uint32(len(s))
	whole := s
	for len(s) >= 8 {
		// Two blocks of each state, written out: word does not inline.
		w := load64(s)
		la, lb, lc := acca|w<<sha, accb|w<<shb, accc|w<<shc
		ha = mix(mix(ha, uint32(la)), uint32(la>>32))
		hb = mix(mix(hb, uint32(lb)), uint32(lb>>32))
		hc = mix(mix(hc, uint32(lc)), uint32(lc>>32))
		acca, accb, accc = w>>((63-sha)&63)>>1, w>>((63-shb)&63)>>1, w>>((63-shc)&63)>>1
		s = s[8:]
	}
	t, r := tailBytes(whole, s)
	return fold(ha, acca, sha, t, r, a.n+n), fold(hb, accb, shb, t, r, b.n+n), fold(hc, accc, shc, t, r, c.n+n)
}

// tailBytes returns rest, the last len(rest) < 8 bytes of whole, as a
// little-endian word, and its length: with overlapping loads rather than
// a byte loop.
func tailBytes(whole, rest string) (uint64, uint) {
	r := uint(len(rest))
	switch {
	case r == 0:
		return 0, 0
	case len(whole) >= 8:
		return load64(whole[len(whole)-8:]) >> ((64 - 8*r) & 63), r
	case r >= 4:
		// The bytes both loads hold are the same: or-ing them is harmless.
		return uint64(load32(rest)) | uint64(load32(rest[r-4:]))<<(8*(r-4)&63), r
	}
	return uint64(rest[0]) | uint64(rest[r/2])<<(8*(r/2)&63) | uint64(rest[r-1])<<(8*(r-1)&63), r
}

// fold folds the r < 8 bytes t in after a state's sh < 32 pending bits and
// finishes the hash of n bytes.
func fold(h uint32, acc uint64, sh uint, t uint64, r uint, n uint32) uint32 {
	lo := acc | t<<(sh&63)
	var tail uint32
	switch bits := sh + 8*r; {
	case bits >= 64:
		h = mix(h, uint32(lo))
		h = mix(h, uint32(lo>>32))
		tail = uint32(t >> ((64 - sh) & 63)) // sh >= 8 here: r < 8
	case bits >= 32:
		h = mix(h, uint32(lo))
		tail = uint32(lo >> 32)
	default:
		tail = uint32(lo)
	}
	return fmix(h, tail, n)
}

func load64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

func load32(s string) uint32 {
	_ = s[3]
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}

// mix folds one block into the state.
func mix(h, k uint32) uint32 {
	k *= c1
	k = k<<15 | k>>17
	k *= c2
	h ^= k
	h = h<<13 | h>>19
	return h*5 + 0xe6546b64
}

// fmix folds the pending tail (zero when there is none: murmur3 skips an
// empty tail, and mixing a zero block into h leaves it as it is) and the
// length in, and avalanches.
func fmix(h, tail uint32, n uint32) uint32 {
	k := tail * c1
	k = k<<15 | k>>17
	k *= c2
	h ^= k
	h ^= n
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

func (m *hasher) writeInt(n int) {
	var buf [20]byte
	b := strconv.AppendInt(buf[:0], int64(n), 10)
	// A string view of the stack buffer would need unsafe; a byte loop is
	// as fast for one or two digits.
	for _, c := range b {
		m.writeByte(c)
	}
}

func (m *hasher) writeByte(c byte) {
	m.n++
	m.acc |= uint64(c) << m.sh
	m.sh += 8
	if m.sh == 32 {
		m.h = mix(m.h, uint32(m.acc))
		m.acc, m.sh = 0, 0
	}
}

func (m *hasher) sum() uint32 {
	return fmix(m.h, uint32(m.acc), m.n)
}
