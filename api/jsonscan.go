package api

import (
	"strconv"
	"unicode/utf8"
)

// jsonScanner reads the plain subset of JSON that the fast decoders
// (decodeAssign, decodeEvents) take: strings without escapes, numbers,
// literals. Every method reports false, or leaves the input unread, on
// anything outside that subset, and the decoder then hands the whole input
// to experiment.DecodeStrict; so a method may refuse valid JSON, but must never accept
// what encoding/json would decode differently.
type jsonScanner struct {
	b []byte
	i int
}

// space skips white space.
func (p *jsonScanner) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// consume reads c if it comes next.
func (p *jsonScanner) consume(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// end reports whether only white space follows.
func (p *jsonScanner) end() bool {
	p.space()
	return p.i == len(p.b)
}

// literal reads lit if it comes next.
func (p *jsonScanner) literal(lit string) bool {
	if len(p.b)-p.i < len(lit) || string(p.b[p.i:p.i+len(lit)]) != lit {
		return false
	}
	p.i += len(lit)
	return true
}

// name reads an object member's name and its colon, with the white space
// around them, leaving p at the value.
func (p *jsonScanner) name(src string) (string, bool) {
	p.space()
	name, ok := p.plainString(src)
	if !ok {
		return "", false
	}
	p.space()
	if !p.consume(':') {
		return "", false
	}
	p.space()
	return name, true
}

// next reads the comma or the closing byte that follows a member of an
// object or an element of an array: more reports a comma, ok is false if
// neither came.
func (p *jsonScanner) next(closing byte) (more, ok bool) {
	p.space()
	if p.consume(',') {
		return true, true
	}
	return false, p.consume(closing)
}

// plainString reads a string with no escape, no control character and
// valid UTF-8, as a slice of src (src is the input as a string).
func (p *jsonScanner) plainString(src string) (string, bool) {
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

// float reads a number as encoding/json decodes it into a float64.
func (p *jsonScanner) float(src string) (float64, bool) {
	start := p.i
	if !p.number() {
		return 0, false
	}
	f, err := strconv.ParseFloat(src[start:p.i], 64)
	if err != nil {
		return 0, false // out of range: experiment.DecodeStrict names the field
	}
	return f, true
}

// number reads a number in JSON's grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *jsonScanner) number() bool {
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
func (p *jsonScanner) digits() bool {
	start := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	return p.i > start
}
