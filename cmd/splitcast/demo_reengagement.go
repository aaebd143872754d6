package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/splitcast/splitcast/analytics/traits"
)

// The reengagement scenario's history: every recipient got a newsletter
// 50 days ago; the at-risk and active cohorts got another 20 days ago and
// opened it, the active one a third 5 days ago and opened that too. So on
// the traits' rules (traits.Lifecycle) the first cohort is dormant, the
// second at risk and the third active, which the win-back experiment
// leaves out.
const (
	demoDormantShare = 0.45
	demoAtRiskShare  = 0.45 // the rest is active
	demoHistoryOpen  = 0.5  // of the first newsletter
)

// winbackBehaviour is the truth of the win-back test, on the primary
// metric (clicks): dormant users rarely open, and "miss-you" (the
// discount) brings 50% more of them to click than the plain reminder; at
// risk users open more, and "question" draws 25% fewer clicks than the
// control. Other arms are as good as their control.
func winbackBehaviour(r *recipient) (open, clickPerOpen float64) {
	switch r.segment {
	case "dormant":
		open, clickPerOpen = 0.15, 0.35
		if r.variant == "miss-you" {
			clickPerOpen *= 1.5
		}
	case "at-risk":
		open, clickPerOpen = 0.30, 0.40
		if r.variant == "question" {
			clickPerOpen *= 0.75
		}
	}
	return open, clickPerOpen
}

// historyBehaviour: everyone sent the first newsletter opens it at
// demoHistoryOpen; the later ones are opened by everyone they went to,
// which is what makes a cohort at risk or active. Nobody clicks.
func (d *demo) historyBehaviour(first bool) func(*recipient) (float64, float64) {
	return func(*recipient) (float64, float64) {
		if first {
			return demoHistoryOpen, 0
		}
		return 1, 0
	}
}

// runReengagement replays a history that gives the recipients lifecycle
// stages, lets the trait cache see it, then runs the experiment of
// -experiment-file (docs/examples/reengagement.json: dormant and at-risk
// segments chosen by trait.lifecycle_stage alone) for -days days, with
// the retirement loop after each, and prints the report.
func (d *demo) runReengagement(ctx context.Context) error {
	out := d.m.stdout
	def, err := d.loadExperiment(*d.f.file)
	if err != nil {
		return err
	}
	history := d.key + "-history"
	d.keys = []string{history, d.key}
	rs, cohorts := d.reengagementRecipients()
	fmt.Fprintf(out, "demo: experiment %s from %s: segment dormant: miss-you clicks 50%% more than the control; segment at-risk: question 25%% less\n", d.key, *d.f.file)
	fmt.Fprintf(out, "demo: replaying 50 days of history for %d recipients (%d dormant, %d at risk, %d active), then %d days of the test, seed %d\n",
		len(rs), len(cohorts["dormant"]), len(cohorts["at_risk"]), len(cohorts["active"]), *d.f.days, *d.f.seed)
	start := time.Now()
	at := d.atDaysAgo(time.Now().UTC().Truncate(24 * time.Hour))
	if err := d.replayHistory(ctx, history, rs, cohorts, at); err != nil {
		return err
	}
	if err := d.runWinback(ctx, def, rs, at); err != nil {
		return err
	}
	return d.finish(ctx, start)
}

// reengagementRecipients draws -units recipients from -seed into the
// cohorts that the history makes dormant, at risk and active, and returns
// them all and by cohort.
func (d *demo) reengagementRecipients() ([]*recipient, map[string][]*recipient) {
	rs := make([]*recipient, *d.f.units)
	cohorts := map[string][]*recipient{}
	for n := range rs {
		rng := rand.New(rand.NewPCG(*d.f.seed, uint64(n)))
		r := &recipient{unit: fmt.Sprintf("member-%06d", n), rng: rng, cohort: "active"}
		switch x := rng.Float64(); {
		case x < demoDormantShare:
			r.cohort = "dormant"
		case x < demoDormantShare+demoAtRiskShare:
			r.cohort = "at_risk"
		}
		rs[n] = r
		cohorts[r.cohort] = append(cohorts[r.cohort], r)
	}
	return rs, cohorts
}

// atDaysAgo returns the func that sets the demo clock to an hour of the day
// that many days before today.
func (d *demo) atDaysAgo(today time.Time) func(daysAgo, hour int) {
	return func(daysAgo, hour int) {
		d.clock.setAt(today.AddDate(0, 0, -daysAgo).Add(time.Duration(hour) * time.Hour))
	}
}

