// Package audience is the HTTP side of audiences: user events (POST
// /v1/track), and what Splitcast knows of a unit from them. Its handlers
// decode, call one domain function (in analytics or analytics/traits) and
// encode; package api mounts them and does the auth, limits and errors.
package audience

import (
	"strconv"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/analytics/traits"
)

// Config holds what the handlers need. Zero values of optional fields are
// replaced by the defaults named on them.
type Config struct {
	// Events receives the user events. Required.
	Events analytics.Logger
	// IDs makes the ids of events sent without one. Required.
	IDs *analytics.IDs
	// MaxEventsPerRequest bounds a POST /v1/track batch (default 1000).
	MaxEventsPerRequest int
	// Now tells the time (default time.Now).
	Now func() time.Time
	// Catalogue returns the computed traits' catalogue (nil: none).
	// Required.
	Catalogue func() *traits.Catalogue
	// Traits serves units' traits (nil: the unit routes answer 503).
	Traits Traits
	// Profiles stores profiles and deletes units (nil: those routes
	// answer 503).
	Profiles Profiles
}

// Handlers are the audience routes' handlers.
type Handlers struct {
	cfg Config
	// tracks are Track's buffers (*trackBuffers), from request to request.
	tracks sync.Pool
}

// trackBuffers are what Track makes of a request's events.
type trackBuffers struct {
	in     []analytics.UserEvent
	events analytics.TrackBuffer
}

// New returns the handlers of cfg.
func New(cfg Config) *Handlers {
	if cfg.MaxEventsPerRequest == 0 {
		cfg.MaxEventsPerRequest = 1000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Handlers{cfg: cfg}
}

// userEventIn is one user event as POST /v1/track takes it.
type userEventIn struct {
	ID         string               `json:"id"`
	UnitID     string               `json:"unit_id"`
	Name       string               `json:"name"`
	Properties analytics.Properties `json:"properties"`
	Time       *time.Time           `json:"time"`
}

type trackRequest struct {
	Events []userEventIn `json:"events"`
}

// Track accepts a batch of user events all or nothing (POST /v1/track),
// answering 202 once they are durable.
func (h *Handlers) Track(c *fiber.Ctx) error {
	var req trackRequest
	if err := decodeTrack(c.Body(), &req); err != nil {
		return err
	}
	b, _ := h.tracks.Get().(*trackBuffers)
	if b == nil {
		b = new(trackBuffers)
	}
	defer func() {
		// The Logger copied what it keeps (analytics.Logger).
		clear(b.in)
		b.in = b.in[:0]
		b.events.Reset()
		h.tracks.Put(b)
	}()
	in := b.in[:0]
	for i := range req.Events {
		in = append(in, analytics.UserEvent(req.Events[i]))
	}
	b.in = in
	out, err := b.events.Events(h.cfg.IDs, in, h.cfg.MaxEventsPerRequest, h.cfg.Now())
	if err != nil {
		return err
	}
	if err := h.cfg.Events.Log(c.UserContext(), out...); err != nil {
		return err
	}
	c.Status(fiber.StatusAccepted).Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.SendString(`{"accepted":` + strconv.Itoa(len(out)) + `}`)
}

// catalogueResponse lists the traits rules may read.
type catalogueResponse struct {
	// Computed are the catalogue's definitions, read as trait.<name>.
	Computed []traits.Definition `json:"computed"`
	// Behavioural are Splitcast's own traits from message events.
	Behavioural []traits.Builtin `json:"behavioural"`
}

// Catalogue answers GET /v1/traits/catalogue.
func (h *Handlers) Catalogue(c *fiber.Ctx) error {
	resp := catalogueResponse{Computed: []traits.Definition{}, Behavioural: traits.Builtins()}
	if cat := h.cfg.Catalogue(); cat != nil {
		resp.Computed = cat.Traits
	}
	return c.JSON(resp)
}
