package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestTwoServersConverge runs two API servers on one ClickHouse database,
// as behind a load balancer, and changes a running experiment through one
// of them: the other must give every unit of a sample the same answer
// (version, segment, variant) within its snapshot refresh interval plus a
// second, for a retirement and for an allocation change alike. The server
// that took the change must answer with the new version at once.
func TestTwoServersConverge(t *testing.T) {
	const refresh = time.Second
	bound := refresh + time.Second
	_, db := env.NewDatabase(t)
	a, _ := MustMain(t, db, "-snapshot-refresh", refresh.String())
	b, _ := MustMain(t, db, "-snapshot-refresh", refresh.String())
	ca := apiClient{base: "http://" + a.Addr(), http: &http.Client{Timeout: 10 * time.Second}}
	// A server that does not know the experiment yet answers the bulk
	// call 404 before reading its body, and then takes the rest of the
	// body for a next request on the same connection: B's polls each get
	// a connection of their own.
	cb := apiClient{base: "http://" + b.Addr(), http: &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: true}}}

	key := startExample(t, ca)
	units := sampleUnits(300)
	before := bulkArms(t, ca, key, units)
	if _, err := waitSameArms(t, cb, key, units, before, time.Now(), bound); err != nil {
		t.Fatalf("server B after the start on A: %v", err)
	}

	for _, change := range []struct {
		name, path string
		body       []byte
	}{
		{"retire everyone/personal", "/v1/experiments/" + key + "/segments/everyone/variants/personal/retire", []byte(`{"reason":"two servers test"}`)},
		{"allocation 100 -> 60", "/v1/experiments/" + key + "/allocation", []byte(`{"allocation":60,"reason":"two servers test"}`)},
	} {
		ca.mustCall(t, http.StatusOK, "POST", change.path, devAdminKey, change.body, nil)
		changed := time.Now()
		after := bulkArms(t, ca, key, units)
		moved := 0
		for i := range after {
			if after[i].Version == before[i].Version {
				t.Fatalf("%s: server A still answers %s for %s with version %d", change.name, after[i].arm(), units[i], after[i].Version)
			}
			if after[i].place() != before[i].place() {
				moved++
			}
		}
		if moved == 0 {
			t.Fatalf("%s: no unit of %d changed arm on server A", change.name, len(units))
		}
		delay, err := waitSameArms(t, cb, key, units, after, changed, bound)
		if err != nil {
			t.Fatalf("%s: server B: %v", change.name, err)
		}
		t.Logf("%s: %d of %d units moved; server B agreed after %v (refresh %v)", change.name, moved, len(units), delay.Round(time.Millisecond), refresh)
		before = after
	}
}

// sampleUnits returns n bulk-assignment lines, half of them in the example
// experiment's pro-trial segment.
func sampleUnits(n int) []string {
	out := make([]string, n)
	for i := range out {
		attrs := `{"plan":"free","country":"US"}`
		if i%2 == 0 {
			attrs = `{"plan":"pro_trial","country":"FR"}`
		}
		out[i] = fmt.Sprintf(`{"unit_id":"converge-%d","attributes":%s}`, i, attrs)
	}
	return out
}

// armAnswer is what two servers must agree on for one unit.
type armAnswer struct {
	Version      uint32 `json:"version"`
	Segment      string `json:"segment"`
	Variant      string `json:"variant"`
	InExperiment bool   `json:"in_experiment"`
	Holdout      bool   `json:"holdout"`
}

// arm is the answer for messages: the version and where the unit is.
func (a armAnswer) arm() string { return fmt.Sprintf("v%d %s", a.Version, a.place()) }

// place is where the unit is, whatever the version.
func (a armAnswer) place() string {
	return fmt.Sprintf("%s/%s in=%t holdout=%t", a.Segment, a.Variant, a.InExperiment, a.Holdout)
}

// bulkArms assigns units through POST /v1/assign/bulk and fails the test
// unless every line is answered.
func bulkArms(tb testing.TB, c apiClient, key string, units []string) []armAnswer {
	tb.Helper()
	out, err := tryBulkArms(tb, c, key, units)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// tryBulkArms is bulkArms that returns an answer other than 200 as an
// error: a server that does not know the experiment yet answers 404.
func tryBulkArms(tb testing.TB, c apiClient, key string, units []string) ([]armAnswer, error) {
	tb.Helper()
	status, data := c.call(tb, "POST", "/v1/assign/bulk?experiment="+key, devSDKKey, []byte(strings.Join(units, "\n")+"\n"))
	if status != http.StatusOK {
		return nil, fmt.Errorf("bulk assign = %d %s", status, data)
	}
	var out []armAnswer
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var a armAnswer
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil || a.Version == 0 {
			return nil, fmt.Errorf("bulk assign line %d: %s (%v)", len(out)+1, sc.Bytes(), err)
		}
		out = append(out, a)
	}
	if len(out) != len(units) {
		return nil, fmt.Errorf("bulk assign: %d answers for %d units", len(out), len(units))
	}
	return out, nil
}

// waitSameArms polls c until it answers want for every unit, and returns
// how long after since that was; an error if it was longer than bound.
func waitSameArms(tb testing.TB, c apiClient, key string, units []string, want []armAnswer, since time.Time, bound time.Duration) (time.Duration, error) {
	tb.Helper()
	start := since
	var last string
	for {
		got, err := tryBulkArms(tb, c, key, units)
		if err == nil {
			last = ""
			for i := range got {
				if got[i] != want[i] {
					last = fmt.Sprintf("%d of %d units differ, e.g. %s: %s, want %s", differ(got, want), len(units), units[i], got[i].arm(), want[i].arm())
					break
				}
			}
			if last == "" {
				return time.Since(start), nil
			}
		} else {
			last = err.Error()
		}
		if time.Since(start) > bound {
			return time.Since(start), fmt.Errorf("answers still differ after %v (bound %v): %s", time.Since(start).Round(time.Millisecond), bound, last)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func differ(got, want []armAnswer) int {
	n := 0
	for i := range got {
		if got[i] != want[i] {
			n++
		}
	}
	return n
}
