package api

import (
	"unicode/utf8"

	"github.com/splitcast/splitcast/api/jsonwire"
	"github.com/splitcast/splitcast/assign"
	"github.com/splitcast/splitcast/experiment"
)

// decodeAssign decodes a POST /v1/assign body (bulk: false) or one bulk
// NDJSON line (bulk: true, which has no "experiment"), as experiment.DecodeStrict would.
// The common shape goes through a hand-written parser: strict
// encoding/json was 15% of /v1/assign's CPU. Anything that parser does not
// fully understand, valid or not, goes to experiment.DecodeStrict, so every error, and
// every unusual but valid request (escapes, case-folded names, duplicate
// fields, null, nested attribute values), is experiment.DecodeStrict's.
// FuzzDecodeAssign holds the two equal.
func decodeAssign(data []byte, bulk bool, req *assignRequest) error {
	if utf8.Valid(data) && fastDecodeAssign(data, bulk, req) && !pins(len(data), func() int { return keptAssign(req) }) {
		return nil
	}
	// Decoded into variables of this branch: a pointer handed to
	// encoding/json escapes, and req would then be on the heap for the
	// fast path too.
	if !bulk {
		var slow assignRequest
		err := experiment.DecodeStrict(data, &slow)
		*req = slow
		return err
	}
	var in bulkLine
	err := experiment.DecodeStrict(data, &in)
	*req = assignRequest{UnitID: in.UnitID, Attributes: in.Attributes, SendID: in.SendID, Channel: in.Channel}
	return err
}

// keptAssign estimates the bytes of req worth keeping (see pins): its
// strings, and a number or boolean attribute as a few bytes.
func keptAssign(req *assignRequest) int {
	n := len(req.Experiment) + len(req.UnitID) + len(req.SendID) + len(req.Channel)
	for k, v := range req.Attributes {
		n += len(k) + 8
		if s, ok := v.(string); ok {
			n += len(s)
		}
	}
	return n
}

// The fields of an assign request, as bits of what was seen.
const (
	fieldExperiment = 1 << iota
	fieldUnitID
	fieldAttributes
	fieldSendID
	fieldChannel
)

// fastDecodeAssign parses {"name": value, ...} where every name is exactly
// a field of the request, each at most once; the string fields are strings
// with no escape; attributes is an object of such names mapped to escape-
// free strings, numbers, booleans or null. It reports false, with req in
// any state, for anything else.
func fastDecodeAssign(data []byte, bulk bool, req *assignRequest) bool {
	p := assignScanner{jsonwire.NewScanner(data)}
	p.Space()
	if !p.Consume('{') {
		return false
	}
	// One string for the whole input: every string field is a slice of
	// it, one allocation instead of one per field.
	src := string(data)
	seen := 0
	p.Space()
	if p.Consume('}') {
		return p.End()
	}
	for {
		name, ok := p.Name(src)
		if !ok {
			return false
		}
		var bit int
		var dst *string
		switch name {
		case "experiment":
			if bulk {
				return false
			}
			bit, dst = fieldExperiment, &req.Experiment
		case "unit_id":
			bit, dst = fieldUnitID, &req.UnitID
		case "send_id":
			bit, dst = fieldSendID, &req.SendID
		case "channel":
			bit, dst = fieldChannel, &req.Channel
		case "attributes":
			bit = fieldAttributes
		default:
			return false
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		if dst != nil {
			if *dst, ok = p.PlainString(src); !ok {
				return false
			}
		} else if req.Attributes, ok = p.attributes(src); !ok {
			return false
		}
		if more, ok := p.Next('}'); !more {
			return ok && p.End()
		}
	}
}

// assignScanner is a jsonwire.Scanner with the values of assign requests.
type assignScanner struct{ jsonwire.Scanner }

// attributes reads a flat object of scalars.
func (p *assignScanner) attributes(src string) (assign.Attributes, bool) {
	if !p.Consume('{') {
		return nil, false // null included: rare, left to experiment.DecodeStrict
	}
	p.Space()
	attrs := make(assign.Attributes, 8)
	if p.Consume('}') {
		return attrs, true
	}
	for {
		name, ok := p.Name(src)
		if !ok {
			return nil, false
		}
		v, ok := p.scalar(src)
		if !ok {
			return nil, false
		}
		attrs[name] = v // a repeated name: the last wins, as in encoding/json
		if more, ok := p.Next('}'); !more {
			return attrs, ok
		}
	}
}

// scalar reads a string, number, boolean or null as encoding/json decodes
// it into an interface value.
func (p *assignScanner) scalar(src string) (any, bool) {
	c, ok := p.Peek()
	if !ok {
		return nil, false
	}
	switch {
	case c == '"':
		return p.PlainString(src)
	case c == 't':
		return true, p.Literal("true")
	case c == 'f':
		return false, p.Literal("false")
	case c == 'n':
		return nil, p.Literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return p.Float(src)
	}
	return nil, false
}
