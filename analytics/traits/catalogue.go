package traits

import (
	_ "embed"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"sync"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/experiment"
)

// Computed traits: what a unit's user events (POST /v1/track) say of it,
// declared in a catalogue rather than written in code, so that a
// deployment adds "orders over 30 days" by editing a JSON file. Each
// definition is one of the kinds below, over the unit's user events of the
// last Days UTC days (today and the Days-1 before it; default and at most
// MaxUserDays), each event counted once by its id:
//
//	count        events named in Events, minus those named in Minus (not below 0)
//	sum          of number property Property of those events (0 when none)
//	min, max     of it (absent when none)
//	mean         of it (absent when none)
//	last         Property of the latest such event that has it, of type Type
//	days_since   today minus the day of the latest such event (absent when none)
//	top          the K values of string or list property Property with the most
//	             weight, an event of d days ago weighing 0.5^(d/HalfLifeDays)
//	             (1 when HalfLifeDays is 0); ties by value; absent when none
//	happened     whether such an event had Property equal to Value (a list
//	             property: containing it)
//	active_days  the days with such an event (any user event when Events is empty)
//	distinct     the distinct values of Property (of Values alone, when given)
//	share        distinct values of Values seen, over len(Values)
//
// A rule reads a computed trait as trait.<name> ("trait.support.open_tickets");
// names have a group and a dot, so that they never meet the behavioural
// traits' names. Units with no user event have every count, sum, share and
// active_days 0, happened false and the rest absent.

// MaxUserDays is the longest window of a computed trait: the user events a
// unit's traits are computed from.
const MaxUserDays = 365

// The kinds of computed trait.
const (
	KindCount      = "count"
	KindSum        = "sum"
	KindMin        = "min"
	KindMax        = "max"
	KindMean       = "mean"
	KindLast       = "last"
	KindDaysSince  = "days_since"
	KindTop        = "top"
	KindHappened   = "happened"
	KindActiveDays = "active_days"
	KindDistinct   = "distinct"
	KindShare      = "share"
)

// The types of trait values, as rules see them.
const (
	TypeNumber = "number"
	TypeString = "string"
	TypeBool   = "bool"
	TypeList   = "list" // of strings
)

// Definition is one computed trait of a catalogue.
type Definition struct {
	Name         string   `json:"name"`
	Kind         string   `json:"kind"`
	Events       []string `json:"events,omitempty"`
	Minus        []string `json:"minus,omitempty"`
	Property     string   `json:"property,omitempty"`
	Type         string   `json:"type,omitempty"` // last: the property's type; otherwise set by the kind
	Value        any      `json:"value,omitempty"`
	Values       []string `json:"values,omitempty"`
	Days         int      `json:"days,omitempty"`
	K            int      `json:"k,omitempty"`
	HalfLifeDays float64  `json:"half_life_days,omitempty"`
	Doc          string   `json:"doc"`
}

// Catalogue is a checked list of definitions: immutable once loaded.
type Catalogue struct {
	Traits []Definition `json:"traits"`
	// byName indexes Traits by the full name rules use ("trait.x.y").
	byName map[string]int
	// names is every event name a definition reads (empty key: all, for
	// an active_days of any event).
	names map[string]bool
	// readers are, by event name, the definitions that read an event of
	// that name (minus: as one of its Minus); anyName those that read
	// every event. Compute goes over a unit's events once with them.
	readers map[string][]reader
	anyName []int
	// scratch holds *[]accum for Compute to reuse.
	scratch sync.Pool
}

// reader is a definition reading events of a name.
type reader struct {
	def   int
	minus bool
}

//go:embed catalogue.json
var defaultCatalogue []byte

// DefaultCatalogue returns the catalogue the server loads unless told
// another: purchases, support, interests, usage and onboarding.
func DefaultCatalogue() *Catalogue {
	c, err := ParseCatalogue(defaultCatalogue)
	if err != nil {
		panic("the embedded catalogue: " + err.Error()) // TestDefaultCatalogue keeps it valid
	}
	return c
}

var traitNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}\.[a-z][a-z0-9_]{0,63}$`)

// ParseCatalogue decodes and checks a catalogue file; errors name the
// field (traits[i].field).
func ParseCatalogue(data []byte) (*Catalogue, error) {
	var c Catalogue
	if err := experiment.DecodeStrict(data, &c); err != nil {
		return nil, err
	}
	c.byName = make(map[string]int, len(c.Traits))
	c.names = map[string]bool{}
	for i := range c.Traits {
		d := &c.Traits[i]
		f := "traits[" + strconv.Itoa(i) + "]"
		if err := d.check(f); err != nil {
			return nil, err
		}
		full := "trait." + d.Name
		if _, dup := c.byName[full]; dup {
			return nil, experiment.Invalid(f+".name", "%s is defined twice", d.Name)
		}
		c.byName[full] = i
		for _, n := range append(append([]string{}, d.Events...), d.Minus...) {
			c.names[n] = true
		}
		if len(d.Events) == 0 {
			c.names[""] = true
		}
	}
	c.indexReaders()
	return &c, nil
}

// indexReaders makes c.readers and c.anyName.
func (c *Catalogue) indexReaders() {
	c.readers = map[string][]reader{}
	for i := range c.Traits {
		d := &c.Traits[i]
		if len(d.Events) == 0 {
			c.anyName = append(c.anyName, i)
		}
		for _, n := range slices.Compact(slices.Sorted(slices.Values(d.Events))) {
			c.readers[n] = append(c.readers[n], reader{def: i})
		}
		for _, n := range slices.Compact(slices.Sorted(slices.Values(d.Minus))) {
			c.readers[n] = append(c.readers[n], reader{def: i, minus: true})
		}
	}
}

// check validates d and fills its defaults (Days, Type).
func (d *Definition) check(f string) error {
	if !traitNameRE.MatchString(d.Name) {
		return experiment.Invalid(f+".name", "want group.name, lower case letters, digits and _ (support.open_tickets)")
	}
	if d.Days == 0 {
		d.Days = MaxUserDays
	}
	if d.Days < 1 || d.Days > MaxUserDays {
		return experiment.Invalid(f+".days", "a window is 1 to %d days", MaxUserDays)
	}
	if len(d.Events) == 0 && d.Kind != KindActiveDays {
		return experiment.Invalid(f+".events", "name at least one event")
	}
	if len(d.Minus) > 0 && d.Kind != KindCount {
		return experiment.Invalid(f+".minus", "only a count takes minus")
	}
	needsProp := map[string]bool{KindSum: true, KindMin: true, KindMax: true, KindMean: true, KindLast: true,
		KindTop: true, KindHappened: true, KindDistinct: true, KindShare: true}
	if needsProp[d.Kind] {
		if err := analytics.CheckPropKey(f+".property", d.Property); err != nil {
			return err
		}
	} else if d.Property != "" {
		return experiment.Invalid(f+".property", "a %s reads no property", d.Kind)
	}
	return d.checkKind(f)
}

// checkKind checks what depends on d's kind and sets d.Type.
func (d *Definition) checkKind(f string) error {
	switch d.Kind {
	case KindCount, KindSum, KindMin, KindMax, KindMean, KindDaysSince, KindActiveDays, KindDistinct:
		// The kind sets the type: a catalogue's own is overwritten.
		d.Type = TypeNumber
	case KindShare:
		if len(d.Values) == 0 {
			return experiment.Invalid(f+".values", "a share needs the list of values it is a share of")
		}
		d.Type = TypeNumber
	case KindLast:
		if d.Type != TypeString && d.Type != TypeNumber && d.Type != TypeBool {
			return experiment.Invalid(f+".type", "a last needs the property's type: string, number or bool")
		}
	case KindTop:
		if d.K < 1 || d.K > 10 {
			return experiment.Invalid(f+".k", "a top takes 1 to 10 values")
		}
		if d.HalfLifeDays < 0 {
			return experiment.Invalid(f+".half_life_days", "want 0 (no weighting) or more")
		}
		d.Type = TypeList
	case KindHappened:
		switch d.Value.(type) {
		case string, float64, bool:
		default:
			return experiment.Invalid(f+".value", "a happened needs a string, number or bool value")
		}
		d.Type = TypeBool
	default:
		return experiment.Invalid(f+".kind", "unknown kind %q", d.Kind)
	}
	return nil
}

// Len is the number of computed traits.
func (c *Catalogue) Len() int { return len(c.Traits) }

// index returns the definition of full name ("trait.x.y"), -1 if none.
func (c *Catalogue) index(full string) int {
	if i, ok := c.byName[full]; ok {
		return i
	}
	return -1
}

// Reads reports whether a user event of that name feeds any trait.
func (c *Catalogue) Reads(name string) bool { return c.names[name] || c.names[""] }

// String describes a definition for errors.
func (d *Definition) String() string { return fmt.Sprintf("%s (%s, %s)", d.Name, d.Kind, d.Type) }
