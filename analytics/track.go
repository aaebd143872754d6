package analytics

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
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

// UserEvent is one user event as a caller sent it.
type UserEvent struct {
	ID         string
	UnitID     string
	Name       string
	Properties Properties
	Time       *time.Time
}

// Properties are a user event's properties as a caller sent them (the
// "properties" object of POST /v1/track), each key with its JSON value,
// checked and typed by NewUserEvent. They decode from JSON by JSONScanner:
// decoding them into a map of interfaces took a third of the route's CPU.
// A key sent twice keeps its last value, as decoding into a map does.
type Properties struct {
	sent    []sentProp
	tooMany bool // more than MaxProps distinct keys
}

// sentProp is one property as sent.
type sentProp struct {
	key  string
	kind JSONKind
	text string   // a string's content, a number's text
	list []string // an array's strings before its first other value
	n    int      // an array's length
	item int      // the index of an array's first value that is no string, or -1
}

// UnmarshalJSON reads a JSON object (or null, for none). Any other JSON
// value is an *json.UnmarshalTypeError, as decoding into a map gives.
func (ps *Properties) UnmarshalJSON(data []byte) error {
	*ps = Properties{}
	p := JSONScanner{S: string(data)}
	switch c := p.Peek(); {
	case c == 'n':
		return nil
	case c != '{':
		_, kind, _ := p.Value()
		return &json.UnmarshalTypeError{Value: string(kind), Type: reflect.TypeFor[map[string]any]()}
	}
	// encoding/json checked the syntax before it called this: a failure
	// here is a bug, not the caller's.
	if !ps.Scan(&p) || !p.AtEnd() {
		return errors.New("properties: unexpected JSON")
	}
	return nil
}

// Scan reads a JSON object of properties from p into ps, reporting
// whether it was one (a caller that scans a whole body by hand hands
// anything else to encoding/json, for its error).
func (ps *Properties) Scan(p *JSONScanner) bool { return ps.scan(p, nil) }

// PropArena gives the properties of many events scanned one after
// another room in a few shared arrays: growing each event's own slices of
// properties and of list strings, a few small allocations apiece, was
// most of what scanning a POST /v1/track body allocated. The zero value is
// ready; a batch's events keep what they scanned for as long as they live.
type PropArena struct {
	props Chunks[sentProp]
	strs  Chunks[string]
}

// Scan is ps.Scan with ps's properties and lists in a's room.
func (a *PropArena) Scan(ps *Properties, p *JSONScanner) bool { return ps.scan(p, a) }

// Chunks lends many short slices, filled one after another, room in a few
// shared arrays of ChunkLen (or more) elements, in place of an allocation
// or a few apiece. The zero value is ready.
type Chunks[T any] struct{ buf []T }

// ChunkLen is how many elements a Chunks array holds at least.
const ChunkLen = 512

// Room returns an empty slice to append to, with the free capacity of the
// current array, after starting a fresh one if fewer than want places are
// free. A slice that outgrows the places lent moves to an array of its own
// (append's), and Keep leaves those places to be lent again.
func (c *Chunks[T]) Room(want int) []T {
	if cap(c.buf)-len(c.buf) < want {
		c.buf = make([]T, 0, max(ChunkLen, want))
	}
	return c.buf[len(c.buf):len(c.buf)]
}

// Keep marks used, which Room lent, as taken if appends did not move it
// out of the array, and returns it capped at its length, so that nothing
// appended to it later can reach what Room lends next.
func (c *Chunks[T]) Keep(used []T) []T {
	if n := len(used); n > 0 && len(c.buf)+n <= cap(c.buf) && &c.buf[:len(c.buf)+1][len(c.buf)] == &used[0] {
		c.buf = c.buf[:len(c.buf)+n]
	}
	return used[:len(used):len(used)]
}

