package console

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/splitcast/splitcast/experiment"
)

// draftForm is the edit form of a draft as text fields, named like the
// JSON fields they become ("segments[0].variants[1].weight"), so that an
// error of experiment.Validate, which names the JSON field, lands beside
// its input. A rule is a group (all or any) of conditions and groups of
// conditions; a rule the builder cannot show (a "not", deeper nesting) is
// edited as JSON.
type draftForm struct {
	Key, Name, Description, Channel, Salt string
	Allocation, Holdout                   string
	LayerName, LayerStart, LayerEnd       string
	PrimaryMetric                         string
	Guardrails                            map[string]bool
	RetireAuto                            bool
	Alpha, MinSample, MinRuntime, Every   string
	Reason                                string
	Segments                              []formSegment
	// Errors maps an input's name to its error; Problem is the error as a
	// sentence for the top of the form.
	Errors  map[string]string
	Problem string
	// ProblemInput is the input the error is beside, for a link to it.
	ProblemInput string
}

type formSegment struct {
	Key, Name string
	// Form is "all" or "any" (the builder's top group), "" for a
	// catch-all, or "json" for RuleJSON.
	Form     string
	Conds    []formCond
	RuleJSON string
	Control  int
	Variants []formVariant
}

// formCond is a condition, or (Group set) a group of conditions.
type formCond struct {
	Group           string // "all" or "any" for a group
	Attr, Op, Value string
	Kids            []formCond
}

type formVariant struct {
	Key, Name, Weight              string
	Subject, Body, CTAText, CTAURL string
	Extra                          string // more payload, a JSON object
}

// newDraftForm is the form of a new draft: two segments (a rule and a
// catch-all), two variants each.
func newDraftForm() draftForm {
	v := func(k string) formVariant { return formVariant{Key: k, Weight: "1"} }
	return draftForm{Channel: "email", Allocation: "100", Holdout: "0", PrimaryMetric: string(experiment.MetricClickRate),
		Guardrails: map[string]bool{string(experiment.MetricUnsubscribeRate): true, string(experiment.MetricComplaintRate): true},
		Segments: []formSegment{
			{Key: "segment-1", Form: "all", Conds: []formCond{{Op: "equals"}}, Variants: []formVariant{v("control"), v("b")}},
			{Key: "everyone", Variants: []formVariant{v("control"), v("b")}},
		}}
}

// formOf is the form of an existing definition (to edit or clone).
func formOf(e experiment.Experiment) draftForm {
	f := draftForm{Key: e.Key, Name: e.Name, Description: e.Description, Channel: string(e.Channel), Salt: e.Salt,
		Allocation: pct(e.Allocation), Holdout: pct(e.Holdout), PrimaryMetric: string(e.PrimaryMetric),
		Guardrails: map[string]bool{}, RetireAuto: e.Retirement.Auto}
	if e.Layer != nil {
		f.LayerName, f.LayerStart, f.LayerEnd = e.Layer.Name, strconv.Itoa(e.Layer.SlotStart), strconv.Itoa(e.Layer.SlotEnd)
	}
	for _, m := range e.GuardrailMetrics {
		f.Guardrails[string(m)] = true
	}
	p := e.Retirement
	if p.Alpha != 0 {
		f.Alpha = strconv.FormatFloat(p.Alpha, 'f', -1, 64)
	}
	if p.MinSamplePerArm != 0 {
		f.MinSample = strconv.Itoa(p.MinSamplePerArm)
	}
	if p.MinRuntime != 0 {
		f.MinRuntime = time.Duration(p.MinRuntime).String()
	}
	if p.Interval != 0 {
		f.Every = time.Duration(p.Interval).String()
	}
	for _, s := range e.Segments {
		fs := formSegment{Key: s.Key, Name: s.Name, Control: max(s.Control(), 0)}
		fs.Form, fs.Conds, fs.RuleJSON = ruleForm(s.Rule)
		for _, v := range s.Variants {
			fs.Variants = append(fs.Variants, variantForm(v))
		}
		f.Segments = append(f.Segments, fs)
	}
	return f
}

func pct(b experiment.BasisPoints) string { return strconv.FormatFloat(b.Percent(), 'f', -1, 64) }

