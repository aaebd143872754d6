package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/splitcast/splitcast/experiment"
)

// consoleEnv is a real Splitcast (real ClickHouse, loopback listener; its
// serve flags: newConsoleEnv's args) and a real headless Chromium driven
// through the DevTools protocol.
type consoleEnv struct {
	m    *Main
	base string
	api  apiClient
	ctx  context.Context // the browser tab
	// dialogs counts the JavaScript dialogs that opened: an alert() run
	// by stored text would open one.
	dialogs *atomic.Int32
}

func newConsoleEnv(t *testing.T, args ...string) *consoleEnv {
	t.Helper()
	chromium := mustChromium(t)
	_, db := env.NewDatabase(t)
	m, _ := MustMain(t, db, append([]string{"-flush-interval", "100ms"}, args...)...)
	e := &consoleEnv{m: m, base: "http://" + m.Addr(), dialogs: new(atomic.Int32)}
	e.api = apiClient{base: e.base, http: &http.Client{Timeout: 30 * time.Second}}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 1000),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true), chromedp.Flag("hide-scrollbars", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTime(); cancelTab(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	if err := chromedp.Listen(ctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			e.dialogs.Add(1)
			// Dismissed from another goroutine: a listener must not call.
			go chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}); err != nil {
		t.Fatal(err)
	}
	e.ctx = ctx
	return e
}

// run runs browser actions, failing the test on error.
func (e *consoleEnv) run(t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(e.ctx, actions...); err != nil {
		var loc, body string
		_ = chromedp.Do(e.ctx, into(&loc, chromedp.Location()), into(&body, chromedp.Text(chromedp.CSS("body"))))
		t.Fatalf("%s: %v\nat %s:\n%.3000s", what, err, loc, body)
	}
}

// signIn signs the browser in with key and lands on the list.
func (e *consoleEnv) signIn(t *testing.T, key string) {
	t.Helper()
	e.run(t, "sign in", chromedp.Navigate(e.base+"/console/signin"),
		chromedp.WaitVisible(chromedp.CSS("#key")),
		chromedp.SetValue(chromedp.CSS("#key"), key),
		clickTo(`form[action="/console/signin"] button`, "form.filters"))
}

// byName selects the form input of that name.
func byName(name string) string { return fmt.Sprintf(`[name=%q]`, name) }

// setFields fills inputs by name.
func setFields(fields map[string]string) chromedp.Action[chromedp.Void] {
	var ts []chromedp.Action[chromedp.Void]
	for name, v := range fields {
		ts = append(ts, chromedp.SetValue(chromedp.CSS(byName(name)), v))
	}
	return chromedp.Steps(ts...)
}

// into runs a and keeps its value in dst.
func into[T any](dst *T, a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		v, err := a(ctx, t)
		*dst = v
		return chromedp.Void{}, err
	}
}

// eval evaluates JavaScript in the page into dst.
func eval[T any](expr string, dst *T, opts ...chromedp.EvaluateOption) chromedp.Action[chromedp.Void] {
	return into(dst, chromedp.Evaluate[T](expr, opts...))
}

// press clicks the form button with value do and waits for the page it
// leads to, recognised by the element wait.
func press(do, wait string) chromedp.Action[chromedp.Void] {
	return clickTo(fmt.Sprintf(`button[name="do"][value=%q]`, do), wait)
}

// clickTo clicks sel, which submits a form, waits for the page it leads
// to to load (RunResponse: a waited-for element could still be on the old
// page) and then for the element wait on it. A 5xx page fails.
func clickTo(sel, wait string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
		if err != nil {
			return chromedp.Void{}, err
		}
		if resp.Status >= 500 {
			return chromedp.Void{}, fmt.Errorf("clicking %s led to %d %s", sel, resp.Status, resp.URL)
		}
		return chromedp.WaitReady(chromedp.CSS(wait))(ctx, t)
	}
}

