package analytics_test

import (
	"math"
	"slices"
	"testing"

	"github.com/splitcast/splitcast/analytics"
)

func TestPropsRoundTrip(t *testing.T) {
	in := []analytics.Prop{
		{Key: "z", Type: analytics.PropList, List: []string{"a", "", "ü"}},
		{Key: "a", Type: analytics.PropNumber, Num: math.Copysign(0, -1)},
		{Key: "m", Type: analytics.PropBool, Bool: true},
		{Key: "b", Type: analytics.PropString, Str: "x\x00y"},
		{Key: "e", Type: analytics.PropList, List: []string{}},
	}
	enc := analytics.EncodeProps(slices.Clone(in))
	got, err := analytics.DecodeProps(enc)
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{"a", "b", "e", "m", "z"}
	if len(got) != len(keys) {
		t.Fatalf("DecodeProps = %+v, want %d props", got, len(keys))
	}
	for i, p := range got {
		if p.Key != keys[i] {
			t.Errorf("prop %d key %q, want %q (sorted)", i, p.Key, keys[i])
		}
	}
	if math.Float64bits(got[0].Num) != math.Float64bits(math.Copysign(0, -1)) || got[1].Str != "x\x00y" || !got[3].Bool ||
		!slices.Equal(got[4].List, []string{"a", "", "ü"}) || len(got[2].List) != 0 {
		t.Errorf("DecodeProps = %+v", got)
	}
	// Canonical: the order the caller sent them in does not matter.
	rev := slices.Clone(in)
	slices.Reverse(rev)
	if analytics.EncodeProps(rev) != enc {
		t.Error("EncodeProps depends on the order of its input")
	}
}

func FuzzDecodeProps(f *testing.F) {
	f.Add(analytics.EncodeProps([]analytics.Prop{{Key: "k", Type: analytics.PropList, List: []string{"a"}}, {Key: "n", Type: analytics.PropNumber, Num: 1}}))
	f.Add("\x01k\x6c\xff\xff\xff\xff\x0f")
	f.Fuzz(func(t *testing.T, s string) {
		props, err := analytics.DecodeProps(s) // must never panic
		if err != nil {
			return
		}
		if again, err := analytics.DecodeProps(analytics.EncodeProps(props)); err != nil || len(again) != len(props) {
			t.Fatalf("re-encoding %d props: %v", len(props), err)
		}
	})
}
