package main

import (
	"context"
	"fmt"
	"strings"
)

// banditLift is the bandit scenario's truth on clicks per open: b is 20%
// better than the control, c 10% worse.
func banditLift(variant string) float64 {
	switch variant {
	case "b":
		return 1.20
	case "c":
		return 0.90
	}
	return 1
}

// runBandit is -scenario bandit: the digest's days of traffic through the
// API on an experiment whose one segment is a bandit; at the end of every
// day the retirement loop and then the bandit loop look, and the next
// day's sends follow the weights the bandit set.
func (d *demo) runBandit(ctx context.Context) error {
	d.behave = func(r *recipient) (open, clickPerOpen float64) {
		return demoOpenRate, demoClickPerOpen * banditLift(r.variant)
	}
	d.definition = d.banditDefinition
	d.intro = "bandit segment everyone: b clicks 20% more than the control, c 10% less; weights equal until 300 units per arm, then moved daily by Thompson sampling (floor 5%, at most 20 points per update); retirement waits 5 days"
	return d.run(ctx)
}

// banditDefinition is the digest's experiment with one catch-all bandit
// segment, whose retirement waits 5 days, so that a demo of a few days
// shows the weights move rather than a quick conclusion. Its interval is 12h, so that the loop's look at 20:00 each day
// finds the segment due (its phase began at 20:00 the day before, or at the
// start, 07:00).
func (d *demo) banditDefinition() map[string]any {
	def := d.demoDefinition()
	variants := def["segments"].([]map[string]any)[1]["variants"]
	def["name"] = "Demo: weekly digest subject line, bandit"
	def["retirement"] = map[string]any{"auto": true, "alpha": 0.05, "min_sample_per_arm": 500, "min_runtime": "120h", "interval": "1h"}
	def["description"] = "splitcast demo -scenario bandit: b is 20% better than the control on clicks, c 10% worse; Thompson sampling moves the weights"
	def["segments"] = []map[string]any{{"key": "everyone", "name": "Everyone", "allocation": "bandit", "variants": variants,
		"bandit": map[string]any{"interval": "12h", "burn_in": 300, "floor": 5, "max_move": 20}}}
	return def
}

// reweight runs one pass of the bandit loop on the demo clock and prints
// the weights it set.
func (d *demo) reweight(ctx context.Context) error {
	applied, err := d.m.bandit.RunOnce(ctx)
	if err != nil {
		return err
	}
	for _, a := range applied {
		if a.Experiment != d.key {
			continue
		}
		var shares []string
		for _, arm := range a.Arms {
			shares = append(shares, fmt.Sprintf("%s %.1f%% (P(best) %.2f)", arm.Variant, 100*arm.NewShare, arm.ProbBest))
		}
		fmt.Fprintf(d.m.stdout, "demo: the bandit loop made v%d: %s weights %s\n", a.Version, a.Segment, strings.Join(shares, ", "))
	}
	return nil
}
