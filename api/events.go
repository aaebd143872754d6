package api

import (
	"context"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/api/tracking"
	"github.com/splitcast/splitcast/experiment"
)

// eventIn is one server-side event: a conversion, an unsubscribe, a
// complaint or a custom event. ID or IdempotencyKey makes a retried event
// count once; the arm comes from Token when given, and otherwise from the
// unit's first exposure when the report is built.
type eventIn struct {
	ID             string     `json:"id"`
	IdempotencyKey string     `json:"idempotency_key"`
	Kind           string     `json:"kind"`
	Experiment     string     `json:"experiment"`
	UnitID         string     `json:"unit_id"`
	Token          string     `json:"token"`
	Name           string     `json:"name"`
	Value          *float64   `json:"value"`
	Time           *time.Time `json:"time"`
	Channel        string     `json:"channel"`
}

type eventsRequest struct {
	Events []eventIn `json:"events"`
}

// events accepts a batch all or nothing: a batch with one bad event is
// refused whole, with the field of the first problem, so that a client can
// fix and resend it without duplicating the good ones.
func (s *Server) events(c *fiber.Ctx) error {
	out, err := s.parseEvents(c.UserContext(), c.Body())
	if err != nil {
		return err
	}
	if err := s.cfg.Events.Log(c.UserContext(), out...); err != nil {
		return err
	}
	// What c.JSON(fiber.Map{"accepted": n}) writes, without a map and an encoder.
	c.Status(fiber.StatusAccepted).Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	body := strconv.AppendInt(append(make([]byte, 0, 24), `{"accepted":`...), int64(len(out)), 10)
	return c.Send(append(body, '}'))
}

// parseEvents decodes and checks a POST /v1/events body.
func (s *Server) parseEvents(ctx context.Context, body []byte) ([]analytics.Event, error) {
	var req eventsRequest
	if err := decodeEvents(body, &req); err != nil {
		return nil, err
	}
	return s.checkEvents(ctx, req.Events)
}

// checkEvents checks a decoded batch and makes its events.
func (s *Server) checkEvents(ctx context.Context, in []eventIn) ([]analytics.Event, error) {
	// eventIn differs from analytics.ServerEvent only in its tags: the
	// conversion copies nothing.
	server := make([]analytics.ServerEvent, len(in))
	for i := range in {
		server[i] = analytics.ServerEvent(in[i])
	}
	known := func(key string) bool { return s.knownExperiment(ctx, key) }
	return analytics.ServerEvents(s.ids, server, s.cfg.MaxEventsPerRequest, s.tokenArm, known, s.cfg.Now())
}

// knownExperiment reports whether experiment key exists: from the
// snapshot for a running one (no store read on the common path), else from
// the store, where a store that cannot answer counts as yes: an outage must
// not refuse events that the spool would keep.
func (s *Server) knownExperiment(ctx context.Context, key string) bool {
	if _, ok := s.cfg.Snapshots.Snapshot().Version(key); ok {
		return true
	}
	_, err := s.cfg.Store.Get(ctx, key)
	return experiment.ErrorCode(err) != experiment.ENOTFOUND
}

// tokenArm verifies the open token sent with a server event.
func (s *Server) tokenArm(tok string) (analytics.Arm, error) {
	c, err := s.openClaims(tok)
	return armOf(c), err
}

// armOf is the arm that claims name.
func armOf(c tracking.Claims) analytics.Arm {
	return analytics.Arm{Experiment: c.Experiment, Version: c.Version, Segment: c.Segment, Variant: c.Variant,
		Unit: c.Unit, SendID: c.SendID, Channel: string(c.Channel)}
}
