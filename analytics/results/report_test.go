package results_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics/results"
	"github.com/splitcast/splitcast/analytics/results/resultstest"
	"github.com/splitcast/splitcast/analytics/retire"
	"github.com/splitcast/splitcast/experiment"
)

func TestBuildReport(t *testing.T) {
	h := resultstest.Started(t, resultstest.Definition(t, 0))
	agg := resultstest.AggOf(2,
		resultstest.Arm("pro", "a", 5000, 500), resultstest.Arm("pro", "b", 5000, 650), resultstest.Arm("pro", "c", 5000, 505),
		resultstest.Arm("rest", "a", 3000, 90), resultstest.Arm("rest", "b", 2000, 60))
	now := resultstest.T0.Add(100 * time.Hour)
	r := retire.Report(resultstest.Current(h), h, agg, now)

	pro := r.Segments[0]
	if pro.Key != "pro" || pro.Control != "a" || len(pro.Arms) != 3 || len(pro.Metrics) != len(results.ReportMetrics) {
		t.Fatalf("segment pro = %+v", pro)
	}
	var conv results.MetricReport
	for _, m := range pro.Metrics {
		if m.Metric == experiment.MetricConversionRate {
			conv = m
		}
	}
	if !conv.Primary || conv.Rows[0].Comparison != nil || conv.Rows[1].Value != 0.13 {
		t.Errorf("conversion rows = %+v", conv.Rows)
	}
	b, c := conv.Rows[1].Comparison, conv.Rows[2].Comparison
	bLift, bP := mustNum(t, "b abs lift", b.FixedHorizon.AbsLift), mustNum(t, "b p", b.FixedHorizon.PValue)
	if math.Abs(bLift-0.03) > 1e-12 || bP > 1e-4 {
		t.Errorf("b vs a = %+v, want lift 0.03, p < 1e-4", b.FixedHorizon)
	}
	// Holm over two: the smaller p doubled, the larger kept (or raised to it).
	if want, got := math.Min(1, 2*bP), mustNum(t, "b holm", b.PValueHolm); math.Abs(got-want) > 1e-15 {
		t.Errorf("Holm p of b = %v, want %v", got, want)
	}
	if mustNum(t, "c holm", c.PValueHolm) < mustNum(t, "c p", c.FixedHorizon.PValue) ||
		mustNum(t, "c seq holm", c.SequentialPValueHolm) < c.Sequential.PValue {
		t.Errorf("Holm p of c below raw: %+v", c)
	}
	if b.Sequential.PValue < bP || !b.Sequential.Defined {
		t.Errorf("always-valid p %v below fixed-horizon p %v: the price of peeking must show", b.Sequential.PValue, bP)
	}
	if b.ProbBetter == nil || *b.ProbBetter < 0.99 {
		t.Errorf("ProbBetter of b = %v, want > 0.99", b.ProbBetter)
	}
	// The retirement view: c is worse than b, and so is the control a,
	// which is never retired: b wins.
	if got := pro.Retirement; got.Best != "b" || len(got.Blocked) != 0 || len(got.Decisions) != 2 ||
		got.Decisions[0] != (results.Decision{Kind: results.DecisionRetire, Segment: "pro", Variant: "c", Reason: got.Decisions[0].Reason}) ||
		got.Decisions[1] != (results.Decision{Kind: results.DecisionConclude, Segment: "pro", Variant: "b", Reason: got.Decisions[1].Reason}) {
		t.Errorf("pro retirement = %+v, want c retired, then b the winner", got)
	}
	rest := r.Segments[1]
	if rest.SRM.Mismatch != true || !r.SRM {
		// 3000 vs 2000 at 1:1 is a mismatch.
		t.Errorf("rest SRM = %+v, want a mismatch", rest.SRM)
	}
	if len(rest.Retirement.Blocked) == 0 || !strings.Contains(strings.Join(rest.Retirement.Blocked, ";"), "sample ratio") {
		t.Errorf("rest retirement = %+v, want blocked by SRM", rest.Retirement)
	}
	if len(pro.Arms[0].Daily) != 1 || pro.Arms[0].Daily[0].Exposed != 5000 || pro.Arms[0].Daily[0].Metrics[3] != 0.1 {
		t.Errorf("daily = %+v", pro.Arms[0].Daily)
	}

	data, err := json.Marshal(r)
	if err != nil {
		t.Fatalf("json.Marshal(report): %v", err)
	}
	var back map[string]any
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}

	var buf bytes.Buffer
	if err := results.WriteCSV(&buf, r); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if want := 1 + (3+2)*len(results.ReportMetrics); len(recs) != want {
		t.Errorf("CSV has %d records, want %d", len(recs), want)
	}
	for _, rec := range recs {
		if len(rec) != len(results.CSVHeader) {
			t.Fatalf("CSV record %v has %d fields, want %d", rec, len(rec), len(results.CSVHeader))
		}
	}
}

