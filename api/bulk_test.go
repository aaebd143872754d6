package api

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/splitcast/splitcast/assign"
)

func TestAppendAssignResponse(t *testing.T) {
	cases := []assignResponse{
		{},
		{Assignment: assign.Assignment{Experiment: "e", Version: 3, Reason: assign.ReasonNoSegment,
			Buckets: assign.Buckets{Layer: -1, Allocation: -1, Holdout: -1, Variant: -1, Reroute: -1}}},
		{Assignment: assign.Assignment{Experiment: "welcome", Version: 7, Segment: "seg <a&b>", Variant: "v\"1\\\n\t\x01",
			InExperiment: true, Reason: assign.ReasonReroute, Buckets: assign.Buckets{Layer: 12, Allocation: 9999, Holdout: 0, Variant: 5, Reroute: 77, Reroutes: 2},
			Payload: json.RawMessage(`{"subject":"Hi é \u2028","n":[1,2]}`)},
			SendID: "s-1", Token: "AQEB_-x", PixelURL: "http://h/o/AQEB_-x.gif"},
		{Assignment: assign.Assignment{Experiment: "x", Holdout: true, InExperiment: true, Reason: assign.ReasonHoldout, Variant: "bad \xff utf8 \u2029"}},
	}
	// pixelBase stands for the PixelURL it makes.
	cases = append(cases, assignResponse{Assignment: assign.Assignment{Experiment: "e", InExperiment: true, Variant: "a"},
		Token: "AQ_-", pixelBase: "http://h/<&>\u2028"})
	for _, r := range cases {
		got := appendAssignResponse(nil, &r)
		if r.pixelBase != "" {
			r.PixelURL = r.pixelBase + "/o/" + r.Token + ".gif"
		}
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var g, w any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("appendAssignResponse(%+v) = %s: not JSON: %v", r, got, err)
		}
		_ = json.Unmarshal(want, &w)
		if !reflect.DeepEqual(g, w) {
			t.Errorf("appendAssignResponse = %s\nwant (encoding/json) %s", got, want)
		}
	}
}

func BenchmarkAppendAssignResponse(b *testing.B) {
	r := assignResponse{Assignment: assign.Assignment{Experiment: "welcome", Version: 7, Segment: "everyone", Variant: "personal",
		InExperiment: true, Reason: assign.ReasonVariant, Payload: json.RawMessage(`{"subject":"Hello","body":"Welcome aboard"}`)},
		SendID: "0123456789abcdef0123456789abcdef", Token: "AQEBxb-s2AYCDXdlbGNvbWUtZW1haWwIZXZlcnlvbmUI", PixelURL: "http://127.0.0.1:8080/o/AQEB.gif"}
	b.ReportAllocs()
	buf := make([]byte, 0, 1024)
	for b.Loop() {
		buf = appendAssignResponse(buf[:0], &r)
	}
}
