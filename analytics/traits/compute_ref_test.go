package traits

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/splitcast/splitcast/analytics"
)

// referenceCompute is Compute as it was before it went over a unit's
// events once: each definition over all of them (the code below, kept as
// it was, but for the names).
func referenceCompute(c *Catalogue, events []UserEvent, today int32) []any {
	out := make([]any, len(c.Traits))
	for i := range c.Traits {
		out[i] = c.Traits[i].refCompute(events, today)
	}
	return out
}

func (d *Definition) refCompute(events []UserEvent, today int32) any {
	switch d.Kind {
	case KindCount:
		return d.refCount(events, today)
	case KindSum, KindMin, KindMax, KindMean:
		return d.refAggregate(events, today)
	case KindLast:
		return d.refLast(events, today)
	case KindDaysSince:
		last := -1
		d.refEach(events, today, func(_ *UserEvent, ago int) { last = ago })
		if last < 0 {
			return nil
		}
		return float64(last)
	case KindTop:
		return d.refTop(events, today)
	case KindHappened:
		return d.refHappened(events, today)
	case KindActiveDays:
		days := map[int]bool{}
		d.refEach(events, today, func(_ *UserEvent, ago int) { days[ago] = true })
		return float64(len(days))
	case KindDistinct, KindShare:
		return d.refDistinct(events, today)
	}
	return nil
}

// each calls fn for every event of d's names in d's window, in order.
func (d *Definition) refEach(events []UserEvent, today int32, fn func(e *UserEvent, ago int)) {
	for i := range events {
		e := &events[i]
		if len(d.Events) > 0 && !slices.Contains(d.Events, e.Name) {
			continue
		}
		if ago, ok := d.inWindow(e, today); ok {
			fn(e, ago)
		}
	}
}

func (d *Definition) refCount(events []UserEvent, today int32) any {
	n := 0
	d.refEach(events, today, func(*UserEvent, int) { n++ })
	for i := range events {
		e := &events[i]
		if _, ok := d.inWindow(e, today); ok && slices.Contains(d.Minus, e.Name) {
			n--
		}
	}
	return float64(max(n, 0))
}

func (d *Definition) refAggregate(events []UserEvent, today int32) any {
	n, sum, lo, hi := 0, 0.0, math.Inf(1), math.Inf(-1)
	d.refEach(events, today, func(e *UserEvent, _ int) {
		if p, ok := e.prop(d.Property); ok && p.Type == analytics.PropNumber {
			n++
			sum += p.Num
			lo, hi = min(lo, p.Num), max(hi, p.Num)
		}
	})
	switch {
	case d.Kind == KindSum:
		return sum
	case n == 0:
		return nil
	case d.Kind == KindMin:
		return lo
	case d.Kind == KindMax:
		return hi
	}
	return sum / float64(n)
}

func (d *Definition) refLast(events []UserEvent, today int32) any {
	var v any
	d.refEach(events, today, func(e *UserEvent, _ int) {
		p, ok := e.prop(d.Property)
		if !ok {
			return
		}
		switch {
		case d.Type == TypeString && p.Type == analytics.PropString:
			v = p.Str
		case d.Type == TypeNumber && p.Type == analytics.PropNumber:
			v = p.Num
		case d.Type == TypeBool && p.Type == analytics.PropBool:
			v = p.Bool
		}
	})
	return v
}

