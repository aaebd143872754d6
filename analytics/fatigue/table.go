package fatigue

// table is the cap state of one shard: an open-addressing hash table with
// linear probing whose slot (the unit's key and its recent sends) is one
// 64-byte cache line, so that a check on a state too large for the CPU's
// caches misses them once, not twice as Go's map does (its control bytes
// and its slots are in different lines). It holds no pointer. Key 0 is an
// empty slot: keys are made non-zero by tableKey. Entries are removed only
// by rebuilding (sweep), so probing never meets a tombstone.
type table struct {
	slots []slot
	n     int
}

type slot struct {
	key uint64
	r   recent
}

// tableKey is h as a table key: never 0.
func tableKey(h uint64) uint64 { return h | 1 }

// index is where probing for key starts: the bits above those that chose
// the shard.
func (t *table) index(key uint64) int { return int(key>>6) & (len(t.slots) - 1) }

// get returns key's sends, zero when it has none.
func (t *table) get(key uint64) recent {
	if len(t.slots) == 0 {
		return recent{}
	}
	for i := t.index(key); ; i = (i + 1) & (len(t.slots) - 1) {
		s := &t.slots[i]
		if s.key == key {
			return s.r
		}
		if s.key == 0 {
			return recent{}
		}
	}
}

// put sets key's sends, growing the table past three quarters full.
func (t *table) put(key uint64, r recent) {
	if (t.n+1)*4 > len(t.slots)*3 {
		t.grow(max(16, 2*len(t.slots)))
	}
	for i := t.index(key); ; i = (i + 1) & (len(t.slots) - 1) {
		s := &t.slots[i]
		if s.key == key {
			s.r = r
			return
		}
		if s.key == 0 {
			s.key, s.r = key, r
			t.n++
			return
		}
	}
}

// rebuild rebuilds the table with size slots (a power of two), keeping the
// entries keep accepts.
func (t *table) rebuild(size int, keep func(*recent) bool) {
	old := t.slots
	t.slots, t.n = make([]slot, size), 0
	for i := range old {
		if s := &old[i]; s.key != 0 && keep(&s.r) {
			t.put(s.key, s.r)
		}
	}
}

func (t *table) grow(size int) { t.rebuild(size, func(*recent) bool { return true }) }

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
