package api_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics/results"
	"github.com/splitcast/splitcast/analytics/retire"
	"github.com/splitcast/splitcast/api"
	"github.com/splitcast/splitcast/experiment"
)

// fixedAggregates is an results.AggregateReader that answers the same
// aggregates for one experiment and ENOTFOUND-free empties for others (as
// ClickHouse does: no events is no error).
type fixedAggregates struct {
	key string
	agg results.Aggregates
}

func (f fixedAggregates) Aggregates(_ context.Context, key string) (results.Aggregates, error) {
	if key != f.key {
		return results.Aggregates{Experiment: key}, nil
	}
	return f.agg, nil
}

// reportAggregates gives every arm of the example experiment n exposed
// units and rates that differ by arm, on two days.
func reportAggregates(key string, version uint32, day time.Time) results.Aggregates {
	agg := results.Aggregates{Experiment: key}
	arms := map[string][]string{"pro-trial": {"control", "benefit", "social-proof", "holdout"},
		"everyone": {"control", "short", "personal", "holdout"}}
	for seg, vs := range arms {
		for i, v := range vs {
			n := int64(2000)
			if v == "holdout" {
				n = 300
			}
			opens := n * int64(30+3*i) / 100
			clicks := n * int64(10+2*i) / 100
			c := results.Counts{Exposed: n,
				Opens:        results.KindCounts{Units: opens, Events: opens + 50, MachineUnits: 40, MachineEvents: 61},
				Clicks:       results.KindCounts{Units: clicks, Events: clicks + 9, MachineUnits: 7, MachineEvents: 8},
				OpenClickers: clicks - 10, Conversions: results.KindCounts{Units: n / 20, Events: n / 20},
				Unsubscribes: results.KindCounts{Units: 3}, Value: float64(n/20) * 30, ValueSumSq: float64(n/20) * 1100}
			agg.Arms = append(agg.Arms, results.ArmAggregate{Segment: seg, Variant: v, Counts: c})
			agg.Versions = append(agg.Versions, results.VersionExposure{Segment: seg, Variant: v, Version: version, Exposed: n})
			agg.Daily = append(agg.Daily,
				results.DailyAggregate{Segment: seg, Variant: v, Day: day, Exposed: n / 2, Openers: opens / 2, Clickers: clicks / 2},
				results.DailyAggregate{Segment: seg, Variant: v, Day: day.AddDate(0, 0, 1), Exposed: n - n/2, Openers: opens - opens/2,
					Clickers: clicks - clicks/2, OpenClickers: clicks - 10, Converters: n / 20, Unsubscribers: 3, Value: float64(n/20) * 30})
		}
	}
	agg.Sort()
	return agg
}

// reportHarness is a harness whose running experiment "rep" (the example)
// has aggregates, one variant retired by hand.
func reportHarness(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t, nil, func(c *api.Config) {
		c.Aggregates = fixedAggregates{key: "rep", agg: reportAggregates("rep", 2, time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC))}
	})
	h.must(t, http.StatusCreated, "POST", "/v1/experiments", hAdmin, exampleDef(t, "rep"))
	h.must(t, http.StatusOK, "POST", "/v1/experiments/rep/start", hAdmin, "")
	h.now = h.now.Add(26 * time.Hour)
	h.must(t, http.StatusOK, "POST", "/v1/experiments/rep/segments/everyone/variants/personal/retire", hAdmin,
		`{"reason":"retired by hand: <b>too personal</b>"}`)
	return h
}

