package api

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// healthz answers 200 for as long as the process serves: it says nothing of
// dependencies, so an orchestrator never restarts a server for a ClickHouse
// outage that the spool rides out.
func (s *Server) healthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}

type readiness struct {
	Status     string `json:"status"`
	ClickHouse string `json:"clickhouse"`
	Error      string `json:"error,omitempty"`
	Spool      *spool `json:"spool,omitempty"`
}

type spool struct {
	QueueDepth   int   `json:"queue_depth"`
	SpoolBytes   int64 `json:"spool_bytes"`
	SpoolBatches int64 `json:"spool_batches"`
}

// readyz answers 503 while ClickHouse cannot be reached, so that a load
// balancer prefers servers that can write through.
func (s *Server) readyz(c *fiber.Ctx) error {
	r := readiness{Status: "ready", ClickHouse: "ok"}
	if s.cfg.Ingest != nil {
		st := s.cfg.Ingest.Stats()
		r.Spool = &spool{QueueDepth: st.QueueDepth, SpoolBytes: st.SpoolBytes, SpoolBatches: st.SpoolBatches}
	}
	if s.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
		defer cancel()
		if err := s.cfg.Ready(ctx); err != nil {
			r.Status, r.ClickHouse, r.Error = "unavailable", "unreachable", err.Error()
			return c.Status(fiber.StatusServiceUnavailable).JSON(r)
		}
	}
	return c.JSON(r)
}

func (s *Server) metrics() fiber.Handler {
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return adaptor.HTTPHandler(promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
}
