package experiment_test

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/splitcast/splitcast/experiment"
)

var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

// mustExample decodes docs/examples/experiment.json.
func mustExample(tb testing.TB) experiment.Experiment {
	tb.Helper()
	data, err := os.ReadFile("../docs/examples/experiment.json")
	if err != nil {
		tb.Fatal(err)
	}
	var e experiment.Experiment
	if err := json.Unmarshal(data, &e); err != nil {
		tb.Fatalf("decode example: %v", err)
	}
	return e
}

// mustRunning returns the example, created and started.
func mustRunning(tb testing.TB) experiment.Experiment {
	tb.Helper()
	v, err := experiment.Create(mustExample(tb), "ana", "first draft", t0)
	if err != nil {
		tb.Fatalf("Create: %v", err)
	}
	v, err = experiment.Start(v.Definition, "ana", "go", t0.Add(time.Hour))
	if err != nil {
		tb.Fatalf("Start: %v", err)
	}
	return v.Definition
}

func TestExampleCreates(t *testing.T) {
	e := mustExample(t)
	if e.Allocation != experiment.Full || e.Holdout != 500 {
		t.Errorf("allocation, holdout = %d, %d bps, want 10000, 500", e.Allocation, e.Holdout)
	}
	v, err := experiment.Create(e, "ana", "", t0)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	d := v.Definition
	if d.Status != experiment.StatusDraft || d.Version != 1 || d.Salt != d.Key || !d.CreatedAt.Equal(t0) {
		t.Errorf("Create = status %s version %d salt %q created %v", d.Status, d.Version, d.Salt, d.CreatedAt)
	}
	if d.Segments[len(d.Segments)-1].Rule != nil {
		t.Errorf("last segment of the example is not a catch-all")
	}
	for _, s := range d.Segments {
		if len(s.Variants) != 3 {
			t.Errorf("segment %s has %d variants, want 3", s.Key, len(s.Variants))
		}
	}
	// Round trip: what we write is what we read.
	data, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var back experiment.Experiment
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if ch := experiment.Diff(d, back); len(ch) != 0 {
		t.Errorf("round trip changed %v", ch)
	}
	if back.Version != 1 || back.Allocation != experiment.Full {
		t.Errorf("round trip version %d allocation %d", back.Version, back.Allocation)
	}
}