// ruleForm splits a rule into the builder's form, or JSON when the
// builder cannot show it.
func ruleForm(r *experiment.Rule) (form string, conds []formCond, js string) {
	if r == nil {
		return "", nil, ""
	}
	top, kids := groupOf(r)
	if top == "" {
		top, kids = "all", []experiment.Rule{*r}
	}
	for _, k := range kids {
		c, ok := condForm(k, true)
		if !ok {
			b, _ := json.MarshalIndent(r, "", "  ")
			return "json", nil, string(b)
		}
		conds = append(conds, c)
	}
	return top, conds, ""
}

func groupOf(r *experiment.Rule) (string, []experiment.Rule) {
	switch {
	case r.All != nil:
		return "all", r.All
	case r.Any != nil:
		return "any", r.Any
	}
	return "", nil
}

// condForm is a condition, or when nest allows it a group of conditions.
func condForm(r experiment.Rule, nest bool) (formCond, bool) {
	if g, kids := groupOf(&r); g != "" {
		if !nest {
			return formCond{}, false
		}
		c := formCond{Group: g}
		for _, k := range kids {
			kc, ok := condForm(k, false)
			if !ok {
				return formCond{}, false
			}
			c.Kids = append(c.Kids, kc)
		}
		return c, true
	}
	if r.Not != nil {
		return formCond{}, false
	}
	c := formCond{Attr: r.Attr, Op: string(r.Op), Value: valueText(r.Value)}
	if r.Values != nil {
		parts := make([]string, len(r.Values))
		for i, v := range r.Values {
			parts[i] = valueText(v)
		}
		c.Value = strings.Join(parts, ", ")
	}
	return c, true
}

// valueText writes a rule value as the builder's text: strings bare unless
// they would read as another type or hold a comma, then quoted.
func valueText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		if _, isNum := experiment.ParseNumber(x); isNum || x == "true" || x == "false" || strings.ContainsAny(x, `,"`) ||
			strings.TrimSpace(x) != x || x == "" {
			b, _ := json.Marshal(x)
			return string(b)
		}
		return x
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func variantForm(v experiment.Variant) formVariant {
	fv := formVariant{Key: v.Key, Name: v.Name, Weight: strconv.Itoa(v.Weight)}
	var p map[string]any
	if len(v.Payload) == 0 || json.Unmarshal(v.Payload, &p) != nil {
		fv.Extra = string(v.Payload)
		return fv
	}
	take := func(m map[string]any, k string, dst *string) {
		if s, ok := m[k].(string); ok {
			*dst = s
			delete(m, k)
		}
	}
	take(p, "subject", &fv.Subject)
	take(p, "body", &fv.Body)
	if cta, ok := p["cta"].(map[string]any); ok {
		take(cta, "text", &fv.CTAText)
		take(cta, "url", &fv.CTAURL)
		if len(cta) == 0 {
			delete(p, "cta")
		}
	}
	if len(p) > 0 {
		b, _ := json.MarshalIndent(p, "", "  ")
		fv.Extra = string(b)
	}
	return fv
}

// decodeForm reads the posted form. Lists are read by index until the
// first index without its marker field ("segments[2]" = "1").
func decodeForm(v url.Values) draftForm {
	f := draftForm{Key: v.Get("key"), Name: v.Get("name"), Description: v.Get("description"), Channel: v.Get("channel"),
		Salt: v.Get("salt"), Allocation: v.Get("allocation"), Holdout: v.Get("holdout"),
		LayerName: v.Get("layer.name"), LayerStart: v.Get("layer.slot_start"), LayerEnd: v.Get("layer.slot_end"),
		PrimaryMetric: v.Get("primary_metric"), Guardrails: map[string]bool{}, RetireAuto: v.Get("retirement.auto") == "on",
		Alpha: v.Get("retirement.alpha"), MinSample: v.Get("retirement.min_sample_per_arm"),
		MinRuntime: v.Get("retirement.min_runtime"), Every: v.Get("retirement.interval"), Reason: v.Get("reason")}
	for _, m := range v["guardrail_metrics"] {
		f.Guardrails[m] = true
	}
	for i := 0; v.Get(fmt.Sprintf("segments[%d]", i)) != ""; i++ {
		p := fmt.Sprintf("segments[%d]", i)
		s := formSegment{Key: v.Get(p + ".key"), Name: v.Get(p + ".name"), Form: v.Get(p + ".rule.form"),
			RuleJSON: v.Get(p + ".rule_json")}
		s.Control, _ = strconv.Atoi(v.Get(p + ".control"))
		s.Conds = decodeConds(v, p+".rule.c")
		for j := 0; v.Get(fmt.Sprintf("%s.variants[%d]", p, j)) != ""; j++ {
			q := fmt.Sprintf("%s.variants[%d]", p, j)
			s.Variants = append(s.Variants, formVariant{Key: v.Get(q + ".key"), Name: v.Get(q + ".name"),
				Weight: v.Get(q + ".weight"), Subject: v.Get(q + ".subject"), Body: v.Get(q + ".body"),
				CTAText: v.Get(q + ".cta_text"), CTAURL: v.Get(q + ".cta_url"), Extra: v.Get(q + ".payload")})
		}
		f.Segments = append(f.Segments, s)
	}
	return f
}

