package experiment_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/splitcast/splitcast/experiment"
)

// banditDraft is a one-segment experiment whose segment is a bandit with
// the policy given as JSON (empty: no "bandit" field).
func banditDraft(tb testing.TB, policy string, weights ...int) experiment.Experiment {
	tb.Helper()
	if len(weights) == 0 {
		weights = []int{1, 1, 1}
	}
	seg := map[string]any{"key": "all", "allocation": "bandit"}
	if policy != "" {
		seg["bandit"] = json.RawMessage(policy)
	}
	var vs []map[string]any
	for i, w := range weights {
		v := map[string]any{"key": string(rune('a' + i)), "weight": w}
		if i == 0 {
			v["control"] = true
		}
		vs = append(vs, v)
	}
	seg["variants"] = vs
	data, _ := json.Marshal(map[string]any{"key": "bandit", "channel": "email", "primary_metric": "click_rate",
		"segments": []any{seg}})
	var e experiment.Experiment
	if err := json.Unmarshal(data, &e); err != nil {
		tb.Fatalf("decode: %v", err)
	}
	return e
}

func TestBanditDefaults(t *testing.T) {
	v, err := experiment.Create(banditDraft(t, ""), "ana", "", t0)
	if err != nil {
		t.Fatalf("Create = %v", err)
	}
	p := v.Definition.Segments[0].Bandit
	want := experiment.BanditPolicy{Metric: experiment.MetricClickRate, Interval: experiment.DefaultBanditInterval,
		BurnIn: experiment.DefaultBanditBurnIn, Floor: 500, MaxMove: 2000}
	if p == nil || *p != want {
		t.Fatalf("Create(bandit without policy).Bandit = %+v, want %+v", p, want)
	}
	if !v.Definition.Segments[0].IsBandit() {
		t.Errorf("IsBandit = false")
	}
}

func TestBanditValidation(t *testing.T) {
	cases := []struct {
		name, policy string
		weights      []int
		field        string
	}{
		{"metric not primary", `{"metric":"open_rate"}`, nil, "segments[0].bandit.metric"},
		{"interval too short", `{"interval":"10s"}`, nil, "segments[0].bandit.interval"},
		{"negative burn-in", `{"burn_in":-1}`, nil, "segments[0].bandit.burn_in"},
		{"floor over 1/k", `{"floor":40}`, nil, "segments[0].bandit.floor"},
		{"negative floor", `{"floor":-1}`, nil, "segments[0].bandit.floor"},
		{"max move over 100", `{"max_move":101}`, nil, "segments[0].bandit.max_move"},
		{"unequal start", `{}`, []int{2, 1, 1}, "segments[0].variants[1].weight"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := experiment.Create(banditDraft(t, c.policy, c.weights...), "ana", "", t0)
			if got := experiment.ErrorField(err); got != c.field || experiment.ErrorCode(err) != experiment.EINVALID {
				t.Errorf("Create(%s) = %v (field %q), want EINVALID on %q", c.policy, err, got, c.field)
			}
		})
	}
	t.Run("unknown allocation", func(t *testing.T) {
		e := banditDraft(t, "")
		e.Segments[0].Allocation = "greedy"
		if _, err := experiment.Create(e, "ana", "", t0); experiment.ErrorField(err) != "segments[0].allocation" {
			t.Errorf("Create(allocation greedy) = %v, want an error on segments[0].allocation", err)
		}
	})
	t.Run("policy on a fixed segment", func(t *testing.T) {
		e := banditDraft(t, `{"floor":10}`)
		e.Segments[0].Allocation = ""
		if _, err := experiment.Create(e, "ana", "", t0); experiment.ErrorField(err) != "segments[0].bandit" {
			t.Errorf("Create(fixed with bandit policy) = %v, want an error on segments[0].bandit", err)
		}
	})
}

func mustRunningBandit(tb testing.TB) experiment.Experiment {
	tb.Helper()
	v, err := experiment.Create(banditDraft(tb, ""), "ana", "", t0)
	if err != nil {
		tb.Fatal(err)
	}
	v, err = experiment.Start(v.Definition, "ana", "go", t0.Add(time.Hour))
	if err != nil {
		tb.Fatal(err)
	}
	return v.Definition
}

func TestReweight(t *testing.T) {
	cur := mustRunningBandit(t)
	now := t0.Add(25 * time.Hour)
	v, err := experiment.Reweight(cur, "all", []int{2000, 6000, 2000}, "bandit-loop", "evidence", now)
	if err != nil {
		t.Fatalf("Reweight = %v", err)
	}
	if v.Action != experiment.ActionReweight || !v.Action.StartsPhase() || v.Version != cur.Version+1 || v.Reason != "evidence" {
		t.Errorf("Reweight version = %+v", v)
	}
	if got := v.Definition.Segments[0].Variants[1].Weight; got != 6000 {
		t.Errorf("weight of b = %d, want 6000", got)
	}
	if cur.Segments[0].Variants[1].Weight != 1 {
		t.Errorf("Reweight changed its input")
	}
	bad := []struct {
		name    string
		seg     string
		weights []int
		code    string
	}{
		{"too few weights", "all", []int{1, 2}, experiment.EINVALID},
		{"zero weight", "all", []int{0, 5000, 5000}, experiment.EINVALID},
		{"over total", "all", []int{5000, 5000, 5000}, experiment.EINVALID},
		{"same weights", "all", []int{1, 1, 1}, experiment.ECONFLICT},
		{"unknown segment", "none", []int{1, 2, 3}, experiment.ENOTFOUND},
	}
	for _, b := range bad {
		if _, err := experiment.Reweight(cur, b.seg, b.weights, "x", "", now); experiment.ErrorCode(err) != b.code {
			t.Errorf("Reweight(%s) = %v, want %s", b.name, err, b.code)
		}
	}
	retired, err := experiment.Retire(cur, "all", "c", "x", "worse", now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := experiment.Reweight(retired.Definition, "all", []int{3, 7, 2}, "x", "", now); experiment.ErrorField(err) != "weights[2]" {
		t.Errorf("Reweight(retired c's weight changed) = %v, want an error on weights[2]", err)
	}
	fixed := mustRunning(t)
	if _, err := experiment.Reweight(fixed, fixed.Segments[0].Key, []int{1, 2, 3}, "x", "", now); experiment.ErrorCode(err) != experiment.EINVALID {
		t.Errorf("Reweight(fixed segment) = %v, want EINVALID", err)
	}
}

func TestLastPhaseStart(t *testing.T) {
	v1, _ := experiment.Create(banditDraft(t, ""), "ana", "", t0)
	v2, _ := experiment.Start(v1.Definition, "ana", "", t0.Add(time.Hour))
	v3, err := experiment.Reweight(v2.Definition, "all", []int{1, 2, 1}, "loop", "", t0.Add(30*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	v4, _ := experiment.Pause(v3.Definition, "ana", "", t0.Add(40*time.Hour))
	h := []experiment.Version{v1, v2, v3, v4}
	if got := experiment.LastPhaseStart(h, "all"); !got.Equal(t0.Add(30 * time.Hour)) {
		t.Errorf("LastPhaseStart = %v, want the reweight's time", got)
	}
	if got := experiment.LastPhaseStart(h[:2], "all"); !got.Equal(t0.Add(time.Hour)) {
		t.Errorf("LastPhaseStart(before any reweight) = %v, want the start", got)
	}
}
