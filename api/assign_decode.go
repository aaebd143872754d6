package api

import (
	"strconv"
	"unicode/utf8"

	"github.com/splitcast/splitcast/assign"
)

// decodeAssign decodes a POST /v1/assign body (bulk: false) or one bulk
// NDJSON line (bulk: true, which has no "experiment"), as decodeJSON would.
// The common shape goes through a hand-written parser: strict
// encoding/json was 15% of /v1/assign's CPU. Anything that parser does not
// fully understand, valid or not, goes to decodeJSON, so every error, and
// every unusual but valid request (escapes, case-folded names, duplicate
// fields, null, nested attribute values), is decodeJSON's.
// FuzzDecodeAssign holds the two equal.
func decodeAssign(data []byte, bulk bool, req *assignRequest) error {
	if fastDecodeAssign(data, bulk, req) {
		return nil
	}
	// Decoded into variables of this branch: a pointer handed to
	// encoding/json escapes, and req would then be on the heap for the
	// fast path too.
	if !bulk {
		var slow assignRequest
		err := decodeJSON(data, &slow)
		*req = slow
		return err
	}
	var in bulkLine
	err := decodeJSON(data, &in)
	*req = assignRequest{UnitID: in.UnitID, Attributes: in.Attributes, SendID: in.SendID, Channel: in.Channel}
	return err
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
	p := fastParser{b: data}
	p.space()
	if !p.consume('{') {
		return false
	}
	// One string for the whole input: every string field is a slice of
	// it, one allocation instead of one per field.
	src := string(data)
	seen := 0
	p.space()
	if p.consume('}') {
		return p.end()
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
			if *dst, ok = p.plainString(src); !ok {
				return false
			}
		} else if req.Attributes, ok = p.attributes(src); !ok {
			return false
		}
		p.space()
		if p.consume('}') {
			return p.end()
		}
		if !p.consume(',') {
			return false
		}
	}
}

type fastParser struct {
	b []byte
	i int
}

func (p *fastParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *fastParser) consume(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// end reports whether only white space follows.
func (p *fastParser) end() bool {
	p.space()
	return p.i == len(p.b)
}

// plainString reads a string with no escape, no control character and
// valid UTF-8, as a slice of src (src is the input as a string).
func (p *fastParser) plainString(src string) (string, bool) {
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

// attributes reads a flat object of scalars.
func (p *fastParser) attributes(src string) (assign.Attributes, bool) {
	if !p.consume('{') {
		return nil, false // null included: rare, left to decodeJSON
	}
	p.space()
	attrs := make(assign.Attributes, 8)
	if p.consume('}') {
		return attrs, true
	}
	for {
		p.space()
		name, ok := p.plainString(src)
		if !ok {
			return nil, false
		}
		p.space()
		if !p.consume(':') {
			return nil, false
		}
		p.space()
		v, ok := p.scalar(src)
		if !ok {
			return nil, false
		}
		attrs[name] = v // a repeated name: the last wins, as in encoding/json
		p.space()
		if p.consume('}') {
			return attrs, true
		}
		if !p.consume(',') {
			return nil, false
		}
	}
}

// scalar reads a string, number, boolean or null as encoding/json decodes
// it into an interface value.
func (p *fastParser) scalar(src string) (any, bool) {
	if p.i >= len(p.b) {
		return nil, false
	}
	switch c := p.b[p.i]; {
	case c == '"':
		return p.plainString(src)
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		start := p.i
		if !p.number() {
			return nil, false
		}
		f, err := strconv.ParseFloat(src[start:p.i], 64)
		if err != nil {
			return nil, false // out of range: decodeJSON names the field
		}
		return f, true
	}
	return nil, false
}

func (p *fastParser) literal(lit string) bool {
	if len(p.b)-p.i < len(lit) || string(p.b[p.i:p.i+len(lit)]) != lit {
		return false
	}
	p.i += len(lit)
	return true
}

// number reads a number in JSON's grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *fastParser) number() bool {
	p.consume('-')
	if p.consume('0') {
		// no leading zeros
	} else if !p.digits() {
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
func (p *fastParser) digits() bool {
	start := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	return p.i > start
}
