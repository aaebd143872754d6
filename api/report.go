package api

import (
	"bytes"
	"context"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/splitcast/splitcast/analytics/results"
	"github.com/splitcast/splitcast/analytics/retire"
	"github.com/splitcast/splitcast/api/pages"
	"github.com/splitcast/splitcast/experiment"
	"github.com/splitcast/splitcast/experiment/apikey"
)

// PageKeyCookie holds the read key of a browser that opened a report page
// with ?key=: a browser cannot send a bearer header, so the page (and only
// the page) takes the key from the query once and from this cookie after.
const PageKeyCookie = "splitcast_read_key"

// pageKeyLifetime bounds how long a browser keeps the page's key.
const pageKeyLifetime = 12 * time.Hour

func (s *Server) reportRoutes() {
	s.app.Get("/v1/experiments/:key/results", s.require(apikey.ScopeRead), s.results)
	s.app.Get("/experiments/:key", s.pageKey, s.require(apikey.ScopeRead), s.reportPage)
	s.app.Get("/v1/global-control/results", s.require(apikey.ScopeRead), s.globalControl)
}

// globalControl answers GET /v1/global-control/results: messaged units
// against the global control group, deployment-wide.
func (s *Server) globalControl(c *fiber.Ctx) error {
	if s.cfg.Fatigue == nil {
		return experiment.Errorf(experiment.EUNAVAILABLE, "this server has no fatigue rules")
	}
	r, err := results.ReadGlobalControl(c.UserContext(), s.cfg.GlobalControl, s.cfg.Fatigue.Policy().GlobalControl)
	if err != nil {
		return err
	}
	return c.JSON(r)
}

// results answers GET /v1/experiments/{key}/results: the report as JSON, or
// as CSV with ?format=csv.
func (s *Server) results(c *fiber.Ctx) error {
	format := c.Query("format", "json")
	if format != "json" && format != "csv" {
		return experiment.Invalid("format", "unknown format %q: want json or csv", format)
	}
	r, _, err := s.fullReport(c.UserContext(), c.Params("key"), c.Query("breakdown"))
	if err != nil {
		return err
	}
	if format == "json" {
		return c.JSON(r)
	}
	var buf bytes.Buffer
	if err := results.WriteCSV(&buf, r); err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+r.Experiment+`-results.csv"`)
	return c.Send(buf.Bytes())
}

// buildReport is the report of an experiment as of now without the per-unit
// analyses, as the console's list shows it, with its history.
func (s *Server) buildReport(ctx context.Context, key string) (results.Report, []experiment.Version, error) {
	return s.report(ctx, key, nil, "")
}

// fullReport is buildReport with the per-unit analyses (CUPED, and the
// breakdown by breakdown when not ""), for the report routes.
func (s *Server) fullReport(ctx context.Context, key, breakdown string) (results.Report, []experiment.Version, error) {
	return s.report(ctx, key, s.cfg.Units, breakdown)
}

// report reads an experiment's history and aggregates at the same time
// (the aggregates are the slow part; the history should not add to them),
// builds its report as of now, then adds its sections, whose reads follow
// the aggregates' fold (results.AddSections). It also returns the history,
// for the page's retirement log.
func (s *Server) report(ctx context.Context, key string, units results.UnitReader, breakdown string) (results.Report, []experiment.Version, error) {
	if s.cfg.Aggregates == nil {
		return results.Report{}, nil, experiment.Errorf(experiment.EUNAVAILABLE, "this server has no event store to report from")
	}
	type aggResult struct {
		agg results.Aggregates
		err error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	aggc := make(chan aggResult, 1)
	go func() {
		agg, err := s.cfg.Aggregates.Aggregates(ctx, key)
		aggc <- aggResult{agg, err}
	}()
	history, err := s.cfg.Store.History(ctx, key)
	if err != nil {
		return results.Report{}, nil, err
	}
	if len(history) == 0 {
		return results.Report{}, nil, experiment.Errorf(experiment.ENOTFOUND, "no experiment %s", key)
	}
	res := <-aggc
	if res.err != nil {
		return results.Report{}, nil, res.err
	}
	cur := history[len(history)-1].Definition
	r := retire.Report(cur, history, res.agg, s.cfg.Now().UTC())
	readers := results.Readers{Fatigue: s.cfg.ArmFatigue, Channels: s.cfg.Channels, Units: units}
	return r, history, results.AddSections(ctx, &r, cur, readers, breakdown)
}

// pageKey lets a browser in: when the request carries no Authorization
// header, the key of ?key= (then remembered in a cookie) or of the cookie
// becomes its bearer key, so that require checks it like any other.
func (s *Server) pageKey(c *fiber.Ctx) error {
	if c.Get(fiber.HeaderAuthorization) != "" {
		return c.Next()
	}
	key := c.Query("key")
	if key != "" {
		c.Locals(localPageKey, key)
	} else {
		key = c.Cookies(PageKeyCookie)
	}
	if key != "" {
		c.Request().Header.Set(fiber.HeaderAuthorization, "Bearer "+key)
	}
	return c.Next()
}

const localPageKey = "splitcast.pagekey"

// reportPage answers GET /experiments/{key}: the report as a self-contained
// HTML page (inline CSS and SVG, no script, nothing fetched from elsewhere).
func (s *Server) reportPage(c *fiber.Ctx) error {
	if err := s.urlKey(c); err != nil {
		return err
	}
	r, history, err := s.fullReport(c.UserContext(), c.Params("key"), c.Query("breakdown"))
	if err != nil {
		return err
	}
	s.rememberURLKey(c)
	var buf bytes.Buffer
	if err := pages.Report(&buf, r, history); err != nil {
		return err
	}
	// The page holds the key in its URL when opened with ?key=: never send
	// it on as a Referer, and never cache it.
	c.Set("Referrer-Policy", "no-referrer")
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Send(buf.Bytes())
}

// readOnly reports whether k can do nothing but read.
func readOnly(k Key) bool { return !k.has(apikey.ScopeAdmin) && !k.has(apikey.ScopeSDK) }

// urlKey refuses a key given in the URL that can do more than read: a URL
// lands in browser history, proxy logs and screenshots, and the cookie
// would keep the key.
func (s *Server) urlKey(c *fiber.Ctx) error {
	if _, inURL := c.Locals(localPageKey).(string); inURL && !readOnly(keyOf(c)) {
		return &experiment.Error{Code: experiment.EFORBIDDEN, Field: "key",
			Message: "only a read-scope key may be given in a URL; this key can do more"}
	}
	return nil
}

// rememberURLKey keeps a key that came in the URL, and passed require and
// urlKey, in a cookie for the page's reloads, readable by nothing but this
// server's pages.
func (s *Server) rememberURLKey(c *fiber.Ctx) {
	if key, ok := c.Locals(localPageKey).(string); ok {
		c.Cookie(&fiber.Cookie{Name: PageKeyCookie, Value: key, Path: "/experiments", HTTPOnly: true,
			SameSite: fiber.CookieSameSiteStrictMode, Secure: strings.HasPrefix(s.cfg.BaseURL, "https://"),
			Expires: s.cfg.Now().Add(pageKeyLifetime)})
	}
}
