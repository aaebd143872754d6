package assign_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/splitcast/splitcast/assign"
	"github.com/splitcast/splitcast/experiment"
)

func mustRule(tb testing.TB, def string) *assign.Rule {
	tb.Helper()
	var r experiment.Rule
	if err := json.Unmarshal([]byte(def), &r); err != nil {
		tb.Fatalf("decode rule: %v", err)
	}
	c, err := assign.CompileRule(&r)
	if err != nil {
		tb.Fatalf("CompileRule(%s) = %v", def, err)
	}
	return c
}

// TestRuleGoValues covers what JSON cannot carry: Go integer types,
// []string and json.Number attributes from Go callers.
func TestRuleGoValues(t *testing.T) {
	for _, tc := range []struct {
		rule  string
		attrs assign.Attributes
		want  bool
	}{
		{`{"attr":"n","op":"gt","value":3}`, assign.Attributes{"n": 4}, true},
		{`{"attr":"n","op":"gt","value":3}`, assign.Attributes{"n": int64(3)}, false},
		{`{"attr":"n","op":"equals","value":3}`, assign.Attributes{"n": uint8(3)}, true},
		{`{"attr":"n","op":"equals","value":3}`, assign.Attributes{"n": json.Number("3.0")}, true},
		{`{"attr":"n","op":"in","values":[1,2]}`, assign.Attributes{"n": float32(2)}, true},
		{`{"attr":"tags","op":"in","values":["vip"]}`, assign.Attributes{"tags": []string{"new", "vip"}}, true},
		{`{"attr":"tags","op":"not_in","values":["vip"]}`, assign.Attributes{"tags": []string{"new"}}, true},
		{`{"attr":"x","op":"exists"}`, assign.Attributes{"x": nil}, false},
		{`{"attr":"x","op":"not_equals","value":"a"}`, nil, true},
		{`{"not":{"attr":"x","op":"exists"}}`, nil, true},
	} {
		if got := mustRule(t, tc.rule).Match(tc.attrs); got != tc.want {
			t.Errorf("Match(%s, %v) = %v, want %v", tc.rule, tc.attrs, got, tc.want)
		}
	}
	var nilRule *assign.Rule
	if !nilRule.Match(nil) {
		t.Errorf("nil rule does not match")
	}
}

// FuzzRule checks that compiling and matching any rule against any
// attributes never panics, and that a refused rule names its field.
func FuzzRule(f *testing.F) {
	for _, seed := range []struct{ rule, attrs string }{
		{`{"attr":"plan","op":"equals","value":"pro"}`, `{"plan":"pro"}`},
		{`{"attr":"n","op":"gte","value":3}`, `{"n":"3e0"}`},
		{`{"attr":"d","op":"before","value":"2024-01-01"}`, `{"d":"2023-12-31T23:59:59.999+00:00"}`},
		{`{"attr":"c","op":"in","values":["FR",1,true]}`, `{"c":["DE",1]}`},
		{`{"any":[{"attr":"a","op":"exists"},{"not":{"attr":"b","op":"lt","value":-1}}]}`, `{"b":null}`},
		{`{"all":[{"attr":"x","op":"not_in","values":[false]}]}`, `{"x":[[false]]}`},
		{`{"attr":"x","op":"after","value":"2024-02-29T00:00:00Z"}`, `{"x":"2024-02-29t00:00:00.5z"}`},
	} {
		f.Add([]byte(seed.rule), []byte(seed.attrs))
	}
	f.Fuzz(func(t *testing.T, ruleJSON, attrsJSON []byte) {
		var r experiment.Rule
		if json.Unmarshal(ruleJSON, &r) != nil {
			return
		}
		c, err := assign.CompileRule(&r)
		if err != nil {
			if experiment.ErrorField(err) == "" {
				t.Fatalf("CompileRule(%s) = %v, want an error naming the field", ruleJSON, err)
			}
			return
		}
		var attrs assign.Attributes
		_ = json.Unmarshal(attrsJSON, &attrs)
		first := c.Match(attrs)
		if c.Match(attrs) != first {
			t.Fatalf("Match is not deterministic")
		}
	})
}

