package api

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/splitcast/splitcast/experiment"
)

// assignBodies are request bodies and bulk lines, ordinary and not: the
// differential test's table and the fuzzer's seeds.
var assignBodies = []string{
	`{"experiment":"welcome","unit_id":"u-1"}`,
	`{"experiment":"welcome","unit_id":"u-1","attributes":{"plan":"pro","country":"DE","opens_30d":3,"vip":true,"gone":null},"send_id":"s-1","channel":"email"}`,
	` { "unit_id" : "u-1" , "attributes" : { } } ` + "\n",
	"\t{\r\n\"unit_id\":\"u-ü ✓\"}\n",
	`{"unit_id":"u-1","attributes":{"n":-0.5e+3,"m":0,"k":1E2,"z":-0,"big":123456789012345678901234567890}}`,
	`{}`,
	// Everything below goes to experiment.DecodeStrict, valid or not.
	``,
	`   `,
	`null`,
	`[]`,
	`{"experiment":"welcome","unit_id":"u-1"} {}`,
	`{"experiment":"welcome","unit_id":"u-1"}x`,
	`{"experiment":"welcome","unit_id":"u-1",}`,
	`{"experiment":"welcome" "unit_id":"u-1"}`,
	`{"experiment":"welcome","unit_id":5}`,
	`{"experiment":null,"unit_id":"u-1"}`,
	`{"Unit_ID":"u-1"}`,
	`{"unit_id":"u-1","unit_id":"u-2"}`,
	`{"unit_id":"u-1","extra":1}`,
	`{"unit_id":"u\"1"}`,
	`{"unit_id":"u\u00e9"}`,
	`{"unit_\u0069d":"u-1"}`,
	"{\"unit_id\":\"u\x01\"}",
	"{\"unit_id\":\"u\xff\"}",
	`{"unit_id":"u-1","attributes":null}`,
	`{"unit_id":"u-1","attributes":[]}`,
	`{"unit_id":"u-1","attributes":{"tags":["a","b"]}}`,
	`{"unit_id":"u-1","attributes":{"o":{"a":1}}}`,
	`{"unit_id":"u-1","attributes":{"n":01}}`,
	`{"unit_id":"u-1","attributes":{"n":1.}}`,
	`{"unit_id":"u-1","attributes":{"n":.5}}`,
	`{"unit_id":"u-1","attributes":{"n":1e}}`,
	`{"unit_id":"u-1","attributes":{"n":+1}}`,
	`{"unit_id":"u-1","attributes":{"n":1e400}}`,
	`{"unit_id":"u-1","attributes":{"n":-}}`,
	`{"unit_id":"u-1","attributes":{"b":tru}}`,
	`{"unit_id":"u-1","attributes":{"b":truex}}`,
	`{"unit_id":"u-1","attributes":{"a":1,"a":2}}`,
	`{"unit_id":"u-1","attributes":{"a\n":1}}`,
	`{"unit_id":"u-1","attributes":{"a":1}`,
	`{"unit_id":"u-1","attributes":{"a":1,}}`,
	`{"unit_id":"u-1"`,
	`{"unit_id`,
	"\ufeff{}",
	`{"experiment":"e","attributes":{"x":1},"attributes":{"y":2}}`,
}

// TestDecodeAssignDifferential holds the fast decoder to experiment.DecodeStrict: when
// it takes an input, experiment.DecodeStrict must decode the same request; when it
// does not, decodeAssign's answer, error included, is experiment.DecodeStrict's.
func TestDecodeAssignDifferential(t *testing.T) {
	fast := 0
	for _, body := range assignBodies {
		for _, bulk := range []bool{false, true} {
			if checkDecodeAssign(t, []byte(body), bulk) {
				fast++
			}
		}
	}
	// The ordinary shapes must take the fast path, or it helps nobody.
	if fast < 10 {
		t.Errorf("the fast path took %d of the inputs, want the first six of each kind", fast)
	}
	for _, body := range assignBodies[:5] {
		var req assignRequest
		if !fastDecodeAssign([]byte(strings.ReplaceAll(body, `"experiment":"welcome",`, "")), true, &req) {
			t.Errorf("fastDecodeAssign(%s) declined an ordinary input", body)
		}
	}
}

// checkDecodeAssign compares decodeAssign with experiment.DecodeStrict on one input and
// reports whether the fast path took it.
func checkDecodeAssign(t *testing.T, body []byte, bulk bool) bool {
	t.Helper()
	var got, want assignRequest
	gotErr := decodeAssign(body, bulk, &got)
	var wantErr error
	if bulk {
		var in bulkLine
		wantErr = experiment.DecodeStrict(body, &in)
		if wantErr == nil {
			want = assignRequest{UnitID: in.UnitID, Attributes: in.Attributes, SendID: in.SendID, Channel: in.Channel}
		}
	} else {
		wantErr = experiment.DecodeStrict(body, &want)
	}
	sameError(t, fmt.Sprintf("decodeAssign(%q, bulk %v)", body, bulk), gotErr, wantErr)
	if gotErr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("decodeAssign(%q, bulk %v) = %#v, experiment.DecodeStrict = %#v", body, bulk, got, want)
	}
	var scratch assignRequest
	return fastDecodeAssign(body, bulk, &scratch)
}

// FuzzDecodeAssign: whatever the input, the fast decoder never panics and
// agrees with experiment.DecodeStrict.
func FuzzDecodeAssign(f *testing.F) {
	for _, body := range assignBodies {
		f.Add([]byte(body), false)
		f.Add([]byte(body), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, bulk bool) {
		checkDecodeAssign(t, body, bulk)
	})
}

func BenchmarkDecodeAssign(b *testing.B) {
	body := []byte(`{"experiment":"welcome-email","unit_id":"user-1234567","attributes":{"plan":"pro","country":"DE","opens_30d":3},"send_id":"send-42","channel":"email"}`)
	b.Run("experiment.DecodeStrict", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var req assignRequest
			if err := experiment.DecodeStrict(body, &req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decodeAssign", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var req assignRequest
			if err := decodeAssign(body, false, &req); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// sameError fails t unless got and want are both nil or have the same
// code, field and message: a fast decoder must refuse as experiment.DecodeStrict does.
func sameError(t *testing.T, call string, got, want error) {
	t.Helper()
	if (got == nil) != (want == nil) || got != nil && (experiment.ErrorField(got) != experiment.ErrorField(want) ||
		experiment.ErrorMessage(got) != experiment.ErrorMessage(want) || experiment.ErrorCode(got) != experiment.ErrorCode(want)) {
		t.Fatalf("%s = %v, want %v", call, got, want)
	}
}
