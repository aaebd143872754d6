package analytics

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/splitcast/splitcast/experiment"
)

// mapProps is how properties were checked before Properties: decoded by
// encoding/json into a map of interfaces, then typed in key order. It is
// the reference the scanner is held to.
func mapProps(data []byte) ([]Prop, error) {
	var in map[string]any
	if err := json.Unmarshal(data, &in); err != nil {
		return nil, err
	}
	if len(in) > MaxProps {
		return nil, experiment.Invalid("properties", "more than %d properties", MaxProps)
	}
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]Prop, 0, len(in))
	for _, k := range keys {
		field := "properties." + k
		if err := CheckPropKey(field, k); err != nil {
			return nil, err
		}
		str := func(f, s string, limit int) error {
			if len(s) > limit {
				return experiment.Invalid(f, "longer than %d bytes", limit)
			}
			if !utf8.ValidString(s) {
				return experiment.Invalid(f, "not valid UTF-8")
			}
			return nil
		}
		var p Prop
		switch v := in[k].(type) {
		case string:
			if err := str(field, v, MaxPropStringLen); err != nil {
				return nil, err
			}
			p = Prop{Key: k, Type: PropString, Str: v}
		case float64:
			if math.Abs(v) > MaxPropNumber {
				return nil, experiment.Invalid(field, "a number is finite and at most 1e15 in magnitude")
			}
			p = Prop{Key: k, Type: PropNumber, Num: v}
		case bool:
			p = Prop{Key: k, Type: PropBool, Bool: v}
		case []any:
			if len(v) > MaxPropListLen {
				return nil, experiment.Invalid(field, "a list has at most %d strings", MaxPropListLen)
			}
			list := make([]string, len(v))
			for i, x := range v {
				s, ok := x.(string)
				if !ok {
					return nil, experiment.Invalid(field+"["+strconv.Itoa(i)+"]", "a list holds strings only")
				}
				if err := str(field+"["+strconv.Itoa(i)+"]", s, MaxPropListItemLen); err != nil {
					return nil, err
				}
				list[i] = s
			}
			p = Prop{Key: k, Type: PropList, List: list}
		default:
			return nil, experiment.Invalid(field, "want a string, a number, a bool or a list of strings")
		}
		out = append(out, p)
	}
	return out, nil
}

// scannedProps is the path of POST /v1/track: Properties.UnmarshalJSON,
// then checkProps.
func scannedProps(data []byte) ([]Prop, error) {
	var ps Properties
	if err := json.Unmarshal(data, &ps); err != nil {
		return nil, err
	}
	return checkProps(ps, nil)
}

var propertiesCases = []string{
	`{}`, `null`,
	`{"total":49.5,"category":"shoes","gift":false,"tags":["sale","new"]}`,
	`{"b":1,"a":2,"a":3}`, // a key twice: the last value
	`{"s":"\u00e9t\u00e9 \"quoted\" \\ back\nline","k\u0065y":"escaped key"}`,
	`{"n":-0,"m":1e15,"x":-1E+3,"y":0.000001,"z":123456789012345}`,
	`{"big":1.5e15}`, `{"neg":-1000000000000001}`,
	`{"nul":null}`, `{"obj":{"a":1}}`, `{"empty":[]}`, `{"mixed":["a",1,"b"]}`, `{"mixed":["a",null]}`,
	`{"bad key":1}`, `{"":1}`, `{"ok":1,"b-d":2}`,
	`{"deep":[["a"]]}`, `{"t":true,"f":false}`,
	` { "spaced" : [ "a" , "b" ] , "n" : 1 } `,
	`{"s":"` + strings.Repeat("x", MaxPropStringLen) + `"}`,
	`{"s":"` + strings.Repeat("x", MaxPropStringLen+1) + `"}`,
	`{"l":["` + strings.Repeat("y", MaxPropListItemLen+1) + `", 3]}`,
	`{"l":[` + strings.TrimSuffix(strings.Repeat(`"a",`, MaxPropListLen+1), ",") + `]}`,
}

