package fatigue

import (
	"math/bits"
	"sync/atomic"
	"unsafe"
)

// table is the cap state of one shard: an open-addressing hash table with
// linear probing whose slot (the unit's key and its recent sends) is one
// 64-byte cache line, so that a check on a state too large for the CPU's
// caches misses them once, not twice as Go's map does (its control bytes
// and its slots are in different lines), and that miss can be started
// early (Gate.Prefetch). It holds no pointer, so the garbage collector
// never walks it. Key 0 is an empty slot: keys are made non-zero by
// tableKey. Entries are removed only by rebuilding (sweep), so probing
// never meets a tombstone. At most three quarters of the slots are taken,
// so a probe always ends at an empty slot.
type table struct {
	slots []slot
	n     int
	// base and mask are &slots[0] and len(slots)-1 for Gate.Prefetch,
	// which reads them without the shard's lock: a pair made stale by a
	// rebuild racing with it only prefetches a line nobody reads.
	base atomic.Uintptr
	mask atomic.Uint64
	// mapped holds slots of hugePage or more, which are mapped outside
	// Go's heap (mapSlots); nil for slots from the heap.
	mapped *mapping
}

// hugePage is the size from which a table's slots are mapped in pages of
// their own (mapSlots): 32,768 slots. Sizes are powers of two, so a table
// that large fills its 2 MB pages exactly; a smaller one stays in Go's
// heap, where a whole page would be mostly waste. The gate's 16 shards
// reach it together at about 200,000 to 390,000 units.
const hugePage = 2 << 20

type slot struct {
	key uint64
	r   recent
}

// tableKey is k as a table key: never 0.
func tableKey(k Key) uint64 { return uint64(k) | 1 }

// index is where probing for key starts: its top bits (the low ones chose
// the shard), so that keys in ascending order probe the table in
// ascending order too, which is how a refresh applies the sends it read
// (sorted by key): the lines it touches then come one after the other,
// as the CPU's own prefetcher expects, not each a random miss.
func index(key uint64, mask uint64) uint64 { return key >> bits.LeadingZeros64(mask) }

// prefetch starts loading the slot where probing for key starts.
func (t *table) prefetch(key uint64) {
	if base := t.base.Load(); base != 0 {
		prefetch(base + uintptr(index(key, t.mask.Load()))*unsafe.Sizeof(slot{}))
	}
}

// find returns key's slot, or the empty slot where key would go (found
// false), for insert.
func (t *table) find(key uint64) (s *slot, found bool) {
	if len(t.slots) == 0 {
		t.resize(16)
	}
	mask := uint64(len(t.slots) - 1)
	for i := index(key, mask); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.key == key {
			return s, true
		}
		if s.key == 0 {
			return s, false
		}
	}
}

// insert sets key's sends in s, the empty slot find returned for key,
// then grows the table past three quarters full.
func (t *table) insert(s *slot, key uint64, r recent) {
	s.key, s.r = key, r
	t.n++
	if t.n*4 > len(t.slots)*3 {
		t.resize(2 * len(t.slots))
	}
}

// resize rebuilds the table with size slots (a power of two, enough for
// every entry), keeping the entries keep accepts (all when keep is nil).
func (t *table) resize(size int) { t.rebuild(size, nil) }

func (t *table) rebuild(size int, keep func(*recent) bool) {
	old, oldMapped := t.slots, t.mapped
	t.slots, t.mapped, t.n = nil, nil, 0
	if size*int(unsafe.Sizeof(slot{})) >= hugePage {
		t.slots, t.mapped = mapSlots(size)
	}
	if t.slots == nil {
		t.slots = make([]slot, size)
	}
	t.base.Store(uintptr(unsafe.Pointer(&t.slots[0])))
	t.mask.Store(uint64(size - 1))
	for i := range old {
		if s := &old[i]; s.key != 0 && (keep == nil || keep(&s.r)) {
			to, _ := t.find(s.key)
			to.key, to.r = s.key, s.r
			t.n++
		}
	}
	// Under the shard's lock, like every read of the slots; Prefetch,
	// which reads base without it, may still ask for a line of the old
	// ones, which PREFETCHT0 drops once they are unmapped.
	if oldMapped != nil {
		oldMapped.free()
	}
}

// sweep drops the units whose every send is before from, and shrinks the
// table to fit what is left.
func (t *table) sweep(from uint32) {
	live := 0
	for i := range t.slots {
		if s := &t.slots[i]; s.key != 0 && s.r.newest() >= from {
			live++
		}
	}
	size := 16
	for live*4 > size*3/2 { // half full at most after a sweep
		size *= 2
	}
	t.rebuild(size, func(r *recent) bool { return r.newest() >= from })
}
