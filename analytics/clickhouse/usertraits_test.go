package clickhouse_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/analytics/clickhouse"
	"github.com/splitcast/splitcast/analytics/traits"
)

// userHistory builds user events ago days before traitToday.
type userHistory struct {
	events []analytics.Event
	n      int
}

// add records one user event; id "" makes a fresh one. Events of one day
// are ordered by the minute given.
func (h *userHistory) add(unit, name string, ago, minute int, id string, props ...analytics.Prop) {
	h.n++
	if id == "" {
		id = fmt.Sprintf("t:%s-%d", unit, h.n)
	}
	at := analytics.DayTime(traitToday - int32(ago)).Add(8*time.Hour + time.Duration(minute)*time.Minute)
	h.events = append(h.events, analytics.Event{ID: id, Kind: analytics.KindTrack, Time: at, Unit: unit, Name: name,
		Props: analytics.EncodeProps(props)})
}

func num(k string, v float64) analytics.Prop {
	return analytics.Prop{Key: k, Type: analytics.PropNumber, Num: v}
}
func str(k, v string) analytics.Prop {
	return analytics.Prop{Key: k, Type: analytics.PropString, Str: v}
}
func list(k string, v ...string) analytics.Prop {
	return analytics.Prop{Key: k, Type: analytics.PropList, List: v}
}

