package api

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/analytics/fatigue"
	"github.com/splitcast/splitcast/api/jsonwire"
	"github.com/splitcast/splitcast/api/tracking"
	"github.com/splitcast/splitcast/assign"
	"github.com/splitcast/splitcast/experiment"
	"github.com/splitcast/splitcast/experiment/apikey"
)

func (s *Server) sdkRoutes() {
	sdk := s.require(apikey.ScopeSDK)
	s.app.Post("/v1/assign", sdk, s.assignOne)
	s.app.Post("/v1/assign/bulk", sdk, s.assignBulk)
	s.app.Post("/v1/assign/explain", s.require(apikey.ScopeSDK, apikey.ScopeRead), s.explain)
	s.app.Get("/v1/snapshot", sdk, s.snapshot)
	s.app.Post("/v1/links", sdk, s.links)
	s.app.Post("/v1/render", sdk, s.render)
	s.app.Post("/v1/events", sdk, s.events)
	s.app.Post("/v1/track", sdk, s.audience.Track)
	s.app.Post("/v1/units/attributes", sdk, s.audience.SetAttributesBatch)
	s.app.Post("/v1/units/:unit/attributes", sdk, s.audience.SetAttributes)
	s.app.Delete("/v1/units/:unit", s.require(apikey.ScopeAdmin), s.audience.DeleteUnit)
}

// assignRequest is one unit to assign. SendID names the message being sent;
// the same send id assigned twice is one exposure. Channel is recorded on
// the exposure, never hashed: a unit gets the same variant on every channel.
type assignRequest struct {
	Experiment string            `json:"experiment"`
	UnitID     string            `json:"unit_id"`
	Attributes assign.Attributes `json:"attributes"`
	SendID     string            `json:"send_id"`
	Channel    string            `json:"channel"`
}

// assignResponse is an assignment with what a sender needs to track it.
type assignResponse struct {
	assign.Assignment
	// Suppressed says why a unit in the experiment gets no message (see
	// analytics/fatigue); its answer has no variant, payload or token.
	Suppressed *jsonwire.Suppressed `json:"suppressed,omitempty"`
	SendID     string               `json:"send_id,omitempty"`
	Token      string               `json:"token,omitempty"`
	// PixelURL is the answer's shape for encoding/json (the reference of
	// TestAppendAssignResponse); assign leaves it empty and sets pixelBase.
	PixelURL string `json:"pixel_url,omitempty"`
	// pixelBase stands for PixelURL = pixelBase + "/o/" + Token + ".gif",
	// which appendAssignResponse writes without building the string.
	pixelBase string
}

