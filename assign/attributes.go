package assign

import "strings"

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

// WithTraits merges the caller's attributes with computed traits: the
// caller's value wins, so a caller can always override a trait, and only
// names starting with TraitPrefix are looked up in Traits. Pass a pointer to
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
	if w.Traits != nil && strings.HasPrefix(name, TraitPrefix) {
		return w.Traits.Lookup(name)
	}
	return nil, false
}