func decodeConds(v url.Values, p string) []formCond {
	var out []formCond
	for k := 0; v.Get(fmt.Sprintf("%s[%d]", p, k)) != ""; k++ {
		q := fmt.Sprintf("%s[%d]", p, k)
		c := formCond{Group: v.Get(q + ".form"), Attr: strings.TrimSpace(v.Get(q + ".attr")), Op: v.Get(q + ".op"), Value: v.Get(q + ".value")}
		if c.Group != "" {
			c.Kids = decodeConds(v, q+".c")
		}
		out = append(out, c)
	}
	return out
}

// experiment turns the form into a definition. It fails, naming the
// input, only where a text cannot be read at all (a weight that is not a
// number); the meaning is experiment.Validate's to check.
func (f *draftForm) experiment() (experiment.Experiment, error) {
	e := experiment.Experiment{Key: strings.TrimSpace(f.Key), Name: f.Name, Description: f.Description,
		Channel: experiment.Channel(f.Channel), Salt: f.Salt, PrimaryMetric: experiment.Metric(f.PrimaryMetric)}
	var err error
	if e.Allocation, err = percent("allocation", f.Allocation, experiment.Full); err != nil {
		return e, err
	}
	if e.Holdout, err = percent("holdout", f.Holdout, 0); err != nil {
		return e, err
	}
	if f.LayerName != "" {
		l := &experiment.Layer{Name: strings.TrimSpace(f.LayerName)}
		if l.SlotStart, err = integer("layer.slot_start", f.LayerStart, 0); err != nil {
			return e, err
		}
		if l.SlotEnd, err = integer("layer.slot_end", f.LayerEnd, int(experiment.Full)); err != nil {
			return e, err
		}
		e.Layer = l
	}
	for _, m := range metrics {
		if f.Guardrails[string(m)] {
			e.GuardrailMetrics = append(e.GuardrailMetrics, m)
		}
	}
	if e.Retirement, err = f.policy(); err != nil {
		return e, err
	}
	for i := range f.Segments {
		s, err := f.Segments[i].segment(fmt.Sprintf("segments[%d]", i))
		if err != nil {
			return e, err
		}
		e.Segments = append(e.Segments, s)
	}
	return e, nil
}

func (f *draftForm) policy() (experiment.RetirementPolicy, error) {
	p := experiment.RetirementPolicy{Auto: f.RetireAuto}
	var err error
	if s := strings.TrimSpace(f.Alpha); s != "" {
		if p.Alpha, err = strconv.ParseFloat(s, 64); err != nil {
			return p, experiment.Invalid("retirement.alpha", "%q is not a number", s)
		}
	}
	if p.MinSamplePerArm, err = integer("retirement.min_sample_per_arm", f.MinSample, 0); err != nil {
		return p, err
	}
	for _, d := range []struct {
		field, text string
		dst         *experiment.Duration
	}{{"retirement.min_runtime", f.MinRuntime, &p.MinRuntime}, {"retirement.interval", f.Every, &p.Interval}} {
		if s := strings.TrimSpace(d.text); s != "" {
			v, err := time.ParseDuration(s)
			if err != nil {
				return p, experiment.Invalid(d.field, "%q is not a duration like 72h or 30m", s)
			}
			*d.dst = experiment.Duration(v)
		}
	}
	return p, nil
}

