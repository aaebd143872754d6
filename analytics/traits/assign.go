package traits

import (
	"math"

	"github.com/splitcast/splitcast/assign"
)

var _ assign.TraitSource = (*Cache)(nil)

// UnitTraits returns unit's traits as assignment reads them: Cache is the
// assign.TraitSource that a server hands to AssignWithTraits itself, so
// that an assignment goes from assign to the cache and back, through no
// other package.
//
// With a catalogue, the Lookup also answers the computed traits, and costs
// one small allocation (a view of the unit's two rows).
func (c *Cache) UnitTraits(unit string) assign.Lookup {
	k := c.keys.of(unit)
	if c.user.Load() == nil && c.profiles.Load() == nil {
		return c.behavioural(k)
	}
	return c.view(k)
}

// behavioural returns the behavioural traits of the unit of key k.
func (c *Cache) behavioural(k unitKey) *UnitTraits {
	if t, ok := c.snap.Load().get(k); ok {
		return t
	}
	return c.defaults
}

var _ assign.SlotSource = (*Cache)(nil)

// Slots: 0 to numTraits-1 are the behavioural traits by index, numTraits+i
// the catalogue's definition i. Stored profile attributes have none (their
// names come and go with the profiles): rules read them by name.

// Slot implements assign.SlotSource.
func (c *Cache) Slot(name string) (int32, bool) {
	if i := traitIndex(name); i >= 0 {
		return int32(i), builtinTypes[i] == TypeNumber
	}
	// As unitView.Lookup: computed traits only with a catalogue.
	if cat := c.cfg.Catalogue; cat != nil && c.user.Load() != nil {
		if i := cat.index(name); i >= 0 {
			return int32(numTraits + i), cat.Traits[i].Type == TypeNumber
		}
	}
	return -1, false
}

// Unit implements assign.SlotSource: the unit's key in X and Y, and its
// row of computed traits (the snapshot in P, its rows in Q, the row in N;
// Q nil for a unit without one).
func (c *Cache) Unit(unit string) assign.UnitRef {
	k := c.keys.of(unit)
	r := assign.UnitRef{X: k.hi, Y: k.lo}
	if us := c.user.Load(); us != nil {
		r.P = us
		if rows, row, ok := us.row(k); ok {
			r.Q, r.N = rows, row
		}
	}
	return r
}

// Value implements assign.SlotSource.
func (c *Cache) Value(r assign.UnitRef, slot int32) any {
	if slot < numTraits {
		return c.behavioural(unitKey{hi: r.X, lo: r.Y}).vals[slot]
	}
	us, _ := r.P.(*userSnapshot)
	rows, _ := r.Q.(*userRows)
	return us.value(rows, r.N, int(slot)-numTraits)
}

// Number implements assign.SlotSource.
func (c *Cache) Number(r assign.UnitRef, slot int32) (float64, bool) {
	if slot < numTraits {
		f, ok := number(c.behavioural(unitKey{hi: r.X, lo: r.Y}).vals[slot])
		return f, ok
	}
	us, _ := r.P.(*userSnapshot)
	rows, _ := r.Q.(*userRows)
	i := int(slot) - numTraits
	if rows == nil {
		return number(us.defaults[i])
	}
	f := rows.nums[int(r.N)*us.layout.nNums+int(us.layout.col[i])]
	return f, !math.IsNaN(f)
}

// number reads a behavioural trait or a default value known to be a number
// (float64) or absent.
func number(v any) (float64, bool) {
	f, ok := v.(float64)
	return f, ok
}
