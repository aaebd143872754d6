package main

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics/results"
)

// customExperiment has a custom primary metric (revenue per recipient from
// order_completed user events) and a custom guardrail (tickets).
const customExperiment = `{
  "key": "promo-e2e", "channel": "email", "allocation": 100, "holdout": 0,
  "segments": [{"key": "all", "variants": [{"key": "a", "weight": 1, "control": true}, {"key": "b", "weight": 1}]}],
  "custom_metrics": [
    {"key": "revenue", "kind": "sum", "event": "order_completed", "property": "total", "window_hours": 48},
    {"key": "buyers", "kind": "conversion", "event": "order_completed"},
    {"key": "tickets", "kind": "count", "event": "ticket_opened", "lower_is_better": true}],
  "primary_metric": "custom.revenue",
  "guardrail_metrics": ["custom.tickets", "unsubscribe_rate"]
}`

// TestCustomMetricsInReport: user events sent to /v1/track, naming no
// experiment, count in the report of the experiment their units were
// exposed to: the JSON report, the CSV and the page show the custom
// metrics; the retirement loop says it does not decide on them.
func TestCustomMetricsInReport(t *testing.T) {
	_, db := env.NewDatabase(t)
	m, _ := MustMain(t, db)
	c := apiClient{base: "http://" + m.Addr(), http: &http.Client{Timeout: 10 * time.Second}}
	if st, body := c.call(t, "POST", "/v1/experiments", devAdminKey, []byte(strings.Replace(customExperiment, `"custom.revenue"`, `"custom.nope"`, 1))); st != http.StatusBadRequest || !strings.Contains(string(body), "primary_metric") {
		t.Errorf("an undefined custom primary = %d %s, want 400 naming primary_metric", st, body)
	}
	c.mustCall(t, http.StatusCreated, "POST", "/v1/experiments", devAdminKey, []byte(customExperiment), nil)
	c.mustCall(t, http.StatusOK, "POST", "/v1/experiments/promo-e2e/start", devAdminKey, nil, nil)
	arms := map[string]string{}
	for i := range 40 {
		unit := fmt.Sprintf("cu-%d", i)
		var a assignment
		c.mustCall(t, http.StatusOK, "POST", "/v1/assign", devSDKKey, []byte(`{"experiment":"promo-e2e","unit_id":"`+unit+`","send_id":"s1"}`), &a)
		arms[unit] = a.Variant
	}
	// Every unit of b buys for 20, every third unit of a for 10.
	var b strings.Builder
	b.WriteString(`{"events":[`)
	want := map[string]float64{}
	n := 0
	for i := range 40 {
		unit := fmt.Sprintf("cu-%d", i)
		total := 0.0
		switch {
		case arms[unit] == "b":
			total = 20
		case i%3 == 0:
			total = 10
		}
		if total == 0 {
			continue
		}
		if n > 0 {
			b.WriteString(",")
		}
		n++
		fmt.Fprintf(&b, `{"id":"o%d","unit_id":%q,"name":"order_completed","properties":{"total":%v}}`, i, unit, total)
		want[arms[unit]] += total
	}
	b.WriteString(`]}`)
	c.mustCall(t, http.StatusAccepted, "POST", "/v1/track", devSDKKey, []byte(b.String()), nil)
	time.Sleep(1500 * time.Millisecond) // past the flush interval
	var r results.Report
	c.mustCall(t, http.StatusOK, "GET", "/v1/experiments/promo-e2e/results", devReadKey, nil, &r)
	var revenue *results.MetricReport
	for i := range r.Segments[0].Metrics {
		if r.Segments[0].Metrics[i].Metric == "custom.revenue" {
			revenue = &r.Segments[0].Metrics[i]
		}
	}
	if revenue == nil || !revenue.Primary || !revenue.Mean {
		t.Fatalf("report metrics have no primary mean custom.revenue: %+v", r.Segments[0].Metrics)
	}
	for _, row := range revenue.Rows {
		if row.Numerator != want[row.Variant] {
			t.Errorf("custom.revenue of %s = %v, want %v", row.Variant, row.Numerator, want[row.Variant])
		}
	}
	_, csv := c.call(t, "GET", "/v1/experiments/promo-e2e/results?format=csv", devReadKey, nil)
	_, page := c.call(t, "GET", "/experiments/promo-e2e?key="+devReadKey, devReadKey, nil)
	for what, body := range map[string][]byte{"CSV": csv, "page": page} {
		for _, name := range []string{"custom.revenue", "custom.buyers", "custom.tickets"} {
			if !strings.Contains(string(body), name) {
				t.Errorf("the %s does not show %s", what, name)
			}
		}
	}
	// The retirement loop tests the custom primary metric (blocked here
	// only by the policy's minimum runtime and sample).
	ret := r.Segments[0].Retirement
	if strings.Contains(strings.Join(ret.Blocked, " "), "custom metric") || len(ret.Pairs) != 1 || !ret.Pairs[0].Look.Defined {
		t.Fatalf("retirement = %+v, want the custom primary metric tested", ret)
	}
	value := map[string]float64{}
	for _, row := range revenue.Rows {
		value[row.Variant] = row.Value
	}
	p := ret.Pairs[0]
	if diff := value[p.B] - value[p.A]; math.Abs(p.Look.Diff-diff) > 1e-9 {
		t.Errorf("retirement test %s vs %s: diff %v, want the custom.revenue means' %v", p.B, p.A, p.Look.Diff, diff)
	}
}
