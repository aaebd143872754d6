package analytics

import (
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"strings"
)

// PropType is the type of a user event's property.
type PropType byte

// The property types a user event may carry. Their byte values are stored
// (Event.Props), so they never change.
const (
	PropString PropType = 's'
	PropNumber PropType = 'n'
	PropBool   PropType = 'b'
	PropList   PropType = 'l' // a list of strings
)

// String names the type as the API and the trait catalogue do.
func (t PropType) String() string {
	switch t {
	case PropString:
		return "string"
	case PropNumber:
		return "number"
	case PropBool:
		return "bool"
	case PropList:
		return "list"
	}
	return "unknown"
}

// Prop is one typed property of a user event; the field of its Type holds
// the value.
type Prop struct {
	Key  string
	Type PropType
	Str  string
	Num  float64
	Bool bool
	List []string
}

// EncodeProps returns the canonical encoding of props that Event.Props
// holds: sorted by key, each as key, type byte and value (strings as
// uvarint length and bytes, a number as its 8 IEEE 754 bytes little-endian,
// a bool as one byte, a list as a uvarint count of strings). Canonical, so
// that two copies of one event sent with their properties in another order
// are equal events; a string, so that Event stays comparable and the spool
// carries it as one more field. props is sorted in place.
func EncodeProps(props []Prop) string {
	if len(props) == 0 {
		return ""
	}
	slices.SortFunc(props, func(a, b Prop) int { return strings.Compare(a.Key, b.Key) })
	return string(appendEncoding(nil, props))
}

// appendEncoding appends EncodeProps's encoding of props, sorted by key
// already, to b.
func appendEncoding(b []byte, props []Prop) []byte {
	for i := range props {
		p := &props[i]
		b = appendStr(b, p.Key)
		b = append(b, byte(p.Type))
		switch p.Type {
		case PropString:
			b = appendStr(b, p.Str)
		case PropNumber:
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p.Num))
		case PropBool:
			v := byte(0)
			if p.Bool {
				v = 1
			}
			b = append(b, v)
		case PropList:
			b = binary.AppendUvarint(b, uint64(len(p.List)))
			for _, s := range p.List {
				b = appendStr(b, s)
			}
		}
	}
	return b
}

func appendStr(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

var errBadProps = errors.New("malformed properties")

// DecodeProps decodes what EncodeProps made. It never panics, whatever
// the input.
func DecodeProps(s string) ([]Prop, error) { return AppendProps(nil, s) }

// AppendProps appends the properties of s, an Event.Props, to out, as
// DecodeProps decodes them: a caller decoding many events reuses out.
func AppendProps(out []Prop, s string) ([]Prop, error) {
	for len(s) > 0 {
		var p Prop
		var ok bool
		if p.Key, s, ok = readStr(s); !ok || len(s) == 0 {
			return nil, errBadProps
		}
		p.Type, s = PropType(s[0]), s[1:]
		switch p.Type {
		case PropString:
			p.Str, s, ok = readStr(s)
		case PropNumber:
			if ok = len(s) >= 8; ok {
				p.Num, s = math.Float64frombits(binary.LittleEndian.Uint64([]byte(s[:8]))), s[8:]
			}
		case PropBool:
			if ok = len(s) >= 1 && s[0] <= 1; ok {
				p.Bool, s = s[0] == 1, s[1:]
			}
		case PropList:
			p.List, s, ok = readList(s)
		}
		if !ok {
			return nil, errBadProps
		}
		out = append(out, p)
	}
	return out, nil
}

func readStr(s string) (string, string, bool) {
	n, k := binary.Uvarint([]byte(s[:min(len(s), binary.MaxVarintLen64)]))
	if k <= 0 || n > uint64(len(s)-k) {
		return "", s, false
	}
	return s[k : k+int(n)], s[k+int(n):], true
}

func readList(s string) ([]string, string, bool) {
	n, k := binary.Uvarint([]byte(s[:min(len(s), binary.MaxVarintLen64)]))
	if k <= 0 || n > uint64(len(s)-k) {
		return nil, s, false
	}
	s = s[k:]
	list := make([]string, 0, n)
	for range n {
		var v string
		var ok bool
		if v, s, ok = readStr(s); !ok {
			return nil, s, false
		}
		list = append(list, v)
	}
	return list, s, true
}
