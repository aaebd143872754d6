package traits

import (
	"strconv"
	"strings"

	"github.com/splitcast/splitcast/assign"
	"github.com/splitcast/splitcast/experiment"
)

// builtinTypes are the behavioural traits' types, by index.
var builtinTypes = [numTraits]string{
	TypeBool, TypeNumber, TypeNumber, TypeNumber, TypeNumber, TypeNumber, TypeNumber,
	TypeNumber, TypeNumber, TypeNumber, TypeNumber, TypeNumber,
	TypeNumber, TypeString, TypeString, TypeString,
}

// TypeOf returns the type of the trait of full name ("trait.opens_30d",
// "trait.support.open_tickets"): a behavioural trait, or one of c's (c may
// be nil).
func (c *Catalogue) TypeOf(full string) (string, bool) {
	if i := traitIndex(full); i >= 0 {
		return builtinTypes[i], true
	}
	if c == nil {
		return "", false
	}
	if i := c.index(full); i >= 0 {
		return c.Traits[i].Type, true
	}
	return "", false
}

// CheckRules checks every rule condition of e that reads a trait: the
// trait exists (a behavioural one, or one of c's, which may be nil) and the
// operator and value fit its type (a number compared as a number, a list
// matched against strings, no date operator on any trait). Errors name the
// field, as Experiment.Validate's do.
func (c *Catalogue) CheckRules(e *experiment.Experiment) error {
	for i := range e.Segments {
		if r := e.Segments[i].Rule; r != nil {
			if err := c.checkRule("segments["+strconv.Itoa(i)+"].rule", r); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *Catalogue) checkRule(field string, r *experiment.Rule) error {
	for i := range r.All {
		if err := c.checkRule(field+".all["+strconv.Itoa(i)+"]", &r.All[i]); err != nil {
			return err
		}
	}
	for i := range r.Any {
		if err := c.checkRule(field+".any["+strconv.Itoa(i)+"]", &r.Any[i]); err != nil {
			return err
		}
	}
	if r.Not != nil {
		return c.checkRule(field+".not", r.Not)
	}
	if !strings.HasPrefix(r.Attr, assign.TraitPrefix) {
		return nil
	}
	typ, ok := c.TypeOf(r.Attr)
	if !ok {
		return experiment.Invalid(field+".attr", "unknown trait %s: see GET /v1/traits/catalogue", r.Attr)
	}
	return checkOperand(field, r, typ)
}

// checkOperand checks that r's operator and value suit a trait of type typ.
func checkOperand(field string, r *experiment.Rule, typ string) error {
	switch r.Op {
	case experiment.OpExists, experiment.OpNotExists:
		return nil
	case experiment.OpGT, experiment.OpGTE, experiment.OpLT, experiment.OpLTE:
		if typ != TypeNumber {
			return experiment.Invalid(field+".op", "%s is a %s: %s compares numbers", r.Attr, typ, r.Op)
		}
		return nil
	case experiment.OpBefore, experiment.OpAfter:
		return experiment.Invalid(field+".op", "%s is a %s, not a date: %s compares dates", r.Attr, typ, r.Op)
	case experiment.OpEquals, experiment.OpNotEquals:
		return checkValueType(field+".value", r.Attr, r.Value, typ)
	case experiment.OpIn, experiment.OpNotIn:
		for i, v := range r.Values {
			if err := checkValueType(field+".values["+strconv.Itoa(i)+"]", r.Attr, v, typ); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkValueType(field, attr string, v any, typ string) error {
	var got string
	switch v.(type) {
	case string:
		got = TypeString
	case bool:
		got = TypeBool
	case float64, float32, int, int64, int32, uint, uint32, uint64:
		got = TypeNumber
	default:
		return nil // Rule.Validate refuses it already
	}
	if got == typ || (typ == TypeList && got == TypeString) {
		return nil
	}
	return experiment.Invalid(field, "%s is a %s, compared with a %s", attr, typ, got)
}

// Builtin names a behavioural trait and its type.
type Builtin struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Builtins lists the behavioural traits, by full name.
func Builtins() []Builtin {
	out := make([]Builtin, numTraits)
	for i := range out {
		out[i] = Builtin{Name: assign.TraitPrefix + Names[i], Type: builtinTypes[i]}
	}
	return out
}
