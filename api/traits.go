package api

import (
	"context"
	"time"

	"github.com/splitcast/splitcast/analytics/traits"
	"github.com/splitcast/splitcast/assign"
	"github.com/splitcast/splitcast/experiment/apikey"
)

// TraitSource serves units' behavioural traits from memory (an
// *traits.Cache). Traits must never block: assignment calls it on
// every request.
type TraitSource interface {
	// UnitTraits serves assignment (assign.TraitSource): the cache goes
	// straight to AssignWithTraits, with no adapter in between.
	assign.TraitSource
	// Traits returns the unit's traits, the defaults when none are known;
	// never nil.
	Traits(unit string) *traits.UnitTraits
	// Held reports whether traits were computed for unit (else defaults).
	Held(unit string) bool
	// Staleness bounds how long after an event is stored the traits may
	// still ignore it.
	Staleness() time.Duration
	Stats() traits.CacheStats
	// Recent calls fn for the units seen in the last days days: once per
	// distinct traits, with how many units have them.
	Recent(days int, fn func(t *traits.UnitTraits, units int))
	// Fetch reads a unit's traits from storage now, bypassing memory.
	Fetch(ctx context.Context, unit string) (*traits.UnitTraits, error)
	// Catalogue defines the computed traits (nil: none); Computed gives
	// a unit's, by full name.
	Catalogue() *traits.Catalogue
	Computed(unit string) map[string]any
}

// catalogue is the computed traits' catalogue that rules are checked
// against: nil (behavioural traits only) without traits.
func (s *Server) catalogue() *traits.Catalogue {
	if s.cfg.Traits == nil {
		return nil
	}
	return s.cfg.Traits.Catalogue()
}

func (s *Server) traitRoutes() {
	read := s.require(apikey.ScopeRead)
	s.app.Get("/v1/units/:unit/traits", read, s.audience.UnitTraits)
	s.app.Get("/v1/traits/catalogue", read, s.audience.Catalogue)
	s.app.Get("/v1/experiments/:key/health", read, s.health)
}
