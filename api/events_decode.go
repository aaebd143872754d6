package api

import (
	"time"
	"unicode/utf8"

	"github.com/splitcast/splitcast/api/jsonwire"
	"github.com/splitcast/splitcast/experiment"
)

// decodeEvents decodes a POST /v1/events body into req exactly as
// experiment.DecodeStrict does. The common shape, {"events":[{...},...]} with the
// fields of eventIn spelt exactly, strings without escapes, numbers and
// nulls, is read by a hand-written scanner (encoding/json was a third of
// the endpoint's CPU); anything else, errors included, goes to experiment.DecodeStrict,
// so that every refusal keeps its field and message.
func decodeEvents(data []byte, req *eventsRequest) error {
	if utf8.Valid(data) && fastDecodeEvents(data, req) && !pins(len(data), func() int { return keptEvents(req) }) {
		return nil
	}
	*req = eventsRequest{}
	return experiment.DecodeStrict(data, req)
}

// keptEvents estimates the bytes of req's events worth keeping: their
// strings, and a number or a time as a few bytes each.
func keptEvents(req *eventsRequest) int {
	n := 0
	for i := range req.Events {
		e := &req.Events[i]
		n += len(e.ID) + len(e.IdempotencyKey) + len(e.Kind) + len(e.Experiment) + len(e.UnitID) + len(e.Token) + len(e.Name) + len(e.Channel)
		if e.Value != nil {
			n += 8
		}
		if e.Time != nil {
			n += 32
		}
	}
	return n
}

// pins reports whether strings sliced from a body of size bytes would keep
// much more memory alive than the kept bytes they stand for: the fast
// decoders' strings share one copy of the body, and the events they make
// wait in the ingest queue, which is bounded by count, not bytes. A body
// padded with white space or overwritten fields is decoded again by
// experiment.DecodeStrict, whose strings are exactly sized. kept is only asked of a
// body over pinFloor bytes, which no body under it can pin: most assign
// requests are, and keptAssign walks a map.
func pins(size int, kept func() int) bool { return size > pinFloor && size > 4*kept()+pinFloor }

const pinFloor = 1024

// fastDecodeEvents reads {"events": [object, ...]} with nothing else at the
// top, each object's names exactly fields of eventIn (repeats allowed: the
// last wins, as in encoding/json), string fields strings or null, value a
// number or null, time an RFC 3339 string or null. It reports false, with
// req in any state, for anything else.
func fastDecodeEvents(data []byte, req *eventsRequest) bool {
	p := eventsScanner{jsonwire.NewScanner(data)}
	p.Space()
	if !p.Consume('{') {
		return false
	}
	// One string for the whole body: every string field is a slice of it,
	// one allocation instead of one per field. (The body's own buffer is
	// reused by the next request; the events outlive it in the queue.)
	src := string(data)
	if name, ok := p.Name(src); !ok || name != "events" {
		return false
	}
	if !p.Consume('[') {
		return false // null included: rare, left to experiment.DecodeStrict
	}
	// A conversion is about 100 bytes of JSON.
	req.Events = make([]eventIn, 0, min(len(data)/64+1, 1024))
	p.Space()
	if !p.Consume(']') {
		var vals valueArena
		for more := true; more; {
			p.Space()
			req.Events = append(req.Events, eventIn{})
			if !p.event(src, &req.Events[len(req.Events)-1], &vals) {
				return false
			}
			var ok bool
			if more, ok = p.Next(']'); !ok {
				return false
			}
		}
	}
	p.Space()
	if !p.Consume('}') {
		return false // a second top-level name: left to experiment.DecodeStrict
	}
	return p.End()
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

// eventsScanner is a jsonwire.Scanner with the values of events.
type eventsScanner struct{ jsonwire.Scanner }

// event reads one object into in.
func (p *eventsScanner) event(src string, in *eventIn, vals *valueArena) bool {
	if !p.Consume('{') {
		return false
	}
	p.Space()
	if p.Consume('}') {
		return true
	}
	for {
		name, ok := p.Name(src)
		if !ok {
			return false
		}
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
		case "channel":
			dst = &in.Channel
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
			case p.Literal("null"):
				// encoding/json leaves a string untouched on null.
			default:
				if *dst, ok = p.PlainString(src); !ok {
					return false
				}
			}
		}
		if more, ok := p.Next('}'); !more {
			return ok
		}
	}
}

// value reads a number or null into in.Value.
func (p *eventsScanner) value(src string, in *eventIn, vals *valueArena) bool {
	if p.Literal("null") {
		in.Value = nil
		return true
	}
	f, ok := p.Float(src)
	if !ok {
		return false
	}
	in.Value = vals.float(f)
	return true
}

// time reads an RFC 3339 string or null into in.Time, through the same
// time.Time.UnmarshalJSON that encoding/json calls.
func (p *eventsScanner) time(src string, in *eventIn, vals *valueArena) bool {
	if p.Literal("null") {
		in.Time = nil
		return true
	}
	start := p.Pos()
	if _, ok := p.PlainString(src); !ok {
		return false
	}
	var t time.Time
	if err := t.UnmarshalJSON(p.Since(start)); err != nil {
		return false
	}
	in.Time = vals.time(t)
	return true
}
