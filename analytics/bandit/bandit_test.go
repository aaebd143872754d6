package bandit_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics/bandit"
	"github.com/splitcast/splitcast/analytics/results"
	"github.com/splitcast/splitcast/experiment"
	"github.com/splitcast/splitcast/experiment/experimenttest"
)

// started returns the history of a running three-arm bandit experiment.
func started(tb testing.TB, metric experiment.Metric) []experiment.Version {
	tb.Helper()
	def := simDefinition(0, true)
	def.PrimaryMetric = metric
	def.Segments[0].Bandit = &experiment.BanditPolicy{Interval: experiment.Duration(24 * time.Hour), BurnIn: 500, Floor: 1000, MaxMove: 1500}
	v1, err := experiment.Create(def, "t", "", simStart.Add(-time.Hour))
	if err != nil {
		tb.Fatal(err)
	}
	v2, err := experiment.Start(v1.Definition, "t", "", simStart)
	if err != nil {
		tb.Fatal(err)
	}
	return []experiment.Version{v1, v2}
}

// aggOf gives arms a, b, c n units each with the given clickers.
func aggOf(n int64, clicks ...int64) results.Aggregates {
	var agg results.Aggregates
	for i, c := range clicks {
		v := string(rune('a' + i))
		counts := results.Counts{Exposed: n, Clicks: results.KindCounts{Units: c, Events: c}, Value: float64(c) * 10, ValueSumSq: float64(c) * 150}
		agg.Arms = append(agg.Arms, results.ArmAggregate{Segment: simSegment, Variant: v, Counts: counts})
		agg.ByVersion = append(agg.ByVersion, results.VersionCounts{Segment: simSegment, Variant: v, Version: 2, Counts: counts})
		agg.Versions = append(agg.Versions, results.VersionExposure{Segment: simSegment, Variant: v, Version: 2, Exposed: n})
	}
	return agg
}

func TestComputeBlocks(t *testing.T) {
	h := started(t, experiment.MetricClickRate)
	cur := h[len(h)-1].Definition
	if u := bandit.Compute(cur, h, simSegment, aggOf(5000, 500, 700, 500), simStart.Add(23*time.Hour), 0); u.Weights != nil || !strings.HasPrefix(u.Blocked, "next update at") {
		t.Errorf("Compute(before the interval) = %+v, want blocked until the next update", u)
	}
	u := bandit.Compute(cur, h, simSegment, aggOf(499, 50, 70, 50), simStart.Add(25*time.Hour), 0)
	if u.Weights != nil || !strings.Contains(u.Blocked, "burn-in") || !strings.Contains(u.Blocked, "a n=499") {
		t.Errorf("Compute(below burn-in) = %+v, want blocked by the burn-in naming each arm", u)
	}
}

func TestComputeMovesTowardsTheBest(t *testing.T) {
	for _, m := range []experiment.Metric{experiment.MetricClickRate, experiment.MetricRevenuePerRecipient} {
		h := started(t, m)
		cur := h[len(h)-1].Definition
		now := simStart.Add(25 * time.Hour)
		agg := aggOf(5000, 500, 700, 480)
		u := bandit.Compute(cur, h, simSegment, agg, now, 0)
		if u.Weights == nil {
			t.Fatalf("%s: Compute = %+v, want new weights", m, u)
		}
		if again := bandit.Compute(cur, h, simSegment, agg, now, 0); !equal(again.Weights, u.Weights) {
			t.Errorf("%s: Compute is not reproducible: %v then %v", m, u.Weights, again.Weights)
		}
		sum := 0
		for i, w := range u.Weights {
			sum += w
			old := 1.0 / 3
			share := float64(w) / 10000
			if share < 0.10-1e-4 || share > old+0.15+1e-4 || share < old-0.15-1e-4 {
				t.Errorf("%s: share of arm %d = %.4f: below the 10%% floor or moved more than 15 points from %.4f", m, i, share, old)
			}
		}
		if sum != 10000 || u.Weights[1] <= u.Weights[0] || u.Weights[1] <= u.Weights[2] {
			t.Errorf("%s: weights %v: want 10000 in all, most to b", m, u.Weights)
		}
		if u.Arms[1].ProbBest < 0.99 {
			t.Errorf("%s: P(b best) = %v, want near 1 for 14%% against 10%%", m, u.Arms[1].ProbBest)
		}
		r := u.Reason()
		for _, want := range []string{"Thompson sampling on " + string(m), "P(best)=", "share 33.33% -> ", "b n=5000"} {
			if !strings.Contains(r, want) {
				t.Errorf("%s: Reason() = %q, want it to hold %q", m, r, want)
			}
		}
		if _, err := experiment.Reweight(cur, simSegment, u.Weights, "t", r, now); err != nil {
			t.Errorf("%s: Reweight(Compute's weights) = %v", m, err)
		}
	}
}

func TestComputeKeepsRetiredWeight(t *testing.T) {
	h := started(t, experiment.MetricClickRate)
	now := simStart.Add(25 * time.Hour)
	v, err := experiment.Retire(h[len(h)-1].Definition, simSegment, "c", "t", "worse", now)
	if err != nil {
		t.Fatal(err)
	}
	h = append(h, v)
	u := bandit.Compute(v.Definition, h, simSegment, aggOf(5000, 500, 700, 480), now.Add(25*time.Hour), 0)
	if u.Weights == nil || u.Weights[2] != 1 || u.Weights[0]+u.Weights[1] != 9999 || len(u.Arms) != 2 {
		t.Errorf("Compute after c retired = %v (arms %d), want c's weight 1 kept and 9999 between a and b", u.Weights, len(u.Arms))
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

type fixedReader struct{ agg results.Aggregates }

func (r fixedReader) Aggregates(context.Context, string) (results.Aggregates, error) {
	return r.agg, nil
}

// TestLoop: the loop saves one reweight per due segment, with the evidence
// as the reason, and nothing more until the next interval.
func TestLoop(t *testing.T) {
	store := experimenttest.NewStore()
	ctx := context.Background()
	h := started(t, experiment.MetricClickRate)
	if err := store.Create(ctx, h[0]); err != nil {
		t.Fatal(err)
	}
	if err := store.Save(ctx, h[1]); err != nil {
		t.Fatal(err)
	}
	now := simStart.Add(25 * time.Hour)
	l := &bandit.Loop{Store: store, Reader: fixedReader{aggOf(5000, 500, 700, 480)}, Now: func() time.Time { return now }}
	applied, err := l.RunOnce(ctx)
	if err != nil || len(applied) != 1 || applied[0].Version != 3 {
		t.Fatalf("RunOnce = %+v, %v; want one update making version 3", applied, err)
	}
	hist, _ := store.History(ctx, "sim")
	last := hist[len(hist)-1]
	if last.Action != experiment.ActionReweight || last.Author != "bandit-loop" || !strings.Contains(last.Reason, "P(best)=") {
		t.Errorf("saved version = %s by %s, reason %q", last.Action, last.Author, last.Reason)
	}
	now = now.Add(time.Hour)
	if applied, err := l.RunOnce(ctx); err != nil || len(applied) != 0 {
		t.Errorf("RunOnce an hour later = %+v, %v; want nothing (interval 24h)", applied, err)
	}
}
