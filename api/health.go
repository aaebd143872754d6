package api

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/splitcast/splitcast/analytics/results"
	"github.com/splitcast/splitcast/analytics/stats"
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
	cfg, err := healthConfig(c)
	if err != nil {
		return err
	}
	h := results.SegmentHealthOf(e, s.trafficOf(e), cfg)
	return c.JSON(healthResponse{Health: h, TrafficWindowDays: trafficDays, TrafficNote: trafficNote})
}

// healthConfig reads the sizing parameters of a health request.
func healthConfig(c *fiber.Ctx) (results.HealthConfig, error) {
	var cfg results.HealthConfig
	if v := c.Query("mde"); v != "" {
		f, ok := experiment.ParseNumber(v)
		if !ok || f <= -1 || f == 0 || f > 10 {
			return cfg, experiment.Invalid("mde", "want a relative lift such as 0.1 for 10%%")
		}
		cfg.MDE = stats.RelativeEffect(f)
	}
	if v := c.Query("runtime_days"); v != "" {
		f, ok := experiment.ParseNumber(v)
		if !ok || f <= 0 || f > 3650 {
			return cfg, experiment.Invalid("runtime_days", "want a number of days such as 14")
		}
		cfg.Runtime = time.Duration(f * 24 * float64(time.Hour))
	}
	if v := c.Query("power"); v != "" {
		f, ok := experiment.ParseNumber(v)
		if !ok || f <= 0 || f >= 1 {
			return cfg, experiment.Invalid("power", "want a power in (0, 1) such as 0.8")
		}
		cfg.Power = f
	}
	return cfg, nil
}

// trafficOf estimates e's segments' traffic from this server's traits.
func (s *Server) trafficOf(e experiment.Experiment) map[string]results.SegmentTraffic {
	if s.cfg.Traits == nil {
		return map[string]results.SegmentTraffic{}
	}
	return results.TrafficOf(e, s.cfg.Traits, trafficDays)
}
