package api

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/splitcast/splitcast/analytics/results"
	"github.com/splitcast/splitcast/api/importapi"
	"github.com/splitcast/splitcast/experiment"
	"github.com/splitcast/splitcast/experiment/apikey"
)

func (s *Server) adminRoutes() {
	read, admin := s.require(apikey.ScopeRead), s.require(apikey.ScopeAdmin)
	g := s.app.Group("/v1/experiments")
	g.Post("/", admin, s.createExperiment)
	g.Get("/", read, s.listExperiments)
	g.Get("/:key", read, s.getExperiment)
	g.Put("/:key", admin, s.editExperiment)
	g.Get("/:key/history", read, s.history)
	g.Post("/:key/start", admin, s.lifecycle(experiment.Start))
	g.Post("/:key/pause", admin, s.lifecycle(experiment.Pause))
	g.Post("/:key/resume", admin, s.lifecycle(experiment.Resume))
	g.Post("/:key/complete", admin, s.lifecycle(experiment.Complete))
	g.Post("/:key/archive", admin, s.lifecycle(experiment.Archive))
	g.Post("/:key/allocation", admin, s.setAllocation)
	g.Post("/:key/segments/:segment/variants/:variant/retire", admin, s.retire)
	g.Post("/:key/import", admin, importapi.Handler(importapi.Config{Run: s.cfg.Import, Body: s.bulkBody, Author: author}))
}

// actionBody is the optional body of the lifecycle and retire actions.
type actionBody struct {
	Reason string `json:"reason"`
}

func reasonOf(c *fiber.Ctx, def string) (string, error) {
	var b actionBody
	if len(c.Body()) > 0 {
		if err := experiment.DecodeStrict(c.Body(), &b); err != nil {
			return "", err
		}
	}
	if strings.TrimSpace(b.Reason) == "" {
		return def, nil
	}
	return b.Reason, nil
}

func (s *Server) createExperiment(c *fiber.Ctx) error {
	e, err := s.decodeExperiment(c.Body())
	if err != nil {
		return err
	}
	if err := s.catalogue().CheckRules(&e); err != nil {
		return err
	}
	v, err := experiment.Create(e, author(c), "created through the API", s.cfg.Now().UTC())
	if err != nil {
		return err
	}
	if err := s.cfg.Store.Create(c.UserContext(), v); err != nil {
		return err
	}
	// Segment health at creation: a segment too small to ever reach its
	// sample is best merged before the experiment starts, not after.
	h := results.SegmentHealthOf(v.Definition, s.trafficOf(v.Definition), results.HealthConfig{})
	return c.Status(fiber.StatusCreated).JSON(createdExperiment{Experiment: v.Definition, Health: &h})
}

// decodeExperiment decodes a definition and refuses a frequency cap
// override wider than this deployment's caps.
func (s *Server) decodeExperiment(body []byte) (experiment.Experiment, error) {
	e, err := experiment.Decode(body)
	if err == nil && s.cfg.Fatigue != nil {
		err = s.cfg.Fatigue.Policy().CheckOverride(e.FrequencyCap)
	}
	return e, err
}

// createdExperiment is the created definition with its segment health
// (sizes, expected days, over-segmentation warnings).
type createdExperiment struct {
	experiment.Experiment
	Health *results.Health `json:"health,omitempty"`
}

func (s *Server) listExperiments(c *fiber.Ctx) error {
	offset, err := queryInt(c, "offset", 0)
	if err != nil {
		return err
	}
	limit, err := queryInt(c, "limit", 100)
	if err != nil {
		return err
	}
	f := experiment.Filter{Status: experiment.Status(c.Query("status")), Channel: experiment.Channel(c.Query("channel")),
		Layer: c.Query("layer"), Offset: offset, Limit: limit}
	if f.Status != "" && !f.Status.Valid() {
		return experiment.Invalid("status", "unknown status %q", f.Status)
	}
	if f.Offset < 0 || f.Limit < 0 || f.Limit > 1000 {
		return experiment.Invalid("limit", "offset must be >= 0 and limit within 0..1000")
	}
	list, err := s.cfg.Store.List(c.UserContext(), f)
	if err != nil {
		return err
	}
	if list == nil {
		list = []experiment.Experiment{}
	}
	return c.JSON(fiber.Map{"experiments": list})
}

