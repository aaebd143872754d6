package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics/results"
)

// TestBreakdownByAttribute: an experiment naming the dimension country
// stores each exposure's country (from the assignment's attributes), and
// its report broken down by country counts, per segment and arm, exactly
// the units assigned there with each country.
func TestBreakdownByAttribute(t *testing.T) {
	_, db := env.NewDatabase(t)
	m, _ := MustMain(t, db)
	c := apiClient{base: "http://" + m.Addr(), http: &http.Client{Timeout: time.Minute}}
	var def map[string]any
	if err := json.Unmarshal(exampleExperiment(t), &def); err != nil {
		t.Fatal(err)
	}
	def["key"], def["dimensions"] = "dims", []string{"country", "channel"}
	var exp struct{ Key string }
	c.mustCall(t, http.StatusCreated, "POST", "/v1/experiments", devAdminKey, def, &exp)
	c.mustCall(t, http.StatusOK, "POST", "/v1/experiments/dims/start", devAdminKey, []byte(`{"reason":"breakdown test"}`), nil)
	units := sampleUnits(400)
	var answers []armAnswer
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		if answers, err = tryBulkArms(t, c, "dims", units); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond) // the snapshot picks up the start
	}
	want := map[[3]string]int64{} // segment, arm, country
	var exposed int64
	for i, a := range answers {
		if !a.InExperiment {
			continue
		}
		country := "US"
		if i%2 == 0 {
			country = "FR"
		}
		v := a.Variant
		if a.Holdout {
			v = "holdout"
		}
		want[[3]string{a.Segment, v, country}]++
		exposed++
	}
	var r results.Report
	for {
		c.mustCall(t, http.StatusOK, "GET", "/v1/experiments/dims/results?breakdown=country", devReadKey, nil, &r)
		var n int64
		for _, s := range r.Segments {
			for _, a := range s.Arms {
				n += a.Counts.Exposed
			}
		}
		if n == exposed || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond) // the ingester writes in batches
	}
	if r.Breakdown == nil {
		t.Fatal("no breakdown in the report")
	}
	got := map[[3]string]int64{}
	for _, s := range r.Breakdown.Segments {
		for _, v := range s.Values {
			for _, row := range v.Metrics[0].Rows {
				if row.Denominator > 0 {
					got[[3]string{s.Key, row.Variant, v.Value}] = int64(row.Denominator)
				}
			}
		}
	}
	if len(want) == 0 || len(got) != len(want) {
		t.Fatalf("breakdown cells %v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%v: %d units in the breakdown, %d assigned", k, got[k], n)
		}
	}
	// The terminal report, broken down by country: the warning, each
	// country of each segment, and the BH-adjusted p-values.
	var out bytes.Buffer
	if err := run(context.Background(), []string{"report", "-url", c.base, "-key", devReadKey, "-breakdown", "country", "dims"},
		testGetenv(db), &out, io.Discard); err != nil {
		t.Fatalf("splitcast report -breakdown country = %v", err)
	}
	for _, want := range []string{"breakdown by country: A breakdown is many comparisons", "COUNTRY", "P (BH)", " FR ", " US "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("splitcast report -breakdown country lacks %q:\n%s", want, out.String())
		}
	}
	for _, s := range r.Breakdown.Segments {
		if !strings.Contains(out.String(), "segment "+s.Key) {
			t.Errorf("splitcast report -breakdown country has no table for segment %s:\n%s", s.Key, out.String())
		}
	}
	status, page := c.call(t, "GET", "/experiments/dims?breakdown=country", devReadKey, nil)
	for _, want := range []string{`id="breakdown-warning"`, "many comparisons", `data-value="FR"`, `data-value="US"`, `class="b-pbh"`} {
		if status != http.StatusOK || !strings.Contains(string(page), want) {
			t.Errorf("page with ?breakdown=country: %d, lacks %q", status, want)
		}
	}
}
