package main

import (
	"bytes"
	"context"
	"flag"
	"html"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics/results"
	"github.com/splitcast/splitcast/analytics/stats"
	"github.com/splitcast/splitcast/experiment"
)

// TestDemo runs `splitcast demo -exit` against the test ClickHouse: the
// worse variant of segment pro must be retired by the loop with its
// evidence and the better one kept, nothing may be retired in segment
// everyone (seeded: the same seed gives the same events), and the report
// page, loaded in Chromium from the URL the demo prints, must show the
// numbers of the JSON report.
func TestDemo(t *testing.T) {
	chromium := mustChromium(t)
	m, stdout, getenv := runDemo(t, "-seed", "1", "-units", "9000", "-days", "4")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	pageURL := regexp.MustCompile(`Report page: (\S+)`).FindStringSubmatch(stdout.String())
	if pageURL == nil {
		t.Fatalf("the demo printed no report page URL:\n%s", stdout.String())
	}
	key := regexp.MustCompile(`/experiments/([^?]+)\?`).FindStringSubmatch(pageURL[1])[1]
	c := apiClient{base: "http://" + m.Addr(), http: &http.Client{Timeout: time.Minute}}
	var r results.Report
	c.mustCall(t, http.StatusOK, "GET", "/v1/experiments/"+key+"/results", devReadKey, nil, &r)
	if len(r.Segments) != 2 || r.Segments[0].Key != "pro" || r.Segments[1].Key != "everyone" {
		t.Fatalf("report segments = %+v", r.Segments)
	}
	status := func(s results.SegmentReport) map[string]results.ArmStatus {
		out := map[string]results.ArmStatus{}
		for _, a := range s.Arms {
			out[a.Variant] = a.Status
		}
		return out
	}
	pro, everyone := status(r.Segments[0]), status(r.Segments[1])
	if pro["c"] != results.ArmRetired || pro["b"] == results.ArmRetired || pro["control"] == results.ArmRetired {
		t.Errorf("segment pro arms = %v, want c retired, b and the control not", pro)
	}
	for v, s := range everyone {
		if s != results.ArmActive {
			t.Errorf("segment everyone: %s is %s, want every arm active (no true difference)", v, s)
		}
	}
	if r.SRM {
		t.Errorf("the demo's report has an SRM: %+v", r.Segments)
	}

	// The retirement is a version whose reason is the evidence.
	var history []experiment.Version
	var hb struct {
		Versions []experiment.Version `json:"versions"`
	}
	c.mustCall(t, http.StatusOK, "GET", "/v1/experiments/"+key+"/history", devReadKey, nil, &hb)
	history = hb.Versions
	retired := false
	for _, v := range history {
		if v.Action == experiment.ActionRetire {
			retired = true
			if v.Author != "retirement-loop" || !strings.Contains(v.Reason, "c is worse than the best variant") || !strings.Contains(v.Reason, "mSPRT p=") {
				t.Errorf("retire version %d by %q: %q, want the loop's evidence against c", v.Version, v.Author, v.Reason)
			}
		}
	}
	if !retired {
		t.Errorf("no retire version in the history: %+v", history)
	}

	// The terminal report and a retirement pass, as their commands run.
	var out bytes.Buffer
	if err := run(ctx, []string{"report", "-url", "http://" + m.Addr(), "-key", devReadKey, key}, getenv, &out, io.Discard); err != nil {
		t.Fatalf("splitcast report = %v", err)
	}
	for _, want := range []string{"segment pro (Pro plan)  control control", "VARIANT", "CLICK_RATE", "P (ALWAYS-VALID)", "  retired c at ", "segment everyone"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("splitcast report lacks %q:\n%s", want, out.String())
		}
	}
	if !regexp.MustCompile(`(?m)^\s+c\s+retired\s+\d+\s+\d+\.\d\d%`).MatchString(out.String()) {
		t.Errorf("splitcast report has no row for the retired c:\n%s", out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"retire-once", "-data-dir", t.TempDir()}, getenv, &out, io.Discard); err != nil {
		t.Fatalf("splitcast retire-once = %v", err)
	}
	if !strings.HasPrefix(out.String(), "retirement: ") {
		t.Errorf("splitcast retire-once printed %q", out.String())
	}

	// The page, as Chromium renders it, against the JSON.
	dom := dumpDOM(t, chromium, pageURL[1])
	if !strings.Contains(dom, `data-action="retire" data-segment="pro" data-variant="c"`) {
		t.Errorf("the page's retirement history lacks the retirement of pro/c")
	}
	checkPage(t, dom, r)
}

