package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// profileExperiment segments by a stored attribute (plan) and by a
// computed trait (open tickets).
const profileExperiment = `{
  "key": "audience-e2e", "channel": "email", "allocation": 100, "holdout": 0,
  "segments": [
    {"key": "support", "rule": {"attr": "trait.support.open_tickets", "op": "gt", "value": 0},
     "variants": [{"key": "a", "weight": 1, "control": true}, {"key": "b", "weight": 1}]},
    {"key": "pro", "rule": {"attr": "plan", "op": "equals", "value": "pro"},
     "variants": [{"key": "a", "weight": 1, "control": true}, {"key": "b", "weight": 1}]},
    {"key": "rest", "variants": [{"key": "a", "weight": 1, "control": true}, {"key": "b", "weight": 1}]}
  ],
  "primary_metric": "open_rate"
}`

// TestAudienceTwoServers: a stored profile written through server A and a
// user event tracked through A reach assignment on server B within the
// stated bound (the trait refresh interval, plus the ingest flush interval
// for a user event, plus a second for the refresh's own queries); the
// call's own attributes win over the stored ones; DELETE /v1/units/{unit}
// on A makes B forget the unit within the same bound, and the ClickHouse
// mutations remove the unit's rows.
func TestAudienceTwoServers(t *testing.T) {
	const refresh, flush = time.Second, time.Second
	conn, db := env.NewDatabase(t)
	a, _ := MustMain(t, db, "-trait-refresh", refresh.String(), "-snapshot-refresh", refresh.String())
	b, _ := MustMain(t, db, "-trait-refresh", refresh.String(), "-snapshot-refresh", refresh.String())
	ca := apiClient{base: "http://" + a.Addr(), http: &http.Client{Timeout: 10 * time.Second}}
	cb := apiClient{base: "http://" + b.Addr(), http: &http.Client{Timeout: 10 * time.Second}}
	ca.mustCall(t, http.StatusCreated, "POST", "/v1/experiments", devAdminKey, []byte(profileExperiment), nil)
	ca.mustCall(t, http.StatusOK, "POST", "/v1/experiments/audience-e2e/start", devAdminKey, nil, nil)
	segmentOn := func(c apiClient, unit, attrs string) string {
		var as assignment
		st, body := c.call(t, "POST", "/v1/assign", devSDKKey, []byte(fmt.Sprintf(`{"experiment":"audience-e2e","unit_id":%q,"attributes":%s}`, unit, attrs)))
		if st == http.StatusNotFound {
			return "" // B has not seen the experiment yet
		}
		if st != http.StatusOK {
			t.Fatalf("assign %s: %d %s", unit, st, body)
		}
		if err := jsonUnmarshal(body, &as); err != nil {
			t.Fatal(err)
		}
		return as.Segment
	}
	waitB := func(what, unit, want string, bound time.Duration) {
		t.Helper()
		start := time.Now()
		for segmentOn(cb, unit, "{}") != want {
			if time.Since(start) > 20*bound {
				t.Fatalf("%s: server B never put %s in %s", what, unit, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
		took := time.Since(start)
		t.Logf("%s: server B agreed after %v (bound %v)", what, took.Round(time.Millisecond), bound)
		if took > bound {
			t.Errorf("%s: server B took %v, over the bound %v", what, took, bound)
		}
	}
	waitB("the experiment", "p-1", "rest", refresh+time.Second)

	ca.mustCall(t, http.StatusOK, "POST", "/v1/units/p-1/attributes", devSDKKey, []byte(`{"attributes":{"plan":"pro","age":41}}`), nil)
	waitB("a stored profile", "p-1", "pro", refresh+time.Second)
	if got := segmentOn(cb, "p-1", `{"plan":"free"}`); got != "rest" {
		t.Errorf("p-1 sending plan free: in %s, want rest (the call's attributes win)", got)
	}
	ca.mustCall(t, http.StatusOK, "POST", "/v1/units/attributes", devSDKKey,
		[]byte(`{"units":[{"unit_id":"p-2","attributes":{"plan":"pro"}},{"unit_id":"p-1","attributes":{"plan":null}}]}`), nil)
	waitB("a batch removing p-1's plan", "p-1", "rest", refresh+time.Second)
	waitB("a batch", "p-2", "pro", refresh+time.Second)

	ca.mustCall(t, http.StatusAccepted, "POST", "/v1/track", devSDKKey,
		[]byte(`{"events":[{"id":"t1","unit_id":"p-2","name":"ticket_opened","properties":{"urgency":"high"}}]}`), nil)
	waitB("a user event", "p-2", "support", refresh+flush+time.Second)

	deleted := time.Now().Add(-time.Second).Truncate(time.Second)
	ca.mustCall(t, http.StatusAccepted, "DELETE", "/v1/units/p-2", devAdminKey, nil, nil)
	waitB("a deletion", "p-2", "rest", refresh+time.Second)
	if st, _ := ca.call(t, "DELETE", "/v1/units/p-2", devSDKKey, nil); st != http.StatusForbidden {
		t.Errorf("DELETE with an sdk key = %d, want 403", st)
	}
	// The mutations run in the background: wait for them, then no row of
	// p-2 is left but its tombstone (and the exposures of the assignments
	// made since, which came after the deletion).
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var left uint64
		q := "SELECT (SELECT count() FROM user_events WHERE unit = 'p-2') + (SELECT count() FROM unit_profiles WHERE unit = 'p-2' AND attrs != '')" +
			" + (SELECT count() FROM events WHERE unit = 'p-2' AND time < toDateTime(?))"
		if err := conn.QueryRow(ctx, q, uint32(deleted.Unix())).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d rows of p-2 left 30s after DELETE", left)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if st, body := ca.call(t, "POST", "/v1/units/p-3/attributes", devSDKKey, []byte(`{"attributes":{"trait.x":1}}`)); st != http.StatusBadRequest {
		t.Errorf("storing a trait. attribute = %d %s, want 400", st, body)
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
