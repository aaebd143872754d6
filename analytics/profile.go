package analytics

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/splitcast/splitcast/experiment"
)

// The limits of a stored profile write (POST /v1/units/{unit}/attributes).
const (
	// MaxProfileAttrs bounds the attributes of one write.
	MaxProfileAttrs = 100
	// MaxAttrNameLen bounds an attribute's name.
	MaxAttrNameLen = 128
)

// ProfileUpdate is one unit's attributes as a caller sent them to store:
// values as JSON decodes them (string, float64, bool, []any of strings),
// nil to remove the attribute.
type ProfileUpdate struct {
	UnitID     string
	Attributes map[string]any
}

// ProfileWrite is a checked profile update: the unit and the attributes it
// sets, as a canonical JSON object (null: removed).
type ProfileWrite struct {
	Unit  string
	Attrs string
}

// ProfileWrites checks a batch of profile updates all or nothing, naming
// the first problem as units[i].field (the single form names no prefix:
// pass one update and prefix ""). Attribute names are 1 to MaxAttrNameLen
// bytes of valid UTF-8 and never start with "trait." (those are Splitcast's
// own); values are what a user event's properties may be, or null.
func ProfileWrites(in []ProfileUpdate, max int, prefix string) ([]ProfileWrite, error) {
	if len(in) == 0 {
		return nil, experiment.Invalid("units", "want at least one unit")
	}
	if len(in) > max {
		return nil, &experiment.Error{Code: experiment.ETOOLARGE, Field: "units",
			Message: "at most " + strconv.Itoa(max) + " units per request"}
	}
	out := make([]ProfileWrite, len(in))
	for i := range in {
		w, err := profileWrite(&in[i])
		if err != nil {
			var e *experiment.Error
			if prefix != "" && errors.As(err, &e) {
				e.Field = prefix + "[" + strconv.Itoa(i) + "]." + e.Field
			}
			return nil, err
		}
		out[i] = w
	}
	return out, nil
}

func profileWrite(in *ProfileUpdate) (ProfileWrite, error) {
	if err := CheckUnit("unit_id", in.UnitID); err != nil {
		return ProfileWrite{}, err
	}
	if len(in.Attributes) == 0 {
		return ProfileWrite{}, experiment.Invalid("attributes", "want at least one attribute")
	}
	if len(in.Attributes) > MaxProfileAttrs {
		return ProfileWrite{}, experiment.Invalid("attributes", "more than %d attributes", MaxProfileAttrs)
	}
	keys := make([]string, 0, len(in.Attributes))
	for k := range in.Attributes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		field := "attributes." + k
		switch {
		case k == "" || len(k) > MaxAttrNameLen || !utf8.ValidString(k):
			return ProfileWrite{}, experiment.Invalid(field, "a name is 1 to %d bytes of UTF-8", MaxAttrNameLen)
		case strings.HasPrefix(k, "trait."):
			return ProfileWrite{}, experiment.Invalid(field, "trait. names are Splitcast's computed traits: not stored")
		}
		if v := in.Attributes[k]; v != nil {
			sp := sentValue(k, v)
			if _, err := typedValue(func() string { return field }, &sp); err != nil {
				return ProfileWrite{}, err
			}
		}
	}
	b, err := json.Marshal(in.Attributes) // sorted keys: canonical
	if err != nil {
		return ProfileWrite{}, experiment.Invalid("attributes", "%v", err)
	}
	return ProfileWrite{Unit: in.UnitID, Attrs: string(b)}, nil
}
