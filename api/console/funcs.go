package console

import (
	"encoding/json"
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/splitcast/splitcast/analytics/stats"
	"github.com/splitcast/splitcast/experiment"
)

// funcs are the templates' helpers. None returns template.HTML: whatever a
// page shows is escaped by html/template.
var funcs = template.FuncMap{
	"dict": func(kv ...any) map[string]any {
		m := make(map[string]any, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	},
	"add1":  func(i int) int { return i + 1 },
	"json":  jsonText,
	"raw":   func(r json.RawMessage) string { return rawText(r) },
	"dur":   func(d experiment.Duration) string { return shortDuration(time.Duration(d)) },
	"rule":  ruleText,
	"title": func(s string) string { return strings.ToUpper(s[:1]) + s[1:] },
	"pctv":  func(b experiment.BasisPoints) string { return pct(b) },
	"bp":    func(b experiment.BasisPoints) int { return int(b) },
	"time":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"effect": func(e stats.Effect) string {
		if e.Relative {
			return fmt.Sprintf("%+.0f%% relative", 100*e.Value)
		}
		return fmt.Sprintf("%+.3g absolute", e.Value)
	},
}

// jsonText is v as compact JSON for people: without encoding/json's
// \u003c for "<", which html/template escapes anyway, so that a payload
// reads as it was written.
func jsonText(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// rawText is jsonText of a raw JSON value (a payload, a diff's side).
func rawText(raw []byte) string {
	if len(raw) == 0 {
		return ""
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	return jsonText(v)
}

// shortDuration writes 72h rather than 72h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	s = strings.TrimSuffix(s, "0s")
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	if s == "" {
		return "0s"
	}
	return s
}

// opWords are the operators as the rule builder labels them.
var opWords = func() map[experiment.Op]string {
	m := map[experiment.Op]string{}
	for _, o := range ops {
		m[experiment.Op(o.Op)] = o.Label
	}
	return m
}()

// ruleText writes a rule for people: "plan equals pro_trial and (country
// is one of FR, DE)".
func ruleText(r *experiment.Rule) string {
	if r == nil {
		return "everyone"
	}
	join := func(rs []experiment.Rule, word string) string {
		parts := make([]string, len(rs))
		for i := range rs {
			parts[i] = ruleText(&rs[i])
			if len(rs[i].All)+len(rs[i].Any) > 0 {
				parts[i] = "(" + parts[i] + ")"
			}
		}
		return strings.Join(parts, " "+word+" ")
	}
	switch {
	case r.All != nil:
		return join(r.All, "and")
	case r.Any != nil:
		return join(r.Any, "or")
	case r.Not != nil:
		return "not (" + ruleText(r.Not) + ")"
	}
	s := r.Attr + " " + opWords[r.Op]
	if r.Values != nil {
		parts := make([]string, len(r.Values))
		for i, v := range r.Values {
			parts[i] = valueText(v)
		}
		return s + " " + strings.Join(parts, ", ")
	}
	if r.Value != nil {
		s += " " + valueText(r.Value)
	}
	return s
}
