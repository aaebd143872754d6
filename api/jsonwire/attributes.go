package jsonwire

import "github.com/splitcast/splitcast/assign"

// Attributes reads a flat object of scalars, as an assign request's
// attributes, into the map encoding/json would decode it to; false for
// anything else (null and nested values included), left to encoding/json.
func (p *Scanner) Attributes(src string) (assign.Attributes, bool) {
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
		v, ok := p.Scalar(src)
		if !ok {
			return nil, false
		}
		attrs[name] = v // a repeated name: the last wins, as in encoding/json
		if more, ok := p.Next('}'); !more {
			return attrs, ok
		}
	}
}

// Scalar reads a string, number, boolean or null as encoding/json decodes
// it into an interface value.
func (p *Scanner) Scalar(src string) (any, bool) {
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