// TestConsoleCreateStartList: a person signs in with the admin key,
// builds the README's example experiment in the form (no JSON pasted),
// starts it with a reason, and finds it running in the list. The stored
// definition must be the example's.
func TestConsoleCreateStartList(t *testing.T) {
	e := newConsoleEnv(t)
	e.signIn(t, devAdminKey)
	var want experiment.Experiment
	if err := json.Unmarshal(exampleExperiment(t), &want); err != nil {
		t.Fatal(err)
	}
	e.run(t, "open the form and shape it", chromedp.Navigate(e.base+"/console/new"),
		chromedp.WaitVisible(chromedp.CSS(byName("key"))),
		press("add-cond:0", byName("segments[0].rule.c[1]")),
		press("add-variant:0", byName("segments[0].variants[2]")),
		press("add-variant:1", byName("segments[1].variants[2]")))
	fields := map[string]string{"key": want.Key, "name": want.Name, "description": want.Description, "channel": "email",
		"allocation": "100", "holdout": "5", "primary_metric": "click_rate", "retirement.alpha": "0.05",
		"retirement.min_sample_per_arm": "1000", "retirement.min_runtime": "72h", "retirement.interval": "1h",
		"reason": "the README's example, built in the console"}
	for i, s := range want.Segments {
		p := fmt.Sprintf("segments[%d]", i)
		fields[p+".key"], fields[p+".name"] = s.Key, s.Name
		if s.Rule != nil {
			fields[p+".rule.form"] = "all"
			for k, r := range s.Rule.All {
				q := fmt.Sprintf("%s.rule.c[%d]", p, k)
				fields[q+".attr"], fields[q+".op"] = r.Attr, string(r.Op)
				if r.Values != nil {
					var vs []string
					for _, v := range r.Values {
						vs = append(vs, v.(string))
					}
					fields[q+".value"] = strings.Join(vs, ", ")
				} else {
					fields[q+".value"] = fmt.Sprint(r.Value)
				}
			}
		}
		for j, v := range s.Variants {
			q := fmt.Sprintf("%s.variants[%d]", p, j)
			var pl struct {
				Subject, Body string
				CTA           struct{ Text, URL string }
			}
			if err := json.Unmarshal(v.Payload, &pl); err != nil {
				t.Fatal(err)
			}
			fields[q+".key"], fields[q+".name"], fields[q+".weight"] = v.Key, v.Name, fmt.Sprint(v.Weight)
			fields[q+".subject"], fields[q+".body"], fields[q+".cta_text"], fields[q+".cta_url"] = pl.Subject, pl.Body, pl.CTA.Text, pl.CTA.URL
		}
	}
	e.run(t, "fill in and create", setFields(fields),
		chromedp.Click(chromedp.CSS(`input[name="retirement.auto"]`)),
		press("save", ".notice"))
	var got experiment.Experiment
	e.api.mustCall(t, http.StatusOK, "GET", "/v1/experiments/"+want.Key, devReadKey, nil, &got)
	v, err := experiment.Create(want, "x", "x", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if a, b := definitionJSON(t, got), definitionJSON(t, v.Definition); a != b {
		t.Fatalf("the form made\n%s\nwant the example\n%s", a, b)
	}

	const why = "launch: checked by Zoë <QA>"
	var status, list string
	e.run(t, "start", chromedp.SetValue(chromedp.CSS("#reason-start"), why),
		clickTo(`form.action button`, ".notice"),
		into(&status, chromedp.Text(chromedp.CSS("h1 .status"))),
		chromedp.Navigate(e.base+"/console?status=running"),
		chromedp.WaitVisible(chromedp.CSS("table.list")),
		into(&list, chromedp.Text(chromedp.CSS("table.list tbody"))))
	if status != "running" || !strings.Contains(list, want.Key) || !strings.Contains(list, "running") {
		t.Fatalf("after start: status %q; the running list reads %q", status, list)
	}
	var h struct {
		Versions []experiment.Version `json:"versions"`
	}
	e.api.mustCall(t, http.StatusOK, "GET", "/v1/experiments/"+want.Key+"/history", devReadKey, nil, &h)
	last := h.Versions[len(h.Versions)-1]
	if last.Action != experiment.ActionStart || last.Reason != why || !strings.Contains(last.Author, "via console") {
		t.Fatalf("last version = %s by %q: %q, want start with the typed reason", last.Action, last.Author, last.Reason)
	}
}

// definitionJSON is what a person defines of an experiment, as JSON with
// payloads parsed (so that key order does not matter).
func definitionJSON(t *testing.T, e experiment.Experiment) string {
	t.Helper()
	e.Version, e.Status, e.CreatedAt, e.UpdatedAt, e.StartedAt = 0, "", time.Time{}, time.Time{}, nil
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var generic any
	if err := json.Unmarshal(b, &generic); err != nil {
		t.Fatal(err)
	}
	out, _ := json.MarshalIndent(generic, "", " ")
	return string(out)
}

// TestConsoleBadRuleValue: a numeric rule with a word for its value shows
// the validation's error beside that value's input, and saves nothing.
func TestConsoleBadRuleValue(t *testing.T) {
	e := newConsoleEnv(t)
	e.signIn(t, devAdminKey)
	const value = "segments[0].rule.c[0].value"
	var msg string
	var invalid bool
	e.run(t, "a bad value", chromedp.Navigate(e.base+"/console/new"),
		chromedp.WaitVisible(chromedp.CSS(byName("key"))),
		setFields(map[string]string{"key": "bad-rule", "segments[0].rule.c[0].attr": "trait.opens_30d",
			"segments[0].rule.c[0].op": "gte", value: "lots"}),
		press("save", ".problem"),
		into(&msg, chromedp.Text(chromedp.CSS(byName(value)+" ~ .error"))),
		eval(fmt.Sprintf(`document.querySelector(%q).getAttribute("aria-invalid") === "true"`, byName(value)), &invalid))
	if !strings.Contains(msg, "number") || !invalid {
		t.Fatalf("beside the value: %q (aria-invalid %v), want the validation's 'needs a number value'", msg, invalid)
	}
	var kept string
	e.run(t, "the form keeps what was typed", into(&kept, chromedp.Value(chromedp.CSS(byName(value)))))
	if kept != "lots" {
		t.Errorf("the value input holds %q after the error, want what was typed", kept)
	}
	if status, body := e.api.call(t, "GET", "/v1/experiments/bad-rule", devReadKey, nil); status != http.StatusNotFound {
		t.Fatalf("GET bad-rule after the refused save = %d %s, want 404: nothing saved", status, body)
	}
}

// TestConsoleTraitCatalogue: the rule builder knows the trait catalogue: it
// offers the computed traits, a condition on an unknown trait or one whose
// operator or value does not fit the trait's type shows the catalogue's
// error beside that input and saves nothing, and a condition that fits
// saves.
func TestConsoleTraitCatalogue(t *testing.T) {
	e := newConsoleEnv(t)
	e.signIn(t, devAdminKey)
	const c0 = "segments[0].rule.c[0]."
	var offered bool
	e.run(t, "the form", chromedp.Navigate(e.base+"/console/new"), chromedp.WaitVisible(chromedp.CSS(byName("key"))),
		eval(`[...document.querySelectorAll("#traits option")].some(o => o.value === "trait.support.open_tickets")`, &offered))
	if !offered {
		t.Errorf("the rule builder's trait list lacks trait.support.open_tickets")
	}
	for _, tc := range []struct {
		attr, op, value, input, want string
	}{
		{"trait.support.nope", "gt", "1", "attr", "unknown trait trait.support.nope"},
		{"trait.support.last_ticket_urgency", "gte", "3", "op", "trait.support.last_ticket_urgency is a string: gte compares numbers"},
		{"trait.interests.bought_shoes_365d", "equals", "yes", "value", "trait.interests.bought_shoes_365d is a bool, compared with a string"},
	} {
		var msg string
		var invalid bool
		e.run(t, tc.attr, chromedp.Navigate(e.base+"/console/new"), chromedp.WaitVisible(chromedp.CSS(byName("key"))),
			setFields(map[string]string{"key": "trait-rule", c0 + "attr": tc.attr, c0 + "op": tc.op, c0 + "value": tc.value}),
			press("save", ".problem"),
			into(&msg, chromedp.Text(chromedp.CSS(byName(c0+tc.input)+" ~ .error"))),
			eval(fmt.Sprintf(`document.querySelector(%q).getAttribute("aria-invalid") === "true"`, byName(c0+tc.input)), &invalid))
		if !strings.Contains(msg, tc.want) || !invalid {
			t.Errorf("%s %s %s: beside %s %q (aria-invalid %v), want %q", tc.attr, tc.op, tc.value, tc.input, msg, invalid, tc.want)
		}
		if status, body := e.api.call(t, "GET", "/v1/experiments/trait-rule", devReadKey, nil); status != http.StatusNotFound {
			t.Fatalf("GET trait-rule after the refused save = %d %s, want 404: nothing saved", status, body)
		}
	}
	e.run(t, "a condition that fits", chromedp.Navigate(e.base+"/console/new"), chromedp.WaitVisible(chromedp.CSS(byName("key"))),
		setFields(map[string]string{"key": "trait-rule", c0 + "attr": "trait.support.open_tickets", c0 + "op": "gt", c0 + "value": "0"}),
		press("save", ".notice"))
	if status, body := e.api.call(t, "GET", "/v1/experiments/trait-rule", devReadKey, nil); status != http.StatusOK ||
		!strings.Contains(string(body), "trait.support.open_tickets") {
		t.Fatalf("GET trait-rule after saving = %d %s, want the draft with its condition", status, body)
	}
}

// TestConsoleLookupEqualsAssign: the unit lookup page answers, for 50
// units, what POST /v1/assign answers them.
func TestConsoleLookupEqualsAssign(t *testing.T) {
	e := newConsoleEnv(t)
	key := startExample(t, e.api)
	e.signIn(t, devReadKey)
	plans := []string{`{"plan":"pro_trial","country":"FR"}`, `{}`, `{"plan":"free","country":"DE"}`, `{"plan":"pro_trial","country":"US"}`}
	for i := 0; i < 50; i++ {
		unit, attrs := fmt.Sprintf("lookup-%d", i), plans[i%len(plans)]
		var seg, arm, reason string
		e.run(t, "look up "+unit, chromedp.Navigate(e.base+"/console/e/"+key+"/lookup"),
			chromedp.WaitVisible(chromedp.CSS("#unit")),
			chromedp.SetValue(chromedp.CSS("#unit"), unit), chromedp.SetValue(chromedp.CSS("#attributes"), attrs),
			clickTo(`form[action$="/lookup"] button`, "#answer"),
			into(&seg, chromedp.Text(chromedp.CSS("#x-segment"))), into(&arm, chromedp.Text(chromedp.CSS("#x-arm"))),
			into(&reason, chromedp.Text(chromedp.CSS("#x-reason"))))
		var a struct {
			assignment
			Reason string `json:"reason"`
		}
		e.api.mustCall(t, http.StatusOK, "POST", "/v1/assign", devSDKKey,
			[]byte(fmt.Sprintf(`{"experiment":%q,"unit_id":%q,"attributes":%s}`, key, unit, attrs)), &a)
		wantArm := a.Variant
		if a.Holdout {
			wantArm = "holdout"
		}
		if seg != a.Segment || arm != wantArm || reason != a.Reason {
			t.Fatalf("%s %s: the lookup says %s/%s (%s), POST /v1/assign %s/%s (%s)", unit, attrs, seg, arm, reason, a.Segment, wantArm, a.Reason)
		}
	}
}

// TestConsoleRetireWithReason: retiring a variant from the page writes a
// version whose reason is the one typed.
func TestConsoleRetireWithReason(t *testing.T) {
	e := newConsoleEnv(t)
	key := startExample(t, e.api)
	e.signIn(t, devAdminKey)
	const why = "short loses on clicks: \"seen in the report\" — Zoë"
	e.run(t, "retire", chromedp.Navigate(e.base+"/console/e/"+key),
		chromedp.WaitVisible(chromedp.CSS("#retire-which")),
		chromedp.SetValue(chromedp.CSS("#retire-which"), "everyone/short"),
		chromedp.SetValue(chromedp.CSS("#reason-retire"), why),
		clickTo(`#reason-retire ~ button`, ".notice"))
	var h struct {
		Versions []experiment.Version `json:"versions"`
	}
	e.api.mustCall(t, http.StatusOK, "GET", "/v1/experiments/"+key+"/history", devReadKey, nil, &h)
	last := h.Versions[len(h.Versions)-1]
	seg := last.Definition.Segments[last.Definition.Segment("everyone")]
	if last.Action != experiment.ActionRetire || last.Reason != why || !seg.Variants[seg.Variant("short")].Retired {
		t.Fatalf("last version = %s: %q, want the retirement of everyone/short with the typed reason", last.Action, last.Reason)
	}
	var history string
	e.run(t, "history page", chromedp.Navigate(e.base+"/console/e/"+key+"/history"),
		into(&history, chromedp.Text(chromedp.CSS("article.version"))))
	if !strings.Contains(history, why) || !strings.Contains(history, "retire") || !strings.Contains(history, "retired") {
		t.Errorf("the history page's newest entry reads %q, want the retirement, its reason and the change", history)
	}
}

// TestConsoleReadKeyAndCSRF: a read key's session shows no edit control,
// cannot open an edit form, and a forged POST with it is refused; an admin
// session's POST without the CSRF token, or with another session's, is
// refused too. Nothing changes.
func TestConsoleReadKeyAndCSRF(t *testing.T) {
	e := newConsoleEnv(t)
	key := startExample(t, e.api)
	e.signIn(t, devReadKey)
	var forms, edits int
	var csrf string
	e.run(t, "read-only detail", chromedp.Navigate(e.base+"/console/e/"+key),
		chromedp.WaitVisible(chromedp.CSS("h1")),
		eval(`document.querySelectorAll('form[action$="/action"], a[href$="/edit"], a[href^="/console/new"]').length`, &forms),
		eval(`document.querySelectorAll('button').length - 1`, &edits), // the sign-out button
		into(&csrf, chromedp.Value(chromedp.CSS(`form.signout input[name="csrf"]`))))
	if forms != 0 || edits != 0 {
		t.Fatalf("a read key's page has %d edit forms or links and %d buttons besides sign-out", forms, edits)
	}
	// post submits a form built in the page, as a forged page would: the
	// page's policy refuses fetch, not a form to this server.
	post := func(path string, fields url.Values) int {
		t.Helper()
		js := fmt.Sprintf(`(() => { const f = document.createElement("form"); f.method = "post"; f.action = %q;
			for (const [k, v] of Object.entries(%s)) { const i = document.createElement("input"); i.type = "hidden"; i.name = k; i.value = v; f.appendChild(i); }
			document.body.appendChild(f); f.submit(); })()`, path, fieldsJSON(t, fields))
		var done chromedp.Void
		resp, err := chromedp.RunResponse(e.ctx, eval(js, &done))
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		return int(resp.Status)
	}
	var status403 string
	e.run(t, "edit form", chromedp.Navigate(e.base+"/console/new"), into(&status403, chromedp.Text(chromedp.CSS("body"))))
	if !strings.Contains(status403, "may only read") {
		t.Errorf("GET /console/new with a read key shows %q, want the refusal", status403)
	}
	form := url.Values{"csrf": {csrf}, "act": {"pause"}, "reason": {"forged"}}
	if s := post("/console/e/"+key+"/action", form); s != http.StatusForbidden {
		t.Errorf("a read key's POST with its own CSRF token = %d, want 403", s)
	}

	e.signIn(t, devAdminKey)
	e.run(t, "detail", chromedp.Navigate(e.base+"/console/e/"+key))
	for _, body := range []url.Values{{"act": {"pause"}, "reason": {"no token"}},
		{"csrf": {csrf}, "act": {"pause"}, "reason": {"the read session's token"}}} {
		if s := post("/console/e/"+key+"/action", body); s != http.StatusForbidden {
			t.Errorf("an admin POST %v = %d, want 403", body, s)
		}
	}
	var got experiment.Experiment
	e.api.mustCall(t, http.StatusOK, "GET", "/v1/experiments/"+key, devReadKey, nil, &got)
	if got.Status != experiment.StatusRunning || got.Version != 2 {
		t.Fatalf("after the refused POSTs: %s v%d, want running v2", got.Status, got.Version)
	}
	// Without a session at all, from outside the browser.
	resp, err := e.api.http.PostForm(e.base+"/console/e/"+key+"/action", url.Values{"act": {"pause"}, "reason": {"x"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST without a session = %d, want 401", resp.StatusCode)
	}
}

// fieldsJSON is a form's fields as a JSON object of strings.
func fieldsJSON(t *testing.T, v url.Values) string {
	m := map[string]string{}
	for k := range v {
		m[k] = v.Get(k)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// hostile is stored text that must show as text wherever it appears.
const hostile = "<script>alert(1)</script> \"double\" 'single' <img src=x onerror=alert(2)> \u202eevil\u202c Zo\u00eb \U0001F389 e\u0301 \u0000nul"

// TestConsoleEscapesStoredText: names, descriptions, keys and payloads
// holding markup, quotes and odd Unicode render as text in Chromium on
// every console page: no script runs, no element is injected, and the
// right-to-left override shows as a visible mark.
func TestConsoleEscapesStoredText(t *testing.T) {
	e := newConsoleEnv(t)
	var def map[string]any
	if err := json.Unmarshal(exampleExperiment(t), &def); err != nil {
		t.Fatal(err)
	}
	def["key"], def["name"], def["description"] = "xss", hostile, "desc "+hostile
	seg := def["segments"].([]any)[1].(map[string]any)
	seg["name"] = "seg " + hostile
	v := seg["variants"].([]any)[0].(map[string]any)
	v["name"] = "var " + hostile
	v["payload"] = map[string]any{"subject": "</textarea>" + hostile, "body": hostile, "x": map[string]any{"y": hostile}}
	e.api.mustCall(t, http.StatusCreated, "POST", "/v1/experiments", devAdminKey, def, nil)
	def["name"] = "renamed " + hostile // so that the history's diff holds it too
	e.api.mustCall(t, http.StatusOK, "PUT", "/v1/experiments/xss", devAdminKey, def, nil)
	e.signIn(t, devAdminKey)
	for _, path := range []string{"/console", "/console/e/xss", "/console/e/xss/json", "/console/e/xss/edit",
		"/console/e/xss/history", "/console/e/xss/preview", "/console/e/xss/lookup", "/console/new?clone=xss", "/console/e/xss/report"} {
		var text string
		var scripts, imgs int
		e.run(t, path, chromedp.Navigate(e.base+path), chromedp.WaitReady(chromedp.CSS("main")),
			eval(`document.querySelectorAll("script").length`, &scripts),
			eval(`document.querySelectorAll("img").length`, &imgs),
			eval(`document.body.innerText + [...document.querySelectorAll("input, textarea")].map(x => x.value).join(" ")`, &text))
		if scripts != 0 || imgs != 0 {
			t.Errorf("%s: %d script and %d img elements: stored markup was injected", path, scripts, imgs)
		}
		// The JSON view and the history's diff show the text as a JSON
		// string: quotes escaped, nothing else.
		want := `<script>alert(1)</script> "double" 'single' <img src=x onerror=alert(2)>`
		if path == "/console/e/xss/json" || path == "/console/e/xss/history" {
			want = `<script>alert(1)</script> \"double\" 'single' <img src=x onerror=alert(2)>`
		}
		if !strings.Contains(text, want) || !strings.Contains(text, "[U+202E]evil") || !strings.Contains(text, "Zoë 🎉") {
			t.Errorf("%s does not show the stored text as text (want %s):\n%.3000s", path, want, text)
		}
	}
	if n := e.dialogs.Load(); n != 0 {
		t.Errorf("%d JavaScript dialogs opened: stored script ran", n)
	}
}

// TestConsolePages checks every page a person uses at 1400 and 400 pixels
// wide: nothing wider than the window, a label on every field, and a
// visible focus ring. With SPLITCAST_SCREENSHOTS=DIR (make screenshot) it
// saves each page there as a PNG, to look at.
func TestConsolePages(t *testing.T) {
	e := newConsoleEnv(t)
	key := startExample(t, e.api)
	seedExposures(t, e.api, key, 400)
	e.signIn(t, devAdminKey)
	dir := os.Getenv("SPLITCAST_SCREENSHOTS")
	shots := []struct {
		name, path string
		setup      chromedp.Action[chromedp.Void]
	}{
		{"console-list", "/console", nil},
		{"console-detail", "/console/e/" + key, nil},
		{"console-form-error", "/console/new", chromedp.Steps(
			setFields(map[string]string{"key": "bad-rule", "name": "Re-engage the dormant", "segments[0].key": "dormant",
				"segments[0].rule.c[0].attr": "trait.days_since_open", "segments[0].rule.c[0].op": "gte",
				"segments[0].rule.c[0].value": "a month"}),
			press("save", ".problem"))},
		{"console-preview", "/console/e/" + key + "/preview", nil},
		{"console-lookup", "/console/e/" + key + "/lookup", chromedp.Steps(
			chromedp.SetValue(chromedp.CSS("#unit"), "user-42"),
			chromedp.SetValue(chromedp.CSS("#attributes"), `{"plan": "pro_trial", "country": "FR"}`),
			clickTo(`form[action$="/lookup"] button`, "#answer"))},
		{"console-history", "/console/e/" + key + "/history", nil},
	}
	for _, width := range []int64{1400, 400} {
		for _, s := range shots {
			if s.setup == nil {
				s.setup = chromedp.Steps()
			}
			var overflow int
			var unlabeled []string
			var outline string
			var png []byte
			e.run(t, s.name, chromedp.EmulateViewport(width, 900), chromedp.Navigate(e.base+s.path),
				chromedp.WaitReady(chromedp.CSS("main")), s.setup,
				eval(`document.documentElement.scrollWidth - window.innerWidth`, &overflow),
				eval(`[...document.querySelectorAll("input:not([type=hidden]), select, textarea")].filter(x => x.labels.length === 0 && !x.getAttribute("aria-label")).map(x => x.name)`, &unlabeled),
				chromedp.Focus(chromedp.CSS(`main a, main input:not([type=hidden]), main button`)),
				eval(`getComputedStyle(document.activeElement).outlineStyle`, &outline))
			if overflow > 0 {
				t.Errorf("%s at %dpx: the page is %dpx wider than the window", s.name, width, overflow)
			}
			if len(unlabeled) > 0 {
				t.Errorf("%s: fields without a label: %q", s.name, unlabeled)
			}
			if outline == "none" || outline == "" {
				t.Errorf("%s at %dpx: the focused element has outline %q: focus is not visible", s.name, width, outline)
			}
			if dir != "" {
				// The whole page, and what the first screen shows (a
				// phone's whole page is too tall to read at once).
				var top []byte
				e.run(t, "screenshot", into(&png, chromedp.FullScreenshot(100)), into(&top, chromedp.CaptureScreenshot()))
				for suffix, b := range map[string][]byte{"": png, "-top": top} {
					name := filepath.Join(dir, fmt.Sprintf("%s-%d%s.png", s.name, width, suffix))
					if err := os.WriteFile(name, b, 0o644); err != nil {
						t.Fatal(err)
					}
					t.Logf("saved %s", name)
				}
			}
		}
	}
}

// seedExposures assigns n units through the API, so that the list and the
// report have exposures to show.
func seedExposures(t *testing.T, c apiClient, key string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		attrs := `{}`
		if i%3 == 0 {
			attrs = `{"plan":"pro_trial","country":"FR"}`
		}
		c.mustCall(t, http.StatusOK, "POST", "/v1/assign", devSDKKey,
			[]byte(fmt.Sprintf(`{"experiment":%q,"unit_id":"seed-%d","attributes":%s,"channel":"email"}`, key, i, attrs)), nil)
	}
}
