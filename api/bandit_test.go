package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/splitcast/splitcast/experiment"
)

// TestBanditDefinitionErrors: a bandit segment's bad policy is refused by
// POST /v1/experiments with a 400 naming the field; a good one is stored
// with its defaults filled in.
func TestBanditDefinitionErrors(t *testing.T) {
	h := newHarness(t, nil, nil)
	def := exampleDef(t, "bandit-email")
	bandit := func(policy string) string {
		return strings.Replace(def, `"key": "everyone",`, `"key": "everyone", "allocation": "bandit", "bandit": `+policy+`,`, 1)
	}
	for _, tc := range []struct{ name, body, field string }{
		{"floor above 1/arms", bandit(`{"floor": 40}`), "segments[1].bandit.floor"},
		{"metric not the primary", bandit(`{"metric": "open_rate"}`), "segments[1].bandit.metric"},
		{"unequal weights at the start", bandit(`{}`), "segments[1].variants[1].weight"},
		{"unknown allocation", strings.Replace(def, `"key": "everyone",`, `"key": "everyone", "allocation": "greedy",`, 1), "segments[1].allocation"},
	} {
		a := h.call(t, "POST", "/v1/experiments", hAdmin, tc.body)
		if code, field, _ := a.err(); a.status != http.StatusBadRequest || code != experiment.EINVALID || field != tc.field {
			t.Errorf("%s: POST /v1/experiments = %d %s, want 400 invalid naming %s", tc.name, a.status, a.body, tc.field)
		}
	}
	equal := strings.Replace(bandit(`{"burn_in": 300}`), `"weight": 2`, `"weight": 1`, 1)
	a := h.call(t, "POST", "/v1/experiments", hAdmin, equal)
	if a.status != http.StatusCreated || !strings.Contains(string(a.body), `"bandit":{"metric":"click_rate","interval":"24h0m0s","burn_in":300,"floor":5,"max_move":20}`) {
		t.Errorf("POST /v1/experiments(bandit, equal weights) = %d %s, want 201 with the policy's defaults", a.status, a.body)
	}
}
