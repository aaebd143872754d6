package experiment

import "strconv"

// Op is a rule operator.
type Op string

// The operators of a leaf rule. Their exact semantics, including type
// coercion and missing attributes, are specified in docs/assignment.md.
const (
	OpEquals    Op = "equals"     // value: string, number or bool
	OpNotEquals Op = "not_equals" // the negation of equals
	OpIn        Op = "in"         // values: strings, numbers, bools
	OpNotIn     Op = "not_in"     // the negation of in
	OpGT        Op = "gt"         // value: number
	OpGTE       Op = "gte"        // value: number
	OpLT        Op = "lt"         // value: number
	OpLTE       Op = "lte"        // value: number
	OpBefore    Op = "before"     // value: date, RFC 3339 or YYYY-MM-DD
	OpAfter     Op = "after"      // value: date, RFC 3339 or YYYY-MM-DD
	OpExists    Op = "exists"     // no value
	OpNotExists Op = "not_exists" // no value
)

// Valid reports whether o is a known operator.
func (o Op) Valid() bool {
	switch o {
	case OpEquals, OpNotEquals, OpIn, OpNotIn, OpGT, OpGTE, OpLT, OpLTE,
		OpBefore, OpAfter, OpExists, OpNotExists:
		return true
	}
	return false
}

// Limits on a rule tree, so that a definition cannot make assignment slow.
const (
	MaxRuleDepth  = 8
	MaxRuleLeaves = 64
	MaxRuleValues = 1000
)

// Rule is a tree of conditions on a unit's attributes. Exactly one of its
// forms is set:
//
//	{"all": [rule, ...]}                       every child matches
//	{"any": [rule, ...]}                       at least one child matches
//	{"not": rule}                              the child does not match
//	{"attr": "plan", "op": "equals", "value": "pro"}
//	{"attr": "country", "op": "in", "values": ["FR", "DE"]}
//	{"attr": "signup", "op": "before", "value": "2024-01-01"}
//	{"attr": "email", "op": "exists"}
//
// Value holds what encoding/json decodes: string, float64 or bool (Go
// callers may also use other integer and float types). Rules are never
// mutated once built.
type Rule struct {
	All    []Rule `json:"all,omitempty"`
	Any    []Rule `json:"any,omitempty"`
	Not    *Rule  `json:"not,omitempty"`
	Attr   string `json:"attr,omitempty"`
	Op     Op     `json:"op,omitempty"`
	Value  any    `json:"value,omitempty"`
	Values []any  `json:"values,omitempty"`
}

// Clone returns a deep copy of the tree (values are shared).
func (r *Rule) Clone() *Rule {
	if r == nil {
		return nil
	}
	c := *r
	if r.All != nil {
		c.All = make([]Rule, len(r.All))
		for i := range r.All {
			c.All[i] = *r.All[i].Clone()
		}
	}
	if r.Any != nil {
		c.Any = make([]Rule, len(r.Any))
		for i := range r.Any {
			c.Any[i] = *r.Any[i].Clone()
		}
	}
	c.Not = r.Not.Clone()
	if r.Values != nil {
		c.Values = append([]any(nil), r.Values...)
	}
	return &c
}

// Validate checks the tree; errors name the offending field under prefix
// (e.g. "segments[0].rule").
func (r *Rule) Validate(prefix string) error {
	leaves := 0
	return r.validate(prefix, 1, &leaves)
}

// validate checks r, nested depth levels deep, adding its conditions to
// leaves, the count over the whole tree.
func (r *Rule) validate(field string, depth int, leaves *int) error {
	if depth > MaxRuleDepth {
		return Invalid(field, "rule nested deeper than %d levels", MaxRuleDepth)
	}
	if r.forms() != 1 {
		return Invalid(field, "a rule has exactly one of all, any, not, or attr with op")
	}
	switch {
	case r.All != nil:
		return validateChildren(field+".all", r.All, depth, leaves)
	case r.Any != nil:
		return validateChildren(field+".any", r.Any, depth, leaves)
	case r.Not != nil:
		return r.Not.validate(field+".not", depth+1, leaves)
	}
	*leaves++
	if *leaves > MaxRuleLeaves {
		return Invalid(field, "more than %d conditions in one rule", MaxRuleLeaves)
	}
	return r.validateCondition(field)
}

