package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics"
)

// TestTrackUserEvents: POST /v1/track takes typed properties, names the
// field of every refusal and logs nothing of a refused batch.
func TestTrackUserEvents(t *testing.T) {
	h := newHarness(t, nil, nil)
	body := `{"events":[` +
		`{"id":"o-1","unit_id":"u-1","name":"order_completed","properties":{"total":49.5,"category":"shoes","gift":false,"tags":["sale","new"]},"time":"2025-02-01T10:00:00Z"},` +
		`{"unit_id":"u-2","name":"ticket_opened"}]}`
	a := h.must(t, http.StatusAccepted, "POST", "/v1/track", hSDK, body)
	if string(a.body) != `{"accepted":2}` {
		t.Errorf("POST /v1/track = %s, want {\"accepted\":2}", a.body)
	}
	if h.events.len() != 2 {
		t.Fatalf("logged %d events, want 2", h.events.len())
	}
	got := h.events.events[0]
	props, err := analytics.DecodeProps(got.Props)
	if err != nil {
		t.Fatal(err)
	}
	want := []analytics.Prop{
		{Key: "category", Type: analytics.PropString, Str: "shoes"},
		{Key: "gift", Type: analytics.PropBool},
		{Key: "tags", Type: analytics.PropList, List: []string{"sale", "new"}},
		{Key: "total", Type: analytics.PropNumber, Num: 49.5},
	}
	if len(props) != len(want) {
		t.Fatalf("props = %+v, want %+v", props, want)
	}
	for i := range want {
		p, w := props[i], want[i]
		if p.Key != w.Key || p.Type != w.Type || p.Str != w.Str || p.Num != w.Num || p.Bool != w.Bool || strings.Join(p.List, ",") != strings.Join(w.List, ",") {
			t.Errorf("prop %d = %+v, want %+v", i, p, w)
		}
	}
	if got.Kind != analytics.KindTrack || got.Unit != "u-1" || got.Name != "order_completed" ||
		!got.Time.Equal(time.Date(2025, 2, 1, 10, 0, 0, 0, time.UTC)) || got.ID != analytics.Digest("t:", "u-1", "o-1") {
		t.Errorf("event = %+v, want the order of u-1 at its time with the digest id", got)
	}
	// Same id, properties in another order: the same event, same id.
	h.must(t, http.StatusAccepted, "POST", "/v1/track", hSDK,
		`{"events":[{"id":"o-1","unit_id":"u-1","name":"order_completed","properties":{"tags":["sale","new"],"gift":false,"category":"shoes","total":49.5},"time":"2025-02-01T10:00:00Z"}]}`)
	if again := h.events.events[2]; again != got {
		t.Errorf("retried event = %+v, want %+v", again, got)
	}

	logged := h.events.len()
	ok := `{"unit_id":"u","name":"page_viewed"}`
	long := strings.Repeat("x", 1025)
	many := `{`
	for i := range 51 {
		if i > 0 {
			many += ","
		}
		many += `"k` + strings.Repeat("a", i) + `":1`
	}
	many += `}`
	for _, tc := range []struct {
		body, field string
		status      int
	}{
		{`{"events":[]}`, "events", 400},
		{`{"events":[` + ok + `,{"unit_id":"u"}]}`, "events[1].name", 400},
		{`{"events":[{"name":"x"}]}`, "events[0].unit_id", 400},
		{`{"events":[{"unit_id":"u","name":"` + strings.Repeat("n", 129) + `"}]}`, "events[0].name", 400},
		{`{"events":[{"unit_id":"u","name":"has space"}]}`, "events[0].name", 400},
		{`{"events":[{"unit_id":"u","name":"x","properties":{"bad-key":1}}]}`, "events[0].properties.bad-key", 400},
		{`{"events":[{"unit_id":"u","name":"x","properties":{"s":"` + long + `"}}]}`, "events[0].properties.s", 400},
		{`{"events":[{"unit_id":"u","name":"x","properties":{"n":1e16}}]}`, "events[0].properties.n", 400},
		{`{"events":[{"unit_id":"u","name":"x","properties":{"o":{"a":1}}}]}`, "events[0].properties.o", 400},
		{`{"events":[{"unit_id":"u","name":"x","properties":{"z":null}}]}`, "events[0].properties.z", 400},
		{`{"events":[{"unit_id":"u","name":"x","properties":{"l":["a",2]}}]}`, "events[0].properties.l[1]", 400},
		{`{"events":[{"unit_id":"u","name":"x","properties":` + many + `}]}`, "events[0].properties", 400},
		{`{"events":[{"unit_id":"u","name":"x","time":"2030-01-01T00:00:00Z"}]}`, "events[0].time", 400},
		{`{"events":[{"unit_id":"u","name":"x","time":"2023-01-01T00:00:00Z"}]}`, "events[0].time", 400},
		{`{"events":[{"id":"a","unit_id":"u","name":"x"},{"id":"a","unit_id":"u","name":"y"}]}`, "events[1].id", 409},
		{`{"events":[{"unit_id":"u","name":"x","colour":"red"}]}`, "colour", 400},
	} {
		a := h.call(t, "POST", "/v1/track", hSDK, tc.body)
		if _, field, _ := a.err(); a.status != tc.status || field != tc.field {
			t.Errorf("POST /v1/track %.80s = %d %s, want %d naming %s", tc.body, a.status, a.body, tc.status, tc.field)
		}
	}
	var batch strings.Builder
	batch.WriteString(`{"events":[`)
	for i := range 1001 {
		if i > 0 {
			batch.WriteString(",")
		}
		batch.WriteString(ok)
	}
	batch.WriteString(`]}`)
	if a := h.call(t, "POST", "/v1/track", hSDK, batch.String()); a.status != http.StatusRequestEntityTooLarge {
		t.Errorf("POST /v1/track of 1001 events = %d %s, want 413", a.status, a.body)
	}
	if a := h.call(t, "POST", "/v1/track", hRead, `{"events":[`+ok+`]}`); a.status != http.StatusForbidden {
		t.Errorf("POST /v1/track with a read key = %d, want 403", a.status)
	}
	if n := h.events.len() - logged; n != 0 {
		t.Errorf("refused batches logged %d events, want none", n)
	}
}
