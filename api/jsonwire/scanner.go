// Package jsonwire holds the JSON primitives of the API's hot paths: a
// scanner of the plain subset of JSON that the fast request decoders read,
// and string escaping for answers written without encoding/json. Both are
// pinned to encoding/json by the api package's tests: a fast path may
// refuse what encoding/json accepts (the caller then falls back to it), but
// never decode or write anything differently.
package jsonwire

import (
	"strconv"
	"unicode/utf8"
)

// Scanner reads the plain subset of JSON that the fast decoders
// (api's decodeAssign and decodeEvents) take: strings without escapes, numbers,
// literals. Every method reports false, or leaves the input unread, on
// anything outside that subset, and the decoder then hands the whole input
// to experiment.DecodeStrict; so a method may refuse valid JSON, but must never accept
// what encoding/json would decode differently.
type Scanner struct {
	b []byte
	i int
}

// NewScanner returns a scanner at the start of b.
func NewScanner(b []byte) Scanner { return Scanner{b: b} }

// Peek returns the next byte, unread; ok is false at the end.
func (p *Scanner) Peek() (c byte, ok bool) {
	if p.i >= len(p.b) {
		return 0, false
	}
	return p.b[p.i], true
}

// Pos is how many bytes were read.
func (p *Scanner) Pos() int { return p.i }

// Since returns the input read from position start on.
func (p *Scanner) Since(start int) []byte { return p.b[start:p.i] }

// Space skips white space.
func (p *Scanner) Space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// Consume reads c if it comes next.
func (p *Scanner) Consume(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// End reports whether only white space follows.
func (p *Scanner) End() bool {
	p.Space()
	return p.i == len(p.b)
}

// Literal reads lit if it comes next.
func (p *Scanner) Literal(lit string) bool {
	if len(p.b)-p.i < len(lit) || string(p.b[p.i:p.i+len(lit)]) != lit {
		return false
	}
	p.i += len(lit)
	return true
}

// Name reads an object member's name and its colon, with the white space
// around them, leaving p at the value.
func (p *Scanner) Name(src string) (string, bool) {
	p.Space()
	name, ok := p.PlainString(src)
	if !ok {
		return "", false
	}
	p.Space()
	if !p.Consume(':') {
		return "", false
	}
	p.Space()
	return name, true
}

// Next reads the comma or the closing byte that follows a member of an
// object or an element of an array: more reports a comma, ok is false if
// neither came.
func (p *Scanner) Next(closing byte) (more, ok bool) {
	p.Space()
	if p.Consume(',') {
		return true, true
	}
	return false, p.Consume(closing)
}

// PlainString reads a string with no escape, no control character and
// valid UTF-8, as a slice of src (src is the input as a string).
func (p *Scanner) PlainString(src string) (string, bool) {
	if !p.Consume('"') {
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

// Float reads a number as encoding/json decodes it into a float64.
func (p *Scanner) Float(src string) (float64, bool) {
	start := p.i
	if !p.Number() {
		return 0, false
	}
	f, err := strconv.ParseFloat(src[start:p.i], 64)
	if err != nil {
		return 0, false // out of range: experiment.DecodeStrict names the field
	}
	return f, true
}

// Number reads a number in JSON's grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *Scanner) Number() bool {
	p.Consume('-')
	if !p.Consume('0') && !p.Digits() {
		return false
	}
	if p.Consume('.') && !p.Digits() {
		return false
	}
	if p.Consume('e') || p.Consume('E') {
		if !p.Consume('+') {
			p.Consume('-')
		}
		if !p.Digits() {
			return false
		}
	}
	return true
}

// Digits reads one or more decimal digits.
func (p *Scanner) Digits() bool {
	start := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	return p.i > start
}