func (s *Server) getExperiment(c *fiber.Ctx) error {
	e, err := s.cfg.Store.Get(c.UserContext(), c.Params("key"))
	if err != nil {
		return err
	}
	return c.JSON(e)
}

func (s *Server) editExperiment(c *fiber.Ctx) error {
	edited, err := s.decodeExperiment(c.Body())
	if err != nil {
		return err
	}
	if err := s.catalogue().CheckRules(&edited); err != nil {
		return err
	}
	return s.apply(c, func(cur experiment.Experiment) (experiment.Version, error) {
		return experiment.EditDraft(cur, edited, author(c), "edited through the API", s.cfg.Now().UTC())
	})
}

func (s *Server) lifecycle(act func(experiment.Experiment, string, string, time.Time) (experiment.Version, error)) fiber.Handler {
	return func(c *fiber.Ctx) error {
		reason, err := reasonOf(c, "through the API")
		if err != nil {
			return err
		}
		return s.apply(c, func(cur experiment.Experiment) (experiment.Version, error) {
			return act(cur, author(c), reason, s.cfg.Now().UTC())
		})
	}
}

type allocationBody struct {
	Allocation *experiment.BasisPoints `json:"allocation"`
	Reason     string                  `json:"reason"`
}

func (s *Server) setAllocation(c *fiber.Ctx) error {
	var b allocationBody
	if err := experiment.DecodeStrict(c.Body(), &b); err != nil {
		return err
	}
	if b.Allocation == nil {
		return experiment.Invalid("allocation", "required: the percent of matching units who enter")
	}
	if b.Reason == "" {
		b.Reason = "allocation changed through the API"
	}
	return s.apply(c, func(cur experiment.Experiment) (experiment.Version, error) {
		return experiment.SetAllocation(cur, *b.Allocation, author(c), b.Reason, s.cfg.Now().UTC())
	})
}

func (s *Server) retire(c *fiber.Ctx) error {
	reason, err := reasonOf(c, "retired by hand through the API")
	if err != nil {
		return err
	}
	return s.apply(c, func(cur experiment.Experiment) (experiment.Version, error) {
		return experiment.Retire(cur, c.Params("segment"), c.Params("variant"), author(c), reason, s.cfg.Now().UTC())
	})
}

// apply runs one versioned action through experiment.Apply (409 when
// someone else saved first) and refreshes this server's snapshot.
func (s *Server) apply(c *fiber.Ctx, act func(experiment.Experiment) (experiment.Version, error)) error {
	v, err := experiment.Apply(c.UserContext(), s.cfg.Store, c.Params("key"), act)
	if err != nil {
		return err
	}
	s.refresh(c.UserContext())
	return c.JSON(v.Definition)
}

// refresh rebuilds this server's snapshot after a change, so that its next
// assignment already sees it; other servers see it within their interval.
func (s *Server) refresh(ctx context.Context) {
	if s.cfg.Refresh != nil {
		if err := s.cfg.Refresh(ctx); err != nil {
			s.cfg.Logger.Warn("snapshot refresh after a change failed", "err", err)
		}
	}
}

// historyEntry is one version with what changed from the one before.
type historyEntry struct {
	experiment.Version
	Changes []experiment.Change `json:"changes"`
}

func (s *Server) history(c *fiber.Ctx) error {
	vs, err := s.cfg.Store.History(c.UserContext(), c.Params("key"))
	if err != nil {
		return err
	}
	out := make([]historyEntry, len(vs))
	for i, v := range vs {
		out[i] = historyEntry{Version: v, Changes: []experiment.Change{}}
		if i > 0 {
			if ch := experiment.Diff(vs[i-1].Definition, v.Definition); ch != nil {
				out[i].Changes = ch
			}
		}
	}
	return c.JSON(fiber.Map{"experiment": c.Params("key"), "versions": out})
}

// queryInt reads an integer query parameter, def when absent. A value that
// is not an integer is refused (Fiber's QueryInt would silently give def).
func queryInt(c *fiber.Ctx, name string, def int) (int, error) {
	v := c.Query(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, experiment.Invalid(name, "%q is not an integer", v)
	}
	return n, nil
}
