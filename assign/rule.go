package assign

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/splitcast/splitcast/experiment"
)

// Rule is an experiment.Rule compiled for matching: numbers parsed, dates
// parsed, "in" lists turned into sets. It is immutable and safe for
// concurrent use, and Match allocates nothing.
type Rule struct {
	node node
}

type nodeKind uint8

const (
	kindAll nodeKind = iota
	kindAny
	kindNot
	kindLeaf
)

type scalarKind uint8

const (
	scalarString scalarKind = iota
	scalarNumber
	scalarBool
)

type node struct {
	kind nodeKind
	kids []node
	code opcode
	attr string
	// trait is 1 + the index of attr among the trait names of the
	// compiled experiment (see compiled.traitNames), 0 when attr is not a
	// trait name or the rule was compiled alone.
	trait int32

	// equals / not_equals
	vkind scalarKind
	str   string
	num   float64 // also the operand of gt, gte, lt, lte
	b     bool

	// in / not_in: the strings in strList when there are few, in strs
	// otherwise
	strList           []string
	strs              map[string]struct{}
	nums              map[float64]struct{}
	hasTrue, hasFalse bool

	// before / after
	at experiment.Instant
	// farDay is a day "YYYY-MM-DD" from which on (before) or up to which
	// (after) every date-time, whatever its offset, fails to match; "" when
	// there is none in years 0001..9999.
	farDay string
}

// opcode is an experiment.Op as a small integer: a switch on it is a jump
// table, where a switch on the Op strings compared strings on every leaf
// of every rule matched.
type opcode uint8

const (
	opExists opcode = iota
	opNotExists
	opEquals
	opNotEquals
	opIn
	opNotIn
	opGT
	opGTE
	opLT
	opLTE
	opBefore
	opAfter
	opUnknown // never compiled: rules are validated first
)

func opcodeOf(op experiment.Op) opcode {
	switch op {
	case experiment.OpExists:
		return opExists
	case experiment.OpNotExists:
		return opNotExists
	case experiment.OpEquals:
		return opEquals
	case experiment.OpNotEquals:
		return opNotEquals
	case experiment.OpIn:
		return opIn
	case experiment.OpNotIn:
		return opNotIn
	case experiment.OpGT:
		return opGT
	case experiment.OpGTE:
		return opGTE
	case experiment.OpLT:
		return opLT
	case experiment.OpLTE:
		return opLTE
	case experiment.OpBefore:
		return opBefore
	case experiment.OpAfter:
		return opAfter
	}
	return opUnknown
}

// CompileRule validates r and compiles it. A nil rule compiles to nil,
// which matches every unit.
func CompileRule(r *experiment.Rule) (*Rule, error) {
	if r == nil {
		return nil, nil
	}
	if err := r.Validate("rule"); err != nil {
		return nil, err
	}
	return &Rule{node: compile(r)}, nil
}

// compile expects a validated rule.
func compile(r *experiment.Rule) node {
	switch {
	case r.All != nil:
		return node{kind: kindAll, kids: compileAll(r.All)}
	case r.Any != nil:
		return node{kind: kindAny, kids: compileAll(r.Any)}
	case r.Not != nil:
		return node{kind: kindNot, kids: []node{compile(r.Not)}}
	}
	n := node{kind: kindLeaf, code: opcodeOf(r.Op), attr: r.Attr}
	switch r.Op {
	case experiment.OpEquals, experiment.OpNotEquals:
		n.vkind, n.str, n.num, n.b = scalar(r.Value)
	case experiment.OpIn, experiment.OpNotIn:
		for _, v := range r.Values {
			k, s, f, b := scalar(v)
			switch k {
			case scalarString:
				n.strList = append(n.strList, s)
			case scalarNumber:
				if n.nums == nil {
					n.nums = map[float64]struct{}{}
				}
				n.nums[f] = struct{}{}
			case scalarBool:
				n.hasTrue = n.hasTrue || b
				n.hasFalse = n.hasFalse || !b
			}
		}
		// Comparing a few short strings costs less than hashing one: the
		// usual list is a handful of countries or plans.
		if len(n.strList) > maxStrList {
			n.strs = make(map[string]struct{}, len(n.strList))
			for _, s := range n.strList {
				n.strs[s] = struct{}{}
			}
			n.strList = nil
		}
	case experiment.OpGT, experiment.OpGTE, experiment.OpLT, experiment.OpLTE:
		n.num, _ = experiment.Number(r.Value)
	case experiment.OpBefore, experiment.OpAfter:
		s, _ := r.Value.(string)
		n.at, _ = experiment.ParseDate(s)
		n.farDay = farDay(r.Op == experiment.OpAfter, n.at)
	}
	return n
}

