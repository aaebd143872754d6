package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// supportExperiment sends units with an open ticket of high urgency one
// message, any other unit with an open ticket another, and the rest a third.
const supportExperiment = `{
  "key": "support-note", "channel": "email", "allocation": 100, "holdout": 0,
  "segments": [
    {"key": "urgent", "rule": {"all": [{"attr": "trait.support.open_tickets", "op": "gt", "value": 0},
                                      {"attr": "trait.support.last_ticket_urgency", "op": "in", "values": ["high", "urgent"]}]},
     "variants": [{"key": "a", "weight": 1, "control": true}, {"key": "b", "weight": 1}]},
    {"key": "open", "rule": {"attr": "trait.support.open_tickets", "op": "gt", "value": 0},
     "variants": [{"key": "a", "weight": 1, "control": true}, {"key": "b", "weight": 1}]},
    {"key": "rest", "variants": [{"key": "a", "weight": 1, "control": true}, {"key": "b", "weight": 1}]}
  ],
  "primary_metric": "open_rate"
}`

// TestComputedTraitRules: rules on computed traits are checked at creation
// (unknown trait, operator or value of the wrong type: 400 naming the
// field); a user event sent to POST /v1/track moves its unit into the
// segment its history implies once the traits refresh; GET
// /v1/units/{unit}/traits and GET /v1/traits/catalogue show them.
func TestComputedTraitRules(t *testing.T) {
	s := trStart(t)
	rule := func(r string) string {
		return strings.Replace(supportExperiment, `{"attr": "trait.support.open_tickets", "op": "gt", "value": 0},`, r+",", 1)
	}
	for _, tc := range []struct{ rule, field string }{
		{`{"attr": "trait.support.nope", "op": "gt", "value": 0}`, "segments[0].rule.all[0].attr"},
		{`{"attr": "trait.support.last_ticket_stage", "op": "gt", "value": 1}`, "segments[0].rule.all[0].op"},
		{`{"attr": "trait.purchases.orders_30d", "op": "equals", "value": "many"}`, "segments[0].rule.all[0].value"},
		{`{"attr": "trait.interests.bought_shoes_365d", "op": "in", "values": [true, 3]}`, "segments[0].rule.all[0].values[1]"},
		{`{"attr": "trait.interests.top_categories", "op": "lt", "value": 3}`, "segments[0].rule.all[0].op"},
		{`{"attr": "trait.opens_30d", "op": "before", "value": "2024-01-01"}`, "segments[0].rule.all[0].op"},
		{`{"attr": "trait.lifecycle_stage", "op": "equals", "value": 3}`, "segments[0].rule.all[0].value"},
	} {
		var e struct {
			Error struct{ Field, Message string }
		}
		body := rule(tc.rule)
		if code := s.do(t, "POST", "/v1/experiments", trAdmin, body, nil); code != http.StatusBadRequest {
			t.Errorf("create with %s = %d, want 400", tc.rule, code)
			continue
		}
		_ = trDoErr(t, s.base+"/v1/experiments", trAdmin, body, &e)
		if e.Error.Field != tc.field {
			t.Errorf("create with %s: field %q (%s), want %q", tc.rule, e.Error.Field, e.Error.Message, tc.field)
		}
	}
	if code := s.do(t, "POST", "/v1/experiments", trAdmin, supportExperiment, nil); code != http.StatusCreated {
		t.Fatalf("create: %d", code)
	}
	if code := s.do(t, "POST", "/v1/experiments/support-note/start", trAdmin, "", nil); code != http.StatusOK {
		t.Fatalf("start: %d", code)
	}
	for unit, want := range map[string]string{"t-urgent": "rest", "t-open": "rest", "t-none": "rest"} {
		if a := s.assign(t, "support-note", unit, "{}"); a.Segment != want {
			t.Errorf("before any ticket: %s in %q, want %q", unit, a.Segment, want)
		}
	}
	track := `{"events":[
	  {"id":"1","unit_id":"t-urgent","name":"ticket_opened","properties":{"stage":"new","urgency":"high"}},
	  {"id":"2","unit_id":"t-open","name":"ticket_opened","properties":{"stage":"new","urgency":"low"}},
	  {"id":"3","unit_id":"t-none","name":"ticket_opened","properties":{"urgency":"urgent"}},
	  {"id":"4","unit_id":"t-none","name":"ticket_closed","properties":{"stage":"solved"}}]}`
	if code := s.do(t, "POST", "/v1/track", trSDK, track, nil); code != http.StatusAccepted {
		t.Fatalf("track: %d", code)
	}
	took := s.waitRefreshAfter(t, "the tickets", func() bool { return s.cache.Computed("t-none")["trait.support.last_ticket_stage"] == "solved" })
	t.Logf("tickets reached the traits after %v", took)
	for unit, want := range map[string]string{"t-urgent": "urgent", "t-open": "open", "t-none": "rest"} {
		if a := s.assign(t, "support-note", unit, "{}"); a.Segment != want {
			t.Errorf("after the tickets: %s in %q, want %q", unit, a.Segment, want)
		}
	}
	// The caller's own attribute wins over the computed trait.
	if a := s.assign(t, "support-note", "t-urgent", `{"trait.support.open_tickets": 0}`); a.Segment != "rest" {
		t.Errorf("t-urgent with open_tickets 0 sent: in %q, want rest", a.Segment)
	}
	var ut struct {
		Computed map[string]any `json:"computed"`
	}
	if code := s.do(t, "GET", "/v1/units/t-urgent/traits", trRead, "", &ut); code != http.StatusOK ||
		ut.Computed["trait.support.open_tickets"] != 1.0 || ut.Computed["trait.support.last_ticket_urgency"] != "high" {
		t.Errorf("GET /v1/units/t-urgent/traits = %d %v, want open_tickets 1, urgency high", code, ut.Computed)
	}
	var cat struct {
		Computed    []struct{ Name, Kind, Type string } `json:"computed"`
		Behavioural []struct{ Name, Type string }       `json:"behavioural"`
	}
	if code := s.do(t, "GET", "/v1/traits/catalogue", trRead, "", &cat); code != http.StatusOK || len(cat.Computed) < 15 || len(cat.Behavioural) != 16 {
		t.Fatalf("GET /v1/traits/catalogue = %d, %d computed, %d behavioural", code, len(cat.Computed), len(cat.Behavioural))
	}
	kinds := map[string]bool{}
	for _, d := range cat.Computed {
		kinds[d.Kind] = true
	}
	for _, k := range []string{"count", "sum", "mean", "max", "last", "days_since", "top", "happened", "active_days", "distinct", "share"} {
		if !kinds[k] {
			t.Errorf("the default catalogue has no %s trait", k)
		}
	}
}

// trDoErr posts body and decodes the error answer into out.
func trDoErr(t *testing.T, url, key, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := jsonDecode(resp.Body, out); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode
}

func jsonDecode(r io.Reader, out any) error { return json.NewDecoder(r).Decode(out) }
