package console

import (
	"testing"

	"github.com/splitcast/splitcast/analytics/traits"
)

// TestTraitTypesCoverCatalogue: every trait of the catalogue has a type
// the rule builder shows, and the table names no trait that is gone.
func TestTraitTypesCoverCatalogue(t *testing.T) {
	for name := range traitTypes {
		if traitType("trait."+name) == "" {
			t.Errorf("traitTypes has %q, which traits.Names lacks", name)
		}
	}
	if n := len(traitOptions()); n != len(traits.Names) {
		t.Errorf("traitOptions() has %d traits, want %d", n, len(traits.Names))
	}
	if got := traitType("trait.opens_30d"); got != "number" {
		t.Errorf("traitType(trait.opens_30d) = %q, want number", got)
	}
	if got := traitType("plan"); got != "" {
		t.Errorf("traitType(plan) = %q, want \"\" (a caller attribute)", got)
	}
}