func (s *formSegment) segment(p string) (experiment.Segment, error) {
	seg := experiment.Segment{Key: strings.TrimSpace(s.Key), Name: s.Name}
	switch s.Form {
	case "":
	case "json":
		seg.Rule = &experiment.Rule{}
		if err := experiment.DecodeStrict([]byte(s.RuleJSON), seg.Rule); err != nil {
			return seg, experiment.Invalid(p+".rule_json", "not a rule in JSON: %s", experiment.ErrorMessage(err))
		}
	default:
		kids, err := condRules(s.Conds, p+".rule."+s.Form)
		if err != nil {
			return seg, err
		}
		seg.Rule = group(s.Form, kids)
	}
	for j, v := range s.Variants {
		q := fmt.Sprintf("%s.variants[%d]", p, j)
		ev, err := v.variant(q)
		if err != nil {
			return seg, err
		}
		ev.Control = j == s.Control
		seg.Variants = append(seg.Variants, ev)
	}
	return seg, nil
}

func group(form string, kids []experiment.Rule) *experiment.Rule {
	if kids == nil {
		kids = []experiment.Rule{} // "needs at least one rule", from Validate
	}
	if form == "any" {
		return &experiment.Rule{Any: kids}
	}
	return &experiment.Rule{All: kids}
}

// condRules turns conditions into rules; p is their JSON path ("...all").
func condRules(conds []formCond, p string) ([]experiment.Rule, error) {
	var out []experiment.Rule
	for k, c := range conds {
		q := fmt.Sprintf("%s[%d]", p, k)
		if c.Group != "" {
			kids, err := condRules(c.Kids, q+"."+c.Group)
			if err != nil {
				return nil, err
			}
			out = append(out, *group(c.Group, kids))
			continue
		}
		r := experiment.Rule{Attr: c.Attr, Op: experiment.Op(c.Op)}
		switch r.Op {
		case experiment.OpExists, experiment.OpNotExists:
			if strings.TrimSpace(c.Value) != "" {
				return nil, experiment.Invalid(q+".value", "%s takes no value: leave it empty", r.Op)
			}
		case experiment.OpIn, experiment.OpNotIn:
			vs, err := listValue(c.Value, c.Attr)
			if err != nil {
				return nil, experiment.Invalid(q+".value", "%s", err)
			}
			r.Values = vs
		default:
			r.Value = scalarValue(c.Value, c.Attr, r.Op)
		}
		out = append(out, r)
	}
	return out, nil
}

// scalarValue reads a value's text as the rule takes it: a quoted text is
// a string; else true and false are booleans and numbers numbers, unless
// the attribute is a trait of another type or the operator compares dates.
func scalarValue(text, attr string, op experiment.Op) any {
	s := strings.TrimSpace(text)
	if s == "" {
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		var q string
		if json.Unmarshal([]byte(s), &q) == nil {
			return q
		}
	}
	if op == experiment.OpBefore || op == experiment.OpAfter || traitType(attr) == "text" {
		return s
	}
	if s == "true" || s == "false" {
		return s == "true"
	}
	if f, ok := experiment.ParseNumber(s); ok {
		return f
	}
	return s
}

// listValue reads "a, b, c" or a JSON list.
func listValue(text, attr string) ([]any, error) {
	s := strings.TrimSpace(text)
	if s == "" {
		return nil, fmt.Errorf("needs a list of values, separated by commas")
	}
	if strings.HasPrefix(s, "[") {
		var vs []any
		if err := json.Unmarshal([]byte(s), &vs); err != nil {
			return nil, fmt.Errorf("not a JSON list: %v", err)
		}
		return vs, nil
	}
	var out []any
	for _, part := range splitList.FindAllString(s, -1) {
		if part = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(part), ",")); part != "" {
			out = append(out, scalarValue(part, attr, experiment.OpIn))
		}
	}
	return out, nil
}

// splitList splits at commas outside double quotes.
var splitList = regexp.MustCompile(`(?:"(?:[^"\\]|\\.)*"|[^,])+,?`)

