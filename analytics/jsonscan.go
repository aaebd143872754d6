package analytics

import (
	"encoding/json"
	"strings"
)

// JSONKind names a JSON value's type, as encoding/json's errors do.
type JSONKind string

// The kinds of JSON value.
const (
	JSONString JSONKind = "string"
	JSONNumber JSONKind = "number"
	JSONBool   JSONKind = "bool"
	JSONNull   JSONKind = "null"
	JSONObject JSONKind = "object"
	JSONArray  JSONKind = "array"
)

// JSONScanner reads the tokens of flat JSON from S, without reflection or
// an allocation per value: the hot paths that take JSON of a fixed shape
// (an import's rows, a user event's properties) scan it themselves, since
// decoding into maps and interfaces cost more than all else they do.
type JSONScanner struct {
	S string
	I int // the next byte to read
}

func (p *JSONScanner) skipSpace() {
	for p.I < len(p.S) && (p.S[p.I] == ' ' || p.S[p.I] == '\t' || p.S[p.I] == '\r' || p.S[p.I] == '\n') {
		p.I++
	}
}

// Peek returns the next byte after space, 0 at the end.
func (p *JSONScanner) Peek() byte {
	p.skipSpace()
	if p.I < len(p.S) {
		return p.S[p.I]
	}
	return 0
}

// Eat reads c, after space, if it is next.
func (p *JSONScanner) Eat(c byte) bool {
	if p.Peek() == c {
		p.I++
		return true
	}
	return false
}

// AtEnd reports whether nothing but space is left.
func (p *JSONScanner) AtEnd() bool {
	p.skipSpace()
	return p.I == len(p.S)
}

// Str reads a string token, which must be next: its content, unescaped.
func (p *JSONScanner) Str() (string, bool) {
	p.skipSpace()
	if p.I >= len(p.S) || p.S[p.I] != '"' {
		return "", false
	}
	start := p.I
	p.I++
	escaped := false
	for p.I < len(p.S) {
		switch c := p.S[p.I]; {
		case c == '"':
			p.I++
			if !escaped {
				return p.S[start+1 : p.I-1], true
			}
			// Rare: let encoding/json apply the escapes.
			var out string
			if json.Unmarshal([]byte(p.S[start:p.I]), &out) != nil {
				return "", false
			}
			return out, true
		case c == '\\':
			escaped = true
			p.I += 2
		case c < 0x20:
			return "", false
		default:
			p.I++
		}
	}
	return "", false
}

// Value reads a value: a string's content, a number's or boolean's text,
// "" for null. Objects and arrays are skipped whole, their text returned.
func (p *JSONScanner) Value() (string, JSONKind, bool) {
	switch c := p.Peek(); {
	case c == '"':
		s, ok := p.Str()
		return s, JSONString, ok
	case c == '-' || c >= '0' && c <= '9':
		start := p.I
		if !p.number() {
			return "", "", false
		}
		return p.S[start:p.I], JSONNumber, true
	case c == '{' || c == '[':
		kind := JSONObject
		if c == '[' {
			kind = JSONArray
		}
		var skip json.RawMessage
		d := json.NewDecoder(strings.NewReader(p.S[p.I:]))
		if d.Decode(&skip) != nil {
			return "", "", false
		}
		start := p.I
		p.I += int(d.InputOffset())
		return p.S[start:p.I], kind, true
	}
	for _, lit := range [...]struct {
		text string
		kind JSONKind
		val  string
	}{{"true", JSONBool, "true"}, {"false", JSONBool, "false"}, {"null", JSONNull, ""}} {
		if strings.HasPrefix(p.S[p.I:], lit.text) {
			p.I += len(lit.text)
			return lit.val, lit.kind, true
		}
	}
	return "", "", false
}

// number reads a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *JSONScanner) number() bool {
	s := p.S
	digits := func() int {
		n := 0
		for p.I < len(s) && s[p.I] >= '0' && s[p.I] <= '9' {
			p.I++
			n++
		}
		return n
	}
	if p.I < len(s) && s[p.I] == '-' {
		p.I++
	}
	if p.I < len(s) && s[p.I] == '0' {
		p.I++
	} else if digits() == 0 {
		return false
	}
	if p.I < len(s) && s[p.I] == '.' {
		p.I++
		if digits() == 0 {
			return false
		}
	}
	if p.I < len(s) && (s[p.I] == 'e' || s[p.I] == 'E') {
		p.I++
		if p.I < len(s) && (s[p.I] == '+' || s[p.I] == '-') {
			p.I++
		}
		if digits() == 0 {
			return false
		}
	}
	return true
}
