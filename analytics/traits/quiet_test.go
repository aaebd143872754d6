package traits

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics"
)

// TestQuietTable drives a quietTable through random puts, removes and
// filters against a map, with keys crowded onto few home slots so that
// probes run long and removals shift entries back; a clone taken along the
// way must not change afterwards.
func TestQuietTable(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	key := func(i int) unitKey { return unitKey{hi: uint64(i) + 1, lo: uint64(i%97) << 3} }
	var tab quietTable
	model := map[unitKey]uint32{}
	var frozen quietTable
	var frozenModel map[unitKey]uint32
	for step := range 60_000 {
		k := key(rng.IntN(3000))
		switch r := rng.IntN(100); {
		case r < 60:
			p := uint32(rng.IntN(50))
			tab.put(k, p)
			model[k] = p
		case r < 99:
			_, want := model[k]
			if got := tab.remove(k); got != want {
				t.Fatalf("step %d: remove(%v) = %v, want %v", step, k, got, want)
			}
			delete(model, k)
		default:
			tab.filter(func(p uint32) (uint32, bool) { return p + 1, p%3 != 0 })
			for k, p := range model {
				if p%3 == 0 {
					delete(model, k)
				} else {
					model[k] = p + 1
				}
			}
		}
		if step == 30_000 {
			frozen = tab.clone()
			frozenModel = map[unitKey]uint32{}
			for k, p := range model {
				frozenModel[k] = p
			}
		}
		if step%1000 == 0 || step == 59_999 {
			sameTable(t, step, &tab, model, key)
		}
	}
	sameTable(t, -1, &frozen, frozenModel, key)

	// Growth, and clusters that wrap past the table's end: keys whose home
	// slots are the last few, put until the table has doubled a few times.
	key = func(i int) unitKey { return unitKey{hi: uint64(i) + 1, lo: ^uint64(0) - uint64(i%13)} }
	tab, model = quietTable{}, map[unitKey]uint32{}
	wrapped := false
	for step := range 20_000 {
		k := key(rng.IntN(6000))
		if rng.IntN(4) == 0 {
			tab.remove(k)
			delete(model, k)
		} else {
			tab.put(k, uint32(step))
			model[k] = uint32(step)
		}
		if step%100 == 0 {
			for i, s := range tab.slots {
				wrapped = wrapped || s.key != (unitKey{}) && i < tab.index(s.key)
			}
		}
		if step%1000 == 0 {
			sameTable(t, step, &tab, model, key)
		}
	}
	sameTable(t, -2, &tab, model, key)
	if len(tab.slots) <= 2*minQuietSlots || !wrapped {
		t.Errorf("the table has %d slots, wrapped %v: want it grown past %d and a cluster wrapped", len(tab.slots), wrapped, 2*minQuietSlots)
	}
}

func sameTable(t *testing.T, step int, tab *quietTable, model map[unitKey]uint32, key func(int) unitKey) {
	t.Helper()
	if tab.len() != len(model) {
		t.Fatalf("step %d: %d entries, want %d", step, tab.len(), len(model))
	}
	n := 0
	tab.each(func(uint32) { n++ })
	if n != len(model) {
		t.Fatalf("step %d: each gave %d entries, want %d", step, n, len(model))
	}
	for i := range 6000 {
		k := key(i)
		p, ok := tab.find(k)
		if w, wok := model[k]; ok != wok || p != w {
			t.Fatalf("step %d: find(%v) = %d, %v; want %d, %v", step, k, p, ok, w, wok)
		}
	}
}

// event is one stored event of modelReader.
type event struct {
	day    int32
	kind   string // exposure, open, click or conversion
	stored int64
}

// modelReader keeps every event and answers as the ClickHouse reader does:
// a unit whose events since the mark are all exposures comes as Seen
// (first and last day only), any other changed unit with its whole
// activity. It also repeats some units already returned, as the reader's
// margin does.
type modelReader struct {
	rng    *rand.Rand
	clock  int64
	events map[string][]event
}

func (m *modelReader) add(unit string, day int32, kind string) {
	m.clock++
	m.events[unit] = append(m.events[unit], event{day: day, kind: kind, stored: m.clock})
}

// activity is the unit's whole activity as of today, as Activity reads it.
func (m *modelReader) activity(unit string, today int32) (UnitActivity, bool) {
	a := UnitActivity{Unit: unit}
	from, horizon := today-(WindowDays-1), today-(FirstSeenHorizonDays-1)
	days := map[int32]*DayActivity{}
	var order []int32
	inWindow := false
	for _, e := range m.events[unit] {
		if e.day >= horizon && (a.FirstSeen == 0 || e.day < a.FirstSeen) {
			a.FirstSeen = e.day
		}
		inWindow = inWindow || e.day >= from
		if e.day >= horizon {
			a.LastSeen = max(a.LastSeen, e.day)
		}
		if e.day < from || e.kind == "machine" {
			continue // machine events say when a unit was first seen, and no more
		}
		d, ok := days[e.day]
		if !ok {
			d = &DayActivity{Day: e.day}
			days[e.day] = d
			order = append(order, e.day)
		}
		switch e.kind {
		case "exposure":
			d.Exposures++
		case "open":
			d.Opens++
		case "click":
			d.Clicks++
		case "conversion":
			d.Conversions++
		}
	}
	for _, day := range order {
		a.Days = append(a.Days, *days[day])
	}
	// A unit with only machine events in the window is read too, with its
	// first day and no activity, as the ClickHouse reader does.
	return a, inWindow
}

