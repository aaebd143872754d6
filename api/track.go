package api

import (
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/api/tracking"
	"github.com/splitcast/splitcast/experiment"
)

// gif is the pixel's answer, as bytes for c.Send.
var gif = []byte(tracking.PixelGIF)

func (s *Server) trackingRoutes() {
	s.app.Get("/o/:file", s.pixel)
	s.app.Get("/c/:token", s.click)
}

// The no-cache headers of the pixel and the redirect, as bytes in
// canonical form: set with SetCanonical, they skip the key normalization
// and the string conversions of c.Set on every request.
var (
	hdrCacheControl   = []byte(fiber.HeaderCacheControl)
	hdrPragma         = []byte(fiber.HeaderPragma)
	hdrExpires        = []byte(fiber.HeaderExpires)
	valNoCacheControl = []byte("no-store, no-cache, must-revalidate, private, max-age=0")
	valNoCache        = []byte("no-cache")
	valExpiresAtOnce  = []byte("0")
	valContentTypeGIF = []byte("image/gif")
)

func noCache(c *fiber.Ctx) {
	h := &c.Response().Header
	h.SetCanonical(hdrCacheControl, valNoCacheControl)
	h.SetCanonical(hdrPragma, valNoCache)
	h.SetCanonical(hdrExpires, valExpiresAtOnce)
}

// pixel always answers at once with the GIF, whatever the token: a broken
// image in a message is worse than a lost open. A valid token records an
// open; the event goes to the in-memory queue, never to ClickHouse directly.
func (s *Server) pixel(c *fiber.Ctx) error {
	noCache(c)
	c.Response().Header.SetContentTypeBytes(valContentTypeGIF)
	tok, ok := strings.CutSuffix(c.Params("file"), ".gif")
	if ok {
		if t, err := s.cfg.Tokens.Verify(tok); err == nil && t.Kind == tracking.KindOpen {
			now := s.cfg.Now()
			machine, reason := s.machine.ClassifyOpen(analytics.Hit{
				UserAgent: c.Get(fiber.HeaderUserAgent), Method: c.Method(), SinceSend: now.Sub(t.IssuedAt)})
			s.record(t, analytics.KindOpen, now, machine, reason)
		}
	}
	return c.Send(gif)
}

// click redirects to the URL bound in the token, and only there: a token
// that fails verification gets 400 (or 404 for an unknown key) and no
// Location. An old but valid token still redirects.
func (s *Server) click(c *fiber.Ctx) error {
	noCache(c)
	t, err := s.cfg.Tokens.Verify(c.Params("token"))
	if err != nil {
		return err
	}
	if t.Kind != tracking.KindClick {
		return experiment.Invalid("token", "not a click token")
	}
	now := s.cfg.Now()
	links := s.bursts.Observe(t.SendID, t.Link)
	machine, reason := s.machine.ClassifyClick(analytics.Hit{
		UserAgent: c.Get(fiber.HeaderUserAgent), Method: c.Method(), SinceSend: now.Sub(t.IssuedAt), LinksInBurst: links})
	// Tokens signed before hosts were normalised may hold a Unicode host.
	loc, err := tracking.NormalizeURL(t.URL)
	if err != nil {
		return err
	}
	s.record(t, analytics.KindClick, now, machine, reason)
	if t.Category != "" && !machine {
		s.recordInterest(t, now)
	}
	return c.Redirect(loc, fiber.StatusFound)
}

// record logs an open or click without waiting for it to be durable: the
// recipient never waits on a disk. A crash loses at most the hits of the
// journal's last 5ms and of its commit round in progress (a write and an
// fsync).
// A full queue and spool lose this one event rather than keep the
// recipient waiting: it is counted as rejected.
func (s *Server) record(t tracking.Token, kind analytics.Kind, now time.Time, machine bool, reason string) {
	ev := analytics.Tracked(s.ids, kind, armOf(t.Claims), t.URL, now, machine, reason)
	if _, err := s.cfg.Events.Append(ev); err != nil {
		s.cfg.Logger.Warn("tracking event not recorded", "kind", kind, "err", err)
	}
}

