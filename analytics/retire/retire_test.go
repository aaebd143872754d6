package retire_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics/results"
	"github.com/splitcast/splitcast/analytics/results/resultstest"
	"github.com/splitcast/splitcast/analytics/retire"
	"github.com/splitcast/splitcast/experiment"
	"github.com/splitcast/splitcast/experiment/experimenttest"
)

func TestDecide(t *testing.T) {
	h := resultstest.Started(t, resultstest.Definition(t, 0))
	after := resultstest.T0.Add(100 * time.Hour)
	// In pro, c is clearly worse than b; a (control) is between them and
	// not significantly worse than b. rest has nothing to decide.
	base := []results.ArmAggregate{resultstest.Arm("pro", "a", 5000, 600), resultstest.Arm("pro", "b", 5000, 650), resultstest.Arm("pro", "c", 5000, 480),
		resultstest.Arm("rest", "a", 3000, 90), resultstest.Arm("rest", "b", 3000, 95)}
	with := func(change func([]results.ArmAggregate)) results.Aggregates {
		arms := append([]results.ArmAggregate(nil), base...)
		if change != nil {
			change(arms)
		}
		return resultstest.AggOf(2, arms...)
	}
	cases := []struct {
		name    string
		exp     func(experiment.Experiment) experiment.Experiment
		agg     results.Aggregates
		now     time.Time
		want    []string // kind:segment:variant
		blocked string   // in pro's Blocked
	}{
		{name: "retire the worse", agg: with(nil), now: after, want: []string{"retire:pro:c"}},
		{name: "too early", agg: with(nil), now: resultstest.T0.Add(71 * time.Hour), blocked: "ran 71h0m0s of the minimum 72h0m0s"},
		{name: "too small", agg: with(func(a []results.ArmAggregate) { a[0].Exposed = 999; a[0].Opens.Units = 200 }),
			now: after, blocked: "below the minimum sample of 1000 per arm: a n=999"},
		{name: "srm", agg: with(func(a []results.ArmAggregate) { a[0].Exposed = 4500 }), now: after, blocked: "sample ratio mismatch in phase 0"},
		{name: "guardrail breach of the best", now: after, blocked: "guardrail breach: best variant b is worse than the control a on unsubscribe_rate",
			agg: with(func(a []results.ArmAggregate) { a[1].Unsubscribes.Units = 150 })},
		{name: "guardrail breach of another does not block", now: after, want: []string{"retire:pro:c"},
			agg: with(func(a []results.ArmAggregate) { a[2].Unsubscribes.Units = 150 })},
		{name: "the control is never retired", now: after, want: nil,
			agg: with(func(a []results.ArmAggregate) { a[0].Conversions.Units = 450; a[2].Conversions.Units = 600 })},
		{name: "lower is better", now: after, want: []string{"retire:pro:b"},
			exp: func(e experiment.Experiment) experiment.Experiment {
				e.PrimaryMetric = experiment.MetricUnsubscribeRate
				e.GuardrailMetrics = nil
				return e
			},
			agg: with(func(a []results.ArmAggregate) { a[1].Unsubscribes.Units = 150 })},
		{name: "control worse too: retire, then conclude", now: after, want: []string{"retire:pro:c", "conclude:pro:b"},
			agg: with(func(a []results.ArmAggregate) { a[0].Conversions.Units = 500 })},
		{name: "not running", now: after, want: nil,
			exp: func(e experiment.Experiment) experiment.Experiment { e.Status = experiment.StatusPaused; return e }, agg: with(nil)},
		{name: "one active left: conclude", now: resultstest.T0, want: []string{"conclude:rest:a"},
			exp: func(e experiment.Experiment) experiment.Experiment {
				e = e.Clone()
				e.Segments[1].Variants[1].Retired = true
				return e
			}, agg: results.Aggregates{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := resultstest.Current(h)
			if tc.exp != nil {
				e = tc.exp(e)
			}
			got := retire.Decide(e, h, tc.agg, tc.now)
			var kinds []string
			for _, d := range got {
				kinds = append(kinds, string(d.Kind)+":"+d.Segment+":"+d.Variant)
				if d.Reason == "" {
					t.Errorf("decision %+v has no reason", d)
				}
			}
			if strings.Join(kinds, " ") != strings.Join(tc.want, " ") {
				t.Errorf("Decide = %v, want %v", kinds, tc.want)
			}
			if tc.blocked != "" {
				r := retire.Report(e, h, tc.agg, tc.now)
				if b := strings.Join(r.Segments[0].Retirement.Blocked, "; "); !strings.Contains(b, tc.blocked) {
					t.Errorf("pro blocked by %q, want %q", b, tc.blocked)
				}
			}
		})
	}
}

