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
	t, ok := c.snap.Load().get(k)
	if !ok {
		t = c.defaults
	}
	return c.view(k, t)
}
