package clickhouse

import (
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/splitcast/splitcast/analytics"
)

// TestDecodePropsMalformed: what propsExpr cannot produce is an error, not
// a panic or properties made up from part of it.
func TestDecodePropsMalformed(t *testing.T) {
	empty := "0;0;0;0;0;0;0;0;"
	var scratch []string
	if p, err := decodeProps(empty, &scratch, nil); err != nil || p != nil {
		t.Fatalf("decodeProps(%q) = %v, %v; want none", empty, p, err)
	}
	if p, err := decodeProps("1;1:a1;1:b0;0;0;0;0;0;", &scratch, nil); err != nil || len(p) != 1 || p[0].Key != "a" || p[0].Str != "b" {
		t.Fatalf("one string property: %+v, %v", p, err)
	}
	for _, s := range []string{
		"", "0;", empty + "x", "0;0;0;0;0;0;0;", "1;0;0;0;0;0;0;0;", "1;5:ab0;0;0;0;0;0;0;",
		"2;0:0;0;0;0;0;0;0;", "x;0;0;0;0;0;0;0;", "-1;0;0;0;0;0;0;0;", "99999999999;0;0;0;0;0;0;0;",
		"0;0;1;1:n1;9:123456789;0;0;0;0;", // a number of 9 bytes
		"1;1:a1;1:b0;0;0;0;0;0",           // the last array cut short
	} {
		if p, err := decodeProps(s, &scratch, nil); err == nil {
			t.Errorf("decodeProps(%q) = %+v, want an error", s, p)
		}
	}
}

// FuzzDecodeProps: no input panics it.
func FuzzDecodeProps(f *testing.F) {
	f.Add("1;1:a1;1:b0;0;0;0;0;0;")
	f.Add("0;0;1;1:n1;8:\x00\x00\x00\x00\x00\x00\xf0\x3f0;0;1;1:l2;1:x1:y")
	f.Fuzz(func(t *testing.T, s string) {
		var scratch []string
		_, _ = decodeProps(s, &scratch, nil)
	})
}

// TestDecodePropsAppends: decoded after another event's properties, an
// event's are appended and the earlier ones left as they were, a list of
// the same key as the last one before it included (EachChangedUser keeps
// a unit's events' properties in one array).
func TestDecodePropsAppends(t *testing.T) {
	tags := func(v ...string) string { // only a list property, "tags"
		s := "0;0;0;0;0;0;" + strconv.Itoa(len(v)) + ";"
		for range v {
			s += "4:tags"
		}
		s += strconv.Itoa(len(v)) + ";"
		for _, x := range v {
			s += strconv.Itoa(len(x)) + ":" + x
		}
		return s
	}
	var scratch []string
	out, err := decodeProps(tags("sale", "new"), &scratch, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := slices.Clone(out)
	if out, err = decodeProps("0;0;0;0;0;0;0;0;", &scratch, out); err != nil || len(out) != 1 {
		t.Fatalf("an event without properties after one: %+v, %v; want the first's one property left", out, err)
	}
	if out, err = decodeProps(tags("gift"), &scratch, out); err != nil {
		t.Fatal(err)
	}
	want := append(first, analytics.Prop{Key: "tags", Type: analytics.PropList, List: []string{"gift"}})
	if !reflect.DeepEqual(out, want) {
		t.Errorf("two events' lists of one key: %+v, want %+v", out, want)
	}
}