// runDemo runs `splitcast demo -exit` with args against a database of its
// own, and returns its Main (still serving), what it printed and its
// environment.
func runDemo(t *testing.T, args ...string) (*Main, *bytes.Buffer, func(string) string) {
	t.Helper()
	_, db := env.NewDatabase(t)
	getenv := testGetenv(db)
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	df := addDemoFlags(fs, "demo", getenv)
	cfg, err := ParseConfig(fs, append([]string{"-addr", "127.0.0.1:0", "-data-dir", t.TempDir(), "-log-level", "warn", "-exit"}, args...), getenv)
	if err != nil {
		t.Fatal(err)
	}
	stdout := new(bytes.Buffer)
	m := NewMain(cfg, stdout, testLog{t})
	t.Cleanup(func() { m.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	if err := m.Demo(ctx, df, testLog{t}); err != nil {
		t.Fatalf("Demo = %v\n%s", err, stdout.String())
	}
	t.Logf("demo took %s:\n%s", time.Since(start).Round(time.Millisecond), stdout.String())
	return m, stdout, getenv
}

var (
	pageSectionRE = regexp.MustCompile(`(?s)<section class="segment" id="segment-([a-z0-9-]+)"(.*?)</section>`)
	pageRowRE     = regexp.MustCompile(`(?s)<tr data-metric="([a-z_]+)" data-variant="([a-z0-9-]+)"[^>]*>(.*?)</tr>`)
	pageCellRE    = regexp.MustCompile(`<td class="c-([a-z]+)">([^<]*)`)
	pageArmRE     = regexp.MustCompile(`(?s)<tr data-segment="([a-z0-9-]+)" data-variant="([a-z0-9-]+)">(.*?)</tr>`)
)

// checkPage compares every metric cell of the page with the report, within
// the rounding of the digits shown, and each arm's exposures and status.
func checkPage(t *testing.T, dom string, r results.Report) {
	t.Helper()
	sections := pageSectionRE.FindAllStringSubmatch(dom, -1)
	if len(sections) != len(r.Segments) {
		t.Fatalf("page has %d segments, the report %d", len(sections), len(r.Segments))
	}
	checked, cuped := 0, 0
	for si, sec := range sections {
		s := r.Segments[si]
		if sec[1] != s.Key {
			t.Errorf("page segment %d is %s, report %s", si, sec[1], s.Key)
		}
		for _, row := range pageArmRE.FindAllStringSubmatch(sec[2], -1) {
			for _, a := range s.Arms {
				if a.Variant == row[2] && strings.Contains(row[3], `class="c-exposed"`) {
					if !strings.Contains(row[3], `<td class="c-exposed">`+strconv.FormatInt(a.Counts.Exposed, 10)+`</td>`) ||
						!strings.Contains(row[3], ">"+string(a.Status)+"<") {
						t.Errorf("%s/%s: page row %q, want exposed %d, status %s", s.Key, a.Variant, row[3], a.Counts.Exposed, a.Status)
					}
					checked++
				}
			}
		}
		rows := pageRowRE.FindAllStringSubmatch(sec[2], -1)
		if want := len(s.Metrics) * len(s.Arms); len(rows) != want {
			t.Fatalf("segment %s: %d metric rows on the page, want %d", s.Key, len(rows), want)
		}
		for _, row := range rows {
			cells := map[string]string{}
			for _, c := range pageCellRE.FindAllStringSubmatch(row[3], -1) {
				cells[c[1]] = html.UnescapeString(c[2])
			}
			name := s.Key + "/" + row[1] + "/" + row[2]
			mr := reportRow(t, s, row[1], row[2])
			checkNumber(t, name+" value", cells["value"], mr.Value)
			if mr.ProbBest != nil {
				checkNumber(t, name+" P(best)", cells["pbest"], *mr.ProbBest)
			}
			checked++
			c := mr.Comparison
			if c == nil || c.Error != "" {
				continue
			}
			fh := c.FixedHorizon
			for _, cell := range []struct {
				what, class string
				want        *float64
			}{{"abs lift", "abs", fh.AbsLift}, {"p", "p", fh.PValue}, {"p adjusted", "padj", c.PValueAdjusted}, {"rel lift", "rel", fh.RelLift}} {
				if cell.want == nil {
					if !strings.HasPrefix(cells[cell.class], "n/a: ") {
						t.Errorf("%s %s: undefined, shown as %q, want n/a with the reason", name, cell.what, cells[cell.class])
					}
					continue
				}
				checkNumber(t, name+" "+cell.what, cells[cell.class], *cell.want)
			}
			if c.CUPED != nil {
				// The demo's units have no history before their exposure:
				// CUPED then says why it has no estimate.
				if c.CUPED.Adjusted != nil {
					checkNumber(t, name+" CUPED lift", cells["cuped"], c.CUPED.Adjusted.Diff)
				} else if !strings.HasPrefix(cells["cuped"], "n/a: ") {
					t.Errorf("%s: CUPED %s shown as %q, want n/a with the reason", name, c.CUPED.Status, cells["cuped"])
				}
				cuped++
			}
			if c.Sequential.Defined {
				checkNumber(t, name+" always-valid p", cells["seqp"], c.Sequential.PValue)
				checkNumber(t, name+" always-valid p adjusted", cells["seqpadj"], *c.SequentialPValueAdjusted)
			}
			if c.ProbBetter != nil {
				checkNumber(t, name+" P(beat)", cells["prob"], *c.ProbBetter)
			}
		}
	}
	if checked == 0 || cuped == 0 {
		t.Fatalf("%d cells of the page checked, %d CUPED cells: want some of each", checked, cuped)
	}
}

func reportRow(t *testing.T, s results.SegmentReport, metric, variant string) results.MetricRow {
	t.Helper()
	for _, m := range s.Metrics {
		if string(m.Metric) == metric {
			for _, row := range m.Rows {
				if row.Variant == variant {
					return row
				}
			}
		}
	}
	t.Fatalf("the report has no row %s/%s/%s", s.Key, metric, variant)
	return results.MetricRow{}
}

// checkNumber parses a cell as the page shows it ("12.34%", "+1.20 pp",
// "0.012", "3.1e-05") and compares it with want within half a unit of its
// last digit; percents and pp are hundredths.
func checkNumber(t *testing.T, name, cell string, want float64) {
	t.Helper()
	s := strings.TrimSpace(cell)
	scale := 1.0
	for _, suffix := range []string{" pp", "%"} {
		if strings.HasSuffix(s, suffix) {
			s, scale = strings.TrimSuffix(s, suffix), 100
		}
	}
	got, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Errorf("%s: page shows %q, not a number (JSON: %v)", name, cell, want)
		return
	}
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
		exp, _ = strconv.Atoi(s[i+1:])
	}
	digits := 0
	if i := strings.IndexByte(mant, '.'); i >= 0 {
		digits = len(mant) - i - 1
	}
	tol := 0.5 * 1.0001
	for range digits {
		tol /= 10
	}
	for ; exp > 0; exp-- {
		tol *= 10
	}
	for ; exp < 0; exp++ {
		tol /= 10
	}
	if d := got - want*scale; d > tol || -d > tol {
		t.Errorf("%s: page shows %q, JSON has %v", name, cell, want)
	}
}