func (v formVariant) variant(q string) (experiment.Variant, error) {
	ev := experiment.Variant{Key: strings.TrimSpace(v.Key), Name: v.Name}
	var err error
	if ev.Weight, err = integer(q+".weight", v.Weight, 0); err != nil {
		return ev, err
	}
	p := map[string]any{}
	if s := strings.TrimSpace(v.Extra); s != "" {
		if err := json.Unmarshal([]byte(s), &p); err != nil {
			return ev, experiment.Invalid(q+".payload", "more payload must be a JSON object: %v", err)
		}
	}
	set := func(m map[string]any, k, val string) {
		if val != "" {
			m[k] = val
		}
	}
	set(p, "subject", v.Subject)
	set(p, "body", v.Body)
	if v.CTAText != "" || v.CTAURL != "" {
		cta, _ := p["cta"].(map[string]any)
		if cta == nil {
			cta = map[string]any{}
		}
		set(cta, "text", v.CTAText)
		set(cta, "url", v.CTAURL)
		p["cta"] = cta
	}
	if len(p) > 0 {
		ev.Payload, _ = json.Marshal(p)
	}
	return ev, nil
}

func integer(field, text string, def int) (int, error) {
	s := strings.TrimSpace(text)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, experiment.Invalid(field, "%q is not a whole number", s)
	}
	return n, nil
}

func percent(field, text string, def experiment.BasisPoints) (experiment.BasisPoints, error) {
	s := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(text), "%"))
	if s == "" {
		return def, nil
	}
	var b experiment.BasisPoints
	if err := b.UnmarshalJSON([]byte(s)); err != nil {
		return 0, experiment.Invalid(field, "%q is not a percent with at most two decimals", s)
	}
	return b, nil
}

// fieldOf maps an error's JSON field path to the form's input name: the
// builder names a group's children c[k] whatever the group's form, a list
// of values is one input, and payload and control have inputs of their
// own.
func fieldOf(path string) string {
	f := groupIndex.ReplaceAllString(path, ".c[")
	f = valuesIndex.ReplaceAllString(f, ".value")
	f = controlOf.ReplaceAllString(f, "$1.control")
	if strings.HasSuffix(f, ".retired") || strings.HasSuffix(f, ".retired_at") {
		f = f[:strings.LastIndex(f, ".")]
	}
	return f
}

var (
	groupIndex  = regexp.MustCompile(`\.(all|any)\[`)
	valuesIndex = regexp.MustCompile(`\.values(\[\d+\])?$`)
	controlOf   = regexp.MustCompile(`^(segments\[\d+\])\.variants\[\d+\]\.control$`)
)

// fail puts err beside its input: the input of its field, or the nearest
// enclosing one shown (a rule's group, a segment).
func (f *draftForm) fail(err error) {
	field := experiment.ErrorField(err)
	msg := experiment.ErrorMessage(err)
	f.Errors = map[string]string{}
	name := fieldOf(field)
	if strings.Contains(name, ".rule") {
		if i := strings.Index(name, ".rule"); f.segmentForm(name[:i]) == "json" {
			name = name[:i] + ".rule_json"
		}
	}
	f.Errors[name] = msg
	f.Problem, f.ProblemInput = msg, name
	if field != "" {
		f.Problem = label(field) + ": " + msg
	}
}

func (f *draftForm) segmentForm(p string) string {
	var i int
	if _, err := fmt.Sscanf(p, "segments[%d]", &i); err != nil || i < 0 || i >= len(f.Segments) {
		return ""
	}
	return f.Segments[i].Form
}

// label names a JSON field for people: "segments[0].variants[1].weight"
// is "segment 1, variant 2, weight".
func label(field string) string {
	r := strings.NewReplacer("segments[", "segment ", "variants[", "variant ", "all[", "condition ", "any[", "condition ",
		"values[", "value ", "].", ", ", "]", "", ".", " ", "_", " ")
	out := r.Replace(field)
	return indexPlusOne.ReplaceAllStringFunc(out, func(s string) string {
		n, _ := strconv.Atoi(s)
		return strconv.Itoa(n + 1)
	})
}

var indexPlusOne = regexp.MustCompile(`\d+`)
