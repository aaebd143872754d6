package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"testing"

	"github.com/splitcast/splitcast/assign"
)

// TestExplainEqualsAssign: for 200 units, POST /v1/assign/explain answers
// the assignment that POST /v1/assign gives (without what tracks a send),
// with a read key as with an sdk key, and logs nothing.
func TestExplainEqualsAssign(t *testing.T) {
	h := runningExample(t, nil)
	plans := []string{"pro_trial", "free", "", "pro_trial"}
	reasons := map[assign.Reason]int{}
	for i := 0; i < 200; i++ {
		body := fmt.Sprintf(`{"experiment":"welcome-email","unit_id":"unit-%d","attributes":{"plan":%q,"country":"IT"}}`, i, plans[i%len(plans)])
		before := h.events.len()
		key := hRead
		if i%2 == 0 {
			key = hSDK
		}
		var x assign.Explanation
		if err := json.Unmarshal(h.must(t, http.StatusOK, "POST", "/v1/assign/explain", key, body).body, &x); err != nil {
			t.Fatal(err)
		}
		if h.events.len() != before {
			t.Fatalf("explain logged %d events", h.events.len()-before)
		}
		var a assignAnswer
		if err := json.Unmarshal(h.must(t, http.StatusOK, "POST", "/v1/assign", hSDK, body).body, &a); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(x.Assignment, a.Assignment) {
			t.Fatalf("unit-%d: explain = %+v, assign = %+v", i, x.Assignment, a.Assignment)
		}
		reasons[a.Reason]++
		if n := len(x.Segments); n == 0 || x.Segments[n-1].Key != a.Segment || (a.Segment == "everyone") != (n == 2) {
			t.Fatalf("unit-%d in %s: explained segments %+v", i, a.Segment, x.Segments)
		}
		if _, ok := x.Attributes["plan"]; !ok {
			t.Fatalf("unit-%d: attributes read = %v, want plan", i, x.Attributes)
		}
	}
	if reasons[assign.ReasonVariant] == 0 || reasons[assign.ReasonHoldout] == 0 {
		t.Errorf("reasons over 200 units = %v, want variants and holdouts both", reasons)
	}
	for _, tc := range []struct {
		key, body string
		status    int
	}{
		{hRead, `{"experiment":"nope","unit_id":"u"}`, http.StatusNotFound},
		{hRead, `{"experiment":"welcome-email"}`, http.StatusBadRequest},
		{hRead, `{"unit_id":"u"}`, http.StatusBadRequest},
	} {
		if a := h.call(t, "POST", "/v1/assign/explain", tc.key, tc.body); a.status != tc.status {
			t.Errorf("POST /v1/assign/explain %s = %d %s, want %d", tc.body, a.status, a.body, tc.status)
		}
	}
}
