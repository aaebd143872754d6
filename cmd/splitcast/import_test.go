package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics/results"
	"github.com/splitcast/splitcast/experiment"
)

// importExpected is what testdata/imports/generate.py computed from the
// campaign file alone, with scipy and statsmodels: the report's segments,
// and each channel's units' report (a breakdown by channel).
type importExpected struct {
	Rows             int64                               `json:"rows"`
	Segments         map[string]importSegment            `json:"segments"`
	BreakdownChannel map[string]map[string]importSegment `json:"breakdown_channel"`
}

type importSegment struct {
	Exposed map[string]int64 `json:"exposed"`
	SRM     struct {
		ChiSquare float64 `json:"chi_square"`
		PValue    float64 `json:"p_value"`
	} `json:"srm"`
	Metrics map[string]map[string]importRow `json:"metrics"`
}

type importRow struct {
	Numerator   float64 `json:"numerator"`
	Denominator float64 `json:"denominator"`
	Value       float64 `json:"value"`
	Comparison  *struct {
		AbsLift    float64     `json:"abs_lift"`
		AbsCI      [2]*float64 `json:"abs_ci"`
		RelLift    *float64    `json:"rel_lift"`
		RelCI      [2]*float64 `json:"rel_ci"`
		PValue     *float64    `json:"p_value"`
		PValueHolm *float64    `json:"p_value_holm"`
	} `json:"comparison"`
}

