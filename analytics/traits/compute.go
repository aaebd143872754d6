package traits

import (
	"math"
	"slices"
	"strings"

	"github.com/splitcast/splitcast/analytics"
)

// UserEvent is one user event as computed traits read it: each event once
// (the reader deduplicates by id), in order of time.
type UserEvent struct {
	Time  int64 // Unix seconds
	Name  string
	Props []analytics.Prop
}

// Day is the event's UTC day.
func (e *UserEvent) Day() int32 { return int32(e.Time / 86400) }

func (e *UserEvent) prop(key string) (*analytics.Prop, bool) {
	for i := range e.Props {
		if e.Props[i].Key == key {
			return &e.Props[i], true
		}
	}
	return nil, false
}

// UnitEvents are a unit's user events of the last MaxUserDays days, in
// order of time.
type UnitEvents struct {
	Unit   string
	Events []UserEvent
}

// Compute returns the value of each of c's traits (by index) on day today
// from a unit's events: float64 for numbers, string, bool, []string for a
// list, nil when absent. Events later than today count as today's.
func (c *Catalogue) Compute(events []UserEvent, today int32) []any {
	out := make([]any, len(c.Traits))
	for i := range c.Traits {
		out[i] = c.Traits[i].compute(events, today)
	}
	return out
}

// DefaultValues are the values of a unit with no user event.
func (c *Catalogue) DefaultValues() []any { return c.Compute(nil, 0) }

// inWindow returns the days ago of e when within d's window.
func (d *Definition) inWindow(e *UserEvent, today int32) (int, bool) {
	ago := max(int(today-e.Day()), 0)
	return ago, ago < d.Days
}

func (d *Definition) compute(events []UserEvent, today int32) any {
	switch d.Kind {
	case KindCount:
		return d.count(events, today)
	case KindSum, KindMin, KindMax, KindMean:
		return d.aggregate(events, today)
	case KindLast:
		return d.last(events, today)
	case KindDaysSince:
		last := -1
		d.each(events, today, func(_ *UserEvent, ago int) { last = ago })
		if last < 0 {
			return nil
		}
		return float64(last)
	case KindTop:
		return d.top(events, today)
	case KindHappened:
		return d.happened(events, today)
	case KindActiveDays:
		days := map[int]bool{}
		d.each(events, today, func(_ *UserEvent, ago int) { days[ago] = true })
		return float64(len(days))
	case KindDistinct, KindShare:
		return d.distinct(events, today)
	}
	return nil
}

// each calls fn for every event of d's names in d's window, in order.
func (d *Definition) each(events []UserEvent, today int32, fn func(e *UserEvent, ago int)) {
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

func (d *Definition) count(events []UserEvent, today int32) any {
	n := 0
	d.each(events, today, func(*UserEvent, int) { n++ })
	for i := range events {
		e := &events[i]
		if _, ok := d.inWindow(e, today); ok && slices.Contains(d.Minus, e.Name) {
			n--
		}
	}
	return float64(max(n, 0))
}

func (d *Definition) aggregate(events []UserEvent, today int32) any {
	n, sum, lo, hi := 0, 0.0, math.Inf(1), math.Inf(-1)
	d.each(events, today, func(e *UserEvent, _ int) {
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

func (d *Definition) last(events []UserEvent, today int32) any {
	var v any
	d.each(events, today, func(e *UserEvent, _ int) {
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

// strings calls fn for each string of e's property key: the value of a
// string property, each element of a list.
func eachString(e *UserEvent, key string, fn func(s string)) {
	p, ok := e.prop(key)
	if !ok {
		return
	}
	switch p.Type {
	case analytics.PropString:
		fn(p.Str)
	case analytics.PropList:
		for _, s := range p.List {
			fn(s)
		}
	}
}

func (d *Definition) top(events []UserEvent, today int32) any {
	weight := map[string]float64{}
	d.each(events, today, func(e *UserEvent, ago int) {
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

func (d *Definition) happened(events []UserEvent, today int32) any {
	found := false
	d.each(events, today, func(e *UserEvent, _ int) {
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

func (d *Definition) distinct(events []UserEvent, today int32) any {
	seen := map[string]bool{}
	d.each(events, today, func(e *UserEvent, _ int) {
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