func TestResultsJSON(t *testing.T) {
	h := reportHarness(t)
	a := h.must(t, http.StatusOK, "GET", "/v1/experiments/rep/results", hRead, "")
	if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want JSON", ct)
	}
	var got results.Report
	if err := json.Unmarshal(a.body, &got); err != nil {
		t.Fatalf("decode report: %v\n%s", err, a.body)
	}
	history, err := h.store.History(context.Background(), "rep")
	if err != nil {
		t.Fatal(err)
	}
	want := retire.Report(history[len(history)-1].Definition, history,
		reportAggregates("rep", 2, time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)), h.now.UTC())
	wantJSON, _ := json.Marshal(want)
	gotJSON, _ := json.Marshal(got)
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Errorf("GET results = %s\nwant BuildReport = %s", gotJSON, wantJSON)
	}
	if len(got.Segments) != 2 || got.Version != 3 || len(got.Phases) != 2 {
		t.Errorf("report: %d segments, version %d, %d phases; want 2, 3, 2", len(got.Segments), got.Version, len(got.Phases))
	}
}

func TestResultsCSV(t *testing.T) {
	h := reportHarness(t)
	a := h.must(t, http.StatusOK, "GET", "/v1/experiments/rep/results?format=csv", hRead, "")
	if ct := a.header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Errorf("Content-Type = %q, want text/csv", ct)
	}
	if cd := a.header.Get("Content-Disposition"); !strings.Contains(cd, `filename="rep-results.csv"`) {
		t.Errorf("Content-Disposition = %q", cd)
	}
	recs, err := csv.NewReader(bytes.NewReader(a.body)).ReadAll()
	if err != nil {
		t.Fatalf("parse CSV: %v", err)
	}
	if strings.Join(recs[0], ",") != strings.Join(results.CSVHeader, ",") {
		t.Errorf("CSV header = %q", recs[0])
	}
	// Two segments of three variants and a holdout, seven metrics each.
	if want := 1 + 2*4*len(results.ReportMetrics); len(recs) != want {
		t.Errorf("CSV has %d rows, want %d", len(recs), want)
	}
}

func TestResultsErrors(t *testing.T) {
	h := reportHarness(t)
	for _, c := range []struct {
		name, target, key string
		status            int
		code, field       string
	}{
		{"no key", "/v1/experiments/rep/results", "", 401, experiment.EUNAUTHORIZED, "Authorization"},
		{"sdk key", "/v1/experiments/rep/results", hSDK, 403, experiment.EFORBIDDEN, "Authorization"},
		// The JSON and CSV are for programs: bearer only, never ?key=.
		{"key in query", "/v1/experiments/rep/results?key=" + hRead, "", 401, experiment.EUNAUTHORIZED, "Authorization"},
		{"unknown format", "/v1/experiments/rep/results?format=xml", hRead, 400, experiment.EINVALID, "format"},
		{"unknown experiment", "/v1/experiments/nope/results", hRead, 404, experiment.ENOTFOUND, ""},
		{"unknown experiment page", "/experiments/nope", hRead, 404, experiment.ENOTFOUND, ""},
		{"page without key", "/experiments/rep", "", 401, experiment.EUNAUTHORIZED, "Authorization"},
		{"page with an sdk key in the query", "/experiments/rep?key=" + hSDK, "", 403, experiment.EFORBIDDEN, "Authorization"},
		{"page with a wrong key in the query", "/experiments/rep?key=nope-nope-nope", "", 401, experiment.EUNAUTHORIZED, "Authorization"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := h.call(t, "GET", c.target, c.key, "")
			code, field, _ := a.err()
			if a.status != c.status || code != c.code || field != c.field {
				t.Errorf("GET %s = %d %s %q, want %d %s %q", c.target, a.status, code, field, c.status, c.code, c.field)
			}
			if a.header.Get("Set-Cookie") != "" {
				t.Errorf("GET %s refused, yet set a cookie %q", c.target, a.header.Get("Set-Cookie"))
			}
		})
	}
	t.Run("no aggregate reader", func(t *testing.T) {
		h := newHarness(t, nil, nil)
		h.must(t, http.StatusCreated, "POST", "/v1/experiments", hAdmin, exampleDef(t, "rep"))
		a := h.call(t, "GET", "/v1/experiments/rep/results", hRead, "")
		if code, _, _ := a.err(); a.status != 503 || code != experiment.EUNAVAILABLE {
			t.Errorf("GET results without a reader = %d %s, want 503 unavailable", a.status, code)
		}
	})
}

