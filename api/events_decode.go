package api

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// decodeEvents decodes a POST /v1/events body into req exactly as
// decodeJSON does. The common shape, {"events":[{...},...]} with the
// fields of eventIn spelt exactly, strings without escapes, numbers and
// nulls, is read by a hand-written scanner (encoding/json was a third of
// the endpoint's CPU); anything else, errors included, goes to decodeJSON,
// so that every refusal keeps its field and message.
func decodeEvents(data []byte, req *eventsRequest) error {
	if fastDecodeEvents(data, req) {
		return nil
	}
	*req = eventsRequest{}
	return decodeJSON(data, req)
}

// fastDecodeEvents reads {"events": [object, ...]} with nothing else at the
// top, each object's names exactly fields of eventIn (repeats allowed: the
// last wins, as in encoding/json), string fields strings or null, value a
// number or null, time an RFC 3339 string or null. It reports false, with
// req in any state, for anything else.
func fastDecodeEvents(data []byte, req *eventsRequest) bool {
	p := eventsParser{b: data}
	p.space()
	if !p.consume('{') {
		return false
	}
	// One string for the whole body: every string field is a slice of it,
	// one allocation instead of one per field. (The body's own buffer is
	// reused by the next request; the events outlive it in the queue.)
	src := string(data)
	p.space()
	if name, ok := p.plainString(src); !ok || name != "events" {
		return false
	}
	p.space()
	if !p.consume(':') {
		return false
	}
	p.space()
	if !p.consume('[') {
		return false // null included: rare, left to decodeJSON
	}
	// A conversion is about 100 bytes of JSON.
	req.Events = make([]eventIn, 0, min(len(data)/64+1, 1024))
	p.space()
	if !p.consume(']') {
		var vals valueArena
		for {
			p.space()
			req.Events = append(req.Events, eventIn{})
			if !p.event(src, &req.Events[len(req.Events)-1], &vals) {
				return false
			}
			p.space()
			if p.consume(']') {
				break
			}
			if !p.consume(',') {
				return false
			}
		}
	}
	p.space()
	if !p.consume('}') {
		return false // a second top-level name: left to decodeJSON
	}
	return p.end()
}

// valueArena hands out the *float64 and *time.Time of eventIn from shared
// slices, a few allocations per batch instead of one per event.
type valueArena struct {
	floats []float64
	times  []time.Time
}

func (a *valueArena) float(v float64) *float64 {
	if len(a.floats) == cap(a.floats) {
		a.floats = make([]float64, 0, 128)
	}
	a.floats = append(a.floats, v)
	return &a.floats[len(a.floats)-1]
}

func (a *valueArena) time(t time.Time) *time.Time {
	if len(a.times) == cap(a.times) {
		a.times = make([]time.Time, 0, 128)
	}
	a.times = append(a.times, t)
	return &a.times[len(a.times)-1]
}

type eventsParser struct {
	b []byte
	i int
}

// event reads one object into in.
func (p *eventsParser) event(src string, in *eventIn, vals *valueArena) bool {
	if !p.consume('{') {
		return false
	}
	p.space()
	if p.consume('}') {
		return true
	}
	for {
		p.space()
		name, ok := p.plainString(src)
		if !ok {
			return false
		}
		p.space()
		if !p.consume(':') {
			return false
		}
		p.space()
		var dst *string
		switch name {
		case "id":
			dst = &in.ID
		case "idempotency_key":
			dst = &in.IdempotencyKey
		case "kind":
			dst = &in.Kind
		case "experiment":
			dst = &in.Experiment
		case "unit_id":
			dst = &in.UnitID
		case "token":
			dst = &in.Token
		case "name":
			dst = &in.Name
		case "value":
			if !p.value(src, in, vals) {
				return false
			}
		case "time":
			if !p.time(src, in, vals) {
				return false
			}
		default:
			// Unknown, or a known one spelt in another case, which
			// encoding/json accepts.
			return false
		}
		if dst != nil {
			switch {
			case p.literal("null"):
				// encoding/json leaves a string untouched on null.
			default:
				if *dst, ok = p.plainString(src); !ok {
					return false
				}
			}
		}
		p.space()
		if p.consume('}') {
			return true
		}
		if !p.consume(',') {
			return false
		}
	}
}

// value reads a number or null into in.Value.
func (p *eventsParser) value(src string, in *eventIn, vals *valueArena) bool {
	if p.literal("null") {
		in.Value = nil
		return true
	}
	start := p.i
	if !p.number() {
		return false
	}
	f, err := strconv.ParseFloat(src[start:p.i], 64)
	if err != nil {
		return false // out of range: decodeJSON names the field
	}
	in.Value = vals.float(f)
	return true
}

// time reads an RFC 3339 string or null into in.Time, through the same
// time.Time.UnmarshalJSON that encoding/json calls.
func (p *eventsParser) time(src string, in *eventIn, vals *valueArena) bool {
	if p.literal("null") {
		in.Time = nil
		return true
	}
	start := p.i
	if _, ok := p.plainString(src); !ok {
		return false
	}
	var t time.Time
	if err := t.UnmarshalJSON(p.b[start:p.i]); err != nil {
		return false
	}
	in.Time = vals.time(t)
	return true
}

func (p *eventsParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *eventsParser) consume(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// end reports whether only white space follows.
func (p *eventsParser) end() bool {
	p.space()
	return p.i == len(p.b)
}

// literal reads lit if it comes next.
func (p *eventsParser) literal(lit string) bool {
	if len(p.b)-p.i < len(lit) || string(p.b[p.i:p.i+len(lit)]) != lit {
		return false
	}
	p.i += len(lit)
	return true
}

// plainString reads a string with no escape, no control character and
// valid UTF-8, as a slice of src (src is the input as a string).
func (p *eventsParser) plainString(src string) (string, bool) {
	if !p.consume('"') {
		return "", false
	}
	start := p.i
	ascii := true
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := src[start:p.i]
			p.i++
			if !ascii && !utf8.ValidString(s) {
				return "", false // encoding/json replaces invalid bytes
			}
			return s, true
		case c == '\\' || c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
		p.i++
	}
	return "", false
}

// number reads a number in JSON's grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *eventsParser) number() bool {
	p.consume('-')
	if !p.consume('0') && !p.digits() {
		return false
	}
	if p.consume('.') && !p.digits() {
		return false
	}
	if p.consume('e') || p.consume('E') {
		if !p.consume('+') {
			p.consume('-')
		}
		if !p.digits() {
			return false
		}
	}
	return true
}

// digits reads one or more decimal digits.
func (p *eventsParser) digits() bool {
	start := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	return p.i > start
}
