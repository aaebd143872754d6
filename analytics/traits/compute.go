package traits

import (
	"math"
	"math/bits"
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
//
// It goes over the events once, handing each to the definitions that read
// its name (c.readers), where each definition going over all of them took
// a unit's every event once per definition, twenty-one times with the
// default catalogue, and a map or two a definition per unit: a refresh
// recomputes every changed unit from its whole year, so this is most of
// its CPU beside the read (TestComputeEqualsReference holds it to the
// per-definition form).
func (c *Catalogue) Compute(events []UserEvent, today int32) []any {
	acc := c.accums()
	defer c.release(acc)
	for i := range events {
		e := &events[i]
		ago := max(int(today-e.Day()), 0)
		for _, r := range c.readers[e.Name] {
			c.Traits[r.def].feed(&(*acc)[r.def], e, ago, r.minus)
		}
		for _, d := range c.anyName {
			c.Traits[d].feed(&(*acc)[d], e, ago, false)
		}
	}
	out := make([]any, len(c.Traits))
	for i := range c.Traits {
		out[i] = c.Traits[i].value(&(*acc)[i])
	}
	return out
}

// accums returns an accum for each of c's traits, from c.scratch when
// it has one: a refresh computes tens of thousands of units, and an array
// of them for each was most of what it allocated.
func (c *Catalogue) accums() *[]accum {
	if p, ok := c.scratch.Get().(*[]accum); ok {
		return p
	}
	acc := make([]accum, len(c.Traits))
	return &acc
}

// release empties p for the next unit and keeps it in c.scratch. A map a
// definition kept is emptied, not dropped; and nothing of the unit stays
// behind while p waits (last points into its events, the maps' keys are
// its strings).
func (c *Catalogue) release(p *[]accum) {
	for i := range *p {
		a := &(*p)[i]
		weights, seen := a.weights, a.seen
		clear(weights)
		clear(seen)
		*a = accum{weights: weights, seen: seen}
	}
	c.scratch.Put(p)
}

// DefaultValues are the values of a unit with no user event.
func (c *Catalogue) DefaultValues() []any { return c.Compute(nil, 0) }

// accum is what a definition has gathered of a unit's events so far.
type accum struct {
	n           int             // count: in - minus; aggregates: numbers seen
	sum, lo, hi float64         // aggregates
	last        *analytics.Prop // last: the latest of d's type
	lastAgo     int             // days_since: days ago of the latest, +1 (0: none)
	wAgo        int             // top: w is the weight of wAgo-1 days ago (0: none yet)
	w           float64
	found       bool                            // happened
	days        [(MaxUserDays + 63) / 64]uint64 // active_days: bit ago of each day
	weights     map[string]float64              // top
	seen        map[string]bool                 // distinct, share
}

// feed gives d the event e, ago days before today, of one of its names
// (minus: of its Minus).
func (d *Definition) feed(a *accum, e *UserEvent, ago int, minus bool) {
	if ago >= d.Days {
		return
	}
	if minus {
		a.n--
		return
	}
	switch d.Kind {
	case KindCount:
		a.n++
	case KindSum, KindMin, KindMax, KindMean:
		if p, ok := e.prop(d.Property); ok && p.Type == analytics.PropNumber {
			if a.n == 0 {
				a.lo, a.hi = math.Inf(1), math.Inf(-1)
			}
			a.n++
			a.sum += p.Num
			a.lo, a.hi = min(a.lo, p.Num), max(a.hi, p.Num)
		}
	case KindLast:
		p, ok := e.prop(d.Property)
		if !ok {
			return
		}
		if d.Type == TypeString && p.Type == analytics.PropString || d.Type == TypeNumber && p.Type == analytics.PropNumber ||
			d.Type == TypeBool && p.Type == analytics.PropBool {
			a.last = p // boxed once, in value
		}
	case KindDaysSince:
		a.lastAgo = ago + 1
	case KindTop:
		if a.wAgo != ago+1 { // events come in order of time: a day's weight is reused
			a.wAgo, a.w = ago+1, 1.0
			if d.HalfLifeDays > 0 {
				a.w = math.Exp2(-float64(ago) / d.HalfLifeDays)
			}
		}
		w := a.w
		eachString(e, d.Property, func(s string) {
			if a.weights == nil {
				a.weights = map[string]float64{}
			}
			a.weights[s] += w
		})
	case KindHappened:
		if !a.found {
			a.found = d.matches(e)
		}
	case KindActiveDays:
		a.days[ago/64] |= 1 << (ago % 64)
	case KindDistinct, KindShare:
		eachString(e, d.Property, func(s string) {
			if len(d.Values) == 0 || slices.Contains(d.Values, s) {
				if a.seen == nil {
					a.seen = map[string]bool{}
				}
				a.seen[s] = true
			}
		})
	}
}

// value is d's value from what a gathered.
func (d *Definition) value(a *accum) any {
	switch d.Kind {
	case KindCount:
		return float64(max(a.n, 0))
	case KindSum, KindMin, KindMax, KindMean:
		switch {
		case d.Kind == KindSum:
			return a.sum
		case a.n == 0:
			return nil
		case d.Kind == KindMin:
			return a.lo
		case d.Kind == KindMax:
			return a.hi
		}
		return a.sum / float64(a.n)
	case KindLast:
		switch p := a.last; {
		case p == nil:
			return nil
		case p.Type == analytics.PropString:
			return p.Str
		case p.Type == analytics.PropNumber:
			return p.Num
		}
		return a.last.Bool
	case KindDaysSince:
		if a.lastAgo == 0 {
			return nil
		}
		return float64(a.lastAgo - 1)
	case KindTop:
		return topOf(a.weights, d.K)
	case KindHappened:
		return a.found
	case KindActiveDays:
		n := 0
		for _, w := range a.days {
			n += bits.OnesCount64(w)
		}
		return float64(n)
	case KindDistinct:
		return float64(len(a.seen))
	case KindShare:
		return float64(len(a.seen)) / float64(len(d.Values))
	}
	return nil
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

// topOf is the k values of most weight, ties in order of the values.
func topOf(weight map[string]float64, k int) any {
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
	return vals[:min(k, len(vals))]
}

// matches says whether e's property is d's value, for happened.
func (d *Definition) matches(e *UserEvent) bool {
	p, ok := e.prop(d.Property)
	if !ok {
		return false
	}
	switch v := d.Value.(type) {
	case string:
		return p.Type == analytics.PropString && p.Str == v || p.Type == analytics.PropList && slices.Contains(p.List, v)
	case float64:
		return p.Type == analytics.PropNumber && p.Num == v
	case bool:
		return p.Type == analytics.PropBool && p.Bool == v
	}
	return false
}