// TestReportPageAuth: a browser brings the read key once in the URL; the
// page remembers it in an HttpOnly cookie that is enough on its own after.
func TestReportPageAuth(t *testing.T) {
	h := reportHarness(t)
	a := h.must(t, http.StatusOK, "GET", "/experiments/rep?key="+hRead, "", "")
	if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type = %q, want text/html", ct)
	}
	if rp := a.header.Get("Referrer-Policy"); rp != "no-referrer" {
		t.Errorf("Referrer-Policy = %q, want no-referrer: the URL holds a key", rp)
	}
	cookie := a.header.Get("Set-Cookie")
	for _, want := range []string{api.PageKeyCookie + "=" + hRead, "HttpOnly", "SameSite=Strict", "path=/experiments"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("Set-Cookie = %q, want it to contain %q", cookie, want)
		}
	}
	req := httptest.NewRequest("GET", "/experiments/rep", nil)
	req.AddCookie(&http.Cookie{Name: api.PageKeyCookie, Value: hRead})
	if b := h.request(t, req); b.status != 200 || !bytes.Contains(b.body, []byte("<html")) {
		t.Errorf("GET the page with the cookie = %d %.200s, want the page", b.status, b.body)
	}
	// A bearer header works as on any route, and sets no cookie.
	if b := h.must(t, 200, "GET", "/experiments/rep", hRead, ""); b.header.Get("Set-Cookie") != "" {
		t.Errorf("GET the page with a bearer key set a cookie %q", b.header.Get("Set-Cookie"))
	}
	// The cookie is the page's only: the JSON stays bearer only.
	req = httptest.NewRequest("GET", "/v1/experiments/rep/results", nil)
	req.AddCookie(&http.Cookie{Name: api.PageKeyCookie, Value: hRead})
	if b := h.request(t, req); b.status != 401 {
		t.Errorf("GET results with the page cookie = %d, want 401", b.status)
	}
}

// cellRE finds the page's metric cells: the row's metric and variant, then
// the cell's class and text.
var (
	rowRE  = regexp.MustCompile(`(?s)<tr data-metric="([a-z_]+)" data-variant="([a-z-]+)"[^>]*>(.*?)</tr>`)
	cellRE = regexp.MustCompile(`<td class="c-([a-z]+)">([^<]*)`)
)