func TestBasisPointsJSON(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want experiment.BasisPoints
		err  bool
	}{
		{"100", 10000, false}, {"12.5", 1250, false}, {"0.01", 1, false}, {"0", 0, false},
		{"33.33", 3333, false}, {"0.001", 0, true}, {`"50"`, 0, true}, {"1e300", 0, true},
	} {
		var b experiment.BasisPoints
		err := json.Unmarshal([]byte(tc.in), &b)
		if (err != nil) != tc.err || (!tc.err && b != tc.want) {
			t.Errorf("Unmarshal(%s) = %d, %v; want %d, err %v", tc.in, b, err, tc.want, tc.err)
		}
	}
	out, _ := json.Marshal(experiment.BasisPoints(1250))
	if string(out) != "12.5" {
		t.Errorf("Marshal(1250) = %s, want 12.5", out)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(e *experiment.Experiment)
		field string
	}{
		{"ok", func(e *experiment.Experiment) {}, ""},
		{"bad key", func(e *experiment.Experiment) { e.Key = "Welcome Email" }, "key"},
		{"key with colon", func(e *experiment.Experiment) { e.Key = "a:b" }, "key"},
		{"bad channel", func(e *experiment.Experiment) { e.Channel = "fax" }, "channel"},
		{"bad status", func(e *experiment.Experiment) { e.Status = "live" }, "status"},
		{"allocation zero", func(e *experiment.Experiment) { e.Allocation = 0 }, "allocation"},
		{"allocation over", func(e *experiment.Experiment) { e.Allocation = 10001 }, "allocation"},
		{"holdout negative", func(e *experiment.Experiment) { e.Holdout = -1 }, "holdout"},
		{"holdout full", func(e *experiment.Experiment) { e.Holdout = 10000 }, "holdout"},
		{"layer name", func(e *experiment.Experiment) { e.Layer = &experiment.Layer{Name: "", SlotEnd: 10} }, "layer.name"},
		{"layer start", func(e *experiment.Experiment) { e.Layer = &experiment.Layer{Name: "l", SlotStart: -1, SlotEnd: 10} }, "layer.slot_start"},
		{"layer empty", func(e *experiment.Experiment) { e.Layer = &experiment.Layer{Name: "l", SlotStart: 10, SlotEnd: 10} }, "layer.slot_end"},
		{"layer end", func(e *experiment.Experiment) { e.Layer = &experiment.Layer{Name: "l", SlotStart: 0, SlotEnd: 10001} }, "layer.slot_end"},
		{"no segments", func(e *experiment.Experiment) { e.Segments = nil }, "segments"},
		{"dup segment", func(e *experiment.Experiment) { e.Segments[1].Key = e.Segments[0].Key }, "segments[1].key"},
		{"catch-all first", func(e *experiment.Experiment) { e.Segments[0].Rule = nil }, "segments[0].rule"},
		{"one variant", func(e *experiment.Experiment) { e.Segments[1].Variants = e.Segments[1].Variants[:1] }, "segments[1].variants"},
		{"zero weight", func(e *experiment.Experiment) { e.Segments[1].Variants[0].Weight = 0 }, "segments[1].variants[0].weight"},
		{"negative weight", func(e *experiment.Experiment) { e.Segments[0].Variants[2].Weight = -3 }, "segments[0].variants[2].weight"},
		{"weights too big", func(e *experiment.Experiment) {
			for i := range e.Segments[0].Variants {
				e.Segments[0].Variants[i].Weight = 5000
			}
		}, "segments[0].variants"},
		{"dup variant", func(e *experiment.Experiment) { e.Segments[0].Variants[2].Key = "benefit" }, "segments[0].variants[2].key"},
		{"holdout variant key", func(e *experiment.Experiment) { e.Segments[0].Variants[2].Key = "holdout" }, "segments[0].variants[2].key"},
		{"two controls", func(e *experiment.Experiment) { e.Segments[0].Variants[1].Control = true }, "segments[0].variants[1].control"},
		{"no control", func(e *experiment.Experiment) { e.Segments[1].Variants[0].Control = false }, "segments[1].variants"},
		{"unknown op", func(e *experiment.Experiment) { e.Segments[0].Rule.All[1].Op = "like" }, "segments[0].rule.all[1].op"},
		{"in without values", func(e *experiment.Experiment) { e.Segments[0].Rule.All[1].Values = nil }, "segments[0].rule.all[1].values"},
		{"gt string", func(e *experiment.Experiment) {
			e.Segments[0].Rule.All[0] = experiment.Rule{Attr: "age", Op: experiment.OpGT, Value: "30"}
		}, "segments[0].rule.all[0].value"},
		{"bad date", func(e *experiment.Experiment) {
			e.Segments[0].Rule.All[0] = experiment.Rule{Attr: "signup", Op: experiment.OpBefore, Value: "2024-02-30"}
		}, "segments[0].rule.all[0].value"},
		{"two forms", func(e *experiment.Experiment) { e.Segments[0].Rule.Attr = "plan" }, "segments[0].rule"},
		{"empty all", func(e *experiment.Experiment) { e.Segments[0].Rule = &experiment.Rule{All: []experiment.Rule{}} }, "segments[0].rule.all"},
		{"exists with value", func(e *experiment.Experiment) {
			e.Segments[0].Rule = &experiment.Rule{Not: &experiment.Rule{Attr: "x", Op: experiment.OpExists, Value: true}}
		}, "segments[0].rule.not.value"},
		{"primary metric", func(e *experiment.Experiment) { e.PrimaryMetric = "ctr" }, "primary_metric"},
		{"guardrail dup", func(e *experiment.Experiment) {
			e.GuardrailMetrics = []experiment.Metric{"complaint_rate", "complaint_rate"}
		}, "guardrail_metrics[1]"},
		{"alpha", func(e *experiment.Experiment) { e.Retirement.Alpha = 0.9 }, "retirement.alpha"},
		{"retired control", func(e *experiment.Experiment) {
			e.Segments[0].Variants[0].Retired = true
			e.Segments[0].Variants[0].RetiredAt = &t0
		}, "segments[0].variants[0].retired"},
		{"winner unknown", func(e *experiment.Experiment) { e.Segments[0].Winner = "nope" }, "segments[0].winner"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := mustExample(t)
			e.Status = experiment.StatusDraft
			tc.edit(&e)
			err := e.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var ee *experiment.Error
			if !errors.As(err, &ee) || ee.Code != experiment.EINVALID || ee.Field != tc.field {
				t.Fatalf("Validate() = %v, want EINVALID on field %q", err, tc.field)
			}
		})
	}
}

