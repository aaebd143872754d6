package console

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/splitcast/splitcast/experiment"

	"github.com/splitcast/splitcast/analytics/traits"
)

// TestTraitTypesCoverCatalogue: every trait of the catalogue has a type
// the rule builder shows, and the table names no trait that is gone.
func TestTraitTypesCoverCatalogue(t *testing.T) {
	for name := range traitTypes {
		if traitType("trait."+name) == "" {
			t.Errorf("traitTypes has %q, which traits.Names lacks", name)
		}
	}
	if n := len(traitOptions()); n != len(traits.Names) {
		t.Errorf("traitOptions() has %d traits, want %d", n, len(traits.Names))
	}
	if got := traitType("trait.opens_30d"); got != "number" {
		t.Errorf("traitType(trait.opens_30d) = %q, want number", got)
	}
	if got := traitType("plan"); got != "" {
		t.Errorf("traitType(plan) = %q, want \"\" (a caller attribute)", got)
	}
}

// TestFormRoundTrip: the example experiment, shown in the form and posted
// back unchanged, is the same definition; so is one whose rule the builder
// cannot show (edited as JSON).
func TestFormRoundTrip(t *testing.T) {
	data, err := os.ReadFile("../../docs/examples/experiment.json")
	if err != nil {
		t.Fatal(err)
	}
	want, err := experiment.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	notRule := want.Clone()
	notRule.Segments[0].Rule = &experiment.Rule{Not: &experiment.Rule{Attr: "plan", Op: experiment.OpEquals, Value: "free"}}
	for name, e := range map[string]experiment.Experiment{"example": want, "not rule": notRule} {
		f := formOf(e)
		if name == "not rule" && f.Segments[0].Form != "json" {
			t.Errorf("%s: segment 0 shown as %q, want json", name, f.Segments[0].Form)
		}
		back := decodeForm(formValues(f))
		got, err := back.experiment()
		if err != nil {
			t.Fatalf("%s: experiment() = %v", name, err)
		}
		if a, b := mustJSON(t, got), mustJSON(t, e); a != b {
			t.Errorf("%s: round trip =\n%s\nwant\n%s", name, a, b)
		}
	}
}

// formValues is what a browser posts for the form f as rendered.
func formValues(f draftForm) url.Values {
	v := url.Values{"key": {f.Key}, "name": {f.Name}, "description": {f.Description}, "channel": {f.Channel},
		"salt": {f.Salt}, "allocation": {f.Allocation}, "holdout": {f.Holdout}, "layer.name": {f.LayerName},
		"layer.slot_start": {f.LayerStart}, "layer.slot_end": {f.LayerEnd}, "primary_metric": {f.PrimaryMetric},
		"retirement.alpha": {f.Alpha}, "retirement.min_sample_per_arm": {f.MinSample},
		"retirement.min_runtime": {f.MinRuntime}, "retirement.interval": {f.Every}}
	if f.RetireAuto {
		v.Set("retirement.auto", "on")
	}
	for _, m := range metrics {
		if f.Guardrails[string(m)] {
			v.Add("guardrail_metrics", string(m))
		}
	}
	for i, s := range f.Segments {
		p := fmt.Sprintf("segments[%d]", i)
		v.Set(p, "1")
		v.Set(p+".key", s.Key)
		v.Set(p+".name", s.Name)
		v.Set(p+".rule.form", s.Form)
		v.Set(p+".rule_json", s.RuleJSON)
		v.Set(p+".control", fmt.Sprint(s.Control))
		addConds(v, p+".rule.c", s.Conds)
		for j, x := range s.Variants {
			q := fmt.Sprintf("%s.variants[%d]", p, j)
			for k, val := range map[string]string{"": "1", ".key": x.Key, ".name": x.Name, ".weight": x.Weight,
				".subject": x.Subject, ".body": x.Body, ".cta_text": x.CTAText, ".cta_url": x.CTAURL, ".payload": x.Extra} {
				v.Set(q+k, val)
			}
		}
	}
	return v
}

