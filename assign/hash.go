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
	var m hasher
	m.write(salt)
	m.write(":")
	m.write(purpose)
	m.write(":")
	return m.finish(unit)
}

// HashInput returns the string that Hash(salt, purpose, unit) hashes, for
// logs, debugging and test vectors.
func HashInput(salt, purpose, unit string) string {
	return salt + ":" + purpose + ":" + unit
}

// Sum32 returns the murmur3 x86 32-bit hash of data with seed 0.
func Sum32(data string) uint32 {
	var m hasher
	return m.finish(data)
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
	h    uint32
	tail uint32 // pending bytes, little-endian
	nt   uint   // number of pending bytes, 0..3
	n    uint32 // total length
}

func (m *hasher) write(s string) {
	m.n += uint32(len(s))
	i := 0
	for m.nt > 0 && i < len(s) {
		m.tail |= uint32(s[i]) << (8 * m.nt)
		m.nt++
		i++
		if m.nt == 4 {
			m.block(m.tail)
			m.tail, m.nt = 0, 0
		}
	}
	s = s[i:]
	h := m.h
	for len(s) >= 4 {
		// One 32-bit load once the compiler sees the bounds; the block is
		// inlined here because a call per block doubles the cost.
		k := uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
		k *= c1
		k = k<<15 | k>>17
		k *= c2
		h ^= k
		h = h<<13 | h>>19
		h = h*5 + 0xe6546b64
		s = s[4:]
	}
	m.h = h
	for i := 0; i < len(s); i++ {
		m.tail |= uint32(s[i]) << (8 * m.nt)
		m.nt++
	}
}

// finish returns the hash of m's input continued with s, leaving m as it
// is (a compiled prefix is reused for every unit). The state lives in
// registers here, where write keeps it in m.
func (m *hasher) finish(s string) uint32 {
	h, tail, nt := m.h, m.tail, m.nt
	n := m.n + uint32(len(s))
	for nt > 0 && nt < 4 && len(s) > 0 {
		tail |= uint32(s[0]) << (8 * nt)
		nt++
		s = s[1:]
	}
	if nt == 4 {
		h = mix(h, tail)
		tail, nt = 0, 0
	}
	// One index over whole blocks: re-slicing s per block costs four more
	// instructions a block.
	blocks := len(s) &^ 3
	i := 0
	for ; i < blocks; i += 4 {
		b := s[i : i+4]
		h = mix(h, uint32(b[0])|uint32(b[1])<<8|uint32(b[2])<<16|uint32(b[3])<<24)
	}
	for ; i < len(s); i++ {
		tail |= uint32(s[i]) << (8 * nt)
		nt++
	}
	return fmix(h, tail, nt, n)
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

// fmix folds the pending tail and the length in and avalanches.
func fmix(h, tail uint32, nt uint, n uint32) uint32 {
	if nt > 0 {
		k := tail * c1
		k = k<<15 | k>>17
		k *= c2
		h ^= k
	}
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
	m.tail |= uint32(c) << (8 * m.nt)
	m.nt++
	if m.nt == 4 {
		m.block(m.tail)
		m.tail, m.nt = 0, 0
	}
}

func (m *hasher) block(k uint32) {
	m.h = mix(m.h, k)
}

func (m *hasher) sum() uint32 {
	return fmix(m.h, m.tail, m.nt, m.n)
}