// TestReportPageContent checks the page against the JSON report, cell by
// cell, and that it is self-contained: no script, nothing from elsewhere.
func TestReportPageContent(t *testing.T) {
	h := reportHarness(t)
	page := string(h.must(t, http.StatusOK, "GET", "/experiments/rep", hRead, "").body)
	var r results.Report
	if err := json.Unmarshal(h.must(t, http.StatusOK, "GET", "/v1/experiments/rep/results", hRead, "").body, &r); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script", "src=", "http://", "https://", "@import", "url("} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q: it must load nothing from anywhere", bad)
		}
	}
	for _, want := range []string{`id="segment-pro-trial"`, `id="segment-everyone"`, "<polyline", "Machine traffic", "Sample ratio",
		"retired by hand: &lt;b&gt;too personal&lt;/b&gt;", `data-action="retire" data-segment="everyone" data-variant="personal"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	sections := strings.Split(page, `<section class="segment"`)[1:]
	if len(sections) != len(r.Segments) {
		t.Fatalf("page has %d segment sections, report %d segments", len(sections), len(r.Segments))
	}
	checked, probBest := 0, 0
	for si, sec := range sections {
		s := r.Segments[si]
		rows := rowRE.FindAllStringSubmatch(sec, -1)
		if want := len(s.Metrics) * len(s.Arms); len(rows) != want {
			t.Fatalf("segment %s: %d metric rows on the page, want %d", s.Key, len(rows), want)
		}
		for _, row := range rows {
			m, v := row[1], row[2]
			_, ar := findRow(t, s, m, v)
			cells := map[string]string{}
			for _, c := range cellRE.FindAllStringSubmatch(row[3], -1) {
				cells[c[1]] = html.UnescapeString(c[2])
			}
			checkCell(t, s.Key+"/"+m+"/"+v+" value", cells["value"], ar.Value)
			if ar.ProbBest != nil {
				checkCell(t, s.Key+"/"+m+"/"+v+" P(best)", cells["pbest"], *ar.ProbBest)
				probBest++
			}
			if c := ar.Comparison; c != nil && c.Error == "" {
				checkOptCell(t, s.Key+"/"+m+"/"+v+" abs", cells["abs"], c.FixedHorizon.AbsLift)
				checkOptCell(t, s.Key+"/"+m+"/"+v+" p", cells["p"], c.FixedHorizon.PValue)
				checkOptCell(t, s.Key+"/"+m+"/"+v+" p adjusted", cells["padj"], c.PValueAdjusted)
				checkOptCell(t, s.Key+"/"+m+"/"+v+" rel", cells["rel"], c.FixedHorizon.RelLift)
				if c.Sequential.Defined {
					checkCell(t, s.Key+"/"+m+"/"+v+" seq p", cells["seqp"], c.Sequential.PValue)
				} else if !strings.HasPrefix(cells["seqp"], "n/a: ") {
					t.Errorf("%s/%s/%s: undefined always-valid p shown as %q, want n/a with the reason", s.Key, m, v, cells["seqp"])
				}
				if c.ProbBetter != nil {
					checkCell(t, s.Key+"/"+m+"/"+v+" prob", cells["prob"], *c.ProbBetter)
				}
			}
			checked++
		}
	}
	if checked == 0 || probBest == 0 {
		t.Fatalf("checked %d rows, %d P(best) cells; want some of each", checked, probBest)
	}
}

func findRow(t *testing.T, s results.SegmentReport, metric, variant string) (results.MetricReport, results.MetricRow) {
	t.Helper()
	for _, m := range s.Metrics {
		if string(m.Metric) != metric {
			continue
		}
		for _, r := range m.Rows {
			if r.Variant == variant {
				return m, r
			}
		}
	}
	t.Fatalf("segment %s has no row %s/%s", s.Key, metric, variant)
	return results.MetricReport{}, results.MetricRow{}
}

// checkOptCell checks a cell that shows a number that may be undefined
// (null in the JSON): then the cell must say "n/a" with the reason.
func checkOptCell(t *testing.T, name, cell string, want *float64) {
	t.Helper()
	if want != nil {
		checkCell(t, name, cell, *want)
	} else if !strings.HasPrefix(strings.TrimSpace(cell), "n/a: ") {
		t.Errorf("%s: undefined number shown as %q, want n/a with the reason", name, cell)
	}
}

// checkCell parses a cell as shown ("12.34%", "+1.20 pp", "0.012",
// "3.1e-05", "0.456") and compares it with want within the rounding of its
// last shown digit; percent and pp cells are in hundredths.
func checkCell(t *testing.T, name, cell string, want float64) {
	t.Helper()
	s := strings.TrimSpace(cell)
	scale := 1.0
	for _, suf := range []string{" pp", "%"} {
		if strings.HasSuffix(s, suf) {
			s, scale = strings.TrimSuffix(s, suf), 100
		}
	}
	got, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Errorf("%s: cell %q is not a number", name, cell)
		return
	}
	tol := 0.5
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant := s[:i]
		exp, _ := strconv.Atoi(s[i+1:])
		tol *= pow10(exp - decimals(mant))
	} else {
		tol *= pow10(-decimals(s))
	}
	if d := got/scale - want; d > tol/scale*1.0001 || -d > tol/scale*1.0001 {
		t.Errorf("%s: page shows %q, JSON has %v", name, cell, want)
	}
}

func decimals(s string) int {
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return len(s) - i - 1
	}
	return 0
}

func pow10(n int) float64 {
	x := 1.0
	for ; n > 0; n-- {
		x *= 10
	}
	for ; n < 0; n++ {
		x /= 10
	}
	return x
}
