// Package console serves the console under /console: server-rendered pages
// where people list experiments, edit drafts in forms, act on running ones
// with a reason, preview segments and ask why a unit got what it got.
//
// Security: a person signs in with an API key; the console then keeps only
// a signed, HttpOnly, SameSite=Strict session cookie with an expiry
// (stateless: every server holding the same key reads it). Every POST
// carries a CSRF token derived from the session; pages send
// Referrer-Policy: no-referrer and a Content-Security-Policy that allows no
// script at all and styles only from this server. A read key sees no edit
// control, and every POST checks the admin scope itself.
package console

import (
	"bytes"
	"context"
	"embed"
	"html/template"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/splitcast/splitcast/analytics/results"
	"github.com/splitcast/splitcast/analytics/traits"
	"github.com/splitcast/splitcast/api/pages"
	"github.com/splitcast/splitcast/assign"
	"github.com/splitcast/splitcast/experiment"
)

// Principal is who an API key is, as far as the console cares.
type Principal struct {
	Name  string
	Admin bool // may edit; otherwise it may only read
}

// Config holds what the console needs from the server that mounts it.
type Config struct {
	Store experiment.Store
	// Snapshot returns the running experiments, for the unit lookup.
	Snapshot func() *assign.Snapshot
	// Traits are the units' computed traits (may be nil): assignment's
	// source, and each unit's whole set for the lookup page.
	Traits Traits
	// Recent serves the traits of recently seen units, for the segment
	// preview (may be nil: then no segment's traffic is known).
	Recent results.RecentTraits
	// Report builds an experiment's report (retire.Report) with its
	// history; it fails with EUNAVAILABLE when there is no event store.
	Report func(ctx context.Context, key string) (results.Report, []experiment.Version, error)
	// SignIn checks an API key's secret. It returns an error that names
	// what is wrong (unknown key, too many failures, a key of neither the
	// read nor the admin scope).
	SignIn func(c *fiber.Ctx, secret string) (Principal, error)
	// Changed is called after every saved change (the server refreshes its
	// snapshot).
	Changed func(ctx context.Context)
	// SessionKey signs sessions and CSRF tokens: at least 32 bytes, the
	// same on every server.
	SessionKey []byte
	// Secure marks the cookie Secure (the server is reached over https).
	Secure bool
	// SessionLifetime bounds a session (default 8h).
	SessionLifetime time.Duration
	Now             func() time.Time
}

// Traits serves units' computed traits (a *traits.Cache).
type Traits interface {
	assign.TraitSource
	Traits(unit string) *traits.UnitTraits
}

// Console is the mounted console.
type Console struct {
	cfg  Config
	sess sessions
}

// CookieName is the session cookie's name.
const CookieName = "splitcast_console"

// preCookie holds the sign-in page's nonce, which its CSRF token is bound to.
const preCookie = "splitcast_console_pre"

//go:embed templates/*.html static/console.css
var files embed.FS

var tmpl = template.Must(template.New("").Funcs(funcs).ParseFS(files, "templates/*.html"))

