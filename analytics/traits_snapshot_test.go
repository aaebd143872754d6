package analytics

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// TestTraitSnapshotOverlay drives snapshots through many refreshes of
// additions, changes and removals, small and large (so that changes fold
// into a new base at times), against a plain map: every snapshot must
// answer get, each and held as the map does, and an older snapshot must
// not change when a newer one is made.
func TestTraitSnapshotOverlay(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	model := map[string]*UnitTraits{}
	s := &traitSnapshot{base: map[string]*UnitTraits{}}
	folds := 0
	for round := range 100 {
		n := rng.IntN(40)
		if round%25 == 0 {
			n = 3000 // large enough to fold
		}
		units := make([]string, n)
		next := map[string]*UnitTraits{}
		for i := range units {
			u := fmt.Sprintf("u%d", rng.IntN(2000))
			units[i] = u
			if rng.IntN(5) == 0 {
				next[u] = nil // no longer held
			} else {
				next[u] = NewUnitTraits(Traits{Opens7d: round}, int32(round))
			}
		}
		before := s
		beforeModel := map[string]*UnitTraits{}
		for u, v := range model {
			beforeModel[u] = v
		}
		s = s.with(units, func(u string) *UnitTraits { return next[u] }, int32(round), time.Unix(int64(round), 0))
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

func check(t *testing.T, round int, s *traitSnapshot, model map[string]*UnitTraits) {
	t.Helper()
	if s.held != len(model) {
		t.Fatalf("round %d: held %d, want %d", round, s.held, len(model))
	}
	seen := 0
	s.each(func(u string, v *UnitTraits) {
		seen++
		if model[u] != v {
			t.Fatalf("round %d: each gave %s = %p, want %p", round, u, v, model[u])
		}
	})
	if seen != len(model) {
		t.Fatalf("round %d: each gave %d units, want %d", round, seen, len(model))
	}
	for i := range 2000 {
		u := fmt.Sprintf("u%d", i)
		v, ok := s.get(u)
		if w, wok := model[u]; ok != wok || v != w {
			t.Fatalf("round %d: get(%s) = %p, %v; want %p, %v", round, u, v, ok, w, wok)
		}
	}
}

// TestTraitCacheSharesEqualTraits: units with equal traits share one
// UnitTraits; units with different ones do not.
func TestTraitCacheSharesEqualTraits(t *testing.T) {
	c := NewTraitCache(TraitCacheConfig{Reader: nil})
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
