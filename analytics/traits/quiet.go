package traits

import "hash/maphash"

// unitKey stands for a unit id in the trait cache: two independent keyed
// hashes of it, 128 bits. Keys instead of ids keep the cache's tables free
// of pointers, which the garbage collector then never scans: a map of a
// million string keys cost a bulk send more CPU in marking than in
// assigning. Two ids share a key with probability about n²/2¹²⁹ (1e-27
// for a million units), and the seeds are the process's own, so no client
// can aim for a collision; a collision would give one unit the other's
// traits.
type unitKey struct{ hi, lo uint64 }

// unitKeys derives unitKeys under one cache's seeds.
type unitKeys struct{ a, b maphash.Seed }

func newUnitKeys() unitKeys { return unitKeys{maphash.MakeSeed(), maphash.MakeSeed()} }

func (k unitKeys) of(unit string) unitKey {
	key := unitKey{maphash.String(k.a, unit), maphash.String(k.b, unit)}
	if key == (unitKey{}) {
		key.lo = 1 // the zero key marks an empty slot
	}
	return key
}

// dayPair is what a quiet unit's traits depend on: the first day it was
// seen and the last (see quietForm).
type dayPair struct{ first, last int32 }

// quietForm reports whether a's traits are a function of its first and
// last day alone, and those days: true for a unit that never opened,
// clicked or converted in the activity held, which is most units (every
// unit of a send, until it engages). ComputeTraits of a and of
// UnitActivity{FirstSeen: p.first, LastSeen: p.last} are then equal.
func quietForm(a *UnitActivity) (p dayPair, ok bool) {
	first := a.FirstSeen
	for _, d := range a.Days {
		if d.Opens+d.Clicks+d.Conversions > 0 {
			return dayPair{}, false
		}
		if first == 0 || d.Day < first {
			first = d.Day
		}
	}
	return dayPair{first: first, last: a.LastDay()}, true
}

// quietSlot is one entry of a quietTable: a unit and the index of its
// dayPair. It holds no pointer.
type quietSlot struct {
	key  unitKey // zero: empty
	pair uint32
}

// quietTable maps unit keys to day-pair indexes: an open-addressing hash
// table with linear probing, whose slots hold no pointer. The cache keeps
// its own and publishes copies (a copy is a single memmove, about 50 MB for
// a million units, and the collector never looks inside it).
type quietTable struct {
	slots []quietSlot // a power of two long, or nil
	n     int
}

const minQuietSlots = 1024

func (t *quietTable) len() int { return t.n }

func (t *quietTable) index(k unitKey) int { return int(k.lo & uint64(len(t.slots)-1)) }

// find returns k's pair index.
func (t *quietTable) find(k unitKey) (uint32, bool) {
	if t.n == 0 {
		return 0, false
	}
	mask := len(t.slots) - 1
	for i := t.index(k); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.key == k {
			return s.pair, true
		}
		if s.key == (unitKey{}) {
			return 0, false
		}
	}
}

// put sets k's pair index.
func (t *quietTable) put(k unitKey, pair uint32) {
	if (t.n+1)*4 > len(t.slots)*3 {
		t.grow()
	}
	mask := len(t.slots) - 1
	for i := t.index(k); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.key == k {
			s.pair = pair
			return
		}
		if s.key == (unitKey{}) {
			*s = quietSlot{key: k, pair: pair}
			t.n++
			return
		}
	}
}

// remove deletes k, shifting back the entries after it so that no probe
// sequence is broken (no tombstones to accumulate).
func (t *quietTable) remove(k unitKey) bool {
	if t.n == 0 {
		return false
	}
	mask := len(t.slots) - 1
	i := t.index(k)
	for {
		if t.slots[i].key == k {
			break
		}
		if t.slots[i].key == (unitKey{}) {
			return false
		}
		i = (i + 1) & mask
	}
	t.deleteAt(i)
	return true
}

// deleteAt empties slot i and moves later entries of its cluster into the
// hole when their home slot allows.
func (t *quietTable) deleteAt(i int) {
	mask := len(t.slots) - 1
	for j := (i + 1) & mask; t.slots[j].key != (unitKey{}); j = (j + 1) & mask {
		home := t.index(t.slots[j].key)
		// The entry at j may fill the hole at i unless its home lies
		// cyclically in (i, j].
		if (j-home)&mask >= (j-i)&mask {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = quietSlot{}
	t.n--
}

// filter keeps the entries keep accepts, with their pair indexes rewritten
// by it.
func (t *quietTable) filter(keep func(pair uint32) (uint32, bool)) {
	old := t.slots
	t.slots, t.n = nil, 0
	if len(old) == 0 {
		return
	}
	n := 0
	for i := range old {
		if old[i].key != (unitKey{}) {
			if p, ok := keep(old[i].pair); ok {
				old[i].pair = p
				n++
			} else {
				old[i].key = unitKey{}
			}
		}
	}
	t.slots = make([]quietSlot, slotsFor(n))
	for _, s := range old {
		if s.key != (unitKey{}) {
			t.put(s.key, s.pair)
		}
	}
}

// slotsFor returns the fewest slots that hold n entries at most 3/4 full,
// the load at which put grows the table.
func slotsFor(n int) int {
	size := minQuietSlots
	for (n+1)*4 > size*3 {
		size *= 2
	}
	return size
}

func (t *quietTable) grow() {
	old := t.slots
	t.slots, t.n = make([]quietSlot, max(minQuietSlots, 2*len(old))), 0
	for _, s := range old {
		if s.key != (unitKey{}) {
			t.put(s.key, s.pair)
		}
	}
}

// clone returns a copy that shares nothing with t.
func (t *quietTable) clone() quietTable {
	if t.n == 0 {
		return quietTable{}
	}
	c := quietTable{slots: make([]quietSlot, len(t.slots)), n: t.n}
	copy(c.slots, t.slots)
	return c
}

// each calls fn with every entry's pair index.
func (t *quietTable) each(fn func(pair uint32)) {
	for i := range t.slots {
		if t.slots[i].key != (unitKey{}) {
			fn(t.slots[i].pair)
		}
	}
}

// perPair counts the entries of each pair index below pairs.
func (t *quietTable) perPair(pairs int) []int {
	n := make([]int, pairs)
	t.each(func(p uint32) { n[p]++ })
	return n
}

// eachKey calls fn with every entry's key and value.
func (t *quietTable) eachKey(fn func(k unitKey, v uint32)) {
	for i := range t.slots {
		if t.slots[i].key != (unitKey{}) {
			fn(t.slots[i].key, t.slots[i].pair)
		}
	}
}
