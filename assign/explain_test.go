package assign_test

import (
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/splitcast/splitcast/assign"
	"github.com/splitcast/splitcast/experiment"
)

// explainDef has everything an explanation tells: a layer, a holdout, a
// partial allocation, a trait rule, a not, and a retired variant.
const explainDef = `{
  "key": "explain", "channel": "email", "primary_metric": "click_rate", "holdout": 10, "allocation": 80,
  "layer": {"name": "l1", "slot_start": 0, "slot_end": 7000},
  "segments": [
    {"key": "pro", "rule": {"all": [{"attr": "plan", "op": "equals", "value": "pro"},
                                    {"not": {"attr": "country", "op": "in", "values": ["US"]}}]},
     "variants": [{"key": "a", "weight": 1, "control": true}, {"key": "b", "weight": 1}]},
    {"key": "dormant", "rule": {"any": [{"attr": "trait.days_since_open", "op": "gte", "value": 30},
                                        {"attr": "trait.opens_30d", "op": "exists"}]},
     "variants": [{"key": "a", "weight": 1, "control": true}, {"key": "b", "weight": 1}]},
    {"key": "rest", "variants": [{"key": "a", "weight": 2, "control": true}, {"key": "b", "weight": 1}, {"key": "c", "weight": 1}]}
  ]
}`

// TestExplainAgreesWithAssign: for many units and attribute shapes, the
// explanation's assignment is AssignWithTraits's, its segment checks say
// that every segment before the matched one failed, and it names the
// traits and attributes read.
func TestExplainAgreesWithAssign(t *testing.T) {
	e := mustExperiment(t, explainDef)
	v, err := experiment.Retire(e, "rest", "b", "test", "worse", t0)
	if err != nil {
		t.Fatal(err)
	}
	s := mustSnapshot(t, v.Definition)
	src := &countingTraits{traits: assign.Attributes{"trait.days_since_open": 45.0}}
	attrsOf := []assign.Attributes{nil, {"plan": "pro", "country": "FR"}, {"plan": "pro", "country": "US"}, {"plan": "free"}}
	seen := map[assign.Reason]int{}
	for i := 0; i < 4000; i++ {
		unit := "u-" + strconv.Itoa(i)
		attrs := attrsOf[i%len(attrsOf)]
		var traits assign.TraitSource
		if i%3 == 0 {
			traits = src
		}
		want, err := s.AssignWithTraits("explain", unit, attrs, traits)
		if err != nil {
			t.Fatal(err)
		}
		x, err := s.Explain("explain", unit, attrs, traits)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(x.Assignment, want) {
			t.Fatalf("Explain(%s).Assignment = %+v, AssignWithTraits = %+v", unit, x.Assignment, want)
		}
		seen[want.Reason]++
		last := x.Segments[len(x.Segments)-1]
		for _, sc := range x.Segments[:len(x.Segments)-1] {
			if sc.Matched {
				t.Fatalf("Explain(%s): segment %s matched before %s", unit, sc.Key, last.Key)
			}
		}
		if want.Segment != "" && (last.Key != want.Segment || !last.Matched) {
			t.Fatalf("Explain(%s): last segment %+v, want %s matched", unit, last, want.Segment)
		}
		if want.Reason == assign.ReasonReroute && x.Hashed != "b" {
			t.Fatalf("Explain(%s): rerouted from %q, want b (the retired)", unit, x.Hashed)
		}
		if want.Segment == "rest" && !reflect.DeepEqual(x.Retired, []string{"b"}) {
			t.Fatalf("Explain(%s).Retired = %q, want [b]", unit, x.Retired)
		}
		if x.Layer == nil || x.Layer.Slot != want.Buckets.Layer || x.Layer.In != (want.Reason != assign.ReasonLayer) {
			t.Fatalf("Explain(%s).Layer = %+v, buckets %+v reason %s", unit, x.Layer, want.Buckets, want.Reason)
		}
		if _, ok := x.Attributes["plan"]; !ok {
			t.Fatalf("Explain(%s).Attributes = %v, want plan read", unit, x.Attributes)
		}
		if got := x.Traits["trait.days_since_open"]; (traits != nil && !x.Segments[0].Matched) != (got == 45.0) {
			t.Fatalf("Explain(%s, traits %v).Traits = %v", unit, traits != nil, x.Traits)
		}
	}
	for _, r := range []assign.Reason{assign.ReasonLayer, assign.ReasonAllocation, assign.ReasonHoldout, assign.ReasonVariant, assign.ReasonReroute} {
		if seen[r] == 0 {
			t.Errorf("no unit of 4000 was decided by %s: %v", r, seen)
		}
	}
}

// TestExplainRuleTree: the leaves carry the rule's operands as written
// and the unit's values.
func TestExplainRuleTree(t *testing.T) {
	s := mustSnapshot(t, mustExperiment(t, explainDef))
	x, err := s.Explain("explain", "u-1", assign.Attributes{"plan": "pro", "country": "US"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pro := x.Segments[0]
	if pro.Matched || pro.Rule.Form != "all" || len(pro.Rule.Children) != 2 {
		t.Fatalf("segment pro = %+v, want a failed all of 2", pro)
	}
	plan, not := pro.Rule.Children[0], pro.Rule.Children[1]
	if !plan.Matched || plan.Attr != "plan" || plan.Value != "pro" || plan.Seen != "pro" {
		t.Errorf("plan leaf = %+v", plan)
	}
	if not.Matched || not.Form != "not" || !not.Children[0].Matched || not.Children[0].Seen != "US" ||
		!reflect.DeepEqual(not.Children[0].Values, []any{"US"}) {
		t.Errorf("not leaf = %+v", not)
	}
	if _, err := s.Explain("explain", "", nil, nil); experiment.ErrorCode(err) != experiment.EINVALID {
		t.Errorf("Explain(empty unit) = %v, want EINVALID", err)
	}
	if _, err := s.Explain("nope", "u", nil, nil); experiment.ErrorCode(err) != experiment.ENOTFOUND ||
		!strings.Contains(err.Error(), "nope") {
		t.Errorf("Explain(unknown) = %v, want ENOTFOUND", err)
	}
}

// BenchmarkExplain is BenchmarkAssign's last-segment case explained: the
// price of a lookup, which runs once per person asking, not per send.
func BenchmarkExplain(b *testing.B) {
	s := mustSnapshot(b, mustExperiment(b, bench3x4))
	attrs := assign.Attributes{"plan": "free", "country": "US", "opens_30d": 1.0, "last_open": "2024-11-02T10:00:00Z"}
	for _, bc := range []struct {
		name string
		run  func() error
	}{
		{"assign", func() error { _, err := s.Assign("bench", "u-12345", attrs); return err }},
		{"explain", func() error { _, err := s.Explain("bench", "u-12345", attrs, nil); return err }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if err := bc.run(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