// The reason carries the numbers that decided.
func TestDecisionReason(t *testing.T) {
	h := resultstest.Started(t, resultstest.Definition(t, 0))
	agg := resultstest.AggOf(2, resultstest.Arm("pro", "a", 5000, 600), resultstest.Arm("pro", "b", 5000, 650), resultstest.Arm("pro", "c", 5000, 480),
		resultstest.Arm("rest", "a", 3000, 90), resultstest.Arm("rest", "b", 3000, 95))
	d := retire.Decide(resultstest.Current(h), h, agg, resultstest.T0.Add(100*time.Hour))
	if len(d) != 1 {
		t.Fatalf("decisions = %+v", d)
	}
	for _, want := range []string{"conversion_rate", "c (n=5000, 9.60%)", "best b (n=5000, 13.00%)", "diff -3.40 pp",
		"always-valid 95% CI [", "mSPRT p=", "Holm-adjusted over 3 pairwise comparisons p=", "no SRM in phase 0"} {
		if !strings.Contains(d[0].Reason, want) {
			t.Errorf("reason %q lacks %q", d[0].Reason, want)
		}
	}
}

// repReader returns agg, after calling before (if set).
type repReader struct {
	agg    results.Aggregates
	before func()
	calls  int
}

func (f *repReader) Aggregates(ctx context.Context, key string) (results.Aggregates, error) {
	f.calls++
	if f.before != nil {
		f.before()
	}
	return f.agg, nil
}