// forms counts the forms r has set among all, any, not, and a condition
// (any of attr, op, value, values): a valid rule has one.
func (r *Rule) forms() int {
	forms := 0
	if r.All != nil {
		forms++
	}
	if r.Any != nil {
		forms++
	}
	if r.Not != nil {
		forms++
	}
	if r.Attr != "" || r.Op != "" || r.Value != nil || r.Values != nil {
		forms++
	}
	return forms
}

// validateCondition checks a condition's attribute and operator, and that
// its value or values are what the operator takes.
func (r *Rule) validateCondition(field string) error {
	if r.Attr == "" {
		return Invalid(field+".attr", "missing attribute name")
	}
	if len(r.Attr) > 128 {
		return Invalid(field+".attr", "attribute name longer than 128 bytes")
	}
	if !r.Op.Valid() {
		return Invalid(field+".op", "unknown operator %q", r.Op)
	}
	switch r.Op {
	case OpEquals, OpNotEquals:
		if r.Values != nil {
			return Invalid(field+".values", "%s takes one value, not values", r.Op)
		}
		if !isScalar(r.Value) {
			return Invalid(field+".value", "%s needs a string, number or bool value", r.Op)
		}
	case OpIn, OpNotIn:
		return r.validateValues(field)
	case OpGT, OpGTE, OpLT, OpLTE:
		if r.Values != nil {
			return Invalid(field+".values", "%s takes one value, not values", r.Op)
		}
		if f, ok := Number(r.Value); !ok || f != f {
			return Invalid(field+".value", "%s needs a number value", r.Op)
		}
	case OpBefore, OpAfter:
		if r.Values != nil {
			return Invalid(field+".values", "%s takes one value, not values", r.Op)
		}
		s, _ := r.Value.(string)
		if _, ok := ParseDate(s); !ok {
			return Invalid(field+".value", "%s needs a date, RFC 3339 or YYYY-MM-DD", r.Op)
		}
	case OpExists, OpNotExists:
		if r.Value != nil || r.Values != nil {
			return Invalid(field+".value", "%s takes no value", r.Op)
		}
	}
	return nil
}

// validateValues checks the list of an in or not_in condition: values
// only, at most MaxRuleValues, each a scalar.
func (r *Rule) validateValues(field string) error {
	if r.Value != nil {
		return Invalid(field+".value", "%s takes values, a list", r.Op)
	}
	if len(r.Values) == 0 {
		return Invalid(field+".values", "%s needs a non-empty list of values", r.Op)
	}
	if len(r.Values) > MaxRuleValues {
		return Invalid(field+".values", "more than %d values", MaxRuleValues)
	}
	for i, v := range r.Values {
		if !isScalar(v) {
			return Invalid(field+".values["+strconv.Itoa(i)+"]", "want a string, number or bool")
		}
	}
	return nil
}

func validateChildren(field string, rules []Rule, depth int, leaves *int) error {
	if len(rules) == 0 {
		return Invalid(field, "needs at least one rule")
	}
	for i := range rules {
		if err := rules[i].validate(field+"["+strconv.Itoa(i)+"]", depth+1, leaves); err != nil {
			return err
		}
	}
	return nil
}

func isScalar(v any) bool {
	switch v.(type) {
	case string, bool:
		return true
	}
	f, ok := Number(v)
	return ok && f == f // NaN equals nothing: refuse it rather than keep a dead rule
}

