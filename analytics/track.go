package analytics

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/splitcast/splitcast/experiment"
)

// The limits of a user event (POST /v1/track). Each is enforced with an
// EINVALID error naming the field; the API documents them.
const (
	// MaxTrackNameLen bounds an event name, made of letters, digits and
	// _ . : - (names are what the trait catalogue and metrics refer to).
	MaxTrackNameLen = 128
	// MaxProps bounds the properties of one event.
	MaxProps = 50
	// MaxPropKeyLen bounds a property key, made of letters, digits and _.
	MaxPropKeyLen = 64
	// MaxPropStringLen bounds a string property's value in bytes.
	MaxPropStringLen = 1024
	// MaxPropListLen bounds the strings of a list property, each at most
	// MaxPropListItemLen bytes.
	MaxPropListLen     = 50
	MaxPropListItemLen = 256
	// MaxPropNumber bounds a number property's magnitude: beyond, sums
	// lose their units digit in float64.
	MaxPropNumber = 1e15
	// MaxTrackAge bounds how far in the past a user event may be: a year,
	// the longest trait window, so that a sender can load a year of
	// history. Thirteen monthly partitions per insert stay well under
	// ClickHouse's hundred.
	MaxTrackAge = 366 * 24 * time.Hour
)

// KindTrack is a user event: what a unit did, with no experiment attached
// (an order, a ticket, a page view), recorded by POST /v1/track. It is
// stored apart from the message events, in the user_events table.
const KindTrack Kind = "track"

// UserEvent is one user event as a caller sent it. Properties hold values
// as JSON decodes them: string, float64, bool, or []any of strings.
type UserEvent struct {
	ID         string
	UnitID     string
	Name       string
	Properties map[string]any
	Time       *time.Time
}

// TrackEvents checks a batch of user events all or nothing and makes their
// events, as ServerEvents does for server events: 1 to max events, the
// first problem named as events[i].field (properties.KEY for a property),
// an id repeated with other content refused ECONFLICT. An event's id is
// the caller's id within the unit (Digest "t:", unit, id), so a retried
// event counts once; without an id it is fresh, and a retry counts twice.
func TrackEvents(ids *IDs, in []UserEvent, max int, now time.Time) ([]Event, error) {
	if err := checkBatchSize(len(in), max); err != nil {
		return nil, err
	}
	now = now.UTC()
	out := make([]Event, len(in))
	seen := map[string]int{}
	for i := range in {
		ev, err := NewUserEvent(ids, &in[i], now)
		if err != nil {
			var e *experiment.Error
			if errors.As(err, &e) {
				e.Field = "events[" + strconv.Itoa(i) + "]." + e.Field
			}
			return nil, err
		}
		if in[i].ID != "" {
			if j, dup := seen[ev.ID]; dup && !sameEvent(&out[j], &ev) {
				return nil, &experiment.Error{Code: experiment.ECONFLICT, Field: "events[" + strconv.Itoa(i) + "].id",
					Message: "repeats the id of events[" + strconv.Itoa(j) + "] with different content: an id names one event"}
			}
			seen[ev.ID] = i
		}
		out[i] = ev
	}
	return out, nil
}

// NewUserEvent checks one user event and makes its Event (KindTrack, its
// properties in Props). Errors name the field within the event.
func NewUserEvent(ids *IDs, in *UserEvent, now time.Time) (Event, error) {
	if err := CheckUnit("unit_id", in.UnitID); err != nil {
		return Event{}, err
	}
	if err := checkTrackName(in.Name); err != nil {
		return Event{}, err
	}
	if err := checkID("id", in.ID); err != nil {
		return Event{}, err
	}
	ev := Event{Kind: KindTrack, Unit: in.UnitID, Name: in.Name, Time: now.Truncate(time.Second)}
	if in.Time != nil {
		if in.Time.After(now.Add(MaxSkew)) {
			return Event{}, experiment.Invalid("time", "more than 5 minutes in the future")
		}
		if in.Time.Before(now.Add(-MaxTrackAge)) {
			return Event{}, experiment.Invalid("time", "more than 366 days in the past")
		}
		ev.Time = in.Time.UTC().Truncate(time.Second)
	}
	props, err := checkProps(in.Properties)
	if err != nil {
		return Event{}, err
	}
	ev.Props = EncodeProps(props)
	if in.ID == "" {
		ev.ID = ids.Next("t:")
	} else {
		ev.ID = Digest("t:", in.UnitID, in.ID)
	}
	return ev, nil
}

