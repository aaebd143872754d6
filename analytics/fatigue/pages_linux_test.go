package fatigue

import (
	"fmt"
	"testing"
	"time"

	"github.com/splitcast/splitcast/assign"
	"github.com/splitcast/splitcast/experiment"
)

// TestMappedTables: tables past hugePage take their slots from mapSlots,
// keep every unit's sends through growth into them and through a sweep
// that rebuilds them (freeing the old mapping), and shrink back into the
// heap when a sweep leaves them small.
func TestMappedTables(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	g := NewGate(Config{Policy: Policy{Total: Cap{Limit: 1, Window: 24 * time.Hour}}})
	email := assign.Target{Channel: experiment.ChannelEmail}
	const n = 300_000 // 18,750 units a shard: 32,768 slots, 2 MB
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second / 4) }
	for i := range n {
		if v := g.Admit(fmt.Sprint("u", i), email, "x:a", at(i)); v.Suppressed() {
			t.Fatalf("first send of u%d: %+v", i, v)
		}
	}
	mapped := func() (m int) {
		for i := range g.shards {
			if g.shards[i].sent.mapped != nil {
				m++
			}
		}
		return m
	}
	if m := mapped(); m != nShards {
		t.Fatalf("%d of %d shards' tables mapped at %d units", m, nShards, n)
	}
	for i := range n {
		if v := g.Admit(fmt.Sprint("u", i), email, "x:b", at(i)); v.Cap != TotalCap {
			t.Fatalf("second send of u%d: %+v, want capped", i, v)
		}
	}
	// Keep the units sent to from the 150,000th on; then the last 5,000.
	for _, keep := range []int{n / 2, n - 5000} {
		g.sweep(uint32(at(keep).Unix()))
		for i := range n {
			v := g.Admit(fmt.Sprint("u", i), email, "x:b", at(i))
			if capped := i >= keep; (v.Cap == TotalCap) != capped {
				t.Fatalf("u%d after sweeping before %d: %+v, capped want %v", i, keep, v, capped)
			}
		}
		// The units swept were admitted again just now, at their old
		// times: sweep them once more before the next round.
		g.sweep(uint32(at(keep).Unix()))
	}
	if m := mapped(); m != 0 {
		t.Errorf("%d shards' tables still mapped with 5,000 units left", m)
	}
}