// TestImportEndToEnd imports a realistic campaign sent by another tool
// (testdata/imports/generate.py: 40,000 recipients, two segments of three
// arms, machine opens and clicks, heavy-tailed revenue, second exposures,
// strangers, other-tool event ids, duplicated rows) with `splitcast import`
// into a running server, and holds the report to what scipy and
// statsmodels computed from the file alone: every count, rate, lift,
// interval and p-value within 1e-9 relative (1e-12 absolute). Importing
// the file again changes nothing, not even the history; a bad file is a 400
// naming its line and field that imports nothing.
func TestImportEndToEnd(t *testing.T) {
	dir := t.TempDir()
	gen := exec.Command("/usr/bin/python3", filepath.Join("..", "..", "testdata", "imports", "generate.py"), dir)
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("generate.py: %v\n%s", err, out)
	}
	var want importExpected
	data, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	def, err := os.ReadFile(filepath.Join("..", "..", "testdata", "imports", "experiment.json"))
	if err != nil {
		t.Fatal(err)
	}
	_, db := env.NewDatabase(t)
	m, _ := MustMain(t, db)
	c := apiClient{base: "http://" + m.Addr(), http: &http.Client{Timeout: 5 * time.Minute}}
	c.mustCall(t, http.StatusCreated, "POST", "/v1/experiments", devAdminKey, def, nil)
	const key = "spring-sale"
	file := filepath.Join(dir, "campaign.csv")
	ctx := context.Background()
	for range 2 {
		var out bytes.Buffer
		if err := run(ctx, []string{"import", "-url", c.base, "-key", devAdminKey, "-experiment", key, file},
			testGetenv(db), &out, io.Discard); err != nil {
			t.Fatalf("splitcast import: %v", err)
		}
		var sum struct{ Rows int64 }
		if err := json.Unmarshal(out.Bytes(), &sum); err != nil || sum.Rows != want.Rows {
			t.Fatalf("splitcast import printed %s, want %d rows", out.Bytes(), want.Rows)
		}
	}
	var h struct{ Versions []experiment.Version }
	c.mustCall(t, http.StatusOK, "GET", "/v1/experiments/"+key+"/history", devReadKey, nil, &h)
	hist := h.Versions
	if n := len(hist); n != 2 || hist[1].Action != experiment.ActionImport {
		t.Errorf("history after importing one file twice: %d versions, last %v; want create then one import", n, hist[n-1].Action)
	}

	// A bad file: refused whole, naming the line and field.
	bad := "unit,kind,time,segment,variant\nx1,exposure,2025-03-03T09:00:00Z,vip,control\nx2,exposure,2025-03-03T09:00:00Z,vip,shouting\n"
	req, _ := http.NewRequest("POST", c.base+"/v1/experiments/"+key+"/import", strings.NewReader(bad))
	req.Header.Set("Authorization", "Bearer "+devAdminKey)
	req.Header.Set("Content-Type", "text/csv")
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var e struct {
		Error struct {
			Code, Field string
			Line        int
		} `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || e.Error.Line != 3 || e.Error.Field != "variant" {
		t.Errorf("bad file: %d %+v, want 400 at line 3, field variant", resp.StatusCode, e.Error)
	}

	var r results.Report
	c.mustCall(t, http.StatusOK, "GET", "/v1/experiments/"+key+"/results", devReadKey, nil, &r)
	if r.Imported == nil || r.Imported.Rows != want.Rows || r.Imported.Files != 1 {
		t.Errorf("report imported = %+v, want the one file of %d rows", r.Imported, want.Rows)
	}
	checkImportedReport(t, r, want)

	var br results.Report
	c.mustCall(t, http.StatusOK, "GET", "/v1/experiments/"+key+"/results?breakdown=channel", devReadKey, nil, &br)
	checkBreakdown(t, br.Breakdown, want)
	if status, body := c.call(t, "GET", "/v1/experiments/"+key+"/results?breakdown=shoe_size", devReadKey, nil); status != http.StatusBadRequest ||
		!strings.Contains(string(body), `"field":"breakdown"`) {
		t.Errorf("breakdown by an unknown dimension: %d %s, want 400 naming the field", status, body)
	}
}

func checkImportedReport(t *testing.T, r results.Report, want importExpected) {
	t.Helper()
	checked := 0
	for _, s := range r.Segments {
		ws, ok := want.Segments[s.Key]
		if !ok {
			t.Fatalf("segment %s not in the expectations", s.Key)
		}
		for _, a := range s.Arms {
			if a.Counts.Exposed != ws.Exposed[a.Variant] {
				t.Errorf("%s/%s exposed %d, want %d", s.Key, a.Variant, a.Counts.Exposed, ws.Exposed[a.Variant])
			}
		}
		importNear(t, s.Key+" SRM chi-square", &s.SRM.ChiSquare, &ws.SRM.ChiSquare)
		importNear(t, s.Key+" SRM p", &s.SRM.PValue, &ws.SRM.PValue)
		for _, m := range s.Metrics {
			for _, row := range m.Rows {
				checked += checkImportRow(t, s.Key+"/"+string(m.Metric)+"/"+row.Variant, row, ws.Metrics[string(m.Metric)][row.Variant])
			}
		}
	}
	if checked < 200 {
		t.Errorf("only %d numbers checked", checked)
	}
	t.Logf("%d numbers of the imported campaign's report equal scipy/statsmodels' within 1e-9", checked)
}

// checkBreakdown holds a breakdown by channel to the report of each
// channel's units alone, as generate.py computed it.
func checkBreakdown(t *testing.T, b *results.Breakdown, want importExpected) {
	t.Helper()
	if b == nil || b.Dimension != "channel" || !strings.Contains(b.Warning, "many comparisons") {
		t.Fatalf("breakdown = %+v, want one by channel with its warning", b)
	}
	checked := 0
	for _, s := range b.Segments {
		if len(s.Values) != len(want.BreakdownChannel) {
			t.Errorf("segment %s: %d channels, want %d", s.Key, len(s.Values), len(want.BreakdownChannel))
		}
		for _, v := range s.Values {
			ws := want.BreakdownChannel[v.Value][s.Key]
			for _, m := range v.Metrics {
				for _, row := range m.Rows {
					name := "breakdown " + v.Value + "/" + s.Key + "/" + string(m.Metric) + "/" + row.Variant
					mr := results.MetricRow{Variant: row.Variant, Numerator: row.Numerator, Denominator: row.Denominator,
						Value: row.Value, Comparison: row.Comparison}
					checked += checkImportRow(t, name, mr, ws.Metrics[string(m.Metric)][row.Variant])
					if c := row.Comparison; c != nil && (c.FixedHorizon.PValue == nil) != (row.PValueBH == nil) {
						t.Errorf("%s: p %v but BH p %v", name, c.FixedHorizon.PValue, row.PValueBH)
					}
				}
			}
		}
	}
	if checked < 300 {
		t.Errorf("only %d breakdown numbers checked", checked)
	}
	t.Logf("%d numbers of the breakdown by channel equal scipy/statsmodels' within 1e-9", checked)
}

// checkImportRow compares one arm's row with the expectation and returns
// how many numbers it compared.
func checkImportRow(t *testing.T, name string, row results.MetricRow, w importRow) int {
	t.Helper()
	importNear(t, name+" numerator", &row.Numerator, &w.Numerator)
	importNear(t, name+" denominator", &row.Denominator, &w.Denominator)
	importNear(t, name+" value", &row.Value, &w.Value)
	wc, c := w.Comparison, row.Comparison
	if (wc == nil) != (c == nil) {
		t.Errorf("%s: comparison %v, want %v", name, c != nil, wc != nil)
		return 3
	}
	if c == nil {
		return 3
	}
	fh := c.FixedHorizon
	var lo, hi, rlo, rhi *float64
	if fh.AbsCI != nil {
		lo, hi = &fh.AbsCI.Lower, &fh.AbsCI.Upper
	}
	if fh.RelCI != nil {
		rlo, rhi = &fh.RelCI.Lower, &fh.RelCI.Upper
	}
	importNear(t, name+" abs lift", fh.AbsLift, &wc.AbsLift)
	importNear(t, name+" abs CI lower", lo, wc.AbsCI[0])
	importNear(t, name+" abs CI upper", hi, wc.AbsCI[1])
	importNear(t, name+" rel lift", fh.RelLift, wc.RelLift)
	importNear(t, name+" rel CI lower", rlo, wc.RelCI[0])
	importNear(t, name+" rel CI upper", rhi, wc.RelCI[1])
	importNear(t, name+" p", fh.PValue, wc.PValue)
	importNear(t, name+" p holm", c.PValueHolm, wc.PValueHolm)
	return 11
}

// importNear fails unless got and want are both undefined, or both defined
// and within 1e-9 relative (1e-12 absolute).
func importNear(t *testing.T, what string, got, want *float64) {
	t.Helper()
	switch {
	case (got == nil) != (want == nil):
		t.Errorf("%s = %v, scipy/statsmodels %v (one undefined)", what, got, want)
	case got != nil:
		if d := math.Abs(*got - *want); d > math.Max(1e-9*math.Max(math.Abs(*got), math.Abs(*want)), 1e-12) {
			t.Errorf("%s = %.17g, scipy/statsmodels %.17g", what, *got, *want)
		}
	}
}