// TestDemoReengagement runs `splitcast demo -scenario reengagement`: the
// replayed history must give every recipient the lifecycle stage of its
// cohort, and docs/examples/reengagement.json, assigned with no
// attributes, must then put each dormant and at-risk recipient in its
// segment exactly once and leave the active ones out.
func TestDemoReengagement(t *testing.T) {
	m, stdout, _ := runDemo(t, "-scenario", "reengagement", "-experiment-file", "../../docs/examples/reengagement.json",
		"-seed", "3", "-units", "6000", "-days", "3")

	cohorts := regexp.MustCompile(`\((\d+) dormant, (\d+) at risk, (\d+) active\)`).FindStringSubmatch(stdout.String())
	stages := regexp.MustCompile(`stages from the traits: active (\d+), at_risk (\d+), dormant (\d+)\n`).FindStringSubmatch(stdout.String())
	if cohorts == nil || stages == nil {
		t.Fatalf("the demo printed no cohorts or no stages:\n%s", stdout.String())
	}
	dormant, atRisk, active := atoi(t, cohorts[1]), atoi(t, cohorts[2]), atoi(t, cohorts[3])
	if dormant+atRisk+active != 6000 || dormant < 2000 || atRisk < 2000 || active < 300 {
		t.Fatalf("cohorts %v", cohorts[1:])
	}
	if got := []int{atoi(t, stages[1]), atoi(t, stages[2]), atoi(t, stages[3])}; got[0] != active || got[1] != atRisk || got[2] != dormant {
		t.Errorf("traits gave active %d, at_risk %d, dormant %d; the history made %d, %d, %d", got[0], got[1], got[2], active, atRisk, dormant)
	}

	key := regexp.MustCompile(`experiment (demo-\S+) from `).FindStringSubmatch(stdout.String())[1]
	c := apiClient{base: "http://" + m.Addr(), http: &http.Client{Timeout: time.Minute}}
	var r results.Report
	c.mustCall(t, http.StatusOK, "GET", "/v1/experiments/"+key+"/results", devReadKey, nil, &r)
	if len(r.Segments) != 2 || r.Segments[0].Key != "dormant" || r.Segments[1].Key != "at-risk" {
		t.Fatalf("report segments = %+v", r.Segments)
	}
	// Each recipient was sent the win-back once, with no attributes.
	for i, want := range []int{dormant, atRisk} {
		var exposed int64
		for _, a := range r.Segments[i].Arms {
			exposed += a.Counts.Exposed
		}
		if exposed != int64(want) {
			t.Errorf("segment %s exposed %d units, its cohort has %d", r.Segments[i].Key, exposed, want)
		}
	}
	// CUPED over 60 days: half the dormant units opened the newsletter of 50
	// days ago, so their open rate has a covariate that varies.
	if r.CupedDays != 60 {
		t.Errorf("report cuped_days = %d, want the policy's 60", r.CupedDays)
	}
	for _, m := range r.Segments[0].Metrics {
		if m.Metric != "open_rate" {
			continue
		}
		for _, row := range m.Rows[1:] {
			cu := row.Comparison.CUPED
			if cu == nil || cu.Status != stats.StatusOK || cu.Theta == nil || cu.Adjusted == nil || cu.VarianceReduction == nil {
				t.Errorf("dormant/%s open_rate CUPED = %+v, want an adjusted estimate", row.Variant, cu)
			}
		}
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
