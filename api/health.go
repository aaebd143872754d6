package api

import (
	"context"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/splitcast/splitcast/analytics/results"
	"github.com/splitcast/splitcast/analytics/stats"
	"github.com/splitcast/splitcast/analytics/traits"
	"github.com/splitcast/splitcast/assign"
	"github.com/splitcast/splitcast/experiment"
)

// trafficDays is the window of recent traffic segment health estimates
// units per day from.
const trafficDays = 7

// healthResponse is an experiment's segment health and how its traffic was
// estimated.
type healthResponse struct {
	results.Health
	TrafficWindowDays int    `json:"traffic_window_days"`
	TrafficNote       string `json:"traffic_note"`
}

const trafficNote = "units per day are the units seen (any event, exposures included) in the last 7 days whose traits " +
	"match the segment's rule, in rule order; a rule on caller attributes cannot be evaluated from traits, so its " +
	"segment's traffic is unknown and later segments' estimates are upper bounds. MDE and runtime are not part of " +
	"an experiment: pass ?mde=0.1 (relative lift) and ?runtime_days=14, the defaults"

// health answers GET /v1/experiments/{key}/health?mde=0.1&runtime_days=14&power=0.8.
func (s *Server) health(c *fiber.Ctx) error {
	e, err := s.cfg.Store.Get(c.UserContext(), c.Params("key"))
	if err != nil {
		return err
	}
	var cfg results.HealthConfig
	if v := c.Query("mde"); v != "" {
		f, ok := experiment.ParseNumber(v)
		if !ok || f <= -1 || f == 0 || f > 10 {
			return experiment.Invalid("mde", "want a relative lift such as 0.1 for 10%%")
		}
		cfg.MDE = stats.RelativeEffect(f)
	}
	if v := c.Query("runtime_days"); v != "" {
		f, ok := experiment.ParseNumber(v)
		if !ok || f <= 0 || f > 3650 {
			return experiment.Invalid("runtime_days", "want a number of days such as 14")
		}
		cfg.Runtime = time.Duration(f * 24 * float64(time.Hour))
	}
	if v := c.Query("power"); v != "" {
		f, ok := experiment.ParseNumber(v)
		if !ok || f <= 0 || f >= 1 {
			return experiment.Invalid("power", "want a power in (0, 1) such as 0.8")
		}
		cfg.Power = f
	}
	h, err := s.segmentHealth(c.UserContext(), e, cfg)
	if err != nil {
		return err
	}
	return c.JSON(healthResponse{Health: h, TrafficWindowDays: trafficDays, TrafficNote: trafficNote})
}

// segmentHealth sizes e's segments against recent traffic. Creation can
// show its Warnings.
func (s *Server) segmentHealth(_ context.Context, e experiment.Experiment, cfg results.HealthConfig) (results.Health, error) {
	return results.SegmentHealthOf(e, s.trafficOf(e), cfg), nil
}

// trafficOf estimates units per day per segment from the trait cache: each
// unit seen recently goes, by its traits alone, to the first segment whose
// rule it matches. Segments whose rule reads caller attributes are skipped
// (unknown), so units that would match them count toward later segments:
// those estimates are upper bounds, and a warning on them still holds.
func (s *Server) trafficOf(e experiment.Experiment) map[string]results.SegmentTraffic {
	out := map[string]results.SegmentTraffic{}
	if s.cfg.Traits == nil {
		return out
	}
	type seg struct {
		key     string
		rule    *assign.Rule
		unknown bool
	}
	var segs []seg
	for _, sg := range e.Segments {
		if sg.Concluded() {
			continue
		}
		r, err := assign.CompileRule(sg.Rule)
		segs = append(segs, seg{key: sg.Key, rule: r, unknown: err != nil || readsCallerAttributes(sg.Rule)})
	}
	counts := make([]int, len(segs))
	s.cfg.Traits.Recent(trafficDays, func(t *traits.UnitTraits, units int) {
		for i := range segs {
			if !segs[i].unknown && segs[i].rule.Match(t) {
				counts[i] += units
				return
			}
		}
	})
	upper := false
	for i, sg := range segs {
		if sg.unknown {
			out[sg.key] = results.SegmentTraffic{Source: "unknown: the rule reads caller attributes"}
			upper = true
			continue
		}
		src := "traits, last 7 days"
		if upper {
			src += " (upper bound)"
		}
		out[sg.key] = results.SegmentTraffic{UnitsPerDay: float64(counts[i]) / trafficDays, Known: true, Source: src}
	}
	return out
}

// readsCallerAttributes reports whether a rule reads any attribute that is
// not a trait.
func readsCallerAttributes(r *experiment.Rule) bool {
	if r == nil {
		return false
	}
	for i := range r.All {
		if readsCallerAttributes(&r.All[i]) {
			return true
		}
	}
	for i := range r.Any {
		if readsCallerAttributes(&r.Any[i]) {
			return true
		}
	}
	if r.Not != nil && readsCallerAttributes(r.Not) {
		return true
	}
	return r.Attr != "" && !strings.HasPrefix(r.Attr, assign.TraitPrefix)
}