func (ps *Properties) scan(p *JSONScanner, a *PropArena) bool {
	*ps = Properties{}
	if !p.Eat('{') {
		return false
	}
	if p.Eat('}') {
		return true
	}
	if a != nil {
		ps.sent = a.props.Room(8)
		defer func() { ps.sent = a.props.Keep(ps.sent) }()
	}
	for {
		key, ok := p.Str()
		if !ok || !p.Eat(':') {
			return false
		}
		sp := sentProp{key: key, item: -1}
		if p.Eat('[') {
			sp.kind = JSONArray
			if a != nil {
				sp.list = a.strs.Room(8)
			}
			for !p.Eat(']') {
				if sp.n > 0 && !p.Eat(',') {
					return false
				}
				v, kind, ok := p.Value()
				if !ok {
					return false
				}
				if kind != JSONString && sp.item < 0 {
					sp.item = sp.n
				}
				if sp.item < 0 {
					sp.list = append(sp.list, v)
				}
				sp.n++
			}
			if a != nil {
				if sp.list = a.strs.Keep(sp.list); len(sp.list) == 0 {
					sp.list = nil // as without an arena
				}
			}
		} else if sp.text, sp.kind, ok = p.Value(); !ok {
			return false
		}
		ps.add(sp)
		if p.Eat(',') {
			continue
		}
		return p.Eat('}')
	}
}

// add keeps sp, in place of an earlier value of its key. Past MaxProps
// distinct keys the properties are refused anyway, so it stops looking
// for earlier ones: a body of many keys costs linear time.
func (ps *Properties) add(sp sentProp) {
	if ps.tooMany {
		return
	}
	for i := range ps.sent {
		if ps.sent[i].key == sp.key {
			ps.sent[i] = sp
			return
		}
	}
	if len(ps.sent) == MaxProps {
		ps.tooMany = true
		return
	}
	ps.sent = append(ps.sent, sp)
}

// TrackEvents checks a batch of user events all or nothing and makes their
// events, as ServerEvents does for server events: 1 to max events, the
// first problem named as events[i].field (properties.KEY for a property),
// an id repeated with other content refused ECONFLICT. An event's id is
// the caller's id within the unit (Digest "t:", unit, id), so a retried
// event counts once; without an id it is fresh, and a retry counts twice.
// Like NewUserEvent, it reorders each event's properties in place.
func TrackEvents(ids *IDs, in []UserEvent, max int, now time.Time) ([]Event, error) {
	return (&TrackBuffer{}).Events(ids, in, max, now)
}

// TrackBuffer is what TrackEvents allocates for a batch, kept for the
// next: the batch's Events and the ids seen in it. The events were most
// of what a POST /v1/track allocated (571 of 887 MB in a memory profile
// of BenchmarkTrackEvents); a Logger copies what it keeps, so once they
// are logged the buffer can take the next batch. Not for concurrent use.
type TrackBuffer struct {
	events []Event
	seen   map[string]int
}

