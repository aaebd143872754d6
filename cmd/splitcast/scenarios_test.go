package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics/results"
)

// TestScenarios creates each audience example of docs/examples on a real
// server, sends the user events of units with known histories, and checks
// that each unit lands in the segment its history implies; then it plants
// a winner in the catch-all segment (the primary metric's event for half
// of the variant's units, a tenth of the control's) and checks that the
// report finds it.
func TestScenarios(t *testing.T) {
	_, db := env.NewDatabase(t)
	m, _ := MustMain(t, db, "-trait-refresh", "500ms")
	c := apiClient{base: "http://" + m.Addr(), http: &http.Client{Timeout: 10 * time.Second}}
	now := time.Now().UTC()
	for _, sc := range scenarios {
		t.Run(sc.file, func(t *testing.T) {
			def, err := os.ReadFile(filepath.Join("..", "..", "docs", "examples", sc.file+".json"))
			if err != nil {
				t.Fatal(err)
			}
			c.mustCall(t, http.StatusCreated, "POST", "/v1/experiments", devAdminKey, def, nil)
			c.mustCall(t, http.StatusOK, "POST", "/v1/experiments/"+sc.file+"/start", devAdminKey, nil, nil)
			var evs []string
			n := 0
			for unit, hist := range sc.units {
				for _, e := range hist {
					n++
					evs = append(evs, fmt.Sprintf(`{"id":"h%d","unit_id":%q,"name":%q,"properties":%s,"time":%q}`,
						n, unit, e.name, e.props, now.Add(-time.Duration(e.days)*24*time.Hour).Format(time.RFC3339)))
				}
			}
			c.mustCall(t, http.StatusAccepted, "POST", "/v1/track", devSDKKey, []byte(`{"events":[`+strings.Join(evs, ",")+`]}`), nil)
			deadline := time.Now().Add(20 * time.Second)
			for unit, want := range sc.want {
				for {
					var a assignment
					c.mustCall(t, http.StatusOK, "POST", "/v1/assign", devSDKKey, []byte(`{"experiment":"`+sc.file+`","unit_id":"`+unit+`"}`), &a)
					if a.Segment == want {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("%s is in %s, want %s", unit, a.Segment, want)
					}
					time.Sleep(100 * time.Millisecond)
				}
			}
			plantWinner(t, c, sc)
		})
	}
}

// plantWinner assigns 400 fresh units, sends the goal event for every
// second unit of the variant and every tenth of the control, and checks
// the report: the variant beats the control on the primary metric in the
// catch-all segment under the sequential test.
func plantWinner(t *testing.T, c apiClient, sc scenario) {
	t.Helper()
	var evs []string
	for i := range 400 {
		unit := fmt.Sprintf("%s-fresh-%d", sc.file, i)
		var a assignment
		c.mustCall(t, http.StatusOK, "POST", "/v1/assign", devSDKKey, []byte(`{"experiment":"`+sc.file+`","unit_id":"`+unit+`","send_id":"s1"}`), &a)
		if a.Segment != sc.catchAll {
			t.Fatalf("fresh unit %s in %s, want %s", unit, a.Segment, sc.catchAll)
		}
		if (a.Variant == "variant" && i%2 == 0) || (a.Variant == "control" && i%10 == 0) {
			evs = append(evs, fmt.Sprintf(`{"id":"g%d","unit_id":%q,"name":%q,"properties":%s}`, i, unit, sc.goal.name, sc.goal.props))
		}
	}
	c.mustCall(t, http.StatusAccepted, "POST", "/v1/track", devSDKKey, []byte(`{"events":[`+strings.Join(evs, ",")+`]}`), nil)
	deadline := time.Now().Add(20 * time.Second)
	for {
		var r results.Report
		c.mustCall(t, http.StatusOK, "GET", "/v1/experiments/"+sc.file+"/results", devReadKey, nil, &r)
		if row, ok := primaryRow(r, sc.catchAll, "variant"); ok && row.Comparison != nil &&
			row.Comparison.Sequential.PValue < 0.01 && row.Comparison.Sequential.Diff > 0 {
			t.Logf("%s: variant %v against the control, sequential p = %.2g", sc.file, row.Value, row.Comparison.Sequential.PValue)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the report never found the planted winner: %+v", r.Segments)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func primaryRow(r results.Report, seg, variant string) (results.MetricRow, bool) {
	for _, s := range r.Segments {
		if s.Key != seg {
			continue
		}
		for _, m := range s.Metrics {
			if !m.Primary {
				continue
			}
			for _, row := range m.Rows {
				if row.Variant == variant {
					return row, true
				}
			}
		}
	}
	return results.MetricRow{}, false
}
