package clickhouse

import (
	"cmp"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/splitcast/splitcast/analytics/traits"
)

// TestByTimeEqualsStableSort: byTime orders a unit's events as a stable
// sort by time does (ties in the order they came), on random units of
// every size with many ties, sorted already or not, one scratch for all.
func TestByTimeEqualsStableSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var o timeOrder
	for round := range 2000 {
		events := make([]traits.UserEvent, rng.IntN(60))
		for i := range events {
			events[i] = traits.UserEvent{Time: rng.Int64N(int64(1 + rng.IntN(30))), Name: "e" + strconv.Itoa(i)}
		}
		if round%5 == 0 {
			slices.SortStableFunc(events, func(a, b traits.UserEvent) int { return cmp.Compare(a.Time, b.Time) })
		}
		want := slices.Clone(events)
		slices.SortStableFunc(want, func(a, b traits.UserEvent) int { return cmp.Compare(a.Time, b.Time) })
		o.byTime(events)
		if !reflect.DeepEqual(events, want) {
			t.Fatalf("round %d: byTime %v, stable sort %v", round, events, want)
		}
	}
}

// BenchmarkByTime is byTime against the stable sort it replaced, on a
// unit of 120 events in random order of time (as ids leave them).
func BenchmarkByTime(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 8))
	in := make([]traits.UserEvent, 120)
	for i := range in {
		in[i] = traits.UserEvent{Time: 1_700_000_000 + rng.Int64N(86400), Name: "order_completed"}
	}
	events := make([]traits.UserEvent, len(in))
	b.Run("keys", func(b *testing.B) {
		var o timeOrder
		for b.Loop() {
			copy(events, in)
			o.byTime(events)
		}
	})
	b.Run("stable", func(b *testing.B) {
		for b.Loop() {
			copy(events, in)
			slices.SortStableFunc(events, func(a, b traits.UserEvent) int { return cmp.Compare(a.Time, b.Time) })
		}
	})
}