func TestDeepRuleRefused(t *testing.T) {
	r := &experiment.Rule{Attr: "a", Op: experiment.OpExists}
	for i := 0; i < experiment.MaxRuleDepth+2; i++ {
		r = &experiment.Rule{Not: r}
	}
	if err := r.Validate("rule"); experiment.ErrorCode(err) != experiment.EINVALID {
		t.Fatalf("Validate(deep) = %v, want EINVALID", err)
	}
}

func TestLifecycle(t *testing.T) {
	e := mustRunning(t)
	if e.Version != 2 || e.Status != experiment.StatusRunning || e.StartedAt == nil {
		t.Fatalf("started: version %d status %s startedAt %v", e.Version, e.Status, e.StartedAt)
	}
	start := *e.StartedAt
	steps := []struct {
		f    func(experiment.Experiment, string, string, time.Time) (experiment.Version, error)
		name string
		want experiment.Status
		ok   bool
	}{
		{experiment.Start, "start running", "", false},
		{experiment.Resume, "resume running", "", false},
		{experiment.Pause, "pause", experiment.StatusPaused, true},
		{experiment.Start, "start paused", "", false},
		{experiment.Archive, "archive paused", "", false},
		{experiment.Resume, "resume", experiment.StatusRunning, true},
		{experiment.Complete, "complete", experiment.StatusCompleted, true},
		{experiment.Resume, "resume completed", "", false},
		{experiment.Archive, "archive", experiment.StatusArchived, true},
		{experiment.Complete, "complete archived", "", false},
	}
	for i, s := range steps {
		now := t0.Add(time.Duration(i+2) * time.Hour)
		v, err := s.f(e, "bo", s.name, now)
		if !s.ok {
			if experiment.ErrorCode(err) != experiment.ECONFLICT {
				t.Fatalf("%s: err = %v, want ECONFLICT", s.name, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		d := v.Definition
		if d.Status != s.want || d.Version != e.Version+1 || v.Version != d.Version || !v.CreatedAt.Equal(now) || v.Author != "bo" {
			t.Fatalf("%s = status %s version %d (record %d) at %v by %s", s.name, d.Status, d.Version, v.Version, v.CreatedAt, v.Author)
		}
		if !d.StartedAt.Equal(start) {
			t.Errorf("%s moved StartedAt to %v", s.name, d.StartedAt)
		}
		e = d
	}
	if e.CompletedAt == nil {
		t.Errorf("CompletedAt not set")
	}

	v, err := experiment.Create(mustExample(t), "ana", "", t0)
	if err != nil {
		t.Fatal(err)
	}
	if v, err = experiment.Archive(v.Definition, "ana", "never mind", t0); err != nil || v.Definition.Status != experiment.StatusArchived {
		t.Errorf("Archive(draft) = %v, %v", v.Definition.Status, err)
	}
	if _, err := experiment.Pause(mustRunning(t), "", "", t0); experiment.ErrorField(err) != "author" {
		t.Errorf("Pause without author = %v, want EINVALID author", err)
	}
}

func TestEditDraft(t *testing.T) {
	v, err := experiment.Create(mustExample(t), "ana", "", t0)
	if err != nil {
		t.Fatal(err)
	}
	cur := v.Definition
	ed := cur.Clone()
	ed.Segments[0].Variants[1].Payload = json.RawMessage(`{"subject":"New subject"}`)
	ed.Holdout = 0
	nv, err := experiment.EditDraft(cur, ed, "bo", "better subject", t0.Add(time.Minute))
	if err != nil {
		t.Fatalf("EditDraft: %v", err)
	}
	if nv.Definition.Version != 2 || nv.Action != experiment.ActionEdit || !nv.Definition.CreatedAt.Equal(t0) {
		t.Errorf("EditDraft = version %d action %s created %v", nv.Definition.Version, nv.Action, nv.Definition.CreatedAt)
	}
	fields := map[string]bool{}
	for _, c := range experiment.Diff(cur, nv.Definition) {
		fields[c.Field] = true
	}
	for _, f := range []string{"holdout", "segments[0].variants[1].payload.subject", "segments[0].variants[1].payload.body"} {
		if !fields[f] {
			t.Errorf("Diff misses %s; got %v", f, fields)
		}
	}
	if len(fields) != 4 { // also payload.cta, removed
		t.Errorf("Diff = %v, want 4 fields", fields)
	}
	// The caller's value is untouched.
	if cur.Holdout != 500 || string(cur.Segments[0].Variants[1].Payload) == `{"subject":"New subject"}` {
		t.Errorf("EditDraft changed its input")
	}
	if _, err := experiment.EditDraft(mustRunning(t), ed, "bo", "", t0); experiment.ErrorCode(err) != experiment.ECONFLICT {
		t.Errorf("EditDraft(running) = %v, want ECONFLICT", err)
	}
	ed.Key = "other"
	if _, err := experiment.EditDraft(cur, ed, "bo", "", t0); experiment.ErrorField(err) != "key" {
		t.Errorf("EditDraft(new key) = %v, want EINVALID key", err)
	}
}

func TestRetire(t *testing.T) {
	e := mustRunning(t)
	now := t0.Add(48 * time.Hour)
	if _, err := experiment.Retire(e, "pro-trial", "control", "loop", "", now); experiment.ErrorField(err) != "variant" || experiment.ErrorCode(err) != experiment.EINVALID {
		t.Errorf("Retire(control) = %v, want EINVALID variant", err)
	}
	if _, err := experiment.Retire(e, "nope", "benefit", "loop", "", now); experiment.ErrorCode(err) != experiment.ENOTFOUND {
		t.Errorf("Retire(unknown segment) = %v, want ENOTFOUND", err)
	}
	v, err := experiment.Retire(e, "pro-trial", "benefit", "loop", "p=0.001 worse than control", now)
	if err != nil {
		t.Fatalf("Retire: %v", err)
	}
	s := v.Definition.Segments[0]
	if b := s.Variants[1]; !b.Retired || !b.RetiredAt.Equal(now) || b.RetiredReason == "" || len(s.Variants) != 3 {
		t.Errorf("retired variant = %+v", b)
	}
	if s.Concluded() || v.Action != experiment.ActionRetire || !v.Action.StartsPhase() {
		t.Errorf("concluded %v action %s", s.Concluded(), v.Action)
	}
	if e.Segments[0].Variants[1].Retired {
		t.Errorf("Retire changed its input")
	}
	if _, err := experiment.Retire(v.Definition, "pro-trial", "benefit", "loop", "", now); experiment.ErrorCode(err) != experiment.ECONFLICT {
		t.Errorf("Retire twice = %v, want ECONFLICT", err)
	}
	v, err = experiment.Retire(v.Definition, "pro-trial", "social-proof", "loop", "worse", now.Add(time.Hour))
	if err != nil {
		t.Fatalf("Retire: %v", err)
	}
	s = v.Definition.Segments[0]
	if s.Winner != "control" || s.ConcludedAt == nil || v.Definition.Version != e.Version+2 {
		t.Errorf("after last retirement: winner %q concludedAt %v version %d", s.Winner, s.ConcludedAt, v.Definition.Version)
	}
	if v.Definition.Segments[1].Concluded() {
		t.Errorf("other segment concluded")
	}

	d, _ := experiment.Create(mustExample(t), "ana", "", t0)
	if _, err := experiment.Retire(d.Definition, "pro-trial", "benefit", "ana", "", now); experiment.ErrorCode(err) != experiment.ECONFLICT {
		t.Errorf("Retire(draft) = %v, want ECONFLICT", err)
	}
}

func TestConcludeAndAllocation(t *testing.T) {
	e := mustRunning(t)
	v, err := experiment.Conclude(e, "everyone", "short", "ana", "short wins", t0.Add(time.Hour))
	if err != nil || v.Definition.Segments[1].Winner != "short" {
		t.Fatalf("Conclude = %v, %v", v.Definition.Segments[1].Winner, err)
	}
	if _, err := experiment.Conclude(v.Definition, "everyone", "short", "ana", "", t0); experiment.ErrorCode(err) != experiment.ECONFLICT {
		t.Errorf("Conclude twice = %v, want ECONFLICT", err)
	}
	v, err = experiment.SetAllocation(e, 5000, "ana", "ramp up", t0)
	if err != nil || v.Definition.Allocation != 5000 || v.Action != experiment.ActionAllocation {
		t.Fatalf("SetAllocation = %v, %v", v.Definition.Allocation, err)
	}
	if _, err := experiment.SetAllocation(e, 0, "ana", "", t0); experiment.ErrorField(err) != "allocation" {
		t.Errorf("SetAllocation(0) = %v, want EINVALID allocation", err)
	}
	ch := experiment.Diff(e, v.Definition)
	if len(ch) != 1 || ch[0].Field != "allocation" || string(ch[0].Old) != "100" || string(ch[0].New) != "50" {
		t.Errorf("Diff = %+v", ch)
	}
}

func TestParseDate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		sec  int64
		nsec int32
		ok   bool
	}{
		{"2024-01-01", 1704067200, 0, true},
		{"2024-02-29", 1709164800, 0, true},
		{"2023-02-29", 0, 0, false},
		{"2024-01-01T00:00:00Z", 1704067200, 0, true},
		{"2024-01-01t01:00:00z", 1704070800, 0, true},
		{"2024-01-01T02:00:00+02:00", 1704067200, 0, true},
		{"2024-01-01T00:00:00.5-01:30", 1704072600, 500000000, true},
		{"2024-01-01T00:00:00.123456789Z", 1704067200, 123456789, true},
		{"2024-01-01T00:00:00.1234567890Z", 0, 0, false},
		{"2024-01-01T24:00:00Z", 0, 0, false},
		{"2024-01-01T00:00:60Z", 0, 0, false},
		{"2024-01-01 00:00:00Z", 0, 0, false},
		{"2024-01-01T00:00:00", 0, 0, false},
		{"2024-1-01", 0, 0, false},
		{"", 0, 0, false},
		{"1969-12-31", -86400, 0, true},
	} {
		got, ok := experiment.ParseDate(tc.in)
		if ok != tc.ok || (ok && (got.Sec != tc.sec || got.Nsec != tc.nsec)) {
			t.Errorf("ParseDate(%q) = %+v, %v; want {%d %d}, %v", tc.in, got, ok, tc.sec, tc.nsec, tc.ok)
		}
		if tc.ok {
			want, err := time.Parse(time.RFC3339Nano, tc.in)
			if err == nil && (want.Unix() != got.Sec || int32(want.Nanosecond()) != got.Nsec) {
				t.Errorf("ParseDate(%q) = %+v, time.Parse says %v", tc.in, got, want)
			}
		}
	}
}

func TestParseNumber(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"0", 0, true}, {"-0", 0, true}, {"12", 12, true}, {"1.5", 1.5, true}, {"-2e3", -2000, true},
		{"1E+2", 100, true}, {"01", 0, false}, {"+1", 0, false}, {"1.", 0, false}, {".5", 0, false},
		{" 1", 0, false}, {"0x10", 0, false}, {"NaN", 0, false}, {"Infinity", 0, false}, {"", 0, false}, {"-", 0, false},
		{"1e", 0, false},
	} {
		got, ok := experiment.ParseNumber(tc.in)
		if ok != tc.ok || got != tc.want {
			t.Errorf("ParseNumber(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	if f, ok := experiment.ParseNumber("1e400"); !ok || f < 1e308 {
		t.Errorf("ParseNumber(1e400) = %v, %v; want +Inf, true", f, ok)
	}
}

// FuzzExperimentJSON checks that decoding and validating any input never
// panics, and that an invalid definition always says which field is wrong.
func FuzzExperimentJSON(f *testing.F) {
	data, err := os.ReadFile("../docs/examples/experiment.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"key":"a","channel":"sms","status":"draft","segments":[{"key":"s","rule":{"not":{"attr":"x","op":"gt","value":1}},"variants":[{"key":"a","weight":1,"control":true},{"key":"b","weight":1}]}],"primary_metric":"open_rate"}`))
	f.Add([]byte(`{"key":"a","allocation":12.345,"layer":{"name":"l","slot_start":5,"slot_end":1}}`))
	f.Add([]byte(`{"segments":[{"rule":{"any":[{"attr":"d","op":"before","value":"2024-01-01T00:00:00+01:00"},{"attr":"c","op":"in","values":[1,"a",true,null]}]}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := experiment.Decode(data)
		if err != nil {
			var ee *experiment.Error
			if !errors.As(err, &ee) || ee.Code != experiment.EINVALID || ee.Field == "" {
				t.Fatalf("Decode() = %#v, want *Error EINVALID with a field", err)
			}
			return
		}
		e.Status = experiment.StatusDraft
		err = e.Validate()
		if err == nil {
			if _, err := experiment.Create(e, "fuzz", "", t0); err != nil && experiment.ErrorField(err) == "" {
				t.Fatalf("Create(valid) = %v", err)
			}
			return
		}
		var ee *experiment.Error
		if !errors.As(err, &ee) || ee.Code != experiment.EINVALID || ee.Field == "" {
			t.Fatalf("Validate() = %#v, want *Error EINVALID with a field", err)
		}
		if strings.TrimSpace(ee.Message) == "" {
			t.Fatalf("Validate() error without message: %#v", ee)
		}
	})
}

// TestParseDateAgreesWithTime checks the calendar arithmetic against the
// standard library over a wide range of days.
func TestParseDateAgreesWithTime(t *testing.T) {
	for d := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() < 10000; d = d.AddDate(0, 0, 37) {
		s := d.Format("2006-01-02")
		got, ok := experiment.ParseDate(s)
		if !ok || got.Sec != d.Unix() {
			t.Fatalf("ParseDate(%q) = %+v, %v; want %d", s, got, ok, d.Unix())
		}
	}
}

func TestDecode(t *testing.T) {
	data, err := os.ReadFile("../docs/examples/experiment.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := experiment.Decode(data); err != nil {
		t.Fatalf("Decode(example) = %v", err)
	}
	for _, tc := range []struct{ in, field string }{
		{`{"key": "a", "holdot": 5}`, "holdot"},
		{`{"segments": [{"variants": [{"weight": "2"}]}]}`, "segments.variants.weight"},
		{`{"key": 7}`, "key"},
		{`{"allocation": 12.345}`, "body"},
		{`{"key": "a"`, "body"},
		{`{} {}`, "body"},
	} {
		_, err := experiment.Decode([]byte(tc.in))
		if experiment.ErrorCode(err) != experiment.EINVALID || experiment.ErrorField(err) != tc.field {
			t.Errorf("Decode(%s) = %v, want EINVALID on %q", tc.in, err, tc.field)
		}
	}
}