// Empty arms, empty experiments and inconsistent counts still give a report
// that marshals.
func TestBuildReportEdges(t *testing.T) {
	h := resultstest.Started(t, resultstest.Definition(t, 500))
	bad := resultstest.Arm("pro", "b", 10, 0)
	bad.Opens.Units = 50 // more openers than recipients
	cases := map[string]results.Aggregates{
		"nothing":    {Experiment: "welcome"},
		"empty arm":  resultstest.AggOf(2, resultstest.Arm("pro", "a", 5000, 10), resultstest.Arm("pro", "b", 5000, 20)),
		"bad counts": resultstest.AggOf(2, resultstest.Arm("pro", "a", 10, 1), bad, resultstest.Arm("pro", "c", 10, 0)),
		"unknown and holdout": resultstest.AggOf(2, resultstest.Arm("pro", "a", 950, 10), resultstest.Arm("pro", "b", 950, 20), resultstest.Arm("pro", "c", 950, 20),
			resultstest.Arm("pro", "zz", 5, 0), resultstest.Arm("pro", experiment.HoldoutArm, 150, 1)),
	}
	for name, agg := range cases {
		t.Run(name, func(t *testing.T) {
			r := results.BuildReport(resultstest.Current(h), h, agg, resultstest.T0.Add(time.Hour))
			if _, err := json.Marshal(r); err != nil {
				t.Fatalf("json.Marshal: %v", err)
			}
			pro := r.Segments[0]
			switch name {
			case "empty arm":
				if !pro.SRM.Mismatch || len(pro.SRM.EmptyArms) != 2 || !r.SRM { // c and the holdout
					t.Errorf("an arm with no exposure must be an SRM: %+v", pro.SRM)
				}
			case "bad counts":
				if pro.Metrics[0].Rows[1].Comparison.Error == "" {
					t.Errorf("500%% open rate compared without error: %+v", pro.Metrics[0].Rows[1])
				}
			case "unknown and holdout":
				got := []string{}
				for _, a := range pro.Arms {
					got = append(got, a.Variant+":"+string(a.Status))
				}
				if strings.Join(got, " ") != "a:active b:active c:active holdout:holdout zz:unknown" {
					t.Errorf("arms = %v", got)
				}
				if !pro.SRM.Mismatch || len(pro.SRM.UnexpectedArms) != 1 {
					t.Errorf("exposures in an unknown arm must be an SRM: %+v", pro.SRM)
				}
				if want := 0.05; math.Abs(pro.SRM.Shares[3]-want) > 1e-12 {
					t.Errorf("holdout share = %v, want %v", pro.SRM.Shares[3], want)
				}
			}
		})
	}
}

// Each phase has its own expected shares: after c is retired, a and b
// share its units.
func TestReportPhases(t *testing.T) {
	h := resultstest.Started(t, resultstest.Definition(t, 0))
	v3, err := experiment.Retire(resultstest.Current(h), "pro", "c", "bob", "worse", resultstest.T0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	h = append(h, v3)
	agg := resultstest.AggOf(2, resultstest.Arm("pro", "a", 1000, 10), resultstest.Arm("pro", "b", 1000, 10), resultstest.Arm("pro", "c", 1000, 10))
	// Phase 2 (version 3): 1500 new units each in a and b, none in c.
	agg.Versions = append(agg.Versions,
		results.VersionExposure{Segment: "pro", Variant: "a", Version: 3, Exposed: 1500},
		results.VersionExposure{Segment: "pro", Variant: "b", Version: 3, Exposed: 1500})
	agg.Sort()
	r := results.BuildReport(resultstest.Current(h), h, agg, resultstest.T0.Add(48*time.Hour))
	if len(r.Phases) != 2 || r.Phases[1].FirstVersion != 3 || r.Phases[1].Action != experiment.ActionRetire || r.Phases[0].EndedAt == nil {
		t.Fatalf("phases = %+v", r.Phases)
	}
	pro := r.Segments[0]
	for _, p := range pro.PhaseSRM {
		if p.Mismatch {
			t.Errorf("phase %d SRM = %+v, want none", p.Phase, p.SRMReport)
		}
	}
	if got := pro.PhaseSRM[1].Shares; got[2] != 0 || math.Abs(got[0]-0.5) > 1e-12 {
		t.Errorf("phase 1 shares = %v, want [0.5 0.5 0]", got)
	}
	if pro.SRM.Mismatch {
		t.Errorf("overall SRM = %+v, want none: each phase matches its weights", pro.SRM)
	}
	if pro.Arms[2].Status != results.ArmRetired || pro.Arms[2].RetiredReason != "worse" {
		t.Errorf("arm c = %+v, want retired", pro.Arms[2])
	}
}

// mustNum returns *x, failing the test if the number is undefined.
func mustNum(tb testing.TB, what string, x *float64) float64 {
	tb.Helper()
	if x == nil {
		tb.Fatalf("%s = nil, want a number", what)
		return 0
	}
	return *x
}
