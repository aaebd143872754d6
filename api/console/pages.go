package console

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/splitcast/splitcast/analytics/results"
	"github.com/splitcast/splitcast/api/pages"
	"github.com/splitcast/splitcast/experiment"
)

func (c *Console) list(ctx *fiber.Ctx) error {
	q := listQuery{Status: ctx.Query("status"), Channel: ctx.Query("channel"), Search: strings.TrimSpace(ctx.Query("q"))}
	rows, err := c.listRows(ctx.UserContext(), q)
	if err != nil {
		return err
	}
	return c.render(ctx, "list.html", "Experiments", listPage{Query: q, Rows: rows,
		Statuses: []string{"draft", "running", "paused", "completed", "archived"}, Channels: channels})
}

var channels = []string{"email", "push", "sms", "in_app"}

func (c *Console) detail(ctx *fiber.Ctx) error {
	e, err := c.cfg.Store.Get(ctx.UserContext(), ctx.Params("key"))
	if err != nil {
		return c.notFound(ctx, err)
	}
	row := c.summarize(ctx.UserContext(), e)
	return c.render(ctx, "detail.html", e.Key, detailPage{E: e, Row: row, Actions: actionsOf(e)})
}

func (c *Console) jsonView(ctx *fiber.Ctx) error {
	e, err := c.cfg.Store.Get(ctx.UserContext(), ctx.Params("key"))
	if err != nil {
		return c.notFound(ctx, err)
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // html/template escapes; "<" should read as "<"
	enc.SetIndent("", "  ")
	if err := enc.Encode(e); err != nil {
		return err
	}
	return c.render(ctx, "json.html", e.Key+" as JSON", jsonPage{Key: e.Key, JSON: b.String()})
}

// report is the experiment's report page (api/pages), for a signed-in
// browser: the page itself needs inline styles, so it has its own policy.
func (c *Console) report(ctx *fiber.Ctx) error {
	if c.cfg.Report == nil {
		return c.notFound(ctx, experiment.Errorf(experiment.ENOTFOUND, "this server has no event store to report from"))
	}
	r, history, err := c.cfg.Report(ctx.UserContext(), ctx.Params("key"))
	if err != nil {
		if code := experiment.ErrorCode(err); code == experiment.EUNAVAILABLE || code == experiment.ENOTFOUND {
			return c.notFound(ctx, experiment.Errorf(experiment.ENOTFOUND, "%s", experiment.ErrorMessage(err)))
		}
		return err
	}
	var buf bytes.Buffer
	if err := pages.Report(&buf, r, history); err != nil {
		return err
	}
	ctx.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
	ctx.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return ctx.Send(buf.Bytes())
}

func (c *Console) history(ctx *fiber.Ctx) error {
	vs, err := c.cfg.Store.History(ctx.UserContext(), ctx.Params("key"))
	if err != nil {
		return c.notFound(ctx, err)
	}
	return c.render(ctx, "history.html", ctx.Params("key")+" history", historyOf(ctx.Params("key"), vs))
}

// newPage is an empty draft form, or with ?clone=KEY a copy of that
// experiment as a new draft (its key to be changed).
func (c *Console) newPage(ctx *fiber.Ctx) error {
	f := newDraftForm()
	if src := ctx.Query("clone"); src != "" {
		e, err := c.cfg.Store.Get(ctx.UserContext(), src)
		if err != nil {
			return c.notFound(ctx, err)
		}
		f = formOf(e)
		f.Key, f.Salt = e.Key+"-copy", ""
	}
	return c.renderForm(ctx, f, true)
}

func (c *Console) create(ctx *fiber.Ctx) error {
	f := decodeForm(postForm(ctx))
	if f.change(ctx.FormValue("do")) {
		return c.renderForm(ctx, f, true)
	}
	v, err := createDraft(ctx.UserContext(), c.cfg.Store, catalogueOf(c.cfg.Traits), &f, author(ctx), c.cfg.Now().UTC())
	if err != nil {
		return c.formError(ctx, f, err, true)
	}
	c.cfg.Changed(ctx.UserContext())
	return ctx.Redirect("/console/e/"+url.PathEscape(v.Experiment)+"?notice=created", fiber.StatusSeeOther)
}

func (c *Console) editPage(ctx *fiber.Ctx) error {
	e, err := c.cfg.Store.Get(ctx.UserContext(), ctx.Params("key"))
	if err != nil {
		return c.notFound(ctx, err)
	}
	return c.renderForm(ctx, formOf(e), false)
}

func (c *Console) edit(ctx *fiber.Ctx) error {
	f := decodeForm(postForm(ctx))
	f.Key = ctx.Params("key") // the key never changes
	if f.change(ctx.FormValue("do")) {
		return c.renderForm(ctx, f, false)
	}
	if _, err := editDraft(ctx.UserContext(), c.cfg.Store, catalogueOf(c.cfg.Traits), &f, author(ctx), c.cfg.Now().UTC()); err != nil {
		return c.formError(ctx, f, err, false)
	}
	c.cfg.Changed(ctx.UserContext())
	return ctx.Redirect("/console/e/"+url.PathEscape(f.Key)+"?notice=saved", fiber.StatusSeeOther)
}

// action runs a lifecycle action, a retirement or an allocation change,
// with the reason typed in its form.
func (c *Console) action(ctx *fiber.Ctx) error {
	key, act := ctx.Params("key"), ctx.FormValue("act")
	// The retire form names its variant as "segment/variant" (keys hold no
	// slash).
	seg, variant, _ := strings.Cut(ctx.FormValue("which"), "/")
	_, err := runAction(ctx.UserContext(), c.cfg.Store, key, actionForm{Act: act, Reason: reason(ctx, ""),
		Segment: seg, Variant: variant, Allocation: ctx.FormValue("allocation")},
		author(ctx), c.cfg.Now().UTC())
	if err != nil {
		e, gerr := c.cfg.Store.Get(ctx.UserContext(), key)
		if gerr != nil {
			return c.notFound(ctx, gerr)
		}
		ctx.Status(statusOf(err))
		ctx.Locals(localSession, withError(viewOf(ctx), err))
		return c.render(ctx, "detail.html", e.Key, detailPage{E: e, Row: c.summarize(ctx.UserContext(), e), Actions: actionsOf(e)})
	}
	c.cfg.Changed(ctx.UserContext())
	return ctx.Redirect("/console/e/"+url.PathEscape(key)+"?notice="+url.QueryEscape(act), fiber.StatusSeeOther)
}

func (c *Console) preview(ctx *fiber.Ctx) error {
	e, err := c.cfg.Store.Get(ctx.UserContext(), ctx.Params("key"))
	if err != nil {
		return c.notFound(ctx, err)
	}
	traffic := map[string]results.SegmentTraffic{}
	if c.cfg.Recent != nil {
		traffic = results.TrafficOf(e, c.cfg.Recent, previewDays)
	}
	h := results.SegmentHealthOf(e, traffic, results.HealthConfig{})
	return c.render(ctx, "preview.html", e.Key+" segment preview", previewOf(e, h))
}

// previewDays is the window of the segment preview: the units active in
// the last 30 days.
const previewDays = 30

func (c *Console) lookupPage(ctx *fiber.Ctx) error {
	e, err := c.cfg.Store.Get(ctx.UserContext(), ctx.Params("key"))
	if err != nil {
		return c.notFound(ctx, err)
	}
	return c.render(ctx, "lookup.html", e.Key+" unit lookup", lookupPage{E: e, Attributes: "{}"})
}

func (c *Console) lookup(ctx *fiber.Ctx) error {
	e, err := c.cfg.Store.Get(ctx.UserContext(), ctx.Params("key"))
	if err != nil {
		return c.notFound(ctx, err)
	}
	p := explainUnit(c.cfg.Snapshot(), c.cfg.Traits, e, ctx.FormValue("unit"), ctx.FormValue("attributes"))
	if p.Error != "" {
		ctx.Status(fiber.StatusBadRequest)
	}
	return c.render(ctx, "lookup.html", e.Key+" unit lookup", p)
}

// renderForm shows the draft form.
func (c *Console) renderForm(ctx *fiber.Ctx, f draftForm, isNew bool) error {
	title := "Edit draft " + f.Key
	if isNew {
		title = "New draft"
	}
	return c.render(ctx, "form.html", title, formPage{F: f, New: isNew, Traits: catalogueOptions(c.cfg.Traits), Ops: ops,
		Metrics: metrics, Channels: channels})
}

// formError shows the form again with err beside its field: nothing was
// saved.
func (c *Console) formError(ctx *fiber.Ctx, f draftForm, err error, isNew bool) error {
	if experiment.ErrorCode(err) == experiment.EINTERNAL {
		return err
	}
	f.fail(err)
	ctx.Status(statusOf(err))
	return c.renderForm(ctx, f, isNew)
}

func (c *Console) notFound(ctx *fiber.Ctx, err error) error {
	if experiment.ErrorCode(err) != experiment.ENOTFOUND {
		return err
	}
	ctx.Status(fiber.StatusNotFound)
	ctx.Locals(localSession, withError(viewOf(ctx), err))
	return c.render(ctx, "notfound.html", "Not found", nil)
}

func withError(v view, err error) view {
	v.Error = experiment.ErrorMessage(err)
	if f := experiment.ErrorField(err); f != "" {
		v.Error = label(f) + ": " + v.Error
	}
	return v
}

// statusOf is the HTTP status of a domain error shown on a page.
func statusOf(err error) int {
	switch experiment.ErrorCode(err) {
	case experiment.EINVALID:
		return fiber.StatusBadRequest
	case experiment.ENOTFOUND:
		return fiber.StatusNotFound
	case experiment.ECONFLICT:
		return fiber.StatusConflict
	case experiment.EFORBIDDEN:
		return fiber.StatusForbidden
	}
	return fiber.StatusInternalServerError
}

// postForm is the posted form as url.Values (fasthttp's args, copied).
func postForm(ctx *fiber.Ctx) url.Values {
	v := url.Values{}
	ctx.Request().PostArgs().VisitAll(func(k, val []byte) {
		v.Add(string(k), string(val))
	})
	return v
}