func addConds(v url.Values, p string, conds []formCond) {
	for k, c := range conds {
		q := fmt.Sprintf("%s[%d]", p, k)
		v.Set(q, "1")
		v.Set(q+".form", c.Group)
		v.Set(q+".attr", c.Attr)
		v.Set(q+".op", c.Op)
		v.Set(q+".value", c.Value)
		addConds(v, q+".c", c.Kids)
	}
}

// mustJSON is v as JSON with every object's keys sorted, payloads too.
func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var generic any
	if err := json.Unmarshal(b, &generic); err != nil {
		t.Fatal(err)
	}
	b, _ = json.MarshalIndent(generic, "", " ")
	return string(b)
}

// TestFormErrorsLandBesideTheirInput: the validation's field paths map to
// the inputs the form renders.
func TestFormErrorsLandBesideTheirInput(t *testing.T) {
	for path, want := range map[string]string{
		"segments[0].rule.all[1].value":       "segments[0].rule.c[1].value",
		"segments[1].rule.any[0].any[2].attr": "segments[1].rule.c[0].c[2].attr",
		"segments[0].rule.all[0].values[3]":   "segments[0].rule.c[0].value",
		"segments[0].rule.all[0].values":      "segments[0].rule.c[0].value",
		"segments[2].variants[1].control":     "segments[2].control",
		"segments[0].variants[0].retired":     "segments[0].variants[0]",
		"segments[0].variants[1].weight":      "segments[0].variants[1].weight",
		"retirement.alpha":                    "retirement.alpha",
		"segments[0].variants[0].payload":     "segments[0].variants[0].payload",
	} {
		if got := fieldOf(path); got != want {
			t.Errorf("fieldOf(%q) = %q, want %q", path, got, want)
		}
	}
	f := newDraftForm()
	f.Key = "bad-value"
	f.Segments[0].Conds[0] = formCond{Attr: "trait.opens_30d", Op: "gte", Value: "lots"}
	e, err := f.experiment()
	if err == nil {
		_, err = experiment.Create(e, "t", "t", time.Now())
	}
	f.fail(err)
	if msg := f.Errors["segments[0].rule.c[0].value"]; !strings.Contains(msg, "number") {
		t.Errorf("errors = %v, want the value's 'needs a number value'", f.Errors)
	}
}

// TestSessions: a session cookie is refused once expired or changed in
// any byte, and a CSRF token is good only with its own cookie.
func TestSessions(t *testing.T) {
	s := sessions{key: []byte("0123456789abcdef0123456789abcdef")}
	now := time.Unix(1_800_000_000, 0)
	c := s.encode(Session{Name: "admin", Admin: true, Expiry: now.Add(time.Hour).Unix(), Nonce: "n"})
	if got, ok := s.decode(c, now); !ok || got.Name != "admin" || !got.Admin {
		t.Fatalf("decode(fresh) = %+v, %v", got, ok)
	}
	if _, ok := s.decode(c, now.Add(time.Hour)); ok {
		t.Error("decode(expired) accepted")
	}
	for i := range c {
		b := []byte(c)
		b[i] ^= 1
		if _, ok := s.decode(string(b), now); ok {
			t.Fatalf("decode(cookie with byte %d changed) accepted", i)
		}
	}
	if other := (sessions{key: []byte("another key, another server.....")}); func() bool { _, ok := other.decode(c, now); return ok }() {
		t.Error("a cookie signed under another key was accepted")
	}
	c2 := s.encode(Session{Name: "admin", Admin: true, Expiry: now.Add(time.Hour).Unix(), Nonce: "m"})
	if !s.checkCSRF(c, s.csrf(c)) || s.checkCSRF(c2, s.csrf(c)) || s.checkCSRF(c, "") || s.checkCSRF("", s.csrf("")) {
		t.Error("checkCSRF accepts a token of another session, an empty token or no session")
	}
}