// recordInterest logs a human click on a categorised link as a user event
// (analytics.LinkClicked), which the interests traits read. Like record, it
// never waits.
func (s *Server) recordInterest(t tracking.Token, now time.Time) {
	if _, err := s.cfg.Events.Append(analytics.LinkClicked(s.ids, t.Unit, t.Category, now)); err != nil {
		s.cfg.Logger.Warn("link click interest not recorded", "err", err)
	}
}

// linksRequest asks for tracked click URLs for the links of one message,
// identified by the token its assignment returned.
type linksRequest struct {
	Token string   `json:"token"`
	URLs  []string `json:"urls"`
	// Categories, when given, are the links' categories by position
	// ("" for none), as many as URLs.
	Categories []string `json:"categories"`
}

type trackedLink struct {
	URL        string `json:"url"`
	TrackedURL string `json:"tracked_url"`
	Category   string `json:"category,omitempty"`
}

// MaxLinks bounds the links of one /v1/links request.
const MaxLinks = 1000

func (s *Server) links(c *fiber.Ctx) error {
	var req linksRequest
	if err := experiment.DecodeStrict(c.Body(), &req); err != nil {
		return err
	}
	claims, err := s.openClaims(req.Token)
	if err != nil {
		return err
	}
	if len(req.URLs) == 0 || len(req.URLs) > MaxLinks {
		return experiment.Invalid("urls", "want 1 to %d URLs", MaxLinks)
	}
	if req.Categories != nil && len(req.Categories) != len(req.URLs) {
		return experiment.Invalid("categories", "%d categories for %d URLs: one per URL (\"\" for none)", len(req.Categories), len(req.URLs))
	}
	out := make([]trackedLink, len(req.URLs))
	for i, u := range req.URLs {
		field := "urls[" + strconv.Itoa(i) + "]"
		category := ""
		if req.Categories != nil {
			category = req.Categories[i]
			if err := tracking.CheckCategory("categories["+strconv.Itoa(i)+"]", category); err != nil {
				return err
			}
		}
		if err := tracking.CheckURL(field, u); err != nil {
			return err
		}
		if err := s.cfg.LinkDomains.Check(field, u); err != nil {
			return err
		}
		tu, err := tracking.NewClickURLIn(s.cfg.Tokens, s.cfg.BaseURL, claims, i, u, category)
		if err != nil {
			return err
		}
		out[i] = trackedLink{URL: u, TrackedURL: tu, Category: category}
	}
	return c.JSON(fiber.Map{"links": out})
}

type renderRequest struct {
	Token string `json:"token"`
	HTML  string `json:"html"`
}

func (s *Server) render(c *fiber.Ctx) error {
	var req renderRequest
	if err := experiment.DecodeStrict(c.Body(), &req); err != nil {
		return err
	}
	claims, err := s.openClaims(req.Token)
	if err != nil {
		return err
	}
	if req.HTML == "" {
		return experiment.Invalid("html", "required")
	}
	r, err := tracking.Render(s.cfg.Tokens, req.HTML, s.cfg.BaseURL, claims, s.cfg.LinkDomains)
	if err != nil {
		return err
	}
	if r.Links == nil {
		r.Links = []tracking.Link{}
	}
	return c.JSON(fiber.Map{"html": r.HTML, "links": r.Links, "untracked": r.Untracked, "not_allowed": r.Disallowed})
}

// openClaims reads the claims of the open token an assignment returned: a
// message's links are signed for the same unit, arm and send.
func (s *Server) openClaims(tok string) (tracking.Claims, error) {
	if tok == "" {
		return tracking.Claims{}, experiment.Invalid("token", "required: the token returned by /v1/assign")
	}
	t, err := s.cfg.Tokens.Verify(tok)
	if err != nil {
		return tracking.Claims{}, err
	}
	if t.Kind != tracking.KindOpen {
		return tracking.Claims{}, experiment.Invalid("token", "want the open token returned by /v1/assign")
	}
	return t.Claims, nil
}
