package analytics_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/experiment"
)

var repT0 = time.Date(2025, 5, 1, 9, 0, 0, 0, time.UTC)

// repDefinition is a valid email experiment: segment "pro" (a rule) with
// control a and variants b, c; catch-all "rest" with a and b.
func repDefinition(tb testing.TB, holdout experiment.BasisPoints) experiment.Experiment {
	tb.Helper()
	var rule experiment.Rule
	if err := json.Unmarshal([]byte(`{"attr": "plan", "op": "equals", "value": "pro"}`), &rule); err != nil {
		tb.Fatal(err)
	}
	return experiment.Experiment{
		Key: "welcome", Channel: experiment.ChannelEmail, Allocation: experiment.Full, Holdout: holdout,
		PrimaryMetric: experiment.MetricConversionRate,
		Retirement:    experiment.RetirementPolicy{Auto: true, Alpha: 0.05, MinSamplePerArm: 1000, MinRuntime: experiment.Duration(72 * time.Hour)},
		Segments: []experiment.Segment{
			{Key: "pro", Rule: &rule, Variants: []experiment.Variant{
				{Key: "a", Weight: 1, Control: true}, {Key: "b", Weight: 1}, {Key: "c", Weight: 1}}},
			{Key: "rest", Variants: []experiment.Variant{{Key: "a", Weight: 1, Control: true}, {Key: "b", Weight: 1}}},
		},
	}
}

// started returns the history of def created and started at repT0.
func repStarted(tb testing.TB, def experiment.Experiment) []experiment.Version {
	tb.Helper()
	v1, err := experiment.Create(def, "alice", "test", repT0.Add(-time.Hour))
	if err != nil {
		tb.Fatalf("Create: %v", err)
	}
	v2, err := experiment.Start(v1.Definition, "alice", "go", repT0)
	if err != nil {
		tb.Fatalf("Start: %v", err)
	}
	return []experiment.Version{v1, v2}
}

func repCurrent(h []experiment.Version) experiment.Experiment { return h[len(h)-1].Definition }

// arm returns aggregates of one arm with n exposed units, conv converters
// and every unit's value as given.
func repArm(seg, v string, n, conv int64) analytics.ArmAggregate {
	return analytics.ArmAggregate{Segment: seg, Variant: v, Counts: analytics.Counts{
		Exposed: n, Opens: analytics.KindCounts{Units: n / 4, Events: n / 3, MachineUnits: n / 20, MachineEvents: n / 10},
		Clicks: analytics.KindCounts{Units: n / 10, Events: n / 8}, OpenClickers: n / 12,
		Conversions:  analytics.KindCounts{Units: conv, Events: conv + conv/5},
		Unsubscribes: analytics.KindCounts{Units: n / 200}, Complaints: analytics.KindCounts{Units: n / 1000},
		Value: float64(conv) * 20, ValueSumSq: float64(conv) * 500,
	}}
}

// aggOf builds aggregates from arms, every unit first exposed at version v
// on one day.
func repAggOf(v uint32, arms ...analytics.ArmAggregate) analytics.Aggregates {
	a := analytics.Aggregates{Experiment: "welcome", Arms: arms}
	for _, x := range arms {
		a.Versions = append(a.Versions, analytics.VersionExposure{Segment: x.Segment, Variant: x.Variant, Version: v, Exposed: x.Exposed})
		a.Daily = append(a.Daily, analytics.DailyAggregate{Segment: x.Segment, Variant: x.Variant, Day: repT0.Truncate(24 * time.Hour),
			Exposed: x.Exposed, Openers: x.Opens.Units, Converters: x.Conversions.Units, Value: x.Value})
	}
	a.Sort()
	return a
}

