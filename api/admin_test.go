package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/splitcast/splitcast/experiment"
	"github.com/splitcast/splitcast/experiment/experimenttest"
)

// TestExperimentLifecycle walks one experiment through every admin action
// and checks each answer and the history they leave.
func TestExperimentLifecycle(t *testing.T) {
	h := newHarness(t, nil, nil)
	const base = "/v1/experiments/welcome-email"

	e := definition(t, h.must(t, http.StatusCreated, "POST", "/v1/experiments", hAdmin, exampleDef(t, "welcome-email")))
	if e.Status != experiment.StatusDraft || e.Version != 1 || e.Salt != "welcome-email" || len(e.Segments) != 2 {
		t.Fatalf("created = status %s version %d salt %q %d segments, want a draft v1 salted by its key with 2 segments", e.Status, e.Version, e.Salt, len(e.Segments))
	}
	if got := definition(t, h.must(t, http.StatusOK, "GET", base, hRead, "")); got.Version != 1 || got.Key != "welcome-email" {
		t.Errorf("GET = %s v%d, want welcome-email v1", got.Key, got.Version)
	}

	edited := strings.Replace(exampleDef(t, "welcome-email"), `"holdout": 5`, `"holdout": 10`, 1)
	e = definition(t, h.must(t, http.StatusOK, "PUT", base, hAdmin, edited))
	if e.Version != 2 || e.Holdout != 1000 || e.Status != experiment.StatusDraft {
		t.Errorf("PUT = v%d holdout %v %s, want v2 holdout 10%% draft", e.Version, e.Holdout, e.Status)
	}

	steps := []struct {
		path, body string
		status     experiment.Status
	}{
		{"/start", `{"reason":"go"}`, experiment.StatusRunning},
		{"/pause", "", experiment.StatusPaused},
		{"/resume", "", experiment.StatusRunning},
		{"/allocation", `{"allocation": 50, "reason": "half"}`, experiment.StatusRunning},
		{"/segments/everyone/variants/short/retire", `{"reason":"worse"}`, experiment.StatusRunning},
		{"/complete", "", experiment.StatusCompleted},
	}
	for i, s := range steps {
		e = definition(t, h.must(t, http.StatusOK, "POST", base+s.path, hAdmin, s.body))
		if want := uint32(3 + i); e.Status != s.status || e.Version != want {
			t.Errorf("POST %s = %s v%d, want %s v%d", s.path, e.Status, e.Version, s.status, want)
		}
	}
	if e.Allocation != 5000 {
		t.Errorf("allocation = %v, want 50%%", e.Allocation)
	}
	if v := e.Segments[1].Variants[1]; v.Key != "short" || !v.Retired || v.RetiredReason != "worse" {
		t.Errorf("everyone/short = %+v, want retired with reason worse", v)
	}

	var hist struct {
		Experiment string `json:"experiment"`
		Versions   []struct {
			experiment.Version
			Changes []experiment.Change `json:"changes"`
		} `json:"versions"`
	}
	if err := json.Unmarshal(h.must(t, http.StatusOK, "GET", base+"/history", hRead, "").body, &hist); err != nil {
		t.Fatal(err)
	}
	var actions []string
	for i, v := range hist.Versions {
		actions = append(actions, string(v.Action))
		if v.Version.Version != uint32(i+1) || v.Author != "key:admin" || v.Definition.Version != v.Version.Version {
			t.Errorf("history[%d] = v%d by %q (definition v%d), want v%d by key:admin", i, v.Version.Version, v.Author, v.Definition.Version, i+1)
		}
		if i > 0 && len(v.Changes) == 0 {
			t.Errorf("history[%d] (%s) lists no change", i, v.Action)
		}
	}
	if got, want := strings.Join(actions, ","), "create,edit,start,pause,resume,allocation,retire,complete"; got != want {
		t.Errorf("history actions = %s, want %s", got, want)
	}
	if hist.Versions[2].Reason != "go" || hist.Versions[6].Reason != "worse" {
		t.Errorf("reasons = %q, %q, want go, worse", hist.Versions[2].Reason, hist.Versions[6].Reason)
	}
}

