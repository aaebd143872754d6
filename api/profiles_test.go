package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/api"
)

// profileLog is an audience.Profiles that keeps what it is given.
type profileLog struct {
	writes  []analytics.ProfileWrite
	deleted []string
}

func (p *profileLog) Write(_ context.Context, ws []analytics.ProfileWrite) error {
	p.writes = append(p.writes, ws...)
	return nil
}

func (p *profileLog) DeleteUnit(_ context.Context, unit string) error {
	p.deleted = append(p.deleted, unit)
	return nil
}

// TestProfileRoutes: stored attributes are checked all or nothing with the
// field named, stored as canonical JSON; deleting a unit needs admin.
func TestProfileRoutes(t *testing.T) {
	store := &profileLog{}
	h := newHarness(t, nil, func(c *api.Config) { c.Profiles = store })
	h.must(t, http.StatusOK, "POST", "/v1/units/u%2F1/attributes", hSDK, `{"attributes":{"plan":"pro","age":41,"vip":true,"tags":["a"],"old":null}}`)
	if len(store.writes) != 1 || store.writes[0].Unit != "u/1" ||
		store.writes[0].Attrs != `{"age":41,"old":null,"plan":"pro","tags":["a"],"vip":true}` {
		t.Errorf("stored %+v", store.writes)
	}
	h.must(t, http.StatusOK, "POST", "/v1/units/attributes", hSDK, `{"units":[{"unit_id":"a","attributes":{"x":1}},{"unit_id":"b","attributes":{"x":2}}]}`)
	if len(store.writes) != 3 {
		t.Errorf("batch stored %d writes, want 2 more", len(store.writes)-1)
	}
	n := len(store.writes)
	for _, tc := range []struct{ path, body, field string }{
		{"/v1/units/u/attributes", `{"attributes":{}}`, "attributes"},
		{"/v1/units/u/attributes", `{"attributes":{"trait.opens_30d":1}}`, "attributes.trait.opens_30d"},
		{"/v1/units/u/attributes", `{"attributes":{"o":{"a":1}}}`, "attributes.o"},
		{"/v1/units/u/attributes", `{"attributes":{"l":[1]}}`, "attributes.l[0]"},
		{"/v1/units/u/attributes", `{"attributes":{"` + strings.Repeat("k", 129) + `":1}}`, "attributes." + strings.Repeat("k", 129)},
		{"/v1/units/attributes", `{"units":[{"unit_id":"a","attributes":{"x":1}},{"attributes":{"x":1}}]}`, "units[1].unit_id"},
		{"/v1/units/attributes", `{"units":[]}`, "units"},
	} {
		a := h.call(t, "POST", tc.path, hSDK, tc.body)
		if _, field, _ := a.err(); a.status != http.StatusBadRequest || field != tc.field {
			t.Errorf("POST %s %.60s = %d %s, want 400 naming %s", tc.path, tc.body, a.status, a.body, tc.field)
		}
	}
	if len(store.writes) != n {
		t.Errorf("refused writes stored %d", len(store.writes)-n)
	}
	if a := h.call(t, "DELETE", "/v1/units/u-9", hSDK, ""); a.status != http.StatusForbidden {
		t.Errorf("DELETE with an sdk key = %d, want 403", a.status)
	}
	h.must(t, http.StatusAccepted, "DELETE", "/v1/units/u-9", hAdmin, "")
	if len(store.deleted) != 1 || store.deleted[0] != "u-9" {
		t.Errorf("deleted %v, want u-9", store.deleted)
	}
	// Without a store: 503, nothing pretended.
	bare := newHarness(t, nil, nil)
	if a := bare.call(t, "POST", "/v1/units/u/attributes", hSDK, `{"attributes":{"x":1}}`); a.status != http.StatusServiceUnavailable {
		t.Errorf("without profiles = %d, want 503", a.status)
	}
}
