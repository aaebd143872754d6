package api_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

// FuzzExperimentJSON posts arbitrary bytes as an experiment definition. The
// server must never panic nor answer 5xx, and every 400 must name the field
// to fix. Seeds: the example, each refusal of TestExperimentJSONErrors, and
// shapes that stress the decoder (deep nesting, huge numbers, odd UTF-8).
func FuzzExperimentJSON(f *testing.F) {
	data, err := os.ReadFile("../docs/examples/experiment.json")
	if err != nil {
		f.Fatal(err)
	}
	def := string(data)
	for _, seed := range []string{
		def,
		strings.Replace(def, `"weight": 2`, `"weight": -1`, 1),
		strings.Replace(def, `"weight": 2`, `"weight": 1e400`, 1),
		strings.Replace(def, `"key": "short"`, `"key": "control"`, 1),
		strings.Replace(def, `"control": true`, `"control": false`, -1),
		strings.Replace(def, `"op": "equals"`, `"op": "regex"`, 1),
		strings.Replace(def, `"holdout": 5`, `"holdot": 5`, 1),
		strings.Replace(def, `"allocation": 100`, `"allocation": 12.345`, 1),
		strings.Replace(def, `"min_runtime": "72h"`, `"min_runtime": 72`, 1),
		strings.Replace(def, `"values": ["FR"`, `"values": [{"a":1}`, 1),
		strings.Replace(def, `"rule": {`, `"rule": {"not": {"not": {"not": {"not": {"not": {"not": {"not": {"not": {"not": {"attr": "a", "op": "exists"}}}}}}}}}, "x": {`, 1),
		`{"key":"x","channel":"email","segments":[{"key":"s","variants":[{"key":"c","weight":1,"control":true}]}],"primary_metric":"click_rate"}`,
		`{"key":"x","layer":{"name":"l","slot_start":9000,"slot_end":100}}`,
		`{"key":"\xff\xfe","name":"\u0000"}`,
		`[]`, `null`, `""`, `{}`, `{"key":`, `{"":""}`, "\x00", strings.Repeat("[", 10000),
	} {
		f.Add([]byte(seed))
	}
	h := newHarness(f, nil, nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest("POST", "/v1/experiments", strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer "+hAdmin)
		req.Header.Set("Content-Type", "application/json")
		a := h.request(t, req)
		switch a.status {
		case http.StatusCreated:
			// A definition that passes is stored and can be read back.
			e := definition(t, a)
			if got := h.call(t, "GET", "/v1/experiments/"+e.Key, hRead, ""); got.status != http.StatusOK {
				t.Errorf("created %q but GET answers %d %s", e.Key, got.status, got.body)
			}
		case http.StatusBadRequest:
			if code, field, msg := a.err(); code != "invalid" || field == "" || msg == "" {
				t.Errorf("POST %q = 400 %s, want an invalid error naming a field", body, a.body)
			}
		case http.StatusConflict, http.StatusRequestEntityTooLarge:
			// The key exists already; the body is over the limit.
		default:
			t.Errorf("POST %q = %d %s, want 201, 400, 409 or 413", body, a.status, a.body)
		}
	})
}