func TestListExperiments(t *testing.T) {
	h := newHarness(t, nil, nil)
	for _, k := range []string{"b-exp", "a-exp", "c-exp"} {
		h.must(t, http.StatusCreated, "POST", "/v1/experiments", hAdmin, exampleDef(t, k))
	}
	h.must(t, http.StatusOK, "POST", "/v1/experiments/c-exp/start", hAdmin, "")
	keys := func(target string) string {
		var l struct {
			Experiments []experiment.Experiment `json:"experiments"`
		}
		if err := json.Unmarshal(h.must(t, http.StatusOK, "GET", target, hRead, "").body, &l); err != nil {
			t.Fatal(err)
		}
		var ks []string
		for _, e := range l.Experiments {
			ks = append(ks, e.Key)
		}
		return strings.Join(ks, ",")
	}
	for target, want := range map[string]string{
		"/v1/experiments":                  "a-exp,b-exp,c-exp",
		"/v1/experiments?status=running":   "c-exp",
		"/v1/experiments?status=draft":     "a-exp,b-exp",
		"/v1/experiments?channel=push":     "",
		"/v1/experiments?limit=1&offset=1": "b-exp",
	} {
		if got := keys(target); got != want {
			t.Errorf("GET %s = [%s], want [%s]", target, got, want)
		}
	}
	a := h.call(t, "GET", "/v1/experiments?status=sleeping", hRead, "")
	if code, field, _ := a.err(); a.status != http.StatusBadRequest || code != experiment.EINVALID || field != "status" {
		t.Errorf("GET ?status=sleeping = %d %s, want 400 naming status", a.status, a.body)
	}
}

// TestExperimentJSONErrors checks that a bad definition is refused with a
// 400 whose error names the field to fix.
func TestExperimentJSONErrors(t *testing.T) {
	h := newHarness(t, nil, nil)
	def := exampleDef(t, "welcome-email")
	for _, tc := range []struct {
		name, body, field string
	}{
		{"negative weight", strings.Replace(def, `"weight": 2`, `"weight": -1`, 1), "segments[1].variants[0].weight"},
		{"zero weight", strings.Replace(def, `"weight": 2`, `"weight": 0`, 1), "segments[1].variants[0].weight"},
		{"weight of the wrong type", strings.Replace(def, `"weight": 2`, `"weight": "2"`, 1), "segments.variants.weight"},
		{"duplicate variant key", strings.Replace(def, `"key": "short"`, `"key": "control"`, 1), "segments[1].variants[1].key"},
		{"duplicate segment key", strings.Replace(def, `"key": "everyone"`, `"key": "pro-trial"`, 1), "segments[1].key"},
		{"no control", strings.Replace(def, `"weight": 2,
          "control": true`, `"weight": 2`, 1), "segments[1].variants"},
		{"unknown operator", strings.Replace(def, `"op": "equals"`, `"op": "regex"`, 1), "segments[0].rule.all[0].op"},
		{"segment with one variant", `{"key":"x","channel":"email","segments":[{"key":"s","variants":[{"key":"c","weight":1,"control":true}]}],"primary_metric":"click_rate"}`, "segments[0].variants"},
		{"unknown field", strings.Replace(def, `"holdout": 5`, `"holdot": 5`, 1), "holdot"},
		{"unknown channel", strings.Replace(def, `"channel": "email"`, `"channel": "fax"`, 1), "channel"},
		{"not JSON", `{"key": "x",`, "body"},
		{"empty body", ``, "body"},
		{"two objects", `{} {}`, "body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := h.call(t, "POST", "/v1/experiments", hAdmin, tc.body)
			code, field, msg := a.err()
			if a.status != http.StatusBadRequest || code != experiment.EINVALID || field != tc.field || msg == "" {
				t.Errorf("POST /v1/experiments = %d %s, want 400 invalid naming %s", a.status, a.body, tc.field)
			}
			// The same checks hold when a draft is edited.
			if tc.body == "" {
				return
			}
			key := "edit-" + strings.ToLower(strings.ReplaceAll(tc.name, " ", "-"))
			h.must(t, http.StatusCreated, "POST", "/v1/experiments", hAdmin, exampleDef(t, key))
			a = h.call(t, "PUT", "/v1/experiments/"+key, hAdmin, tc.body)
			if code, field, _ := a.err(); a.status != http.StatusBadRequest || code != experiment.EINVALID || field == "" {
				t.Errorf("PUT = %d %s, want 400 invalid naming a field", a.status, a.body)
			}
		})
	}
}

