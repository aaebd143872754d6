package traits_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics/traits"
)

// againReader returns, on every incremental refresh, one brand-new unit and
// again units already held, all seen (new exposures only).
type againReader struct {
	round, again int
}

func (r *againReader) ChangedActivity(_ context.Context, since time.Time, today int32) ([]traits.UnitActivity, time.Time, error) {
	var out []traits.UnitActivity
	if !since.IsZero() {
		out = append(out, traits.UnitActivity{Unit: fmt.Sprintf("new-%06d", r.round), FirstSeen: today, LastSeen: today, Seen: true})
	}
	for i := range r.again {
		out = append(out, traits.UnitActivity{Unit: fmt.Sprintf("held-%08d-xxxxxxxxxxxxxxxx", i), FirstSeen: today, LastSeen: today, Seen: !since.IsZero()})
	}
	r.round++
	return out, time.Unix(int64(r.round), 0), nil
}

func (r *againReader) Activity(context.Context, []string, int32) ([]traits.UnitActivity, error) {
	return nil, nil
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestTraitCacheMemoryFollowsUnits: the cache's memory follows the units it
// holds, not how often they are exposed. Each refresh's result array used to
// stay allocated, with every entry in it, as long as one unit stored from it
// was held: about 100 bytes kept per exposure of a held unit.
func TestTraitCacheMemoryFollowsUnits(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	r := &againReader{again: 15_000}
	c := traits.NewCache(traits.CacheConfig{Reader: r, Now: func() time.Time { return now }})
	ctx := context.Background()
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	// The first refreshes settle the overlay's fold; measure after them.
	for range 5 {
		if err := c.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
	}
	base := heapInUse()
	const rounds = 40
	for range rounds {
		if err := c.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
	}
	grew := int64(heapInUse()) - int64(base)
	// Kept arrays would be 40 × 15,000 entries of about 100 bytes: 60 MB.
	if grew > 20<<20 {
		t.Errorf("after %d refreshes seeing %d held units again and 1 new unit each, the heap grew %.1f MB; want it flat", rounds, r.again, float64(grew)/1e6)
	}
	if got := c.Stats().Units; got != r.again+rounds+5 {
		t.Errorf("the cache holds %d units, want %d", got, r.again+rounds+5)
	}
}

// chunkReader: the first refresh holds more units than the cache may keep,
// so it drops some; the next sees 25,000 new units, which it must then read
// whole, in calls of at most 10,000.
type chunkReader struct {
	calls []int
}

func (r *chunkReader) ChangedActivity(_ context.Context, since time.Time, today int32) ([]traits.UnitActivity, time.Time, error) {
	var out []traits.UnitActivity
	n, seen, prefix := 20, false, "old"
	if !since.IsZero() {
		n, seen, prefix = 25_000, true, "new"
	}
	for i := range n {
		out = append(out, traits.UnitActivity{Unit: fmt.Sprintf("%s-%d", prefix, i), FirstSeen: today - int32(i%30), LastSeen: today, Seen: seen})
	}
	return out, time.Unix(int64(len(r.calls)+1), 0), nil
}

func (r *chunkReader) Activity(_ context.Context, units []string, today int32) ([]traits.UnitActivity, error) {
	r.calls = append(r.calls, len(units))
	out := make([]traits.UnitActivity, len(units))
	for i, u := range units {
		out[i] = traits.UnitActivity{Unit: u, FirstSeen: today - 40, Days: []traits.DayActivity{{Day: today, Opens: 1}}}
	}
	return out, nil
}

// TestTraitCacheReadsDroppedUnitsInChunks: once the cache has dropped units
// over MaxUnits, units it sees but does not hold are read whole, in calls
// that name at most 10,000 units (one call naming them all could exceed
// ClickHouse's query size, and fail every refresh from then on).
func TestTraitCacheReadsDroppedUnitsInChunks(t *testing.T) {
	r := &chunkReader{}
	c := traits.NewCache(traits.CacheConfig{Reader: r, MaxUnits: 10})
	ctx := context.Background()
	for range 2 {
		if err := c.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if fmt.Sprint(r.calls) != "[10000 10000 5000]" {
		t.Errorf("Activity calls named %v units, want [10000 10000 5000]", r.calls)
	}
	// The new units held have what a whole read gave (an open today), not
	// just the days they were seen.
	held := 0
	for i := range 25_000 {
		unit := fmt.Sprintf("new-%d", i)
		if !c.Held(unit) {
			continue
		}
		held++
		if tr := c.Traits(unit); tr.Opens7d != 1 {
			t.Errorf("%s = %+v, want the whole read's open", unit, tr.Traits)
		}
	}
	if held == 0 {
		t.Error("the cache holds none of the new units")
	}
}

// quietReader returns, on the first refresh, units exposed today and never
// engaged.
type quietReader struct{ units int }

func (r quietReader) ChangedActivity(_ context.Context, since time.Time, today int32) ([]traits.UnitActivity, time.Time, error) {
	if !since.IsZero() {
		return nil, since, nil
	}
	out := make([]traits.UnitActivity, r.units)
	for i := range out {
		out[i] = traits.UnitActivity{Unit: fmt.Sprintf("quiet-%08d-xxxxxxxxxxxxxxxx", i), FirstSeen: today - int32(i%5),
			Days: []traits.DayActivity{{Day: today, Exposures: 1}}}
	}
	return out, time.Unix(1, 0), nil
}

func (quietReader) Activity(context.Context, []string, int32) ([]traits.UnitActivity, error) {
	return nil, nil
}

// TestTraitCacheQuietUnitsAreSmall: a unit that never engaged costs the
// cache one slot of its pointer-free table (two copies of it: the cache's
// and the published one), not its id, its activity and the entries of
// string-keyed maps, which every garbage collection had to mark.
func TestTraitCacheQuietUnitsAreSmall(t *testing.T) {
	const units = 300_000
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	c := traits.NewCache(traits.CacheConfig{Reader: quietReader{units}, Now: func() time.Time { return now }})
	base := heapInUse()
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	perUnit := float64(int64(heapInUse())-int64(base)) / units
	if got := c.Stats().Units; got != units {
		t.Fatalf("the cache holds %d units, want %d", got, units)
	}
	if !c.Held("quiet-00000007-xxxxxxxxxxxxxxxx") || c.Traits("quiet-00000007-xxxxxxxxxxxxxxxx").LifecycleStage != "new" {
		t.Errorf("a quiet unit first seen 2 days ago: held %v, traits %+v", c.Held("quiet-00000007-xxxxxxxxxxxxxxxx"),
			c.Traits("quiet-00000007-xxxxxxxxxxxxxxxx").Traits)
	}
	t.Logf("%.0f bytes per quiet unit", perUnit)
	if perUnit > 130 {
		t.Errorf("%.0f bytes per quiet unit held, want at most 130 (two copies of a 24-byte slot, at least 3/8 full)", perUnit)
	}
}