func (s *Server) assignOne(c *fiber.Ctx) error {
	var req assignRequest
	if err := decodeAssign(c.Body(), false, &req); err != nil {
		return err
	}
	if req.Experiment == "" {
		return experiment.Invalid("experiment", "required")
	}
	var ev exposureScratch
	resp, exposed, err := s.assign(s.cfg.Snapshots.Snapshot(), req, &ev)
	if err != nil {
		return err
	}
	// Logged last, once nothing can refuse the request any more, and
	// durable before the answer: a sender acts on the answer.
	if exposed {
		if err := s.cfg.Events.Log(c.UserContext(), ev[:]...); err != nil {
			return err
		}
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	// Written into fasthttp's pooled body buffer: no buffer per request.
	r := c.Response()
	r.SwapBody(appendAssignResponse(r.SwapBody(nil)[:0], &resp))
	return nil
}

// explain answers POST /v1/assign/explain: the assignment of /v1/assign
// as a dry run with its reasons; no exposure, no token, nothing logged.
func (s *Server) explain(c *fiber.Ctx) error {
	var req assignRequest
	if err := decodeAssign(c.Body(), false, &req); err != nil {
		return err
	}
	if req.Experiment == "" {
		return experiment.Invalid("experiment", "required")
	}
	if err := analytics.CheckAssign(req.UnitID, req.SendID, req.Channel); err != nil {
		return err
	}
	x, err := s.cfg.Snapshots.Snapshot().Explain(req.Experiment, req.UnitID, req.Attributes, s.cfg.Traits)
	if err != nil {
		return err
	}
	return c.JSON(x)
}

// exposureScratch is where assign puts the exposure to log. Handed to the
// Logger, an interface, as a slice, a fresh event would be moved to the
// heap for every unit. Loggers copy what they keep of the events they are
// given (the Ingester appends them to its queue).
type exposureScratch [1]analytics.Event

// assign decides for one unit, makes its exposure in ev and signs its
// token; exposed says whether ev is to be logged. It logs nothing itself:
// the caller logs once everything is checked and signed, so that a request
// refused for any reason leaves no exposure behind.
func (s *Server) assign(snap *assign.Snapshot, req assignRequest, ev *exposureScratch) (resp assignResponse, exposed bool, err error) {
	if err := analytics.CheckAssign(req.UnitID, req.SendID, req.Channel); err != nil {
		return assignResponse{}, false, err
	}
	var fk fatigue.Key
	if s.cfg.Fatigue != nil {
		fk = s.cfg.Fatigue.Prefetch(req.UnitID) // its cache miss overlaps the assignment
	}
	a, target, err := snap.AssignOn(req.Experiment, req.UnitID, req.Attributes, s.cfg.Traits, experiment.Channel(req.Channel))
	if err != nil || !a.InExperiment {
		return assignResponse{Assignment: a}, false, err
	}
	now := s.cfg.Now()
	arm := analytics.Arm{Experiment: a.Experiment, Version: a.Version, Segment: a.Segment,
		Variant: a.Arm(), Unit: req.UnitID, SendID: req.SendID, Channel: string(target.Channel)}
	ev[0] = analytics.Exposure(s.ids, arm, arm.Channel, now)
	if dims := snap.Dimensions(req.Experiment); len(dims) > 0 {
		ev[0].Dims = analytics.ExposureDims(dims, req.Attributes.Lookup, arm.Channel)
	}
	resp = assignResponse{Assignment: a, SendID: ev[0].SendID}
	if !a.Holdout { // a held-out unit gets no message, so nothing to track
		claims := tracking.Claims{Experiment: a.Experiment, Version: a.Version, Segment: a.Segment, Variant: a.Variant,
			Unit: req.UnitID, SendID: resp.SendID, Channel: target.Channel, IssuedAt: ev[0].Time}
		if resp.Token, err = s.cfg.Tokens.Open(claims); err != nil {
			return assignResponse{}, false, err
		}
		resp.pixelBase = s.cfg.BaseURL
	}
	if s.cfg.Fatigue != nil {
		// For every arm alike (see package fatigue), and after the token:
		// the cap state Prefetch asked for arrives while the token is
		// signed, where after the assignment alone a check on a state
		// beyond the CPU's caches waited for most of its miss
		// (BenchmarkAssignCapCost). A suppressed unit's token is dropped
		// unseen, and a token that could not be signed counts no send.
		if v := s.cfg.Fatigue.AdmitKey(fk, req.UnitID, target, ev[0].ID, now); v.Suppressed() {
			ev[0] = analytics.Suppressed(s.ids, arm, arm.Channel, v.Reason.String(), now)
			return suppressedResponse(a, v, arm.Channel, ev[0].SendID), true, nil
		}
	}
	return resp, true, nil
}

// bulkLine is one NDJSON input line of POST /v1/assign/bulk.
type bulkLine struct {
	UnitID     string            `json:"unit_id"`
	Attributes assign.Attributes `json:"attributes"`
	SendID     string            `json:"send_id"`
	Channel    string            `json:"channel"`
}

// bulkError is the output line for an input line that could not be assigned;
// the stream goes on after it.
type bulkError struct {
	Line  int         `json:"line"`
	Error errorDetail `json:"error"`
}

// MaxBulkLine bounds one NDJSON line of bulk assignment.
const MaxBulkLine = 64 << 10

// snapshotResponse is what the Go SDK evaluates locally: the running
// experiments' definitions, compiled on the client by the same assign code.
type snapshotResponse struct {
	GeneratedAt time.Time               `json:"generated_at"`
	Experiments []experiment.Experiment `json:"experiments"`
}

func (s *Server) snapshot(c *fiber.Ctx) error {
	exps, err := s.cfg.Store.ListRunning(c.UserContext())
	if err != nil {
		return err
	}
	if exps == nil {
		exps = []experiment.Experiment{}
	}
	return c.JSON(snapshotResponse{GeneratedAt: s.cfg.Now().UTC(), Experiments: exps})
}

func detail(err error) errorDetail {
	return errorDetail{Code: experiment.ErrorCode(err), Message: experiment.ErrorMessage(err), Field: experiment.ErrorField(err)}
}
