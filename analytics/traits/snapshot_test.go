package traits

import (
	"math/rand/v2"
	"testing"
)

// TestTraitSnapshotOverlay drives snapshots through many refreshes of
// additions, changes and removals, small and large (so that changes fold
// into a new base at times), against a plain map: every snapshot must
// answer get, each and held as the map does, and an older snapshot must
// not change when a newer one is made.
func TestTraitSnapshotOverlay(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	model := map[unitKey]*UnitTraits{}
	s := &traitSnapshot{base: map[unitKey]*UnitTraits{}}
	folds := 0
	for round := range 100 {
		n := rng.IntN(40)
		if round%25 == 0 {
			n = 3000 // large enough to fold
		}
		units := make([]unitKey, n)
		next := map[unitKey]*UnitTraits{}
		for i := range units {
			u := testKey(rng.IntN(2000))
			units[i] = u
			if rng.IntN(5) == 0 {
				next[u] = nil // no longer held
			} else {
				next[u] = NewUnitTraits(Traits{Opens7d: round}, int32(round))
			}
		}
		before := s
		beforeModel := map[unitKey]*UnitTraits{}
		for u, v := range model {
			beforeModel[u] = v
		}
		s = s.withEngaged(units, func(u unitKey) *UnitTraits { return next[u] })
		for u, v := range next {
			if v == nil {
				delete(model, u)
			} else {
				model[u] = v
			}
		}
		if len(s.changed) == 0 && n > 0 {
			folds++
		}
		check(t, round, s, model)
		check(t, round, before, beforeModel)
	}
	if folds == 0 {
		t.Error("no refresh folded the changes into a new base")
	}
}

// testKey is a distinct unitKey for each i.
func testKey(i int) unitKey { return unitKey{hi: uint64(i) + 1, lo: uint64(i) * 0x9e3779b97f4a7c15} }

func check(t *testing.T, round int, s *traitSnapshot, model map[unitKey]*UnitTraits) {
	t.Helper()
	if s.held() != len(model) {
		t.Fatalf("round %d: held %d, want %d", round, s.held(), len(model))
	}
	seen := 0
	s.eachEngaged(func(u unitKey, v *UnitTraits) {
		seen++
		if model[u] != v {
			t.Fatalf("round %d: each gave %v = %p, want %p", round, u, v, model[u])
		}
	})
	if seen != len(model) {
		t.Fatalf("round %d: each gave %d units, want %d", round, seen, len(model))
	}
	for i := range 2000 {
		u := testKey(i)
		v, ok := s.get(u)
		if w, wok := model[u]; ok != wok || v != w {
			t.Fatalf("round %d: get(%v) = %p, %v; want %p, %v", round, u, v, ok, w, wok)
		}
	}
}

// TestTraitCacheSharesEqualTraits: units with equal traits share one
// UnitTraits; units with different ones do not.
func TestTraitCacheSharesEqualTraits(t *testing.T) {
	c := NewCache(CacheConfig{Reader: nil})
	const today = 20000
	a := c.unitTraits(&UnitActivity{Unit: "a", FirstSeen: today, Days: []DayActivity{{Day: today}}}, today)
	b := c.unitTraits(&UnitActivity{Unit: "b", FirstSeen: today, Days: []DayActivity{{Day: today}}}, today)
	opened := c.unitTraits(&UnitActivity{Unit: "c", FirstSeen: today, Days: []DayActivity{{Day: today, Opens: 1}}}, today)
	if a != b {
		t.Error("two units exposed today and never engaged have separate UnitTraits")
	}
	if opened == a || opened.Opens7d != 1 || a.Opens7d != 0 || a.LastSeen != today || !a.Known {
		t.Errorf("shared %+v, opened %+v", a, opened)
	}
}