func TestBuildReport(t *testing.T) {
	h := repStarted(t, repDefinition(t, 0))
	agg := repAggOf(2,
		repArm("pro", "a", 5000, 500), repArm("pro", "b", 5000, 650), repArm("pro", "c", 5000, 505),
		repArm("rest", "a", 3000, 90), repArm("rest", "b", 2000, 60))
	now := repT0.Add(100 * time.Hour)
	r := analytics.BuildReport(repCurrent(h), h, agg, now)

	pro := r.Segments[0]
	if pro.Key != "pro" || pro.Control != "a" || len(pro.Arms) != 3 || len(pro.Metrics) != len(analytics.ReportMetrics) {
		t.Fatalf("segment pro = %+v", pro)
	}
	var conv analytics.MetricReport
	for _, m := range pro.Metrics {
		if m.Metric == experiment.MetricConversionRate {
			conv = m
		}
	}
	if !conv.Primary || conv.Rows[0].Comparison != nil || conv.Rows[1].Value != 0.13 {
		t.Errorf("conversion rows = %+v", conv.Rows)
	}
	b, c := conv.Rows[1].Comparison, conv.Rows[2].Comparison
	if math.Abs(b.FixedHorizon.AbsLift-0.03) > 1e-12 || b.FixedHorizon.PValue > 1e-4 {
		t.Errorf("b vs a = %+v, want lift 0.03, p < 1e-4", b.FixedHorizon)
	}
	// Holm over two: the smaller p doubled, the larger kept (or raised to it).
	if want := math.Min(1, 2*b.FixedHorizon.PValue); math.Abs(b.PValueHolm-want) > 1e-15 {
		t.Errorf("Holm p of b = %v, want %v", b.PValueHolm, want)
	}
	if c.PValueHolm < c.FixedHorizon.PValue || c.SequentialPValueHolm < c.Sequential.PValue {
		t.Errorf("Holm p of c below raw: %+v", c)
	}
	if b.Sequential.PValue < b.FixedHorizon.PValue || !b.Sequential.Defined {
		t.Errorf("always-valid p %v below fixed-horizon p %v: the price of peeking must show", b.Sequential.PValue, b.FixedHorizon.PValue)
	}
	if b.ProbBetter == nil || *b.ProbBetter < 0.99 {
		t.Errorf("ProbBetter of b = %v, want > 0.99", b.ProbBetter)
	}
	// The retirement view: c is worse than b, and so is the control a,
	// which is never retired: b wins.
	if got := pro.Retirement; got.Best != "b" || len(got.Blocked) != 0 || len(got.Decisions) != 2 ||
		got.Decisions[0] != (analytics.Decision{Kind: analytics.DecisionRetire, Segment: "pro", Variant: "c", Reason: got.Decisions[0].Reason}) ||
		got.Decisions[1] != (analytics.Decision{Kind: analytics.DecisionConclude, Segment: "pro", Variant: "b", Reason: got.Decisions[1].Reason}) {
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
	if err := analytics.WriteCSV(&buf, r); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if want := 1 + (3+2)*len(analytics.ReportMetrics); len(recs) != want {
		t.Errorf("CSV has %d records, want %d", len(recs), want)
	}
	for _, rec := range recs {
		if len(rec) != len(analytics.CSVHeader) {
			t.Fatalf("CSV record %v has %d fields, want %d", rec, len(rec), len(analytics.CSVHeader))
		}
	}
}

// Empty arms, empty experiments and inconsistent counts still give a report
// that marshals.
func TestBuildReportEdges(t *testing.T) {
	h := repStarted(t, repDefinition(t, 500))
	bad := repArm("pro", "b", 10, 0)
	bad.Opens.Units = 50 // more openers than recipients
	cases := map[string]analytics.Aggregates{
		"nothing":    {Experiment: "welcome"},
		"empty arm":  repAggOf(2, repArm("pro", "a", 5000, 10), repArm("pro", "b", 5000, 20)),
		"bad counts": repAggOf(2, repArm("pro", "a", 10, 1), bad, repArm("pro", "c", 10, 0)),
		"unknown and holdout": repAggOf(2, repArm("pro", "a", 950, 10), repArm("pro", "b", 950, 20), repArm("pro", "c", 950, 20),
			repArm("pro", "zz", 5, 0), repArm("pro", experiment.HoldoutArm, 150, 1)),
	}
	for name, agg := range cases {
		t.Run(name, func(t *testing.T) {
			r := analytics.BuildReport(repCurrent(h), h, agg, repT0.Add(time.Hour))
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
	h := repStarted(t, repDefinition(t, 0))
	v3, err := experiment.Retire(repCurrent(h), "pro", "c", "bob", "worse", repT0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	h = append(h, v3)
	agg := repAggOf(2, repArm("pro", "a", 1000, 10), repArm("pro", "b", 1000, 10), repArm("pro", "c", 1000, 10))
	// Phase 2 (version 3): 1500 new units each in a and b, none in c.
	agg.Versions = append(agg.Versions,
		analytics.VersionExposure{Segment: "pro", Variant: "a", Version: 3, Exposed: 1500},
		analytics.VersionExposure{Segment: "pro", Variant: "b", Version: 3, Exposed: 1500})
	agg.Sort()
	r := analytics.BuildReport(repCurrent(h), h, agg, repT0.Add(48*time.Hour))
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
	if pro.Arms[2].Status != analytics.ArmRetired || pro.Arms[2].RetiredReason != "worse" {
		t.Errorf("arm c = %+v, want retired", pro.Arms[2])
	}
}
