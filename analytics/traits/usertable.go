package traits

import (
	"math"
	"strings"
)

// The computed traits of every unit with user events are held in a layout
// the garbage collector never scans: a unit's values are a row of two flat
// arrays (numbers and bools as float64, NaN for absent; strings and lists as
// uint32 ids of values interned once, 0 for absent), found through a
// pointer-free hash table of unit keys (quietTable). A million units cost
// the collector a few slice headers, where a map of per-unit objects cost it
// every pointer of every unit at every cycle.

// layout places each definition of a catalogue in a column of the rows.
type layout struct {
	col   []int32 // by definition: its column in nums, or in ids when isID
	isID  []bool
	nNums int
	nIDs  int
}

func newLayout(c *Catalogue) layout {
	l := layout{col: make([]int32, len(c.Traits)), isID: make([]bool, len(c.Traits))}
	for i, d := range c.Traits {
		if d.Type == TypeString || d.Type == TypeList {
			l.col[i], l.isID[i] = int32(l.nIDs), true
			l.nIDs++
		} else {
			l.col[i] = int32(l.nNums)
			l.nNums++
		}
	}
	return l
}

// interner gives each distinct string or list value an id and keeps it
// boxed, so that a rule's lookup allocates nothing. Ids are never reused;
// boxed only grows, and a published prefix of it is never written.
type interner struct {
	ids   map[string]uint32
	boxed []any // by id; boxed[0] is absent
}

func newInterner() *interner { return &interner{ids: map[string]uint32{}, boxed: []any{nil}} }

func (in *interner) id(v any) uint32 {
	var key string
	switch v := v.(type) {
	case nil:
		return 0
	case string:
		key = "s" + v
	case []string:
		key = "l" + strings.Join(v, "\x00")
	}
	if id, ok := in.ids[key]; ok {
		return id
	}
	id := uint32(len(in.boxed))
	in.ids[key] = id
	// Copies: a value read from ClickHouse may be a slice of its event's
	// whole row (the reader decodes each row's properties in place), which
	// a kept value would otherwise keep until the next day.
	switch x := v.(type) {
	case string:
		v = strings.Clone(x)
	case []string:
		c := make([]string, len(x))
		for i, e := range x {
			c[i] = strings.Clone(e)
		}
		v = c
	}
	in.boxed = append(in.boxed, v)
	return id
}

// userRows is a table of rows, immutable once published.
type userRows struct {
	index quietTable // unit key -> row
	nums  []float64  // row r's numbers are nums[r*nNums:][:nNums]
	ids   []uint32
}

func (r *userRows) rows(l *layout) int {
	if l.nNums > 0 {
		return len(r.nums) / l.nNums
	}
	if l.nIDs > 0 {
		return len(r.ids) / l.nIDs
	}
	return r.index.len()
}

// set puts k's row, nums and ids, into r (which must not be published).
func (r *userRows) set(l *layout, k unitKey, nums []float64, ids []uint32) {
	if row, ok := r.index.find(k); ok {
		copy(r.nums[int(row)*l.nNums:], nums)
		copy(r.ids[int(row)*l.nIDs:], ids)
		return
	}
	r.index.put(k, uint32(r.rows(l)))
	r.nums = append(r.nums, nums...)
	r.ids = append(r.ids, ids...)
}

// clone returns a copy of r sharing nothing with it, with room for more
// rows.
func (r *userRows) clone(more int, l *layout) *userRows {
	c := &userRows{index: r.index.clone()}
	c.nums = append(make([]float64, 0, len(r.nums)+more*l.nNums), r.nums...)
	c.ids = append(make([]uint32, 0, len(r.ids)+more*l.nIDs), r.ids...)
	return c
}

// userSnapshot is what readers see of computed traits.
type userSnapshot struct {
	cat    *Catalogue
	layout *layout
	// base and changed: a unit's row is in changed if there, else base
	// (as traitSnapshot overlays its engaged units).
	base, changed *userRows
	boxed         []any // the interner's, as of publication
	defaults      []any // by definition: a unit with no user event
	day           int32
}

// row finds k's row.
func (s *userSnapshot) row(k unitKey) (*userRows, uint32, bool) {
	if s.changed != nil {
		if r, ok := s.changed.index.find(k); ok {
			return s.changed, r, true
		}
	}
	if s.base != nil {
		if r, ok := s.base.index.find(k); ok {
			return s.base, r, true
		}
	}
	return nil, 0, false
}

// value returns definition i's value in row r of rows (nil rows: defaults).
func (s *userSnapshot) value(rows *userRows, r uint32, i int) any {
	if rows == nil {
		return s.defaults[i]
	}
	l := s.layout
	col := int(l.col[i])
	if l.isID[i] {
		return s.boxed[rows.ids[int(r)*l.nIDs+col]]
	}
	f := rows.nums[int(r)*l.nNums+col]
	switch {
	case math.IsNaN(f):
		return nil
	case s.cat.Traits[i].Type == TypeBool:
		return f != 0
	}
	return boxFloat(f)
}

// unitView is what a rule reads of one unit: its behavioural traits and its
// computed ones.
type unitView struct {
	cache    *Cache
	key      unitKey
	snap     *userSnapshot // nil without a catalogue
	rows     *userRows
	row      uint32
	profiles *profileSnapshot // nil without profiles
	profile  []uint64
}

// Lookup implements assign.Lookup: behavioural traits by their names,
// computed traits by theirs, and every other name from the stored profile.
func (v *unitView) Lookup(name string) (any, bool) {
	if !strings.HasPrefix(name, "trait.") {
		if v.profiles == nil {
			return nil, false
		}
		return v.profiles.lookup(v.profile, name)
	}
	if traitIndex(name) >= 0 || v.snap == nil {
		return v.cache.behavioural(v.key).Lookup(name)
	}
	i := v.snap.cat.index(name)
	if i < 0 {
		return nil, false
	}
	x := v.snap.value(v.rows, v.row, i)
	return x, x != nil
}

// encodeRow turns computed values into a row, interning strings and lists.
func encodeRow(l *layout, in *interner, vals []any, nums []float64, ids []uint32) {
	for i, v := range vals {
		col := l.col[i]
		if l.isID[i] {
			ids[col] = in.id(v)
			continue
		}
		switch v := v.(type) {
		case float64:
			nums[col] = v
		case bool:
			nums[col] = 0
			if v {
				nums[col] = 1
			}
		default:
			nums[col] = math.NaN()
		}
	}
}