// TestComputedTraitsByHand: a dozen units with every kind of history,
// their default-catalogue traits compared field by field with values
// worked out by hand, read from ClickHouse through the cache; duplicated
// events count once, and a late event (an old time, stored after a
// refresh) changes its unit's traits at the next refresh, once however many
// times it is sent.
func TestComputedTraitsByHand(t *testing.T) {
	ctx := context.Background()
	conn, _ := env.NewDatabase(t)
	sink := clickhouse.NewEventSink(conn)
	var h userHistory
	// u02: orders across every window, one beyond the year.
	h.add("u02", "order_completed", 1, 0, "", num("total", 20), str("category", "shoes"))
	h.add("u02", "order_completed", 10, 0, "", num("total", 30), str("category", "books"))
	h.add("u02", "order_completed", 40, 0, "", num("total", 50), str("category", "shoes"))
	h.add("u02", "order_completed", 100, 0, "", num("total", 100), str("category", "toys"))
	h.add("u02", "order_completed", 400, 0, "", num("total", 1000), str("category", "toys"))
	// u03: one order sent three times under one id.
	for range 3 {
		h.add("u03", "order_completed", 2, 0, "t:u03-order", num("total", 10))
	}
	// u04: an order now; a late one comes after the first refresh.
	h.add("u04", "order_completed", 3, 0, "", num("total", 5))
	// u05: a ticket's life, and a second ticket.
	h.add("u05", "ticket_opened", 5, 0, "", str("stage", "new"), str("urgency", "high"))
	h.add("u05", "ticket_updated", 3, 0, "", str("stage", "waiting"), str("urgency", "urgent"))
	h.add("u05", "ticket_opened", 2, 0, "", str("stage", "new"), str("urgency", "low"))
	h.add("u05", "ticket_closed", 1, 0, "", str("stage", "solved"))
	// u06: onboarding steps, one repeated, one not in the configured list.
	h.add("u06", "onboarding_step_completed", 3, 0, "", str("step", "profile"))
	h.add("u06", "onboarding_step_completed", 2, 0, "", str("step", "import"))
	h.add("u06", "onboarding_step_completed", 1, 0, "", str("step", "profile"))
	h.add("u06", "onboarding_step_completed", 1, 5, "", str("step", "other"))
	// u07: interests from a list property and a string one, today.
	h.add("u07", "page_viewed", 0, 0, "", list("category", "a", "b"))
	for i := range 3 {
		h.add("u07", "page_viewed", 0, i+1, "", str("category", "c"))
	}
	// u08: more tickets closed than opened.
	h.add("u08", "ticket_closed", 4, 0, "")
	h.add("u08", "ticket_closed", 3, 0, "")
	h.add("u08", "ticket_opened", 2, 0, "")
	// u09: one order 95 days ago: outside 90, inside 365.
	h.add("u09", "order_completed", 95, 0, "", num("total", 7), str("category", "shoes"))
	// u10: orders whose total is missing or not a number.
	h.add("u10", "order_completed", 6, 0, "")
	h.add("u10", "order_completed", 5, 0, "", str("total", "12"))
	// u11: shoes in a list of categories; an event no trait reads.
	h.add("u11", "order_completed", 8, 0, "", num("total", 1), list("category", "socks", "shoes"))
	h.add("u11", "logged_in", 0, 0, "")
	// u12: only events no trait of a name reads, on two days.
	h.add("u12", "logged_in", 0, 0, "")
	h.add("u12", "logged_in", 6, 0, "")
	h.add("u12", "logged_in", 6, 1, "")
	if err := sink.Write(ctx, h.events); err != nil {
		t.Fatal(err)
	}
	now := analytics.DayTime(traitToday).Add(12 * time.Hour)
	reader := clickhouse.NewTraitReader(conn)
	cache := traits.NewCache(traits.CacheConfig{Reader: reader, UserReader: reader, Catalogue: traits.DefaultCatalogue(),
		Now: func() time.Time { return now }})
	if err := cache.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	zero := map[string]any{
		"purchases.orders_30d": 0.0, "purchases.orders_90d": 0.0, "purchases.orders_365d": 0.0,
		"purchases.revenue_30d": 0.0, "purchases.revenue_90d": 0.0, "purchases.revenue_365d": 0.0,
		"support.open_tickets": 0.0, "support.tickets_90d": 0.0, "interests.bought_shoes_365d": false,
		"usage.active_days_7d": 0.0, "usage.active_days_30d": 0.0, "onboarding.steps_completed": 0.0, "onboarding.progress": 0.0,
	}
	with := func(m map[string]any) map[string]any {
		out := map[string]any{}
		for k, v := range zero {
			out["trait."+k] = v
		}
		for k, v := range m {
			out["trait."+k] = v
		}
		return out
	}
	want := map[string]map[string]any{
		"u01": with(nil),
		"u02": with(map[string]any{
			"purchases.orders_30d": 2.0, "purchases.orders_90d": 3.0, "purchases.orders_365d": 4.0,
			"purchases.revenue_30d": 50.0, "purchases.revenue_90d": 100.0, "purchases.revenue_365d": 200.0,
			"purchases.avg_order_value_365d": 50.0, "purchases.max_order_value_365d": 100.0,
			"purchases.days_since_last_order": 1.0, "interests.bought_shoes_365d": true,
			// shoes 2^(-1/14) + 2^(-40/14) = 1.09 over books 2^(-10/14) = 0.61; toys is 100 days back.
			"interests.top_categories": []string{"shoes", "books"},
			"usage.active_days_7d":     1.0, "usage.active_days_30d": 2.0,
		}),
		"u03": with(map[string]any{
			"purchases.orders_30d": 1.0, "purchases.orders_90d": 1.0, "purchases.orders_365d": 1.0,
			"purchases.revenue_30d": 10.0, "purchases.revenue_90d": 10.0, "purchases.revenue_365d": 10.0,
			"purchases.avg_order_value_365d": 10.0, "purchases.max_order_value_365d": 10.0,
			"purchases.days_since_last_order": 2.0, "usage.active_days_7d": 1.0, "usage.active_days_30d": 1.0,
		}),
		"u04": with(map[string]any{
			"purchases.orders_30d": 1.0, "purchases.orders_90d": 1.0, "purchases.orders_365d": 1.0,
			"purchases.revenue_30d": 5.0, "purchases.revenue_90d": 5.0, "purchases.revenue_365d": 5.0,
			"purchases.avg_order_value_365d": 5.0, "purchases.max_order_value_365d": 5.0,
			"purchases.days_since_last_order": 3.0, "usage.active_days_7d": 1.0, "usage.active_days_30d": 1.0,
		}),
		"u05": with(map[string]any{
			"support.open_tickets": 1.0, "support.tickets_90d": 2.0, "support.last_ticket_stage": "solved",
			"support.last_ticket_urgency": "low", "support.days_since_last_ticket": 2.0,
			"usage.active_days_7d": 4.0, "usage.active_days_30d": 4.0,
		}),
		"u06": with(map[string]any{
			"onboarding.steps_completed": 2.0, "onboarding.progress": 0.5, "onboarding.last_step": "other",
			"usage.active_days_7d": 3.0, "usage.active_days_30d": 3.0,
		}),
		"u07": with(map[string]any{
			"interests.top_categories": []string{"c", "a", "b"}, "usage.active_days_7d": 1.0, "usage.active_days_30d": 1.0,
		}),
		"u08": with(map[string]any{
			"support.tickets_90d": 1.0, "support.days_since_last_ticket": 2.0,
			"usage.active_days_7d": 3.0, "usage.active_days_30d": 3.0,
		}),
		"u09": with(map[string]any{
			"purchases.orders_365d": 1.0, "purchases.revenue_365d": 7.0, "purchases.avg_order_value_365d": 7.0,
			"purchases.max_order_value_365d": 7.0, "purchases.days_since_last_order": 95.0, "interests.bought_shoes_365d": true,
		}),
		"u10": with(map[string]any{
			"purchases.orders_30d": 2.0, "purchases.orders_90d": 2.0, "purchases.orders_365d": 2.0,
			"purchases.days_since_last_order": 5.0, "usage.active_days_7d": 2.0, "usage.active_days_30d": 2.0,
		}),
		"u11": with(map[string]any{
			"purchases.orders_30d": 1.0, "purchases.orders_90d": 1.0, "purchases.orders_365d": 1.0,
			"purchases.revenue_30d": 1.0, "purchases.revenue_90d": 1.0, "purchases.revenue_365d": 1.0,
			"purchases.avg_order_value_365d": 1.0, "purchases.max_order_value_365d": 1.0,
			"purchases.days_since_last_order": 8.0, "interests.bought_shoes_365d": true,
			"interests.top_categories": []string{"shoes", "socks"},
			"usage.active_days_7d":     1.0, "usage.active_days_30d": 2.0,
		}),
		"u12": with(map[string]any{"usage.active_days_7d": 2.0, "usage.active_days_30d": 2.0}),
	}
	check := func(when string) {
		t.Helper()
		for unit, w := range want {
			got := cache.Computed(unit)
			for k, v := range w {
				if !reflect.DeepEqual(got[k], v) {
					t.Errorf("%s: %s %s = %#v, want %#v", when, unit, k, got[k], v)
				}
			}
			for k, v := range got {
				if _, ok := w[k]; !ok {
					t.Errorf("%s: %s %s = %#v, want absent", when, unit, k, v)
				}
			}
			// The rules' view agrees with the listing.
			for k, v := range w {
				if x, ok := cache.UnitTraits(unit).Lookup(k); !ok || !reflect.DeepEqual(x, v) {
					t.Errorf("%s: UnitTraits(%s).Lookup(%s) = %#v, %v; want %#v", when, unit, k, x, ok, v)
				}
			}
		}
	}
	check("first refresh")

	// A late order of u04 (20 days back, stored now), sent twice, and u03's
	// order once more: u04 counts it once, u03 nothing new.
	var late userHistory
	late.add("u04", "order_completed", 20, 0, "t:u04-late", num("total", 15))
	late.add("u04", "order_completed", 20, 0, "t:u04-late", num("total", 15))
	late.add("u03", "order_completed", 2, 0, "t:u03-order", num("total", 10))
	time.Sleep(1100 * time.Millisecond) // received_at has seconds: past the mark
	if err := sink.Write(ctx, late.events); err != nil {
		t.Fatal(err)
	}
	if err := cache.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	u4 := want["u04"]
	u4["trait.purchases.orders_30d"], u4["trait.purchases.orders_90d"], u4["trait.purchases.orders_365d"] = 2.0, 2.0, 2.0
	u4["trait.purchases.revenue_30d"], u4["trait.purchases.revenue_90d"], u4["trait.purchases.revenue_365d"] = 20.0, 20.0, 20.0
	u4["trait.purchases.avg_order_value_365d"], u4["trait.purchases.max_order_value_365d"] = 10.0, 15.0
	u4["trait.usage.active_days_30d"] = 2.0
	check("after the late event")
	if err := sink.Write(ctx, late.events); err != nil {
		t.Fatal(err)
	}
	if err := cache.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	check("after the late event again")

	// The next day, every unit is read again: windows moved by one.
	now = now.Add(24 * time.Hour)
	if err := cache.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := cache.Computed("u02")["trait.purchases.days_since_last_order"]; got != 2.0 {
		t.Errorf("next day: u02 days_since_last_order = %v, want 2", got)
	}
	if got := cache.Computed("u07")["trait.usage.active_days_7d"]; got != 1.0 {
		t.Errorf("next day: u07 active_days_7d = %v, want 1", got)
	}
}
