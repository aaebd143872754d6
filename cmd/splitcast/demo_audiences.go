package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// past is one user event of a history, days ago.
type past struct {
	name  string
	props string
	days  int
}

// scenario is an example of docs/examples with units whose histories imply
// a segment, and the catch-all segment where a winner is planted.
type scenario struct {
	file     string
	units    map[string][]past
	want     map[string]string // unit -> segment
	catchAll string
	goal     past // the primary metric's event, sent for the planted winner
}

var scenarios = []scenario{
	{file: "support-notification", catchAll: "everyone", goal: past{"ticket_closed", `{"stage":"solved"}`, 0},
		units: map[string][]past{
			"s-urgent": {{"ticket_opened", `{"stage":"new","urgency":"high"}`, 1}},
			"s-open":   {{"ticket_opened", `{"stage":"new","urgency":"low"}`, 1}},
			"s-solved": {{"ticket_opened", `{"stage":"new","urgency":"low"}`, 3}, {"ticket_closed", `{"stage":"solved"}`, 2}},
			"s-old":    {{"ticket_opened", `{"urgency":"low"}`, 20}, {"ticket_closed", `{"stage":"solved"}`, 19}},
		},
		want: map[string]string{"s-urgent": "urgent-open", "s-open": "open", "s-solved": "recently-solved", "s-old": "everyone", "s-none": "everyone"}},
	{file: "onboarding-nudge", catchAll: "not-started", goal: past{"onboarding_step_completed", `{"step":"profile"}`, 0},
		units: map[string][]past{
			"o-done":    {{"onboarding_step_completed", `{"step":"profile"}`, 3}, {"onboarding_step_completed", `{"step":"import"}`, 2}, {"onboarding_step_completed", `{"step":"invite"}`, 1}, {"onboarding_step_completed", `{"step":"first_send"}`, 0}},
			"o-half":    {{"onboarding_step_completed", `{"step":"profile"}`, 3}, {"onboarding_step_completed", `{"step":"import"}`, 2}},
			"o-started": {{"onboarding_step_completed", `{"step":"profile"}`, 1}},
		},
		want: map[string]string{"o-done": "done", "o-half": "halfway", "o-started": "started", "o-none": "not-started"}},
	{file: "purchase-promotion", catchAll: "everyone", goal: past{"order_completed", `{"total":20}`, 0},
		units: map[string][]past{
			"p-lapsed": {{"order_completed", `{"total":300}`, 100}, {"order_completed", `{"total":300}`, 200}},
			"p-recent": {{"order_completed", `{"total":50}`, 5}},
			"p-one":    {{"order_completed", `{"total":50}`, 45}},
		},
		want: map[string]string{"p-lapsed": "lapsed-big-spenders", "p-recent": "recent-buyers", "p-one": "one-time", "p-none": "everyone"}},
	{file: "interest-campaign", catchAll: "everyone", goal: past{"order_completed", `{"total":20}`, 0},
		units: map[string][]past{
			"i-shoes": {{"page_viewed", `{"category":"shoes"}`, 0}, {"page_viewed", `{"category":"shoes"}`, 1}},
			"i-books": {{"page_viewed", `{"category":"books"}`, 2}, {"order_completed", `{"category":"books","total":12}`, 1}},
			"i-toys":  {{"page_viewed", `{"category":"toys"}`, 1}},
		},
		want: map[string]string{"i-shoes": "shoes", "i-books": "books", "i-toys": "everyone", "i-none": "everyone"}},
}

// audienceScenario returns the scenario of that name, if it is one.
func audienceScenario(name string) (scenario, bool) {
	for _, sc := range scenarios {
		if sc.file == name {
			return sc, true
		}
	}
	return scenario{}, false
}

// The planted truth of the audience scenarios: in every segment, the
// primary metric's event follows the message for this share of the
// control's units and of the variant's.
const (
	audienceControlRate = 0.10
	audienceVariantRate = 0.25
)

// runAudience replays an audience scenario on the real clock: units of
// each history cohort get their user events through POST /v1/track, are
// assigned once their traits are in (the segment each lands in is printed
// against the one its history implies), then the primary metric's event
// follows for 10% of the control's units and 25% of the variant's, and the
// report is printed.
func (d *demo) runAudience(ctx context.Context, sc scenario) error {
	d.clock.reset()
	start := time.Now()
	def, err := d.loadExperiment(filepath.Join(filepath.Dir(*d.f.file), sc.file+".json"))
	if err != nil {
		return err
	}
	if err := d.createAndStart(ctx, def); err != nil {
		return err
	}
	cohorts := slices.Sorted(func(yield func(string) bool) {
		for u := range sc.want {
			if !yield(u) {
				return
			}
		}
	})
	per := max(*d.f.units/len(cohorts), 1)
	fmt.Fprintf(d.m.stdout, "demo: experiment %s (%s): %d units in each of %d histories; the variant's goal rate is %.0f%%, the control's %.0f%%\n",
		d.key, sc.file, per, len(cohorts), 100*audienceVariantRate, 100*audienceControlRate)
	var evs []string
	now := time.Now().UTC()
	for _, c := range cohorts {
		for i := range per {
			for j, e := range sc.units[c] {
				evs = append(evs, fmt.Sprintf(`{"id":"h%d","unit_id":"%s-%d","name":%q,"properties":%s,"time":%q}`,
					j, c, i, e.name, e.props, now.Add(-time.Duration(e.days)*24*time.Hour).Format(time.RFC3339)))
			}
		}
	}
	if err := d.track(ctx, evs); err != nil {
		return err
	}
	// Traits follow within the refresh interval and the flush interval.
	time.Sleep(d.m.Config.TraitRefresh + d.m.Config.FlushInterval + time.Second)
	landed := map[string]map[string]int{}
	var goals []string
	for ci, c := range cohorts {
		landed[c] = map[string]int{}
		for i := range per {
			unit := fmt.Sprintf("%s-%d", c, i)
			var a struct{ Segment, Variant string }
			body, err := d.call(ctx, "POST", "/v1/assign", d.m.Config.SDKKey, "application/json",
				[]byte(`{"experiment":"`+d.key+`","unit_id":"`+unit+`","send_id":"s1"}`), http.StatusOK)
			if err != nil {
				return err
			}
			if err := json.Unmarshal(body, &a); err != nil {
				return err
			}
			landed[c][a.Segment]++
			rate := audienceControlRate
			if a.Variant == "variant" {
				rate = audienceVariantRate
			}
			if rand.New(rand.NewPCG(*d.f.seed, uint64(ci*per+i))).Float64() < rate {
				goals = append(goals, fmt.Sprintf(`{"id":"goal","unit_id":%q,"name":%q,"properties":%s}`, unit, sc.goal.name, sc.goal.props))
			}
		}
		fmt.Fprintf(d.m.stdout, "demo: history %-10s implies %-20s landed %v\n", c, sc.want[c], landed[c])
	}
	if err := d.track(ctx, goals); err != nil {
		return err
	}
	time.Sleep(d.m.Config.FlushInterval + time.Second)
	return d.finish(ctx, start)
}

// track sends user events in batches of 1,000.
func (d *demo) track(ctx context.Context, evs []string) error {
	for len(evs) > 0 {
		n := min(len(evs), 1000)
		if _, err := d.call(ctx, "POST", "/v1/track", d.m.Config.SDKKey, "application/json",
			[]byte(`{"events":[`+strings.Join(evs[:n], ",")+`]}`), http.StatusAccepted); err != nil {
			return err
		}
		d.events.Add(int64(n))
		evs = evs[n:]
	}
	return nil
}