func (m *modelReader) ChangedActivity(_ context.Context, since time.Time, today int32) ([]UnitActivity, time.Time, error) {
	mark := since.Unix()
	if !since.IsZero() {
		mark -= int64(m.rng.IntN(5)) // the margin: some units come again
	}
	var out []UnitActivity
	for unit, evs := range m.events {
		fresh, onlyExposures := false, true
		last, first := int32(0), int32(0)
		from, horizon := today-(WindowDays-1), today-(FirstSeenHorizonDays-1)
		for _, e := range evs {
			if since.IsZero() || e.stored > mark {
				fresh = true
				onlyExposures = onlyExposures && e.kind == "exposure"
				first = earlier(first, e.day)
				last = max(last, e.day) // the new rows' only, as the reader
			}
			if e.day < from && e.day >= horizon {
				first = earlier(first, e.day)
			}
		}
		a, inWindow := m.activity(unit, today)
		if !fresh || !inWindow {
			continue
		}
		if !since.IsZero() && onlyExposures {
			// As the ClickHouse reader: the first day among the new events
			// and those before the window only.
			out = append(out, UnitActivity{Unit: unit, FirstSeen: first, LastSeen: last, Seen: true})
			continue
		}
		out = append(out, a)
	}
	return out, time.Unix(m.clock, 0), nil
}

func (m *modelReader) Activity(_ context.Context, units []string, today int32) ([]UnitActivity, error) {
	var out []UnitActivity
	for _, u := range units {
		if a, ok := m.activity(u, today); ok {
			out = append(out, a)
		}
	}
	return out, nil
}

// TestTraitCacheAgainstModel: after every refresh, over days of random
// exposures, engagement, machine events and late (replayed) events, the
// cache's traits of every unit equal those computed from the unit's whole
// stored activity, whichever way the unit got them (a whole read, seen
// again, quiet or engaged, moved between the two either way, carried over a
// day change), units with nothing in the window are not held, and Recent
// counts every unit held. With a small MaxUnits, the units held are correct and the
// ones dropped are never more recently active than one kept.
func TestTraitCacheAgainstModel(t *testing.T) {
	for _, maxUnits := range []int{0, 150} {
		t.Run(fmt.Sprintf("max_units=%d", maxUnits), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(5, uint64(maxUnits)))
			m := &modelReader{rng: rng, events: map[string][]event{}}
			today := int32(20_000)
			c := NewCache(CacheConfig{Reader: m, MaxUnits: maxUnits,
				Now: func() time.Time { return analytics.DayTime(today).Add(time.Hour) }})
			units := make([]string, 400)
			for i := range units {
				units[i] = fmt.Sprintf("unit-%d", i)
			}
			// Machine events are read whole but engage nobody: the way a
			// unit whose engagement left the window turns quiet again.
			kinds := []string{"exposure", "exposure", "exposure", "exposure", "open", "click", "conversion", "machine", "machine"}
			for round := range 120 {
				if round%10 == 9 {
					today += int32(1 + rng.IntN(40)) // sometimes past the window
				}
				for range rng.IntN(60) {
					day := today
					if rng.IntN(8) == 0 {
						day -= int32(rng.IntN(4)) // stored late (a replay): older than the last day held
					}
					m.add(units[rng.IntN(len(units))], day, kinds[rng.IntN(len(kinds))])
				}
				if err := c.Refresh(context.Background()); err != nil {
					t.Fatal(err)
				}
				held, minKept, maxDropped := 0, int32(1<<30), int32(0)
				for _, u := range units {
					a, inWindow := m.activity(u, today)
					if !c.Held(u) {
						if inWindow && maxUnits == 0 {
							t.Fatalf("round %d: %s is not held, but has activity %+v", round, u, a)
						}
						if inWindow {
							maxDropped = max(maxDropped, a.LastDay())
						}
						continue
					}
					held++
					if !inWindow {
						t.Fatalf("round %d: %s is held with nothing in the window", round, u)
					}
					minKept = min(minKept, a.LastDay())
					got, want := c.Traits(u), unitTraits(&a, today)
					if got.Traits != want.Traits || got.LastSeen != want.LastSeen || got.Day != today {
						t.Fatalf("round %d: %s has %+v (last seen %d, day %d), want %+v (last seen %d, day %d)",
							round, u, got.Traits, got.LastSeen, got.Day, want.Traits, want.LastSeen, today)
					}
				}
				if st := c.Stats(); st.Units != held {
					t.Fatalf("round %d: Stats says %d units, %d are held", round, st.Units, held)
				}
				recent := 0
				c.Recent(WindowDays, func(_ *UnitTraits, n int) { recent += n })
				if recent != held {
					t.Fatalf("round %d: Recent counts %d units over the window, %d are held", round, recent, held)
				}
				if maxUnits > 0 && held > maxUnits {
					t.Fatalf("round %d: %d units held, MaxUnits %d", round, held, maxUnits)
				}
				if maxDropped > minKept {
					t.Fatalf("round %d: a unit last active on day %d was dropped, one last active on day %d kept", round, maxDropped, minKept)
				}
			}
		})
	}
}
