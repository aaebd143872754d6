package assign

import (
	"strings"

	"github.com/splitcast/splitcast/experiment"
)

// Explanation is a dry run of one assignment with the reasons behind it:
// "why did this unit get that?". Its Assignment is the one Assign gives
// for the same unit and attributes, because Explain runs the same code
// (compiled.assign) and only watches what it reads.
type Explanation struct {
	Assignment Assignment `json:"assignment"`
	// Segments are the segments tried in order, up to and including the
	// one that matched (all of them when none did).
	Segments []SegmentCheck `json:"segments"`
	// Layer is the layer check, nil when the experiment has no layer or
	// no segment matched.
	Layer *LayerCheck `json:"layer,omitempty"`
	// Allocation and Holdout are the experiment's shares, against which
	// Buckets.Allocation and Buckets.Holdout were compared.
	Allocation experiment.BasisPoints `json:"allocation"`
	Holdout    experiment.BasisPoints `json:"holdout"`
	// Hashed is the variant the variant hash fell on; it differs from the
	// assigned one after a reroute (Hashed was retired).
	Hashed string `json:"hashed_variant,omitempty"`
	// Retired are the matched segment's retired variants.
	Retired []string `json:"retired,omitempty"`
	// Attributes are the caller's attributes that the rules read, and
	// Traits the computed traits they read (trait.* names), with the
	// values seen; a name read but absent has a null value.
	Attributes map[string]any `json:"attributes"`
	Traits     map[string]any `json:"traits"`
}

// SegmentCheck is one segment's rule evaluated for the unit.
type SegmentCheck struct {
	Key     string     `json:"key"`
	Matched bool       `json:"matched"`
	Rule    *RuleCheck `json:"rule,omitempty"` // nil for a catch-all
}

// RuleCheck is one node of a rule tree with its outcome for the unit. A
// leaf has Attr, Op, the rule's Value or Values and the unit's Seen value;
// an all/any/not node has Form and Children.
type RuleCheck struct {
	Form     string        `json:"form,omitempty"` // "all", "any", "not"; empty for a leaf
	Attr     string        `json:"attr,omitempty"`
	Op       experiment.Op `json:"op,omitempty"`
	Value    any           `json:"value,omitempty"`
	Values   []any         `json:"values,omitempty"`
	Seen     any           `json:"seen,omitempty"`
	Matched  bool          `json:"matched"`
	Children []RuleCheck   `json:"children,omitempty"`
}

// LayerCheck is the unit's slot in the experiment's layer and the range
// the experiment admits.
type LayerCheck struct {
	Name      string `json:"name"`
	Slot      int    `json:"slot"`
	SlotStart int    `json:"slot_start"`
	SlotEnd   int    `json:"slot_end"`
	In        bool   `json:"in"`
}

// Explain is AssignWithTraits as a dry run that says why: it records no
// exposure (assignment never does; the caller simply logs nothing) and
// returns the explanation. It returns the same errors as Assign.
func (s *Snapshot) Explain(experimentKey, unitID string, attrs Attributes, traits TraitSource) (Explanation, error) {
	c, err := s.running(experimentKey)
	if err != nil {
		return Explanation{}, err
	}
	return c.explain(unitID, attrs, traits)
}

// Explain is Snapshot.Explain for one compiled experiment, whatever its
// status: the console's lookup of a draft.
func (c *Compiled) Explain(unitID string, attrs Attributes, traits TraitSource) (Explanation, error) {
	return c.c.explain(unitID, attrs, traits)
}

func (c *compiled) explain(unitID string, attrs Attributes, traits TraitSource) (Explanation, error) {
	seenAttrs, seenTraits := map[string]any{}, map[string]any{}
	x := Explanation{Allocation: experiment.BasisPoints(c.alloc), Holdout: experiment.BasisPoints(c.holdout),
		Attributes: seenAttrs, Traits: seenTraits}
	// The real decision and the real merge of attributes and traits, with
	// both sides watched: the explanation reads what assign reads.
	u := unitAttrs{attrs: attrsSeen{attrs, seenAttrs}, unit: unitID}
	if traits != nil {
		u.source = traitsSeen{traits, seenTraits}
	}
	if err := c.assign(&x.Assignment, unitID, &u); err != nil {
		return Explanation{}, err
	}
	a := &x.Assignment
	for i := range c.segments {
		seg := &c.segments[i]
		sc := SegmentCheck{Key: seg.key, Matched: true}
		if seg.rule != nil {
			rc := seg.rule.node.check(seg.src, &u)
			sc.Rule, sc.Matched = &rc, rc.Matched
		}
		x.Segments = append(x.Segments, sc)
		if seg.key == a.Segment {
			x.explainSegment(c, seg)
			break
		}
	}
	return x, nil
}

// explainSegment fills in what follows the segment match.
func (x *Explanation) explainSegment(c *compiled, seg *segment) {
	b := x.Assignment.Buckets
	if c.layer != "" {
		x.Layer = &LayerCheck{Name: c.layer, Slot: b.Layer, SlotStart: c.slotLo, SlotEnd: c.slotHi,
			In: b.Layer >= c.slotLo && b.Layer < c.slotHi}
	}
	for _, v := range seg.variants {
		if v.retired {
			x.Retired = append(x.Retired, v.key)
		}
	}
	if b.Variant >= 0 {
		x.Hashed = seg.variants[pick(seg.ends, b.Variant)].key
	}
}

// check evaluates n, compiled from src, as match does, node by node, with
// each node's outcome from match itself: the explanation cannot disagree
// with the decision. src gives the operands as written.
func (n *node) check(src *experiment.Rule, u *unitAttrs) RuleCheck {
	rc := RuleCheck{Matched: n.match(u)}
	var kids []experiment.Rule
	switch n.kind {
	case kindAll:
		rc.Form, kids = "all", src.All
	case kindAny:
		rc.Form, kids = "any", src.Any
	case kindNot:
		rc.Form, kids = "not", []experiment.Rule{*src.Not}
	default:
		rc.Attr, rc.Op, rc.Value, rc.Values = src.Attr, src.Op, src.Value, src.Values
		rc.Seen = u.lookup(n.attr)
		return rc
	}
	for i := range n.kids {
		rc.Children = append(rc.Children, n.kids[i].check(&kids[i], u))
	}
	return rc
}

// attrsSeen is the caller's attributes as a Lookup that notes each name
// read, with its value (nil when absent), except trait names it lacks:
// those are the traits' to answer.
type attrsSeen struct {
	m    Attributes
	seen map[string]any
}

// Lookup implements Lookup.
func (a attrsSeen) Lookup(name string) (any, bool) {
	v, ok := a.m[name]
	if ok || !strings.HasPrefix(name, TraitPrefix) {
		a.seen[name] = v
	}
	return v, ok
}

// traitsSeen is a TraitSource whose Lookups note each trait read.
type traitsSeen struct {
	src  TraitSource
	seen map[string]any
}

// UnitTraits implements TraitSource.
func (t traitsSeen) UnitTraits(unit string) Lookup {
	return traitLookupSeen{t.src.UnitTraits(unit), t.seen}
}

type traitLookupSeen struct {
	l    Lookup
	seen map[string]any
}

// Lookup implements Lookup.
func (t traitLookupSeen) Lookup(name string) (any, bool) {
	v, ok := t.l.Lookup(name)
	t.seen[name] = v
	return v, ok
}