func (d *Definition) refTop(events []UserEvent, today int32) any {
	weight := map[string]float64{}
	d.refEach(events, today, func(e *UserEvent, ago int) {
		w := 1.0
		if d.HalfLifeDays > 0 {
			w = math.Exp2(-float64(ago) / d.HalfLifeDays)
		}
		eachString(e, d.Property, func(s string) { weight[s] += w })
	})
	if len(weight) == 0 {
		return nil
	}
	vals := make([]string, 0, len(weight))
	for s := range weight {
		vals = append(vals, s)
	}
	slices.SortFunc(vals, func(a, b string) int {
		if wa, wb := weight[a], weight[b]; wa != wb {
			if wa > wb {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	return vals[:min(d.K, len(vals))]
}

func (d *Definition) refHappened(events []UserEvent, today int32) any {
	found := false
	d.refEach(events, today, func(e *UserEvent, _ int) {
		p, ok := e.prop(d.Property)
		if !ok || found {
			return
		}
		switch v := d.Value.(type) {
		case string:
			found = p.Type == analytics.PropString && p.Str == v || p.Type == analytics.PropList && slices.Contains(p.List, v)
		case float64:
			found = p.Type == analytics.PropNumber && p.Num == v
		case bool:
			found = p.Type == analytics.PropBool && p.Bool == v
		}
	})
	return found
}

func (d *Definition) refDistinct(events []UserEvent, today int32) any {
	seen := map[string]bool{}
	d.refEach(events, today, func(e *UserEvent, _ int) {
		eachString(e, d.Property, func(s string) {
			if len(d.Values) == 0 || slices.Contains(d.Values, s) {
				seen[s] = true
			}
		})
	})
	if d.Kind == KindShare {
		return float64(len(seen)) / float64(len(d.Values))
	}
	return float64(len(seen))
}

// inWindow returns the days ago of e when within d's window.
func (d *Definition) inWindow(e *UserEvent, today int32) (int, bool) {
	ago := max(int(today-e.Day()), 0)
	return ago, ago < d.Days
}

// TestComputeEqualsReference: on random histories (names read and not,
// several per definition, Minus names, properties of every type and of
// the wrong one, lists, days in and out of every window and in the future),
// Compute equals the per-definition reference exactly, floats bit for bit,
// with the default catalogue and with one of every kind and corner.
func TestComputeEqualsReference(t *testing.T) {
	corners, err := ParseCatalogue([]byte(`{"traits":[
		{"name":"a.count_all_minus","kind":"count","events":["x","y","x"],"minus":["y","z","z"],"days":10,"doc":"d"},
		{"name":"a.sum","kind":"sum","events":["x"],"property":"n","days":3,"doc":"d"},
		{"name":"a.min","kind":"min","events":["x","z"],"property":"n","doc":"d"},
		{"name":"a.max","kind":"max","events":["y"],"property":"n","days":1,"doc":"d"},
		{"name":"a.mean","kind":"mean","events":["x","y"],"property":"n","days":30,"doc":"d"},
		{"name":"a.last_s","kind":"last","events":["x","y"],"property":"s","type":"string","doc":"d"},
		{"name":"a.last_n","kind":"last","events":["x"],"property":"n","type":"number","days":5,"doc":"d"},
		{"name":"a.last_b","kind":"last","events":["z"],"property":"b","type":"bool","doc":"d"},
		{"name":"a.since","kind":"days_since","events":["y"],"doc":"d"},
		{"name":"a.since_7","kind":"days_since","events":["x"],"days":7,"doc":"d"},
		{"name":"a.top","kind":"top","events":["x","y"],"property":"s","k":2,"half_life_days":3,"doc":"d"},
		{"name":"a.top_flat","kind":"top","events":["z"],"property":"l","k":3,"days":20,"doc":"d"},
		{"name":"a.happened_s","kind":"happened","events":["x"],"property":"l","value":"v1","doc":"d"},
		{"name":"a.happened_n","kind":"happened","events":["y"],"property":"n","value":2,"doc":"d"},
		{"name":"a.happened_b","kind":"happened","events":["x","z"],"property":"b","value":true,"days":4,"doc":"d"},
		{"name":"a.active","kind":"active_days","days":365,"doc":"d"},
		{"name":"a.active_x","kind":"active_days","events":["x"],"days":9,"doc":"d"},
		{"name":"a.distinct","kind":"distinct","events":["x","z"],"property":"l","doc":"d"},
		{"name":"a.distinct_of","kind":"distinct","events":["y"],"property":"s","values":["v1","v2","v9"],"doc":"d"},
		{"name":"a.share","kind":"share","events":["x","y","z"],"property":"s","values":["v0","v1","v2","v3"],"days":15,"doc":"d"}
	]}`))
	if err != nil {
		t.Fatal(err)
	}
	cats := map[string]*Catalogue{"default": DefaultCatalogue(), "corners": corners}
	names := []string{"x", "y", "z", "w", "order_completed", "page_viewed", "ticket_opened", "ticket_closed",
		"ticket_updated", "link_clicked", "onboarding_step_completed"}
	keys := []string{"n", "s", "b", "l", "total", "category", "stage", "urgency", "step"}
	const today = 20_000
	rng := rand.New(rand.NewPCG(1, 2))
	value := func() string { return fmt.Sprint("v", rng.IntN(5)) }
	for round := range 3000 {
		events := make([]UserEvent, rng.IntN(40))
		for i := range events {
			e := &events[i]
			e.Name = names[rng.IntN(len(names))]
			e.Time = int64(today-400+rng.IntN(410))*86400 + rng.Int64N(86400)
			for _, k := range keys {
				if rng.IntN(3) > 0 {
					continue
				}
				p := analytics.Prop{Key: k}
				switch rng.IntN(4) {
				case 0:
					p.Type, p.Num = analytics.PropNumber, float64(rng.IntN(7))/float64(1+rng.IntN(3))
				case 1:
					p.Type, p.Str = analytics.PropString, value()
				case 2:
					p.Type, p.Bool = analytics.PropBool, rng.IntN(2) == 0
				default:
					p.Type = analytics.PropList
					for range rng.IntN(4) {
						p.List = append(p.List, value())
					}
				}
				e.Props = append(e.Props, p)
			}
		}
		slices.SortStableFunc(events, func(a, b UserEvent) int { return int(a.Time - b.Time) })
		for name, c := range cats {
			got, want := c.Compute(events, today), referenceCompute(c, events, today)
			for i := range want {
				if !reflect.DeepEqual(got[i], want[i]) {
					t.Fatalf("round %d, %s catalogue, %s: Compute %#v, reference %#v\nevents %+v", round, name, c.Traits[i].Name, got[i], want[i], events)
				}
			}
		}
	}
	for name, c := range cats {
		if got, want := c.DefaultValues(), referenceCompute(c, nil, 0); !reflect.DeepEqual(got, want) {
			t.Errorf("%s catalogue: DefaultValues %#v, reference %#v", name, got, want)
		}
	}
}

// BenchmarkCompute is Compute against the per-definition reference in one
// run, on a unit of 120 orders with four properties (the loadtest's track
// body) and on a unit of mixed events, with the default catalogue.
func BenchmarkCompute(b *testing.B) {
	c := DefaultCatalogue()
	const today = 20_000
	orders := make([]UserEvent, 120)
	for i := range orders {
		orders[i] = UserEvent{Time: int64(today)*86400 - int64(120-i)*600, Name: "order_completed", Props: []analytics.Prop{
			{Key: "category", Type: analytics.PropString, Str: fmt.Sprint("c", i%6)},
			{Key: "gift", Type: analytics.PropBool, Bool: i%3 == 0},
			{Key: "tags", Type: analytics.PropList, List: []string{"sale", "new"}},
			{Key: "total", Type: analytics.PropNumber, Num: float64(10 + i%50)},
		}}
	}
	mixed := make([]UserEvent, 120)
	mixNames := []string{"order_completed", "page_viewed", "ticket_opened", "ticket_updated", "link_clicked", "onboarding_step_completed", "app_opened"}
	for i := range mixed {
		mixed[i] = UserEvent{Time: int64(today-200+i)*86400 + 3600, Name: mixNames[i%len(mixNames)], Props: []analytics.Prop{
			{Key: "category", Type: analytics.PropString, Str: fmt.Sprint("c", i%9)},
			{Key: "stage", Type: analytics.PropString, Str: "open"},
			{Key: "step", Type: analytics.PropString, Str: fmt.Sprint("s", i%4)},
			{Key: "total", Type: analytics.PropNumber, Num: float64(i)},
		}}
	}
	for _, h := range []struct {
		name   string
		events []UserEvent
	}{{"orders", orders}, {"mixed", mixed}} {
		b.Run(h.name+"/once", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.Compute(h.events, today)
			}
		})
		b.Run(h.name+"/per-definition", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				referenceCompute(c, h.events, today)
			}
		})
	}
}