func TestAdminAuth(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.must(t, http.StatusCreated, "POST", "/v1/experiments", hAdmin, exampleDef(t, "e1"))
	for _, tc := range []struct {
		method, target, key string
		status              int
		code                string
	}{
		{"POST", "/v1/experiments", "", http.StatusUnauthorized, experiment.EUNAUTHORIZED},
		{"GET", "/v1/experiments", "", http.StatusUnauthorized, experiment.EUNAUTHORIZED},
		{"GET", "/v1/experiments/e1", "not-a-key-at-all", http.StatusUnauthorized, experiment.EUNAUTHORIZED},
		{"POST", "/v1/experiments", hSDK, http.StatusForbidden, experiment.EFORBIDDEN},
		{"POST", "/v1/experiments", hRead, http.StatusForbidden, experiment.EFORBIDDEN},
		{"POST", "/v1/experiments/e1/start", hRead, http.StatusForbidden, experiment.EFORBIDDEN},
		{"GET", "/v1/experiments/e1/history", hSDK, http.StatusForbidden, experiment.EFORBIDDEN},
		{"POST", "/v1/assign", hAdmin, http.StatusForbidden, experiment.EFORBIDDEN},
	} {
		a := h.call(t, tc.method, tc.target, tc.key, exampleDef(t, "e2"))
		code, field, _ := a.err()
		if a.status != tc.status || code != tc.code || field != "Authorization" {
			t.Errorf("%s %s with key %q = %d %s, want %d %s naming Authorization", tc.method, tc.target, tc.key, a.status, a.body, tc.status, tc.code)
		}
		if tc.status == http.StatusUnauthorized && a.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s %s: a 401 without WWW-Authenticate", tc.method, tc.target)
		}
	}
	// Nothing was created by the refused requests.
	h.must(t, http.StatusNotFound, "GET", "/v1/experiments/e2", hRead, "")
}

func TestAdminNotFound(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.must(t, http.StatusCreated, "POST", "/v1/experiments", hAdmin, exampleDef(t, "e1"))
	h.must(t, http.StatusOK, "POST", "/v1/experiments/e1/start", hAdmin, "")
	for _, tc := range []struct{ method, target, field string }{
		{"GET", "/v1/experiments/nope", ""},
		{"GET", "/v1/experiments/nope/history", ""},
		{"PUT", "/v1/experiments/nope", ""},
		{"POST", "/v1/experiments/nope/start", ""},
		{"POST", "/v1/experiments/e1/segments/nope/variants/short/retire", "segment"},
		{"POST", "/v1/experiments/e1/segments/everyone/variants/nope/retire", "variant"},
		{"GET", "/v1/no-such-route", ""},
	} {
		body := ""
		if tc.method == "PUT" {
			body = exampleDef(t, "nope")
		}
		a := h.call(t, tc.method, tc.target, hAdmin, body)
		code, field, _ := a.err()
		if a.status != http.StatusNotFound || code != experiment.ENOTFOUND || field != tc.field {
			t.Errorf("%s %s = %d %s, want 404 not_found field %q", tc.method, tc.target, a.status, a.body, tc.field)
		}
	}
}

