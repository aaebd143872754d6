package main

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// TestDemoAudienceScenarios runs `splitcast demo -scenario NAME` for each
// audience example: every simulated unit lands in the segment its history
// implies (the report's exposed units per segment are the cohorts' sizes),
// and the report finds the planted winner in the largest segment.
func TestDemoAudienceScenarios(t *testing.T) {
	const units = 800
	for _, sc := range scenarios {
		t.Run(sc.file, func(t *testing.T) {
			m, _, _ := runDemo(t, "-scenario", sc.file, "-units", "800", "-trait-refresh", "500ms",
				"-experiment-file", "../../docs/examples/reengagement.json")
			per := units / len(sc.want)
			wantUnits := map[string]int64{}
			for _, seg := range sc.want {
				wantUnits[seg] += int64(per)
			}
			c := apiClient{base: "http://" + m.Addr(), http: &http.Client{Timeout: time.Minute}}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			r, err := fetchReport(ctx, c.http, c.base, devReadKey, reportKey(t, c), "")
			if err != nil {
				t.Fatal(err)
			}
			largest, most := "", int64(0)
			for _, s := range r.Segments {
				var exposed int64
				for _, a := range s.Arms {
					exposed += a.Counts.Exposed
				}
				if exposed != wantUnits[s.Key] {
					t.Errorf("segment %s has %d units, want %d (the histories implying it)", s.Key, exposed, wantUnits[s.Key])
				}
				if exposed > most {
					largest, most = s.Key, exposed
				}
			}
			row, ok := primaryRow(r, largest, "variant")
			var p float64
			var defined bool
			if ok && row.Comparison != nil {
				p, defined = row.Comparison.FixedHorizon.P()
			}
			if !defined || p >= 0.05 || row.Comparison.FixedHorizon.AbsLift == nil || *row.Comparison.FixedHorizon.AbsLift <= 0 {
				t.Errorf("segment %s: the report does not find the planted winner: %+v", largest, row)
			}
		})
	}
}

// reportKey is the key of the one experiment the demo created.
func reportKey(t *testing.T, c apiClient) string {
	t.Helper()
	var list struct {
		Experiments []struct{ Key string } `json:"experiments"`
	}
	c.mustCall(t, http.StatusOK, "GET", "/v1/experiments", devReadKey, nil, &list)
	if len(list.Experiments) != 1 {
		t.Fatalf("the demo made %d experiments, want 1", len(list.Experiments))
	}
	return list.Experiments[0].Key
}