// Number returns v as a float64 if v is a Go number (any integer or float
// type). Strings are not numbers here; see ParseNumber.
func Number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int8:
		return float64(n), true
	case int16:
		return float64(n), true
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint:
		return float64(n), true
	case uint8:
		return float64(n), true
	case uint16:
		return float64(n), true
	case uint32:
		return float64(n), true
	case uint64:
		return float64(n), true
	}
	return 0, false
}

// ParseNumber parses s if it is a number in JSON's grammar
// (-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?), rounding to the nearest
// float64 (overflow gives ±Inf). Any other string, including " 1", "+1",
// "0x1", "1." and "NaN", is not a number. It allocates nothing.
func ParseNumber(s string) (float64, bool) {
	if !isJSONNumber(s) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		// Only a range error is possible after the grammar check; the rounded
		// value (±Inf or 0) is what every other language gives too.
		if ne, ok := err.(*strconv.NumError); !ok || ne.Err != strconv.ErrRange {
			return 0, false
		}
	}
	return f, true
}

func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	if i >= len(s) {
		return false
	}
	if s[i] == '0' {
		i++
	} else if s[i] >= '1' && s[i] <= '9' {
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	} else {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == j {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == j {
			return false
		}
	}
	return i == len(s)
}

// Instant is a point in time as Unix seconds and nanoseconds, comparable
// without allocating.
type Instant struct {
	Sec  int64
	Nsec int32
}

// Before reports whether a is strictly earlier than b.
func (a Instant) Before(b Instant) bool {
	return a.Sec < b.Sec || (a.Sec == b.Sec && a.Nsec < b.Nsec)
}

// ParseDate parses the two date forms rules accept, and nothing else:
//
//	YYYY-MM-DD                                   midnight UTC of that day
//	YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)   RFC 3339
//
// The year runs 0001..9999; "T" and "Z" may be lower case; the fraction has
// 1 to 9 digits; seconds run 00..59 (no leap second). It allocates nothing.
func ParseDate(s string) (Instant, bool) {
	if len(s) < 10 {
		return Instant{}, false
	}
	year, ok1 := digits(s[0:4])
	month, ok2 := digits(s[5:7])
	day, ok3 := digits(s[8:10])
	if !ok1 || !ok2 || !ok3 || s[4] != '-' || s[7] != '-' {
		return Instant{}, false
	}
	if year < 1 || month < 1 || month > 12 || day < 1 || day > daysIn(year, month) {
		return Instant{}, false
	}
	if len(s) == 10 {
		return Instant{Sec: daysFromCivil(year, month, day) * 86400}, true
	}
	if len(s) < 20 || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' {
		return Instant{}, false
	}
	hour, ok1 := digits(s[11:13])
	minute, ok2 := digits(s[14:16])
	sec, ok3 := digits(s[17:19])
	if !ok1 || !ok2 || !ok3 || hour > 23 || minute > 59 || sec > 59 {
		return Instant{}, false
	}
	rest := s[19:]
	nsec := 0
	if rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		frac := n - 1
		if frac < 1 || frac > 9 {
			return Instant{}, false
		}
		v, _ := digits(rest[1:n])
		for i := frac; i < 9; i++ {
			v *= 10
		}
		nsec = v
		rest = rest[n:]
	}
	offset := 0
	switch {
	case rest == "Z" || rest == "z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := digits(rest[1:3])
		om, ok2 := digits(rest[4:6])
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return Instant{}, false
		}
		offset = oh*3600 + om*60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return Instant{}, false
	}
	unix := daysFromCivil(year, month, day)*86400 + int64(hour*3600+minute*60+sec-offset)
	return Instant{Sec: unix, Nsec: int32(nsec)}, true
}

// daysFromCivil returns the days from 1970-01-01 to a proleptic Gregorian
// date (Howard Hinnant's algorithm): cheaper than time.Date on the hot path.
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400 // y >= 0 here: years start at 1
	yoe := y - era*400
	mp := m - 3
	if m <= 2 {
		mp = m + 9
	}
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

func digits(s string) (int, bool) {
	if len(s) == 0 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