func TestAdminConflicts(t *testing.T) {
	h := newHarness(t, nil, nil)
	def := exampleDef(t, "e1")
	h.must(t, http.StatusCreated, "POST", "/v1/experiments", hAdmin, def)
	for _, tc := range []struct {
		name, method, target, body string
		status                     int
	}{
		{"duplicate key", "POST", "/v1/experiments", def, http.StatusConflict},
		{"resume a draft", "POST", "/v1/experiments/e1/resume", "", http.StatusConflict},
		{"complete a draft", "POST", "/v1/experiments/e1/complete", "", http.StatusConflict},
		{"allocation of a draft", "POST", "/v1/experiments/e1/allocation", `{"allocation": 10}`, http.StatusConflict},
		{"start", "POST", "/v1/experiments/e1/start", "", http.StatusOK},
		{"start a running one", "POST", "/v1/experiments/e1/start", "", http.StatusConflict},
		{"edit a running one", "PUT", "/v1/experiments/e1", def, http.StatusConflict},
		{"same allocation", "POST", "/v1/experiments/e1/allocation", `{"allocation": 100}`, http.StatusConflict},
		{"retire", "POST", "/v1/experiments/e1/segments/everyone/variants/short/retire", "", http.StatusOK},
		{"retire again", "POST", "/v1/experiments/e1/segments/everyone/variants/short/retire", "", http.StatusConflict},
		{"retire the control", "POST", "/v1/experiments/e1/segments/everyone/variants/control/retire", "", http.StatusBadRequest},
		{"allocation missing", "POST", "/v1/experiments/e1/allocation", `{}`, http.StatusBadRequest},
		{"allocation out of range", "POST", "/v1/experiments/e1/allocation", `{"allocation": 120}`, http.StatusBadRequest},
		{"complete", "POST", "/v1/experiments/e1/complete", "", http.StatusOK},
		{"resume a completed one", "POST", "/v1/experiments/e1/resume", "", http.StatusConflict},
	} {
		a := h.call(t, tc.method, tc.target, hAdmin, tc.body)
		code, _, msg := a.err()
		if a.status != tc.status || (tc.status != http.StatusOK && (code == "" || msg == "")) {
			t.Errorf("%s: %s %s = %d %s, want %d with an error body", tc.name, tc.method, tc.target, a.status, a.body, tc.status)
		}
	}
}

// racingStore lets another writer save just before the handler does, as a
// second admin (or the retirement loop) would between its read and write.
type racingStore struct {
	*experimenttest.Store
	before func(ctx context.Context) // runs once, before the next Save
}

func (s *racingStore) Save(ctx context.Context, v experiment.Version) error {
	if f := s.before; f != nil {
		s.before = nil
		f(ctx)
	}
	return s.Store.Save(ctx, v)
}

// TestStaleSave: an action computed from a version someone else has since
// replaced is refused with 409, and applies once retried.
func TestStaleSave(t *testing.T) {
	store := &racingStore{Store: experimenttest.NewStore()}
	h := newHarness(t, store, nil)
	h.must(t, http.StatusCreated, "POST", "/v1/experiments", hAdmin, exampleDef(t, "e1"))
	h.must(t, http.StatusOK, "POST", "/v1/experiments/e1/start", hAdmin, "")
	store.before = func(ctx context.Context) {
		cur, err := store.Get(ctx, "e1")
		if err != nil {
			t.Error(err)
			return
		}
		v, err := experiment.SetAllocation(cur, 2500, "other-admin", "meanwhile", h.now)
		if err != nil {
			t.Error(err)
			return
		}
		if err := store.Store.Save(ctx, v); err != nil {
			t.Error(err)
		}
	}
	retire := "/v1/experiments/e1/segments/everyone/variants/personal/retire"
	a := h.call(t, "POST", retire, hAdmin, "")
	if code, _, _ := a.err(); a.status != http.StatusConflict || code != experiment.ECONFLICT {
		t.Fatalf("POST retire over a concurrent save = %d %s, want 409 conflict", a.status, a.body)
	}
	e := definition(t, h.must(t, http.StatusOK, "POST", retire, hAdmin, ""))
	if e.Version != 4 || e.Allocation != 2500 || !e.Segments[1].Variants[2].Retired {
		t.Errorf("retried retire = v%d allocation %v retired %v, want v4 with the other admin's 25%% kept", e.Version, e.Allocation, e.Segments[1].Variants[2].Retired)
	}
}
