package analytics

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"sync/atomic"
)

// IDs makes ids of 32 hex digits that neither repeat nor tell
// anything: each is a per-process counter block (a random start) encrypted
// with AES under a per-process random key. Encryption is a permutation, so
// a process never repeats an id before 2^64 of them; ids of two processes
// (or of one, restarted) are unrelated random-looking 128-bit values, which
// meet with a chance of about n²/2^129. A plain counter leaked how many
// requests a server had answered to anyone who fetched two pixels. It costs
// an atomic add and one AES block where 16 random bytes per id cost a
// locked DRBG read.
type IDs struct {
	block cipher.Block
	hi    uint64
	lo    atomic.Uint64
}

// NewIDs returns a source with a random key and start.
func NewIDs() *IDs {
	var b [32]byte
	_, _ = rand.Read(b[:])
	block, err := aes.NewCipher(b[:16])
	if err != nil {
		panic(err) // a 16-byte key is always valid
	}
	s := &IDs{block: block, hi: binary.BigEndian.Uint64(b[16:24])}
	s.lo.Store(binary.BigEndian.Uint64(b[24:]))
	return s
}

// AppendID appends the next id to dst. The low half of the counter wraps
// without carrying into the high one: a block repeats only after 2^64 ids.
func (s *IDs) AppendID(dst []byte) []byte {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], s.hi)
	binary.BigEndian.PutUint64(b[8:], s.lo.Add(1))
	s.block.Encrypt(b[:], b[:])
	return hex.AppendEncode(dst, b[:])
}

// Next returns prefix + the next id, as one string.
func (s *IDs) Next(prefix string) string {
	var b [8 + 32]byte
	return string(s.AppendID(append(b[:0], prefix...)))
}

// Digest returns prefix + a stable id derived from the parts that make an
// event the same event (a retried send, an idempotency key), as one string.
func Digest(prefix string, parts ...string) string {
	// Hashed from a stack buffer in one call: sha256.New and Sum(nil)
	// each allocate.
	buf := make([]byte, 0, 512)
	for _, p := range parts {
		buf = append(append(buf, p...), 0)
	}
	sum := sha256.Sum256(buf)
	var out [64]byte
	o := append(out[:0], prefix...)
	return string(hex.AppendEncode(o, sum[:16]))
}