// farDay returns the day of node.farDay for an "after" or "before" rule at
// t. A date-time on local day D is an instant in [D - 23:59, D + 47:59),
// the offsets being at most ±23:59. The attribute's date parse is most of
// a date rule's cost, and dates are mostly days away from the rule's: a
// comparison of the first ten bytes rejects those without parsing. A
// string that is not a date fails to match either way.
func farDay(after bool, t experiment.Instant) string {
	const day, maxOffset = 86400, 23*3600 + 59*60
	var d time.Time
	if after {
		// The last day whose every instant is at or before t.
		d = time.Unix(t.Sec-day-maxOffset, 0).UTC()
	} else {
		// The first day whose every instant is after t (t.Sec+1 covers t's
		// fraction of a second): the day after the one holding t+23:59+1s,
		// unless that is a midnight.
		d = time.Unix(t.Sec+maxOffset+1+day-1, 0).UTC()
	}
	if d.Year() < 1 || d.Year() > 9999 {
		return ""
	}
	return d.Format(time.DateOnly)
}

// maxStrList is the most strings an "in" list is scanned for rather than
// looked up in a set.
const maxStrList = 8

func compileAll(rs []experiment.Rule) []node {
	out := make([]node, len(rs))
	for i := range rs {
		out[i] = compile(&rs[i])
	}
	return out
}

func scalar(v any) (scalarKind, string, float64, bool) {
	switch x := v.(type) {
	case string:
		return scalarString, x, 0, false
	case bool:
		return scalarBool, "", 0, x
	}
	f, _ := experiment.Number(v)
	return scalarNumber, "", f, false
}

// Match reports whether the unit with these attributes matches. A nil *Rule
// matches everything; a nil Lookup has no attributes.
func (r *Rule) Match(attrs Lookup) bool {
	if r == nil {
		return true
	}
	var u unitAttrs
	u.setLookup(attrs)
	return r.node.match(&u)
}

func (n *node) match(attrs *unitAttrs) bool {
	switch n.kind {
	case kindAll:
		for i := range n.kids {
			if !n.kids[i].match(attrs) {
				return false
			}
		}
		return true
	case kindAny:
		for i := range n.kids {
			if n.kids[i].match(attrs) {
				return true
			}
		}
		return false
	case kindNot:
		return !n.kids[0].match(attrs)
	}
	var v any
	if s, isNum := attrs.slot(n); s < 0 {
		v = attrs.lookup(n.attr)
	} else if isNum && n.code >= opGT && n.code <= opLTE {
		// Read as a number: no boxed value to unbox.
		f, ok := attrs.slots.src.Number(attrs.ref, s)
		return ok && n.compare(f)
	} else {
		v = attrs.slots.src.Value(attrs.ref, s)
	}
	switch n.code {
	case opExists:
		return v != nil
	case opNotExists:
		return v == nil
	case opEquals:
		return n.equalsAny(v)
	case opNotEquals:
		return !n.equalsAny(v)
	case opIn:
		return n.inAny(v)
	case opNotIn:
		return !n.inAny(v)
	case opGT, opGTE, opLT, opLTE:
		f, ok := number(v)
		return ok && n.compare(f)
	case opBefore, opAfter:
		s, ok := v.(string)
		if !ok {
			return false
		}
		// "YYYY-MM-DD" strings compare as their days do.
		if n.farDay != "" && len(s) >= len(n.farDay) {
			if d := s[:len(n.farDay)]; n.code == opAfter && d <= n.farDay ||
				n.code == opBefore && d >= n.farDay {
				return false
			}
		}
		t, ok := experiment.ParseDate(s)
		if !ok {
			return false
		}
		if n.code == opBefore {
			return t.Before(n.at)
		}
		return n.at.Before(t)
	}
	return false
}

