package assign

// Lookup finds a unit's attribute by name. A value is what encoding/json
// decodes (string, float64, bool, nil, []any) or a Go string, number, bool or
// []string. Absent and nil are the same: missing.
type Lookup interface {
	Lookup(name string) (any, bool)
}

// Attributes are the attributes a caller sends with a unit. As a map type it
// converts to a Lookup without allocating.
type Attributes map[string]any

// Lookup implements Lookup.
func (a Attributes) Lookup(name string) (any, bool) {
	v, ok := a[name]
	return v, ok
}

// TraitPrefix starts the name of every attribute Splitcast computes itself
// from its events ("trait.opens_30d").
const TraitPrefix = "trait."

// WithTraits merges the caller's attributes with what Splitcast holds of
// the unit (computed traits, trait.<name>, and stored profile attributes):
// the caller's value wins, so a caller can always override either, and
// every name the caller did not send is looked up in Traits. Pass a pointer to
// avoid copying; the hot path with plain Attributes stays allocation-free.
type WithTraits struct {
	Attrs  Attributes
	Traits Lookup
}

// Lookup implements Lookup.
func (w *WithTraits) Lookup(name string) (any, bool) {
	if v, ok := w.Attrs[name]; ok {
		return v, true
	}
	if w.Traits != nil {
		return w.Traits.Lookup(name)
	}
	return nil, false
}

// TraitSource serves what Splitcast holds of units for AssignWithTraits:
// their computed traits and their stored profiles. It must not block:
// assignment asks it at most once per unit, and only when a rule reads a
// name the caller's attributes do not carry.
type TraitSource interface {
	// UnitTraits returns the unit's traits as a Lookup of full names
	// ("trait.opens_30d"), and of its stored attributes by their names;
	// never nil.
	UnitTraits(unit string) Lookup
}

// SlotSource is a TraitSource that also reads traits by slot: a number it
// gives each trait name once, which the snapshot keeps beside each rule that
// reads the name, so that an assignment reads a trait without looking its
// name up (a map or switch on strings per rule, and a Lookup allocated per
// unit, were half of an assignment with trait rules). It must be comparable
// (a pointer): a snapshot keeps the slots it resolved for one source and
// resolves again for another.
type SlotSource interface {
	TraitSource
	// Slot returns the slot of the trait of full name ("trait.opens_30d"),
	// and whether its values are numbers (float64, or absent); -1 when the
	// source reads it by name only.
	Slot(name string) (slot int32, number bool)
	// Unit returns the source's handle on the unit's traits. It must not
	// block; it is asked at most once per assignment.
	Unit(unit string) UnitRef
	// Value returns the value of slot for the unit, as the Lookup of
	// UnitTraits would for the slot's name (nil: absent).
	Value(u UnitRef, slot int32) any
	// Number returns the value of a number slot; ok false when absent.
	Number(u UnitRef, slot int32) (f float64, ok bool)
}

// UnitRef is a SlotSource's handle on one unit's traits, returned and
// passed by value so that reading them allocates nothing; what its fields
// hold is the source's own business.
type UnitRef struct {
	P, Q any
	X, Y uint64
	N    uint32
}

// slotTable is a compiled experiment's trait names resolved by one source:
// slot[i] and number[i] are what src.Slot said of the experiment's i-th
// trait name.
type slotTable struct {
	from   TraitSource // src, as assignment receives it
	src    SlotSource
	slot   []int32
	number []bool
}

// unitAttrs is what a rule reads for one unit: the caller's attributes
// and, fetched on the first trait name a rule reads, the unit's traits. It
// lives on Assign's stack: the allocation-free form of WithTraits.
type unitAttrs struct {
	attrs  Lookup     // the caller's, when not plain Attributes
	m      Attributes // the caller's, read without a dynamic call
	source TraitSource
	unit   string
	traits Lookup
	// slots are the experiment's trait names resolved by source, when
	// source is a SlotSource (nil otherwise); ref is the unit's handle,
	// fetched with the first trait read by slot.
	slots  *slotTable
	ref    UnitRef
	hasRef bool
}

// slot returns the slot that the trait name of leaf n is read from (nil
// table: by name), with whether its values are numbers: -1 when the caller
// sent the name (the caller's value wins) or the source has no slot for it.
func (u *unitAttrs) slot(n *node) (int32, bool) {
	if n.trait == 0 || u.slots == nil {
		return -1, false
	}
	i := n.trait - 1
	s := u.slots.slot[i]
	if s < 0 {
		return -1, false
	}
	if len(u.m) > 0 {
		if _, sent := u.m[n.attr]; sent {
			return -1, false
		}
	}
	if !u.hasRef {
		u.ref, u.hasRef = u.slots.src.Unit(u.unit), true
	}
	return s, u.slots.number[i]
}

// setLookup gives a zero u the caller's attributes. It fills u in place:
// a unitAttrs returned by value was built in a temporary and copied, and
// the copy's 16-byte loads stalled on the 8-byte store of the map just
// made (7% of Assign's samples).
func (u *unitAttrs) setLookup(attrs Lookup) {
	if m, ok := attrs.(Attributes); ok {
		u.m = m
		return
	}
	u.attrs = attrs
}

// lookup is WithTraits.Lookup: the caller's value wins over a trait. A
// nil value is missing. Plain attributes without traits, the usual case,
// are read here (inlined into the rule's match) rather than in a call.
func (u *unitAttrs) lookup(name string) any {
	if u.attrs == nil && u.source == nil {
		return u.m[name]
	}
	return u.lookupMerged(name)
}

// lookupMerged is lookup with a Lookup other than Attributes, or traits.
func (u *unitAttrs) lookupMerged(name string) any {
	if u.attrs != nil {
		if v, ok := u.attrs.Lookup(name); ok || u.source == nil {
			return v
		}
	} else if v, ok := u.m[name]; ok || u.source == nil {
		return v
	}
	// Every name the caller did not send goes to the source: trait.<name>
	// to the unit's traits, any other to its stored profile.
	if u.traits == nil {
		u.traits = u.source.UnitTraits(u.unit)
	}
	v, _ := u.traits.Lookup(name)
	return v
}
