package traits_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/analytics/traits"
	"github.com/splitcast/splitcast/assign"
	"github.com/splitcast/splitcast/experiment"
)

// byName is the Cache as a TraitSource that reads traits by name only: the
// path that assignment took before slots, against which slots are checked.
type byName struct{ c *traits.Cache }

func (b byName) UnitTraits(unit string) assign.Lookup { return b.c.UnitTraits(unit) }

// variedUsers gives unit-i user events that vary with i, so that every
// computed trait takes several values over the units (and is absent for
// some: unit-i with i%5 == 0 has no user event at all).
type variedUsers struct {
	n     int
	today int32
	done  bool
}

func (v *variedUsers) changedUsers(context.Context, time.Time, int32) ([]traits.UnitEvents, time.Time, error) {
	if v.done {
		return nil, time.Now(), nil
	}
	v.done = true
	day := int64(v.today) * 86400
	str := func(k, s string) analytics.Prop { return analytics.Prop{Key: k, Type: analytics.PropString, Str: s} }
	var out []traits.UnitEvents
	for i := range v.n {
		if i%5 == 0 {
			continue
		}
		evs := []traits.UserEvent{
			{Time: day - 86400*int64(i%40), Name: "order_completed", Props: []analytics.Prop{
				{Key: "total", Type: analytics.PropNumber, Num: float64(i%7) * 333.25},
				str("category", []string{"shoes", "bags", "hats"}[i%3])}},
			{Time: day - 3600, Name: "page_viewed", Props: []analytics.Prop{str("category", "c"+strconv.Itoa(i%4))}},
		}
		if i%2 == 1 {
			evs = append(evs, traits.UserEvent{Time: day - 7200, Name: "ticket_opened",
				Props: []analytics.Prop{str("urgency", []string{"low", "urgent", "high"}[i%3]), str("stage", "new")}})
		}
		for s := range i % 4 {
			evs = append(evs, traits.UserEvent{Time: day - 60*int64(s), Name: "onboarding_step_completed",
				Props: []analytics.Prop{str("step", []string{"profile", "import", "invite"}[s])}})
		}
		out = append(out, traits.UnitEvents{Unit: "unit-" + strconv.Itoa(i), Events: evs})
	}
	return out, time.Now(), nil
}

// TestSlotsMatchNames checks that rules read through slots (the Cache as an
// assign.SlotSource) decide as the same rules read by name, for every kind
// of trait (behavioural and computed; number, string, list, bool; present
// and absent) and operator, and that the caller's attributes still win.
func TestSlotsMatchNames(t *testing.T) {
	const n = 600
	now := time.Date(2025, 3, 20, 12, 0, 0, 0, time.UTC)
	today := analytics.Day(now)
	acts := newFakeReader()
	for i := range n {
		if i%3 == 0 {
			acts.put(traits.UnitActivity{Unit: "unit-" + strconv.Itoa(i), FirstSeen: today - 60,
				Days: []traits.DayActivity{{Day: today - int32(i%20), Channel: "email", Exposures: 1, Opens: uint32(i % 4), Clicks: uint32(i % 2)}}})
		}
	}
	cache := traits.NewCache(traits.CacheConfig{Reader: acts, Now: func() time.Time { return now },
		Catalogue: traits.DefaultCatalogue(), UserReader: &variedUsers{n: n, today: today}})
	if err := cache.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	rules := []string{
		`{"attr": "trait.purchases.revenue_90d", "op": "gte", "value": 999}`,
		`{"attr": "trait.purchases.avg_order_value_365d", "op": "lt", "value": 700}`,
		`{"attr": "trait.purchases.days_since_last_order", "op": "lte", "value": 10}`,
		`{"attr": "trait.purchases.days_since_last_order", "op": "not_exists"}`,
		`{"attr": "trait.support.open_tickets", "op": "gt", "value": 0}`,
		`{"attr": "trait.support.open_tickets", "op": "in", "values": [0, 2]}`,
		`{"attr": "trait.support.last_ticket_urgency", "op": "equals", "value": "urgent"}`,
		`{"attr": "trait.support.last_ticket_urgency", "op": "not_in", "values": ["low", "high"]}`,
		`{"attr": "trait.interests.top_categories", "op": "equals", "value": "shoes"}`,
		`{"attr": "trait.interests.top_categories", "op": "in", "values": ["c1", "hats"]}`,
		`{"attr": "trait.interests.bought_shoes_365d", "op": "equals", "value": true}`,
		`{"attr": "trait.onboarding.progress", "op": "gte", "value": 0.5}`,
		`{"attr": "trait.onboarding.last_step", "op": "exists"}`,
		`{"attr": "trait.opens_30d", "op": "gt", "value": 1}`,
		`{"attr": "trait.days_since_open", "op": "lt", "value": 7}`,
		`{"attr": "trait.engagement_level", "op": "in", "values": ["medium", "high"]}`,
		`{"attr": "trait.known", "op": "equals", "value": false}`,
		`{"attr": "trait.no_such_trait", "op": "not_exists"}`,
		`{"all": [{"attr": "trait.support.open_tickets", "op": "gt", "value": 0}, {"not": {"attr": "trait.opens_7d", "op": "gte", "value": 2}}]}`,
		`{"attr": "plan", "op": "equals", "value": "pro"}`,
	}
	var exps []experiment.Experiment
	for i, r := range rules {
		e, err := experiment.Decode(fmt.Appendf(nil, `{"key": "r%[1]d", "channel": "email", "allocation": 100, "holdout": 0,
  "segments": [{"key": "in", "rule": %[2]s, %[3]s}, {"key": "out", %[3]s}],
  "primary_metric": "click_rate"}`, i, r,
			`"variants": [{"key": "a", "weight": 1, "control": true}, {"key": "b", "weight": 1}]`))
		if err != nil {
			t.Fatalf("rule %d: %v", i, err)
		}
		e.Status = experiment.StatusRunning
		exps = append(exps, e)
	}
	snap, err := assign.NewSnapshot(exps)
	if err != nil {
		t.Fatal(err)
	}
	// The caller's value wins over the trait, by slot as by name.
	callers := []assign.Attributes{{}, {"trait.support.open_tickets": 3.0, "trait.interests.top_categories": "hats", "plan": "pro"}}
	for i := range rules {
		key := "r" + strconv.Itoa(i)
		seen := map[string]int{}
		for ci, attrs := range callers {
			for u := range n {
				unit := "unit-" + strconv.Itoa(u)
				got, err := snap.AssignWithTraits(key, unit, attrs, cache)
				if err != nil {
					t.Fatal(err)
				}
				want, err := snap.AssignWithTraits(key, unit, attrs, byName{cache})
				if err != nil {
					t.Fatal(err)
				}
				if got.Segment != want.Segment {
					t.Fatalf("rule %s, caller %d, %s: by slot %q, by name %q", rules[i], ci, unit, got.Segment, want.Segment)
				}
				if ci == 0 {
					seen[got.Segment]++
				}
			}
		}
		if i < len(rules)-3 && (seen["in"] == 0 || seen["out"] == 0) {
			t.Errorf("rule %s splits no unit: %v (the test's units should make it)", rules[i], seen)
		}
	}
}

// EachChangedUser hands over what changedUsers returns, a unit at a time.
func (v *variedUsers) EachChangedUser(ctx context.Context, since time.Time, from int32, fn func(*traits.UnitEvents)) (time.Time, error) {
	units, mark, err := v.changedUsers(ctx, since, from)
	for i := range units {
		fn(&units[i])
	}
	return mark, err
}
