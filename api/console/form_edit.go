package console

import (
	"slices"
	"strconv"
	"strings"

	"github.com/splitcast/splitcast/analytics/traits"
	"github.com/splitcast/splitcast/experiment"
)

// change applies one of the form's own buttons ("add-variant:0",
// "remove-cond:1:2:0", ...) to f: the form grows and shrinks on the server,
// so it needs no script. It reports whether do was such a button.
func (f *draftForm) change(do string) bool {
	op, arg, _ := strings.Cut(do, ":")
	idx := indexes(arg)
	seg := func() *formSegment {
		if len(idx) == 0 || idx[0] < 0 || idx[0] >= len(f.Segments) {
			return nil
		}
		return &f.Segments[idx[0]]
	}
	switch op {
	case "add-segment":
		// Before the catch-all, if there is one: it must stay last.
		at := len(f.Segments)
		if at > 0 && f.Segments[at-1].Form == "" {
			at--
		}
		s := formSegment{Key: "segment-" + strconv.Itoa(len(f.Segments)+1), Form: "all", Conds: []formCond{{Op: "equals"}},
			Variants: []formVariant{{Key: "control", Weight: "1"}, {Key: "b", Weight: "1"}}}
		f.Segments = slices.Insert(f.Segments, at, s)
	case "remove-segment":
		if seg() != nil {
			f.Segments = slices.Delete(f.Segments, idx[0], idx[0]+1)
		}
	case "up-segment":
		if s := seg(); s != nil && idx[0] > 0 {
			f.Segments[idx[0]-1], f.Segments[idx[0]] = f.Segments[idx[0]], f.Segments[idx[0]-1]
		}
	case "add-variant":
		if s := seg(); s != nil {
			s.Variants = append(s.Variants, formVariant{Key: "v" + strconv.Itoa(len(s.Variants)+1), Weight: "1"})
		}
	case "remove-variant":
		if s := seg(); s != nil && len(idx) == 2 && idx[1] >= 0 && idx[1] < len(s.Variants) {
			s.Variants = slices.Delete(s.Variants, idx[1], idx[1]+1)
			if s.Control >= idx[1] && s.Control > 0 {
				s.Control--
			}
		}
	case "add-cond", "add-group":
		if s := seg(); s != nil {
			c := formCond{Op: "equals"}
			if op == "add-group" {
				c = formCond{Group: "any", Kids: []formCond{{Op: "equals"}}}
			}
			if s.Form == "" {
				s.Form = "all"
			}
			if len(idx) == 2 && idx[1] >= 0 && idx[1] < len(s.Conds) && s.Conds[idx[1]].Group != "" {
				s.Conds[idx[1]].Kids = append(s.Conds[idx[1]].Kids, formCond{Op: "equals"})
			} else {
				s.Conds = append(s.Conds, c)
			}
		}
	case "remove-cond":
		if s := seg(); s != nil && len(idx) >= 2 && idx[1] >= 0 && idx[1] < len(s.Conds) {
			if len(idx) == 3 && idx[2] >= 0 && idx[2] < len(s.Conds[idx[1]].Kids) {
				s.Conds[idx[1]].Kids = slices.Delete(s.Conds[idx[1]].Kids, idx[2], idx[2]+1)
			} else {
				s.Conds = slices.Delete(s.Conds, idx[1], idx[1]+1)
			}
		}
	default:
		return false
	}
	return true
}

func indexes(arg string) []int {
	var out []int
	for _, p := range strings.Split(arg, ":") {
		if n, err := strconv.Atoi(p); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// metrics are the metrics, in the order the form offers them.
var metrics = []experiment.Metric{experiment.MetricOpenRate, experiment.MetricClickRate, experiment.MetricClickToOpen,
	experiment.MetricConversionRate, experiment.MetricRevenuePerRecipient, experiment.MetricUnsubscribeRate,
	experiment.MetricComplaintRate}

// ops are the rule operators, with what the form says of them.
var ops = []struct{ Op, Label string }{
	{"equals", "equals"}, {"not_equals", "does not equal"}, {"in", "is one of"}, {"not_in", "is none of"},
	{"gt", ">"}, {"gte", "≥"}, {"lt", "<"}, {"lte", "≤"}, {"before", "before (date)"}, {"after", "after (date)"},
	{"exists", "is set"}, {"not_exists", "is not set"},
}

// traitTypes are the behavioural traits' types, by name without the prefix
// (TestTraitTypesCoverCatalogue keeps it in step with traits.Names).
var traitTypes = map[string]string{
	"known": "true/false", "engagement_level": "text", "lifecycle_stage": "text", "preferred_channel": "text",
}

// traitType returns a trait attribute's type ("number", "text",
// "true/false"), or "" for a caller attribute.
func traitType(attr string) string {
	name, ok := strings.CutPrefix(attr, "trait.")
	if !ok || !slices.Contains(traits.Names[:], name) {
		return ""
	}
	if t, ok := traitTypes[name]; ok {
		return t
	}
	return "number"
}

// traitOption is a trait as the rule builder offers it.
type traitOption struct{ Name, Type string }

func traitOptions() []traitOption {
	out := make([]traitOption, 0, len(traits.Names))
	for _, n := range traits.Names {
		out = append(out, traitOption{"trait." + n, traitType("trait." + n)})
	}
	return out
}

// computedTypes name the computed traits' types as the form does.
var computedTypes = map[string]string{traits.TypeNumber: "number", traits.TypeString: "text",
	traits.TypeBool: "true/false", traits.TypeList: "text"}

// catalogueOptions are the behavioural traits and, when src has a
// catalogue (a *traits.Cache does), its computed traits.
func catalogueOptions(src any) []traitOption {
	out := traitOptions()
	cat := catalogueOf(src)
	if cat == nil {
		return out
	}
	for _, d := range cat.Traits {
		out = append(out, traitOption{"trait." + d.Name, computedTypes[d.Type]})
	}
	return out
}

// catalogueOf returns src's catalogue of computed traits when it has one
// (a *traits.Cache with a catalogue), nil otherwise.
func catalogueOf(src any) *traits.Catalogue {
	if withCat, ok := src.(interface{ Catalogue() *traits.Catalogue }); ok {
		return withCat.Catalogue()
	}
	return nil
}