// compare applies n's gt, gte, lt or lte to f.
func (n *node) compare(f float64) bool {
	switch n.code {
	case opGT:
		return f > n.num
	case opGTE:
		return f >= n.num
	case opLT:
		return f < n.num
	}
	return f <= n.num
}

// numberTraits numbers the leaves of n that read a trait name, adding
// names not seen before to names; it returns names.
func (n *node) numberTraits(names []string) []string {
	for i := range n.kids {
		names = n.kids[i].numberTraits(names)
	}
	if n.kind != kindLeaf || !strings.HasPrefix(n.attr, TraitPrefix) {
		return names
	}
	i := slices.Index(names, n.attr)
	if i < 0 {
		i = len(names)
		names = append(names, n.attr)
	}
	n.trait = int32(i + 1)
	return names
}

// equalsAny reports whether v equals the rule's value, or for a list
// attribute whether any element does ("tags equals vip" asks whether the
// unit has that tag). A string attribute against a string value, the usual
// case, is decided here without a call.
func (n *node) equalsAny(v any) bool {
	switch x := v.(type) {
	case string:
		if n.vkind == scalarString {
			return x == n.str
		}
	case nil:
		return false
	case []any:
		for _, e := range x {
			if n.equals(e) {
				return true
			}
		}
		return false
	case []string:
		for _, e := range x {
			if n.equals(e) {
				return true
			}
		}
		return false
	}
	return n.equals(v)
}

// inAny is equalsAny for "in": v, or any element of a list attribute, is
// in the rule's values. A string attribute against a list without numbers
// is decided by the string comparisons alone.
func (n *node) inAny(v any) bool {
	switch x := v.(type) {
	case string:
		if n.nums == nil {
			return n.inStrs(x)
		}
	case nil:
		return false
	case []any:
		for _, e := range x {
			if n.in(e) {
				return true
			}
		}
		return false
	case []string:
		for _, e := range x {
			if n.in(e) {
				return true
			}
		}
		return false
	}
	return n.in(v)
}

func (n *node) equals(v any) bool {
	switch n.vkind {
	case scalarString:
		s, ok := v.(string)
		return ok && s == n.str
	case scalarBool:
		b, ok := v.(bool)
		return ok && b == n.b
	}
	f, ok := number(v)
	return ok && f == n.num
}

func (n *node) in(v any) bool {
	switch x := v.(type) {
	case string:
		if n.inStrs(x) {
			return true
		}
		if n.nums == nil {
			return false
		}
	case bool:
		if x {
			return n.hasTrue
		}
		return n.hasFalse
	}
	f, ok := number(v)
	if !ok {
		return false
	}
	_, ok = n.nums[f]
	return ok
}

// inStrs reports whether s is one of the rule's string values.
func (n *node) inStrs(s string) bool {
	if n.strs != nil {
		_, ok := n.strs[s]
		return ok
	}
	for _, v := range n.strList {
		if v == s {
			return true
		}
	}
	return false
}

// number reads an attribute as a number: a Go number, json.Number, or a
// string in JSON's number grammar. Booleans are not numbers.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case string:
		return experiment.ParseNumber(x)
	case json.Number:
		return experiment.ParseNumber(string(x))
	case bool, nil:
		return 0, false
	}
	return experiment.Number(v)
}