// LinkClickedEvent is the name of the user event a human click on a link
// with a category makes, its category in the property LinkCategoryProp:
// the default catalogue's interests read it beside page views and orders.
const (
	LinkClickedEvent = "link_clicked"
	LinkCategoryProp = "category"
)

// LinkClicked returns the user event of unit's human click, at now, on a
// link of category (checked when the link was made). Machine clicks make
// none: a scanner that clicks every link says nothing of interests. Each
// click is its own event, as each click is.
func LinkClicked(ids *IDs, unit, category string, now time.Time) Event {
	return Event{ID: ids.Next("t:"), Kind: KindTrack, Unit: unit, Name: LinkClickedEvent,
		Time: now.UTC().Truncate(time.Second), Props: EncodeProps([]Prop{{Key: LinkCategoryProp, Type: PropString, Str: category}})}
}

func checkTrackName(name string) error {
	switch {
	case name == "":
		return experiment.Invalid("name", "required")
	case len(name) > MaxTrackNameLen:
		return experiment.Invalid("name", "longer than %d bytes", MaxTrackNameLen)
	}
	for _, c := range []byte(name) {
		if !isWord(c) && c != '.' && c != ':' && c != '-' {
			return experiment.Invalid("name", "only letters, digits and _ . : - are allowed")
		}
	}
	return nil
}

func isWord(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// CheckPropKey checks a property key: 1 to MaxPropKeyLen letters, digits
// and _. The trait catalogue names properties by the same rule.
func CheckPropKey(field, key string) error {
	if key == "" || len(key) > MaxPropKeyLen {
		return experiment.Invalid(field, "a property key is 1 to %d bytes", MaxPropKeyLen)
	}
	for _, c := range []byte(key) {
		if !isWord(c) {
			return experiment.Invalid(field, "a property key has only letters, digits and _")
		}
	}
	return nil
}

// checkProps checks properties in key order (so the error named is the
// same on every try) and types them.
func checkProps(in map[string]any) ([]Prop, error) {
	if len(in) > MaxProps {
		return nil, experiment.Invalid("properties", "more than %d properties", MaxProps)
	}
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]Prop, 0, len(in))
	for _, k := range keys {
		field := "properties." + k
		if err := CheckPropKey(field, k); err != nil {
			return nil, err
		}
		p, err := typedProp(field, k, in[k])
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func typedProp(field, key string, v any) (Prop, error) {
	switch v := v.(type) {
	case string:
		if err := checkPropString(field, v, MaxPropStringLen); err != nil {
			return Prop{}, err
		}
		return Prop{Key: key, Type: PropString, Str: v}, nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > MaxPropNumber {
			return Prop{}, experiment.Invalid(field, "a number is finite and at most 1e15 in magnitude")
		}
		return Prop{Key: key, Type: PropNumber, Num: v}, nil
	case bool:
		return Prop{Key: key, Type: PropBool, Bool: v}, nil
	case []any:
		if len(v) > MaxPropListLen {
			return Prop{}, experiment.Invalid(field, "a list has at most %d strings", MaxPropListLen)
		}
		list := make([]string, len(v))
		for i, x := range v {
			s, ok := x.(string)
			if !ok {
				return Prop{}, experiment.Invalid(field+"["+strconv.Itoa(i)+"]", "a list holds strings only")
			}
			if err := checkPropString(field+"["+strconv.Itoa(i)+"]", s, MaxPropListItemLen); err != nil {
				return Prop{}, err
			}
			list[i] = s
		}
		return Prop{Key: key, Type: PropList, List: list}, nil
	}
	return Prop{}, experiment.Invalid(field, "want a string, a number, a bool or a list of strings")
}

func checkPropString(field, s string, limit int) error {
	if len(s) > limit {
		return experiment.Invalid(field, "longer than %d bytes", limit)
	}
	if !utf8.ValidString(s) {
		return experiment.Invalid(field, "not valid UTF-8")
	}
	return nil
}
