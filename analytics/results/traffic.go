package results

import (
	"fmt"
	"strings"

	"github.com/splitcast/splitcast/analytics/traits"
	"github.com/splitcast/splitcast/assign"
	"github.com/splitcast/splitcast/experiment"
)

// RecentTraits is where traffic estimates come from: traits.Cache.
type RecentTraits interface {
	// Recent calls fn for the units seen in the last days days: once per
	// distinct traits, with how many units have them.
	Recent(days int, fn func(t *traits.UnitTraits, units int))
}

// TrafficOf estimates units per day per segment of e from the units seen in
// the last days days: each goes, by its traits alone, to the first segment
// whose rule it matches. Segments whose rule reads caller attributes are skipped
// (unknown), so units that would match them count toward later segments:
// those estimates are upper bounds, and a warning on them still holds.
func TrafficOf(e experiment.Experiment, recent RecentTraits, days int) map[string]SegmentTraffic {
	out := map[string]SegmentTraffic{}
	type seg struct {
		key     string
		rule    *assign.Rule
		unknown bool
	}
	var segs []seg
	for _, sg := range e.Segments {
		if sg.Concluded() {
			continue
		}
		r, err := assign.CompileRule(sg.Rule)
		segs = append(segs, seg{key: sg.Key, rule: r, unknown: err != nil || readsCallerAttributes(sg.Rule)})
	}
	counts := make([]int, len(segs))
	recent.Recent(days, func(t *traits.UnitTraits, units int) {
		for i := range segs {
			if !segs[i].unknown && segs[i].rule.Match(t) {
				counts[i] += units
				return
			}
		}
	})
	upper := false
	for i, sg := range segs {
		if sg.unknown {
			out[sg.key] = SegmentTraffic{Source: "unknown: the rule reads caller attributes"}
			upper = true
			continue
		}
		src := fmt.Sprintf("traits, last %d days", days)
		if upper {
			src += " (upper bound)"
		}
		out[sg.key] = SegmentTraffic{UnitsPerDay: float64(counts[i]) / float64(days), Known: true, Source: src}
	}
	return out
}

// readsCallerAttributes reports whether a rule reads any attribute that is
// not a trait.
func readsCallerAttributes(r *experiment.Rule) bool {
	if r == nil {
		return false
	}
	for i := range r.All {
		if readsCallerAttributes(&r.All[i]) {
			return true
		}
	}
	for i := range r.Any {
		if readsCallerAttributes(&r.Any[i]) {
			return true
		}
	}
	if r.Not != nil && readsCallerAttributes(r.Not) {
		return true
	}
	return r.Attr != "" && !strings.HasPrefix(r.Attr, assign.TraitPrefix)
}
