package audience

import (
	"context"

	"github.com/gofiber/fiber/v2"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/experiment"
)

// Profiles stores units' attributes and deletes units' data (a
// *clickhouse.ProfileStore).
type Profiles interface {
	Write(ctx context.Context, ws []analytics.ProfileWrite) error
	DeleteUnit(ctx context.Context, unit string) error
}

// MaxProfilesPerRequest bounds a batch of profile writes.
const MaxProfilesPerRequest = 1000

type attributesRequest struct {
	Attributes map[string]any `json:"attributes"`
}

type profileIn struct {
	UnitID     string         `json:"unit_id"`
	Attributes map[string]any `json:"attributes"`
}

type attributesBatch struct {
	Units []profileIn `json:"units"`
}

func (h *Handlers) profiles() (Profiles, error) {
	if h.cfg.Profiles == nil {
		return nil, &experiment.Error{Code: experiment.EUNAVAILABLE, Message: "this server stores no profiles"}
	}
	return h.cfg.Profiles, nil
}

// SetAttributes answers POST /v1/units/{unit}/attributes: the attributes
// are stored (null removes one) once the answer is 200.
func (h *Handlers) SetAttributes(c *fiber.Ctx) error {
	unit, err := unitParam(c)
	if err != nil {
		return err
	}
	var req attributesRequest
	if err := experiment.DecodeStrict(c.Body(), &req); err != nil {
		return err
	}
	return h.store(c, []analytics.ProfileUpdate{{UnitID: unit, Attributes: req.Attributes}}, "")
}

// SetAttributesBatch answers POST /v1/units/attributes: up to
// MaxProfilesPerRequest units, all or nothing.
func (h *Handlers) SetAttributesBatch(c *fiber.Ctx) error {
	var req attributesBatch
	if err := experiment.DecodeStrict(c.Body(), &req); err != nil {
		return err
	}
	in := make([]analytics.ProfileUpdate, len(req.Units))
	for i, u := range req.Units {
		in[i] = analytics.ProfileUpdate(u)
	}
	return h.store(c, in, "units")
}

func (h *Handlers) store(c *fiber.Ctx, in []analytics.ProfileUpdate, prefix string) error {
	p, err := h.profiles()
	if err != nil {
		return err
	}
	ws, err := analytics.ProfileWrites(in, MaxProfilesPerRequest, prefix)
	if err != nil {
		return err
	}
	if err := p.Write(c.UserContext(), ws); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"stored": len(ws)})
}

// DeleteUnit answers DELETE /v1/units/{unit}: the unit's events, user
// events, profile and rollup rows are deleted (ClickHouse mutations, done
// in the background), and every server forgets the unit within its trait
// refresh interval.
func (h *Handlers) DeleteUnit(c *fiber.Ctx) error {
	unit, err := unitParam(c)
	if err != nil {
		return err
	}
	p, err := h.profiles()
	if err != nil {
		return err
	}
	if err := p.DeleteUnit(c.UserContext(), unit); err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"unit_id": unit, "deleted": true})
}