func repStore(t *testing.T, h []experiment.Version) *experimenttest.Store {
	t.Helper()
	s := experimenttest.NewStore()
	ctx := context.Background()
	if err := s.Create(ctx, h[0]); err != nil {
		t.Fatal(err)
	}
	for _, v := range h[1:] {
		if err := s.Save(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func TestLoop(t *testing.T) {
	ctx := context.Background()
	h := resultstest.Started(t, resultstest.Definition(t, 0))
	store := repStore(t, h)
	now := resultstest.T0.Add(100 * time.Hour)
	reader := &repReader{agg: resultstest.AggOf(2, resultstest.Arm("pro", "a", 5000, 500), resultstest.Arm("pro", "b", 5000, 650), resultstest.Arm("pro", "c", 5000, 480),
		resultstest.Arm("rest", "a", 3000, 90), resultstest.Arm("rest", "b", 3000, 95))}
	loop := &retire.Loop{Store: store, Reader: reader, Now: func() time.Time { return now }}

	// Someone saves a version while the loop decides: its decision, made on
	// a stale version, is refused, and it tries again next time.
	reader.before = func() {
		reader.before = nil
		v, err := experiment.SetAllocation(resultstest.Current(repHistory(t, store)), 5000, "carol", "half", now)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Save(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	applied, err := loop.RunOnce(ctx)
	if err != nil || len(applied) != 0 {
		t.Fatalf("RunOnce with a rival save = %+v, %v; want nothing, no error", applied, err)
	}
	// The allocation change started a new phase without units yet: the loop
	// checks SRM in the latest phase with units.
	applied, err = loop.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range applied {
		got = append(got, string(a.Kind)+":"+a.Segment+":"+a.Variant)
	}
	if strings.Join(got, " ") != "retire:pro:c conclude:pro:b" {
		t.Fatalf("applied %v, want c retired and b the winner", got)
	}
	e, _ := store.Get(ctx, "welcome")
	pro := e.Segments[0]
	if !pro.Variants[2].Retired || pro.Winner != "b" || e.Version != 5 || !strings.Contains(pro.Variants[2].RetiredReason, "mSPRT p=") {
		t.Errorf("after the loop: version %d, pro = %+v", e.Version, pro)
	}
	hist := repHistory(t, store)
	if last := hist[len(hist)-1]; last.Author != "retirement-loop" || last.Action != experiment.ActionConclude {
		t.Errorf("last version = %s by %s", last.Action, last.Author)
	}

	// Idempotent: nothing more to do, and c never comes back.
	applied, err = loop.RunOnce(ctx)
	if err != nil || len(applied) != 0 {
		t.Errorf("third RunOnce = %+v, %v; want nothing", applied, err)
	}

	// Manual experiments are left alone.
	h2 := resultstest.Started(t, resultstest.Definition(t, 0))
	h2[0].Definition.Retirement.Auto = false
	h2[1].Definition.Retirement.Auto = false
	loop.Store = repStore(t, h2)
	if applied, err := loop.RunOnce(ctx); err != nil || len(applied) != 0 {
		t.Errorf("RunOnce on a manual experiment = %+v, %v; want nothing", applied, err)
	}
}

// TestLoopRun: Run looks at once and then every interval, until its
// context ends, and returns the context's error. It waits for the looks
// rather than counting them in a fixed time, which a loaded machine makes
// flaky.
func TestLoopRun(t *testing.T) {
	h := resultstest.Started(t, resultstest.Definition(t, 0))
	looked := make(chan struct{}, 16)
	reader := &repReader{before: func() {
		select {
		case looked <- struct{}{}:
		default:
		}
	}}
	loop := &retire.Loop{Store: repStore(t, h), Reader: reader, Now: func() time.Time { return resultstest.T0 }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- loop.Run(ctx, 10*time.Millisecond) }()
	for i := range 3 {
		select {
		case <-looked:
		case <-time.After(30 * time.Second):
			t.Fatalf("Run looked %d times in 30s at a 10ms interval, want 3", i)
		}
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("Run = %v, want %v", err, context.Canceled)
	}
}

func repHistory(t *testing.T, s experiment.Store) []experiment.Version {
	t.Helper()
	h, err := s.History(context.Background(), "welcome")
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestDecideCustomPrimary: with a custom metric as the primary, the loop
// retires on it as on a built-in one (a sum per recipient and a conversion
// with lower_is_better), is blocked by a breach of a custom guardrail, and
// keeps a control it cannot show worse.
func TestDecideCustomPrimary(t *testing.T) {
	h := resultstest.Started(t, resultstest.Definition(t, 0))
	after := resultstest.T0.Add(100 * time.Hour)
	revenue := experiment.CustomMetric{Key: "revenue", Kind: experiment.CustomSum, Event: "order_completed", Property: "total", WindowHours: 48}
	tickets := experiment.CustomMetric{Key: "tickets", Kind: experiment.CustomConversion, Event: "ticket_opened", LowerIsBetter: true}
	arms := []results.ArmAggregate{resultstest.Arm("pro", "a", 5000, 600), resultstest.Arm("pro", "b", 5000, 600), resultstest.Arm("pro", "c", 5000, 600),
		resultstest.Arm("rest", "a", 3000, 90), resultstest.Arm("rest", "b", 3000, 90)}
	// sum is an arm's revenue of units each spending one of two amounts:
	// buyers of 40 and the others 0, so sum of squares 1600 per buyer.
	custom := func(variant string, buyers, ticketed int64) []results.CustomAggregate {
		return []results.CustomAggregate{
			{Metric: revenue.Name(), Segment: "pro", Variant: variant, Units: 5000, Converted: buyers, Sum: 40 * float64(buyers), SumSq: 1600 * float64(buyers)},
			{Metric: tickets.Name(), Segment: "pro", Variant: variant, Units: 5000, Converted: ticketed, Sum: float64(ticketed), SumSq: float64(ticketed)},
		}
	}
	for _, tc := range []struct {
		name    string
		primary experiment.Metric
		guard   []experiment.Metric
		custom  [][]results.CustomAggregate // a, b, c of pro
		want    []string
		blocked string
	}{
		{name: "retire the worse on revenue", primary: revenue.Name(),
			custom: [][]results.CustomAggregate{custom("a", 600, 100), custom("b", 650, 100), custom("c", 450, 100)}, want: []string{"retire:pro:c"}},
		{name: "a custom guardrail breach of the best blocks", primary: revenue.Name(), guard: []experiment.Metric{tickets.Name()},
			custom:  [][]results.CustomAggregate{custom("a", 600, 100), custom("b", 650, 300), custom("c", 450, 100)},
			blocked: "guardrail breach: best variant b is worse than the control a on custom.tickets"},
		{name: "lower is better", primary: tickets.Name(),
			custom: [][]results.CustomAggregate{custom("a", 600, 100), custom("b", 600, 95), custom("c", 600, 300)}, want: []string{"retire:pro:c"}},
		{name: "no difference, no decision", primary: revenue.Name(),
			custom: [][]results.CustomAggregate{custom("a", 600, 100), custom("b", 605, 100), custom("c", 598, 100)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := resultstest.Current(h).Clone()
			e.CustomMetrics = []experiment.CustomMetric{revenue, tickets}
			e.PrimaryMetric, e.GuardrailMetrics = tc.primary, tc.guard
			agg := resultstest.AggOf(2, arms...)
			for _, c := range tc.custom {
				agg.Custom = append(agg.Custom, c...)
			}
			var kinds []string
			for _, d := range retire.Decide(e, h, agg, after) {
				kinds = append(kinds, string(d.Kind)+":"+d.Segment+":"+d.Variant)
				if !strings.Contains(d.Reason, "on "+string(tc.primary)) {
					t.Errorf("decision %s: reason %q does not cite %s", kinds[len(kinds)-1], d.Reason, tc.primary)
				}
			}
			if strings.Join(kinds, ",") != strings.Join(tc.want, ",") {
				t.Errorf("Decide = %v, want %v", kinds, tc.want)
			}
			rep := retire.Report(e, h, agg, after)
			blocked := strings.Join(rep.Segments[0].Retirement.Blocked, "; ")
			if tc.blocked != "" && !strings.Contains(blocked, tc.blocked) || tc.blocked == "" && blocked != "" {
				t.Errorf("pro blocked by %q, want %q", blocked, tc.blocked)
			}
		})
	}
}
