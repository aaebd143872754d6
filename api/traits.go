package api

import (
	"context"
	"net/url"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/analytics/traits"
	"github.com/splitcast/splitcast/assign"
	"github.com/splitcast/splitcast/experiment"
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
	s.app.Get("/v1/units/:unit/traits", read, s.unitTraits)
	s.app.Get("/v1/traits/catalogue", read, s.audience.Catalogue)
	s.app.Get("/v1/experiments/:key/health", read, s.health)
}

// unitTraitsResponse shows what segment rules see of a unit: its traits as
// assignment uses them (from memory), and with ?fresh=true as storage has
// them now, to tell staleness from a wrong rule.
type unitTraitsResponse struct {
	UnitID string `json:"unit_id"`
	// Held is false when the unit has no recent history in memory, so it
	// gets the defaults.
	Held       bool             `json:"held"`
	Traits     traits.Traits    `json:"traits"`
	Attributes map[string]any   `json:"attributes"`
	Day        string           `json:"day"`
	LastSeen   string           `json:"last_seen,omitempty"`
	Cache      traitCacheStatus `json:"cache"`
	Fresh      *unitTraitsFresh `json:"fresh,omitempty"`
	// Computed are the catalogue's traits (GET /v1/traits/catalogue).
	Computed   map[string]any `json:"computed,omitempty"`
	Precedence string         `json:"precedence"`
}

type traitCacheStatus struct {
	traits.CacheStats
	// StalenessBound is the documented lag of traits behind stored events,
	// not counting the ingest flush interval.
	StalenessBound string `json:"staleness_bound"`
}

type unitTraitsFresh struct {
	Traits     traits.Traits  `json:"traits"`
	Attributes map[string]any `json:"attributes"`
}

const precedence = "segment rules read trait.<name> from these traits unless the caller's attributes carry the same name, which wins"

func (s *Server) unitTraits(c *fiber.Ctx) error {
	unit, err := url.PathUnescape(c.Params("unit"))
	if err != nil {
		return experiment.Invalid("unit_id", "not a valid path segment")
	}
	if err := analytics.CheckUnit("unit_id", unit); err != nil {
		return err
	}
	if s.cfg.Traits == nil {
		return &experiment.Error{Code: experiment.EUNAVAILABLE, Message: "this server computes no traits"}
	}
	resp := s.heldTraits(unit)
	if c.QueryBool("fresh") {
		f, err := s.cfg.Traits.Fetch(c.UserContext(), unit)
		if err != nil {
			return err
		}
		resp.Fresh = &unitTraitsFresh{Traits: f.Traits, Attributes: f.Attributes()}
	}
	return c.JSON(resp)
}

// heldTraits is what this server holds of unit's traits, and how fresh.
func (s *Server) heldTraits(unit string) unitTraitsResponse {
	t := s.cfg.Traits.Traits(unit)
	st := s.cfg.Traits.Stats()
	resp := unitTraitsResponse{
		UnitID: unit, Held: s.cfg.Traits.Held(unit), Traits: t.Traits, Attributes: t.Attributes(),
		Cache: traitCacheStatus{CacheStats: st, StalenessBound: s.cfg.Traits.Staleness().String()},
		Day:   st.Day.Format(time.DateOnly), Precedence: precedence, Computed: s.cfg.Traits.Computed(unit),
	}
	if t.LastSeen > 0 {
		resp.LastSeen = analytics.DayTime(t.LastSeen).Format(time.DateOnly)
	}
	return resp
}
