package audience

import (
	"context"
	"net/url"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/analytics/traits"
	"github.com/splitcast/splitcast/experiment"
)

// Traits is what the unit routes read of a server's traits (a
// *traits.Cache).
type Traits interface {
	Traits(unit string) *traits.UnitTraits
	Held(unit string) bool
	Staleness() time.Duration
	Stats() traits.CacheStats
	Fetch(ctx context.Context, unit string) (*traits.UnitTraits, error)
	Computed(unit string) map[string]any
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

// unitParam is the unit of a /v1/units/{unit} route, checked.
func unitParam(c *fiber.Ctx) (string, error) {
	unit, err := url.PathUnescape(c.Params("unit"))
	if err != nil {
		return "", experiment.Invalid("unit_id", "not a valid path segment")
	}
	return unit, analytics.CheckUnit("unit_id", unit)
}

// UnitTraits answers GET /v1/units/{unit}/traits.
func (h *Handlers) UnitTraits(c *fiber.Ctx) error {
	unit, err := unitParam(c)
	if err != nil {
		return err
	}
	if h.cfg.Traits == nil {
		return &experiment.Error{Code: experiment.EUNAVAILABLE, Message: "this server computes no traits"}
	}
	resp := h.heldTraits(unit)
	if c.QueryBool("fresh") {
		f, err := h.cfg.Traits.Fetch(c.UserContext(), unit)
		if err != nil {
			return err
		}
		resp.Fresh = &unitTraitsFresh{Traits: f.Traits, Attributes: f.Attributes()}
	}
	return c.JSON(resp)
}

// heldTraits is what this server holds of unit's traits, and how fresh.
func (h *Handlers) heldTraits(unit string) unitTraitsResponse {
	src := h.cfg.Traits
	t := src.Traits(unit)
	st := src.Stats()
	resp := unitTraitsResponse{
		UnitID: unit, Held: src.Held(unit), Traits: t.Traits, Attributes: t.Attributes(),
		Cache: traitCacheStatus{CacheStats: st, StalenessBound: src.Staleness().String()},
		Day:   st.Day.Format(time.DateOnly), Precedence: precedence, Computed: src.Computed(unit),
	}
	if t.LastSeen > 0 {
		resp.LastSeen = analytics.DayTime(t.LastSeen).Format(time.DateOnly)
	}
	return resp
}