// TestRuleInListLengths covers "in" lists on both sides of the length at
// which the strings move from a list to a set.
func TestRuleInListLengths(t *testing.T) {
	for n := 1; n <= 12; n++ {
		values := make([]string, n)
		for i := range values {
			values[i] = fmt.Sprintf("%q", fmt.Sprint("c", i))
		}
		for _, op := range []string{"in", "not_in"} {
			r := mustRule(t, `{"attr":"c","op":"`+op+`","values":[`+strings.Join(values, ",")+`,7]}`)
			for _, tc := range []struct {
				attrs assign.Attributes
				want  bool
			}{
				{assign.Attributes{"c": "c0"}, true},
				{assign.Attributes{"c": fmt.Sprint("c", n-1)}, true},
				{assign.Attributes{"c": fmt.Sprint("c", n)}, false},
				{assign.Attributes{"c": "7"}, true},
				{assign.Attributes{"c": []string{"x", fmt.Sprint("c", n/2)}}, true},
			} {
				if got := r.Match(tc.attrs); got != (tc.want == (op == "in")) {
					t.Errorf("Match(%s of %d, %v) = %v", op, n, tc.attrs, got)
				}
			}
		}
	}
}

// TestRuleDatesNearTheRule checks before and after against instants
// compared directly, for attribute dates on the days around the rule's and
// at instants next to it written with the largest offsets, and rule times
// next to where one of those lands on a midnight: where a rule rejecting
// dates by their day alone would go wrong.
func TestRuleDatesNearTheRule(t *testing.T) {
	var ruleDates []string
	for _, date := range []string{"2025-01-01", "2024-02-29", "0001-01-02", "9999-12-30"} {
		ruleDates = append(ruleDates, date)
		for _, tod := range []string{"00:00:58", "00:00:59", "00:00:59.5", "00:01:00", "00:01:00.000000001", "00:01:01", "23:59:59.999999999"} {
			ruleDates = append(ruleDates, date+"T"+tod+"Z", date+"T"+tod+"+05:30", date+"T"+tod+"-23:59")
		}
	}
	ruleDates = append(ruleDates, "0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59")
	for _, ruleDate := range ruleDates {
		at, ok := experiment.ParseDate(ruleDate)
		if !ok {
			t.Fatalf("ParseDate(%q) fails", ruleDate)
		}
		ruleAt := time.Unix(at.Sec, int64(at.Nsec)).UTC()
		var attrs []string
		for d := -4; d <= 4; d++ {
			date := ruleAt.AddDate(0, 0, d).Format(time.DateOnly)
			attrs = append(attrs, date, date+"x", date+"T25:00:00Z", date+"t12:00:00z")
			for _, tod := range []string{"T00:00:00", "T23:59:59.999999999"} {
				for _, zone := range []string{"Z", "+23:59", "-23:59"} {
					attrs = append(attrs, date+tod+zone)
				}
			}
		}
		for _, delta := range []time.Duration{-time.Second, -1, 0, 1, time.Second} {
			for _, offset := range []int{-(23*3600 + 59*60), -3600, 0, 23*3600 + 59*60} {
				attrs = append(attrs, ruleAt.Add(delta).In(time.FixedZone("", offset)).Format("2006-01-02T15:04:05.999999999Z07:00"))
			}
		}
		for _, op := range []string{"before", "after"} {
			r := mustRule(t, `{"attr":"d","op":"`+op+`","value":"`+ruleDate+`"}`)
			for _, a := range attrs {
				v, ok := experiment.ParseDate(a)
				want := ok && (op == "before" && v.Before(at) || op == "after" && at.Before(v))
				if got := r.Match(assign.Attributes{"d": a}); got != want {
					t.Errorf("Match(%s %s, %q) = %v, want %v", op, ruleDate, a, got, want)
				}
			}
		}
	}
}