// replayHistory sends the three newsletters of experiment history to their
// cohorts, opened as historyBehaviour says, then refreshes the trait cache
// and prints the lifecycle stages it gives the recipients.
func (d *demo) replayHistory(ctx context.Context, history string, rs []*recipient, cohorts map[string][]*recipient, at func(daysAgo, hour int)) error {
	at(50, 7)
	if err := d.createAndStart(ctx, historyDefinition(history)); err != nil {
		return err
	}
	newsletter := func(n int) func(*recipient) map[string]any {
		return func(r *recipient) map[string]any {
			return map[string]any{"unit_id": r.unit, "send_id": fmt.Sprintf("newsletter-%d-%s", n, r.unit), "channel": "email"}
		}
	}
	for i, step := range []struct {
		daysAgo int
		to      []*recipient
	}{
		{50, rs},
		{20, append(append([]*recipient{}, cohorts["at_risk"]...), cohorts["active"]...)},
		{5, cohorts["active"]},
	} {
		bar := d.progress(fmt.Sprintf("history %d/3", i+1))
		at(step.daysAgo, 8)
		if err := d.sendTo(ctx, history, step.to, newsletter(i+1)); err != nil {
			return err
		}
		bar(1, 2)
		at(step.daysAgo, 11)
		d.behave = d.historyBehaviour(i == 0)
		if err := d.each(ctx, step.to, d.open); err != nil {
			return err
		}
		bar(2, 2)
		fmt.Fprintln(d.stderr)
	}
	if err := d.waitForEvents(ctx); err != nil {
		return err
	}
	// The cache refreshes every few seconds on its own; refreshing now
	// makes the first win-back send see the history.
	if err := d.m.traits.Refresh(ctx); err != nil {
		return err
	}
	seen := map[string]int{}
	for _, r := range rs {
		seen[d.m.traits.Traits(r.unit).LifecycleStage]++
	}
	fmt.Fprintf(d.m.stdout, "demo: lifecycle stages from the traits: %s\n", formatCounts(seen))
	return nil
}

// runWinback starts the win-back experiment def and, over -days days, sends
// it to each day's share of rs, who scan, open and click as
// winbackBehaviour says, with the retirement loop at the end of each day.
func (d *demo) runWinback(ctx context.Context, def map[string]any, rs []*recipient, at func(daysAgo, hour int)) error {
	days := *d.f.days
	at(days, 7)
	if err := d.createAndStart(ctx, def); err != nil {
		return err
	}
	d.behave = winbackBehaviour
	perDay := len(rs) / days
	for day := range days {
		daysAgo := days - day
		todays := rs[day*perDay : (day+1)*perDay]
		bar := d.progress(fmt.Sprintf("day %d/%d", day+1, days))
		at(daysAgo, 8)
		if err := d.sendTo(ctx, d.key, todays, func(r *recipient) map[string]any {
			// No attributes: the segments come from the unit's traits.
			return map[string]any{"unit_id": r.unit, "send_id": "winback-" + r.unit, "channel": "email"}
		}); err != nil {
			return err
		}
		bar(1, 4)
		if err := d.each(ctx, todays, d.scan); err != nil {
			return err
		}
		bar(2, 4)
		at(daysAgo, 11)
		if err := d.each(ctx, todays, d.open); err != nil {
			return err
		}
		bar(3, 4)
		if err := d.each(ctx, todays, d.click); err != nil {
			return err
		}
		bar(4, 4)
		fmt.Fprintln(d.stderr)
		at(daysAgo, 20)
		if err := d.retire(ctx); err != nil {
			return err
		}
	}
	return nil
}

// loadExperiment reads an experiment definition and gives it the demo's
// key, so that the demo can run again on the same data, and a fixed salt,
// so that the same seed gives the same arms.
func (d *demo) loadExperiment(path string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("demo: %w (run it from the repository's root, or pass -experiment-file)", err)
	}
	var def map[string]any
	if err := json.Unmarshal(data, &def); err != nil {
		return nil, fmt.Errorf("demo: %s: %w", path, err)
	}
	def["key"] = d.key
	def["salt"] = "splitcast-demo"
	return def, nil
}

// historyDefinition is the newsletter experiment whose sends and opens make
// the history: one segment for everyone, two arms that differ in nothing.
func historyDefinition(key string) map[string]any {
	variant := func(k string, control bool) map[string]any {
		return map[string]any{"key": k, "name": "Newsletter " + k, "weight": 1, "control": control,
			"payload": map[string]any{"subject": "This month at Acme"}}
	}
	return map[string]any{
		"key": key, "salt": "splitcast-demo", "name": "Demo history: monthly newsletter", "channel": "email", "allocation": 100,
		"description":    "splitcast demo -scenario reengagement: the past sends that give recipients their lifecycle stage",
		"segments":       []map[string]any{{"key": "everyone", "name": "Everyone", "variants": []map[string]any{variant("a", true), variant("b", false)}}},
		"primary_metric": "open_rate",
	}
}

func (d *demo) createAndStart(ctx context.Context, def map[string]any) error {
	body, _ := json.Marshal(def)
	admin := d.m.Config.AdminKey
	if _, err := d.call(ctx, "POST", "/v1/experiments", admin, "application/json", body, http.StatusCreated); err != nil {
		return err
	}
	_, err := d.call(ctx, "POST", "/v1/experiments/"+def["key"].(string)+"/start", admin, "application/json", []byte(`{"reason":"splitcast demo"}`), http.StatusOK)
	return err
}

// formatCounts prints counts by lifecycle stage in the stages' order.
func formatCounts(n map[string]int) string {
	var parts []string
	for _, s := range []string{traits.StageNew, traits.StageOnboarding, traits.StageActive, traits.StageReengaged, traits.StageAtRisk, traits.StageDormant} {
		if n[s] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", s, n[s]))
		}
	}
	return strings.Join(parts, ", ")
}
