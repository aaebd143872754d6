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
	"add1": func(i int) int { return i + 1 },
	"json": func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Sprint(v)
		}
		return string(b)
	},
	"dur":   func(d experiment.Duration) string { return time.Duration(d).String() },
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
