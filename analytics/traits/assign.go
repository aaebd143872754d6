package traits

import "github.com/splitcast/splitcast/assign"

var _ assign.TraitSource = (*Cache)(nil)

// UnitTraits returns unit's traits as assignment reads them: Cache is the
// assign.TraitSource that a server hands to AssignWithTraits itself, so
// that an assignment goes from assign to the cache and back, through no
// other package.
func (c *Cache) UnitTraits(unit string) assign.Lookup { return c.Traits(unit) }
