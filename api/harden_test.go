package api_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestRefusedAssignmentLogsNoExposure: an assignment answered with an
// error leaves no exposure, whichever field is over its limit, on the
// single and the bulk route; the longest allowed values are answered with
// a token and logged once (issue 16, item 1: the request allowed 256 bytes,
// the token 255, and the exposure was logged before the token was signed).
func TestRefusedAssignmentLogsNoExposure(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.must(t, 201, "POST", "/v1/experiments", hAdmin, exampleDef(t, "limits"))
	h.must(t, 200, "POST", "/v1/experiments/limits/start", hAdmin, "")
	// The sizes of the report, not the constant: the constant was the bug.
	long := strings.Repeat("u", 256)
	max := strings.Repeat("u", 255)
	for _, tc := range []struct {
		name, unit, send string
		want             int
	}{
		{"unit over", long, "s", 400},
		{"send over", "u1", long, 400},
		{"unit invalid UTF-8", "u\xff", "s", 400},
		{"both at the limit", max, max, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := h.events.len()
			// Built by hand: encoding/json would replace the invalid byte.
			body := fmt.Sprintf(`{"experiment":"limits","unit_id":"%s","send_id":"%s"}`, tc.unit, tc.send)
			a := h.call(t, "POST", "/v1/assign", hSDK, body)
			if a.status != tc.want {
				t.Fatalf("POST /v1/assign = %d %s, want %d", a.status, a.body, tc.want)
			}
			wantLogged := 0
			if tc.want == 200 {
				wantLogged = 1
			}
			if got := h.events.len() - before; got != wantLogged {
				t.Errorf("POST /v1/assign answered %d and logged %d exposures, want %d", a.status, got, wantLogged)
			}

			before = h.events.len()
			line := fmt.Sprintf(`{"unit_id":"%s","send_id":"%s"}`, tc.unit, tc.send)
			b := h.call(t, "POST", "/v1/assign/bulk?experiment=limits", hSDK, line+"\n")
			out := bytes.TrimSpace(b.body)
			refused := bytes.Contains(out, []byte(`"error"`))
			if refused != (tc.want != 200) {
				t.Errorf("bulk line %s answered %s, want refused=%v", line, out, tc.want != 200)
			}
			if got := h.events.len() - before; got != wantLogged {
				t.Errorf("bulk line answered %s and logged %d exposures, want %d", out, got, wantLogged)
			}
		})
	}
}

// TestEventTimeWindow: a server event's time is within the documented
// window, analytics.MaxAge back and analytics.MaxSkew ahead; outside it
// the batch is refused, naming the event (issue 16, item 7: events back
// to 2000 were accepted, 323 months in one request, which ClickHouse
// refuses to insert).
func TestEventTimeWindow(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.must(t, 201, "POST", "/v1/experiments", hAdmin, exampleDef(t, "window"))
	h.must(t, 200, "POST", "/v1/experiments/window/start", hAdmin, "")
	for _, tc := range []struct {
		name string
		at   time.Time
		want int
	}{
		{"29 days back", h.now.Add(-29 * 24 * time.Hour), 202},
		{"31 days back", h.now.Add(-31 * 24 * time.Hour), 400},
		{"year 2000", time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), 400},
		{"4 minutes ahead", h.now.Add(4 * time.Minute), 202},
		{"an hour ahead", h.now.Add(time.Hour), 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := fmt.Sprintf(`{"events":[{"id":"ok-%d","kind":"conversion","experiment":"window","unit_id":"u","time":%q},`+
				`{"id":"t-%d","kind":"conversion","experiment":"window","unit_id":"u","time":%q}]}`,
				tc.at.Unix(), h.now.Format(time.RFC3339), tc.at.Unix(), tc.at.Format(time.RFC3339))
			a := h.call(t, "POST", "/v1/events", hSDK, body)
			if a.status != tc.want {
				t.Fatalf("event at %v = %d %s, want %d", tc.at, a.status, a.body, tc.want)
			}
			if _, field, _ := a.err(); tc.want == 400 && field != "events[1].time" {
				t.Errorf("event at %v refused on field %q, want events[1].time", tc.at, field)
			}
		})
	}
}

// TestEventIdentityAndBounds: an event id names one event, so a batch
// repeating an id with another unit is refused 409 (issue 16, item 8: it
// kept two rows); an event of an experiment that does not exist is refused
// 404, and a value outside the documented range 400 (item 9: both were
// stored). Nothing of a refused batch is logged.
func TestEventIdentityAndBounds(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.must(t, 201, "POST", "/v1/experiments", hAdmin, exampleDef(t, "ident"))
	h.must(t, 200, "POST", "/v1/experiments/ident/start", hAdmin, "")
	ev := func(id, exp, unit, name, value string) string {
		return fmt.Sprintf(`{"id":%q,"kind":"conversion","experiment":%q,"unit_id":%q,"name":%q,"value":%s}`, id, exp, unit, name, value)
	}
	for _, tc := range []struct {
		name, body string
		want       int
		field      string
	}{
		{"one id, two units", ev("o-1", "ident", "u-1", "", "1") + "," + ev("o-1", "ident", "u-2", "", "1"), 409, "events[1].id"},
		{"one id, twice the same", ev("o-2", "ident", "u-1", "", "1") + "," + ev("o-2", "ident", "u-1", "", "1"), 202, ""},
		{"no such experiment", ev("o-3", "ident", "u-1", "", "1") + "," + ev("o-4", "ghost", "u-1", "", "1"), 404, "events[1].experiment"},
		{"revenue -1e12", ev("o-5", "ident", "u-1", "purchase", "-1e12"), 400, "events[0].value"},
		{"negative purchase", ev("o-6", "ident", "u-1", "purchase", "-5"), 400, "events[0].value"},
		{"refund", ev("o-7", "ident", "u-1", "refund", "-5"), 202, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := h.events.len()
			a := h.call(t, "POST", "/v1/events", hSDK, `{"events":[`+tc.body+`]}`)
			if a.status != tc.want {
				t.Fatalf("POST /v1/events %s = %d %s, want %d", tc.body, a.status, a.body, tc.want)
			}
			if _, field, _ := a.err(); field != tc.field {
				t.Errorf("POST /v1/events %s refused on %q, want %q", tc.body, field, tc.field)
			}
			if logged := h.events.len() - before; tc.want != 202 && logged != 0 {
				t.Errorf("refused batch logged %d events", logged)
			}
		})
	}
}