// Events is TrackEvents into b: the events returned are b's until Reset.
func (b *TrackBuffer) Events(ids *IDs, in []UserEvent, max int, now time.Time) ([]Event, error) {
	if err := checkBatchSize(len(in), max); err != nil {
		return nil, err
	}
	now = now.UTC()
	b.Reset()
	out := slices.Grow(b.events[:0], len(in))[:len(in)]
	b.events = out
	if b.seen == nil {
		b.seen = make(map[string]int, len(in))
	}
	seen := b.seen
	var sc trackScratch
	for i := range in {
		ev, err := newUserEvent(ids, &in[i], now, &sc)
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

// Reset drops what b's events refer to, so that a kept buffer holds no
// batch alive.
func (b *TrackBuffer) Reset() {
	clear(b.events)
	b.events = b.events[:0]
	clear(b.seen)
}

// NewUserEvent checks one user event and makes its Event (KindTrack, its
// properties in Props). Errors name the field within the event. It sorts
// in's properties in place (checkProps), so in is not to be shared with
// another goroutine meanwhile.
func NewUserEvent(ids *IDs, in *UserEvent, now time.Time) (Event, error) {
	return newUserEvent(ids, in, now, &trackScratch{})
}

// trackScratch is what checking a batch's events reuses from one to the
// next: their typed properties and their encoding are needed only until
// the encoding is a string.
type trackScratch struct {
	props []Prop
	enc   []byte
}

func newUserEvent(ids *IDs, in *UserEvent, now time.Time, sc *trackScratch) (Event, error) {
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
	props, err := checkProps(in.Properties, sc.props[:0])
	if err != nil {
		return Event{}, err
	}
	sc.props = props
	if len(props) > 0 {
		// In key order already (checkProps), as EncodeProps sorts them.
		sc.enc = appendEncoding(sc.enc[:0], props)
		ev.Props = string(sc.enc)
	}
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
	return checkPropKey(func() string { return field }, key)
}

// checkPropKey is CheckPropKey with the field made only for an error.
func checkPropKey(field func() string, key string) error {
	if key == "" || len(key) > MaxPropKeyLen {
		return experiment.Invalid(field(), "a property key is 1 to %d bytes", MaxPropKeyLen)
	}
	for _, c := range []byte(key) {
		if !isWord(c) {
			return experiment.Invalid(field(), "a property key has only letters, digits and _")
		}
	}
	return nil
}

// checkProps checks properties in key order (so the error named is the
// same on every try) and types them, appending to out. It sorts in's
// properties in place: the order they were sent in means nothing.
func checkProps(in Properties, out []Prop) ([]Prop, error) {
	if in.tooMany {
		return nil, experiment.Invalid("properties", "more than %d properties", MaxProps)
	}
	sent := in.sent
	slices.SortFunc(sent, func(a, b sentProp) int { return strings.Compare(a.key, b.key) })
	if out == nil {
		out = make([]Prop, 0, len(sent))
	}
	for i := range sent {
		p, err := typedProp(&sent[i])
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// typedProp checks one property and types it. Its error's field is
// properties.KEY, or properties.KEY[i] for a list's string.
func typedProp(sp *sentProp) (Prop, error) {
	field := func() string { return "properties." + sp.key }
	if err := checkPropKey(field, sp.key); err != nil {
		return Prop{}, err
	}
	return typedValue(field, sp)
}

// sentValue is v, a value as encoding/json decodes into an interface, as
// a sentProp of key.
func sentValue(key string, v any) sentProp {
	sp := sentProp{key: key, item: -1}
	switch v := v.(type) {
	case string:
		sp.kind, sp.text = JSONString, v
	case float64:
		sp.kind, sp.text = JSONNumber, strconv.FormatFloat(v, 'g', -1, 64)
	case bool:
		sp.kind, sp.text = JSONBool, strconv.FormatBool(v)
	case []any:
		sp.kind, sp.n = JSONArray, len(v)
		for i, x := range v {
			s, ok := x.(string)
			if !ok {
				sp.item = i
				break
			}
			sp.list = append(sp.list, s)
		}
	case nil:
		sp.kind = JSONNull
	default:
		sp.kind = JSONObject
	}
	return sp
}

// typedValue checks a value and types it (its Key is sp's key); field
// names it in an error, made only for one.
func typedValue(field func() string, sp *sentProp) (Prop, error) {
	switch sp.kind {
	case JSONString:
		if err := checkPropString(field, sp.text, MaxPropStringLen); err != nil {
			return Prop{}, err
		}
		return Prop{Key: sp.key, Type: PropString, Str: sp.text}, nil
	case JSONNumber:
		// Out of float64's range, ParseFloat gives an infinity, refused.
		v, _ := strconv.ParseFloat(sp.text, 64)
		if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > MaxPropNumber {
			return Prop{}, experiment.Invalid(field(), "a number is finite and at most 1e15 in magnitude")
		}
		return Prop{Key: sp.key, Type: PropNumber, Num: v}, nil
	case JSONBool:
		return Prop{Key: sp.key, Type: PropBool, Bool: sp.text == "true"}, nil
	case JSONArray:
		if sp.n > MaxPropListLen {
			return Prop{}, experiment.Invalid(field(), "a list has at most %d strings", MaxPropListLen)
		}
		item := func(i int) func() string { return func() string { return field() + "[" + strconv.Itoa(i) + "]" } }
		for i, s := range sp.list {
			if err := checkPropString(item(i), s, MaxPropListItemLen); err != nil {
				return Prop{}, err
			}
		}
		if sp.item >= 0 {
			return Prop{}, experiment.Invalid(item(sp.item)(), "a list holds strings only")
		}
		list := sp.list
		if list == nil {
			list = []string{}
		}
		return Prop{Key: sp.key, Type: PropList, List: list}, nil
	}
	return Prop{}, experiment.Invalid(field(), "want a string, a number, a bool or a list of strings")
}

// checkPropString checks a string property or a list's string; field is
// made only for an error.
func checkPropString(field func() string, s string, limit int) error {
	if len(s) > limit {
		return experiment.Invalid(field(), "longer than %d bytes", limit)
	}
	if !utf8.ValidString(s) {
		return experiment.Invalid(field(), "not valid UTF-8")
	}
	return nil
}
