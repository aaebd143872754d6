package api

import (
	"github.com/gofiber/fiber/v2"

	"github.com/splitcast/splitcast/analytics/results"
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

// health answers GET /v1/experiments/{key}/health?mde=0.1&runtime_days=14&power=0.8.
func (s *Server) health(c *fiber.Ctx) error {
	e, err := s.cfg.Store.Get(c.UserContext(), c.Params("key"))
	if err != nil {
		return err
	}
	cfg, err := results.HealthConfigOf(func(k string) string { return c.Query(k) })
	if err != nil {
		return err
	}
	h := results.SegmentHealthOf(e, s.trafficOf(e), cfg)
	return c.JSON(healthResponse{Health: h, TrafficWindowDays: trafficDays, TrafficNote: results.HealthTrafficNote})
}

// trafficOf estimates e's segments' traffic from this server's traits.
func (s *Server) trafficOf(e experiment.Experiment) map[string]results.SegmentTraffic {
	if s.cfg.Traits == nil {
		return map[string]results.SegmentTraffic{}
	}
	return results.TrafficOf(e, s.cfg.Traits, trafficDays)
}