// Mount serves the console under prefix of r ("/console").
func Mount(r fiber.Router, cfg Config) *Console {
	if cfg.SessionLifetime == 0 {
		cfg.SessionLifetime = 8 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Changed == nil {
		cfg.Changed = func(context.Context) {}
	}
	c := &Console{cfg: cfg, sess: sessions{key: cfg.SessionKey}}
	g := r.Group("/console", c.headers)
	g.Get("/static/console.css", c.css)
	g.Get("/signin", c.signInPage)
	g.Post("/signin", c.signIn)
	g.Post("/signout", c.session, c.signOut)
	g.Get("/", c.session, c.list)
	g.Get("/new", c.session, c.admin, c.newPage)
	g.Post("/new", c.session, c.admin, c.create)
	g.Get("/e/:key", c.session, c.detail)
	g.Get("/e/:key/json", c.session, c.jsonView)
	g.Get("/e/:key/report", c.session, c.report)
	g.Get("/e/:key/history", c.session, c.history)
	g.Get("/e/:key/edit", c.session, c.admin, c.editPage)
	g.Post("/e/:key/edit", c.session, c.admin, c.edit)
	g.Post("/e/:key/action", c.session, c.admin, c.action)
	g.Get("/e/:key/preview", c.session, c.preview)
	g.Get("/e/:key/lookup", c.session, c.lookupPage)
	g.Post("/e/:key/lookup", c.session, c.lookup)
	return c
}

// headers are the security headers of every console answer.
func (c *Console) headers(ctx *fiber.Ctx) error {
	ctx.Set("Referrer-Policy", "no-referrer")
	ctx.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	ctx.Set("X-Content-Type-Options", "nosniff")
	ctx.Set("X-Frame-Options", "DENY")
	ctx.Set(fiber.HeaderCacheControl, "no-store")
	return ctx.Next()
}

func (c *Console) css(ctx *fiber.Ctx) error {
	b, _ := files.ReadFile("static/console.css")
	ctx.Set(fiber.HeaderContentType, "text/css; charset=utf-8")
	ctx.Set(fiber.HeaderCacheControl, "max-age=300")
	return ctx.Send(b)
}

const localSession = "console.session"

// session admits requests with a valid session cookie, and checks the CSRF
// token of every POST; without a session a page redirects to sign-in.
func (c *Console) session(ctx *fiber.Ctx) error {
	cookie := ctx.Cookies(CookieName)
	s, ok := c.sess.decode(cookie, c.cfg.Now())
	if !ok {
		if ctx.Method() == fiber.MethodPost {
			return ctx.Status(fiber.StatusUnauthorized).SendString("not signed in: sign in again at /console/signin")
		}
		return ctx.Redirect("/console/signin", fiber.StatusSeeOther)
	}
	if ctx.Method() == fiber.MethodPost && !c.sess.checkCSRF(cookie, ctx.FormValue("csrf")) {
		return ctx.Status(fiber.StatusForbidden).SendString("refused: the form's CSRF token is missing or not this session's; reload the page")
	}
	ctx.Locals(localSession, view{Session: s, CSRF: c.sess.csrf(cookie)})
	return ctx.Next()
}

// admin refuses a read key's session: 403, whatever the page would do.
func (c *Console) admin(ctx *fiber.Ctx) error {
	if !viewOf(ctx).Admin {
		return ctx.Status(fiber.StatusForbidden).SendString("refused: this key may only read; sign in with an admin key to edit")
	}
	return ctx.Next()
}

// view is what every page template gets: the session, its CSRF token, the
// page's own data, and a notice.
type view struct {
	Session
	CSRF   string
	Title  string
	Notice string
	Error  string
	Data   any
}

func viewOf(ctx *fiber.Ctx) view {
	v, _ := ctx.Locals(localSession).(view)
	return v
}

// render writes page name with data, status 200 unless set before.
func (c *Console) render(ctx *fiber.Ctx, name, title string, data any) error {
	v := viewOf(ctx)
	v.Title, v.Data = title, data
	v.Notice = notices[ctx.Query("notice")]
	var buf bytes.Buffer
	if err := tmpl.ExecuteTemplate(&buf, name, v); err != nil {
		return err
	}
	ctx.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return ctx.SendString(pages.NeutralizeBidi(buf.String()))
}

// notices are the messages a redirect after a change may show: fixed
// texts, so that no link can make a console page say something else.
var notices = map[string]string{
	"created": "Draft created.", "saved": "Draft saved.", "start": "Started.", "pause": "Paused.",
	"resume": "Resumed.", "complete": "Completed.", "archive": "Archived.", "retire": "Variant retired.",
	"allocation": "Allocation changed.", "signedout": "Signed out.",
}

// author is how the history names a console change.
func author(ctx *fiber.Ctx) string {
	return "key:" + viewOf(ctx).Name + " via console"
}

func reason(ctx *fiber.Ctx, def string) string {
	if r := strings.TrimSpace(ctx.FormValue("reason")); r != "" {
		return r
	}
	return def
}