// manyKeys is an object of n distinct keys, and then dup copies of one.
func manyKeys(n, dup int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"k` + strconv.Itoa(i) + `":` + strconv.Itoa(i))
	}
	for range dup {
		b.WriteString(`,"k0":"again"`)
	}
	b.WriteString("}")
	return b.String()
}

// TestPropertiesEqualMapDecoding holds the scanner to the map decoding it
// replaced: the same typed properties, or the same error (field and
// message), for every case.
func TestPropertiesEqualMapDecoding(t *testing.T) {
	cases := append(slices.Clone(propertiesCases), manyKeys(MaxProps, 0), manyKeys(MaxProps, 5), manyKeys(MaxProps+1, 0), manyKeys(2000, 3))
	for _, c := range cases {
		comparePropPaths(t, []byte(c))
	}
}

// FuzzPropertiesEqualMapDecoding: the same on any JSON object.
func FuzzPropertiesEqualMapDecoding(f *testing.F) {
	for _, c := range propertiesCases {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !json.Valid([]byte(s)) || !utf8.ValidString(s) {
			return
		}
		comparePropPaths(t, []byte(s))
	})
}

func comparePropPaths(t *testing.T, data []byte) {
	t.Helper()
	want, werr := mapProps(data)
	got, gerr := scannedProps(data)
	var wte *json.UnmarshalTypeError
	var we, ge *experiment.Error
	switch {
	case errors.As(werr, &wte) && wte.Type.Kind() == reflect.Float64:
		// A number beyond float64: the map refused it at decoding; the
		// scanner refuses it at the check (or an earlier key, in key order).
		if !errors.As(gerr, &ge) {
			t.Errorf("%.200s: got %v, %v; want the number refused", data, got, gerr)
		}
	case werr != nil && gerr != nil:
		var gte *json.UnmarshalTypeError
		if errors.As(werr, &we) != errors.As(gerr, &ge) || we != nil && (we.Field != ge.Field || we.Message != ge.Message) ||
			errors.As(werr, &wte) != errors.As(gerr, &gte) || wte != nil && (wte.Value != gte.Value || wte.Type != gte.Type) {
			t.Errorf("%.200s: error %v, want %v", data, gerr, werr)
		}
	case werr != nil || gerr != nil:
		t.Errorf("%.200s: got %v, %v; want %v, %v", data, got, gerr, want, werr)
	case !reflect.DeepEqual(got, want):
		t.Errorf("%.200s: got %+v, want %+v", data, got, want)
	}
}

// TestPropArenaEqualsAlone: objects scanned one after another into one
// PropArena, across its arrays' ends (a list longer than a chunk, an
// object of more keys than one, hundreds of small ones), each type and
// check as it does scanned alone, and still do after all the others were
// scanned: no object's room is lent twice.
func TestPropArenaEqualsAlone(t *testing.T) {
	cases := append(slices.Clone(propertiesCases), manyKeys(MaxProps, 2), manyKeys(MaxProps+1, 0),
		`{"l":[`+strings.TrimSuffix(strings.Repeat(`"a",`, ChunkLen+3), ",")+`]}`)
	for i := range 300 {
		cases = append(cases, `{"n":`+strconv.Itoa(i)+`,"s":"x`+strconv.Itoa(i)+`","l":["a","b`+strconv.Itoa(i)+`"],"t":true}`)
	}
	var arena PropArena
	scanned := make([]Properties, len(cases))
	check := func(when string) {
		for i, c := range cases {
			var single Properties
			p := JSONScanner{S: c}
			single.Scan(&p)
			want, werr := checkProps(single, nil)
			got, gerr := checkProps(scanned[i], nil)
			if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gerr, werr) {
				t.Errorf("%s: %.120s: in the arena %+v, %v; alone %+v, %v", when, c, got, gerr, want, werr)
			}
		}
	}
	for i, c := range cases {
		p := JSONScanner{S: c}
		if !arena.Scan(&scanned[i], &p) && c != "null" {
			t.Fatalf("%.120s: not scanned", c)
		}
	}
	check("after all were scanned")
	// (checkProps sorted it by key.)
	if last := scanned[len(scanned)-1].sent; len(last) != 4 || last[1].key != "n" || last[1].text != "299" {
		t.Fatalf("the last object scanned to %+v", scanned[len(scanned)-1])
	}
}
