package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics"
)

func TestEvents(t *testing.T) {
	h := runningExample(t, nil)
	var asg assignAnswer
	a := h.must(t, http.StatusOK, "POST", "/v1/assign", hSDK, `{"experiment":"welcome-email","unit_id":"u-1","send_id":"s-1"}`)
	if err := json.Unmarshal(a.body, &asg); err != nil || asg.Token == "" {
		t.Fatalf("POST /v1/assign = %s, want a token", a.body)
	}
	exposures := h.events.len()

	body := `{"events":[` +
		`{"id":"c-1","kind":"conversion","experiment":"welcome-email","unit_id":"u-2","name":"purchase","value":49.95,"time":"2025-03-01T11:30:00.5+01:00"},` +
		`{"idempotency_key":"k-1","kind":"unsubscribe","token":"` + asg.Token + `"},` +
		`{"kind":"custom","experiment":"welcome-email","unit_id":"u-3"}]}`
	a = h.must(t, http.StatusAccepted, "POST", "/v1/events", hSDK, body)
	if string(a.body) != `{"accepted":3}` || a.header.Get("Content-Type") != "application/json" {
		t.Errorf("POST /v1/events = %s (%s), want {\"accepted\":3} as application/json", a.body, a.header.Get("Content-Type"))
	}
	if n := h.events.len() - exposures; n != 3 {
		t.Fatalf("POST /v1/events logged %d events, want 3", n)
	}
	got := h.events.events[exposures:]
	want := []analytics.Event{
		{Kind: analytics.KindConversion, Experiment: "welcome-email", Unit: "u-2", Name: "purchase", Value: 49.95,
			Time: time.Date(2025, 3, 1, 10, 30, 0, 0, time.UTC)},
		{Kind: analytics.KindUnsubscribe, Experiment: "welcome-email", Unit: "u-1", Version: asg.Version, Segment: asg.Segment,
			Variant: asg.Variant, SendID: "s-1", Channel: "email", Time: h.now}, // the token's channel
		{Kind: analytics.KindCustom, Experiment: "welcome-email", Unit: "u-3", Time: h.now},
	}
	for i := range want {
		g := got[i]
		if !strings.HasPrefix(g.ID, "e:") || len(g.ID) != 34 {
			t.Errorf("event %d id = %q, want e: and 32 hex digits", i, g.ID)
		}
		g.ID = ""
		if g != want[i] {
			t.Errorf("event %d = %+v, want %+v", i, g, want[i])
		}
	}

	// A keyed event's id is pinned: sha256 of experiment and key, so that a
	// retry across a deploy still counts once.
	if got[0].ID != "e:6316bbc1ae6c8b3fd6abbe36563c9396" || got[1].ID != "e:e12917e92e97b87594f78017b7b31f8c" {
		t.Errorf("ids of c-1 and k-1 = %q, %q; want the pinned digests", got[0].ID, got[1].ID)
	}
	// A retry with the same id or key is the same event; without either, a
	// new one.
	h.must(t, http.StatusAccepted, "POST", "/v1/events", hSDK, body)
	again := h.events.events[exposures+3:]
	if again[0].ID != got[0].ID || again[1].ID != got[1].ID || again[2].ID == got[2].ID {
		t.Errorf("retried ids %q, %q, %q; first %q, %q, %q: want the keyed ones equal, the other new",
			again[0].ID, again[1].ID, again[2].ID, got[0].ID, got[1].ID, got[2].ID)
	}

	logged := h.events.len()
	ok := `{"kind":"conversion","experiment":"welcome-email","unit_id":"u"}`
	for _, tc := range []struct {
		body, field string
	}{
		{`{"events":[]}`, "events"},
		{`{"events":[` + ok + `,{"kind":"refund","experiment":"welcome-email","unit_id":"u"}]}`, "events[1].kind"},
		{`{"events":[` + ok + `,` + ok + `,{"kind":"conversion","unit_id":"u"}]}`, "events[2].experiment"},
		{`{"events":[{"kind":"conversion","experiment":"welcome-email"}]}`, "events[0].unit_id"},
		{`{"events":[{"kind":"conversion","experiment":"welcome-email","unit_id":"u","value":1e13}]}`, "events[0].value"},
		{`{"events":[{"kind":"conversion","experiment":"welcome-email","unit_id":"u","time":"2030-01-01T00:00:00Z"}]}`, "events[0].time"},
		{`{"events":[{"kind":"conversion","token":"` + asg.Token + `","unit_id":"u-9"}]}`, "events[0].unit_id"},
		{`{"events":[{"kind":"conversion","token":"x` + asg.Token + `"}]}`, "events[0].token"},
		{`{"events":[{"id":"a","idempotency_key":"b","kind":"conversion","experiment":"welcome-email","unit_id":"u"}]}`, "events[0].idempotency_key"},
		{`{"events":[{"kind":"conversion","experiment":"welcome-email","unit_id":"u","colour":"red"}]}`, "colour"},
		{`{"events":[{"kind":"conversion","experiment":"welcome-email","unit_id":7}]}`, "events.unit_id"},
		{`{"events":[` + ok, "body"},
	} {
		a := h.call(t, "POST", "/v1/events", hSDK, tc.body)
		if _, field, _ := a.err(); a.status != http.StatusBadRequest || field != tc.field {
			t.Errorf("POST /v1/events %s = %d %s, want 400 naming %s", tc.body, a.status, a.body, tc.field)
		}
	}
	if n := h.events.len() - logged; n != 0 {
		t.Errorf("refused batches logged %d events, want none", n)
	}
}
