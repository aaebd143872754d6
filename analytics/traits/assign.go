package traits

import "github.com/splitcast/splitcast/assign"

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
