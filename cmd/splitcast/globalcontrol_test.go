package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics/fatigue"
	"github.com/splitcast/splitcast/assign"
)

// TestGlobalControl: with a 20% global control group, the units of the
// group's hash are answered global_control by every experiment (the same
// units in two experiments of different salts), never get a token or an
// exposure, and the global control report's groups, conversions and
// revenue match a hand count.
func TestGlobalControl(t *testing.T) {
	_, db := env.NewDatabase(t)
	m, _ := MustMain(t, db, "-global-control", "20")
	c := fatigueClient(m)
	key := startExample(t, c)
	var def map[string]any
	if err := json.Unmarshal(exampleExperiment(t), &def); err != nil {
		t.Fatal(err)
	}
	def["key"], def["salt"] = "second-example", "another-salt"
	c.mustCall(t, http.StatusCreated, "POST", "/v1/experiments", devAdminKey, def, nil)
	c.mustCall(t, http.StatusOK, "POST", "/v1/experiments/second-example/start", devAdminKey, []byte(`{"reason":"global control test"}`), nil)

	const n = 1000
	type group struct {
		units, converters int64
		value, sumSq      float64
	}
	var exposed, control group
	var held int
	for _, k := range []string{key, "second-example"} {
		for i, a := range bulkSend(t, c, k, capLines("gc", "weekly", n)) {
			u := fmt.Sprint("gc-", i)
			want := assign.InGlobalControl(fatigue.DefaultGlobalControlSalt, u, 2000)
			if (a.why() == "global_control") != want || want && (a.Token != "" || a.Variant != "") {
				t.Fatalf("%s in %s: %+v, in the global control group: %v", u, k, a, want)
			}
			if k != key {
				continue
			}
			if i%3 == 0 { // every third unit converts, whatever its group
				postEvents(t, c, map[string]any{"kind": "conversion", "experiment": key, "unit_id": u, "value": i%7 + 1, "id": "order-" + u})
			}
			g := &exposed
			switch {
			case want:
				g = &control
			case a.Holdout:
				held++ // held out of the example: in neither group
				continue
			}
			g.units++
			if i%3 == 0 {
				v := float64(i%7 + 1)
				g.converters++
				g.value += v
				g.sumSq += v * v
			}
		}
	}
	// Held-out units of the example were exposed in the second one, in a
	// variant unless held out there too: they count as messaged then.
	for i, a := range bulkSend(t, c, "second-example", capLines("gc", "weekly", n)) {
		u := fmt.Sprint("gc-", i)
		first := assignUnit(t, c, key, u, "weekly", "email")
		if first.Holdout && a.why() == "" && !a.Holdout {
			exposed.units++
			if i%3 == 0 {
				v := float64(i%7 + 1)
				exposed.converters++
				exposed.value += v
				exposed.sumSq += v * v
			}
		}
	}
	t.Logf("hand count: %d exposed, %d in the global control group, %d held out of the example", exposed.units, control.units, held)

	var r struct {
		Exposed, Control struct {
			Units      int64   `json:"units"`
			Converters int64   `json:"converters"`
			Value      float64 `json:"value"`
			ValueSumSq float64 `json:"value_sum_sq"`
		}
		Share          float64 `json:"share"`
		ConversionRate struct {
			Exposed, Control float64
			FixedHorizon     struct {
				PValue float64 `json:"p_value"`
			} `json:"fixed_horizon"`
		} `json:"conversion_rate"`
		RevenuePerUnit struct{ Exposed, Control float64 } `json:"revenue_per_unit"`
	}
	waitUntil(t, time.Now(), 15*time.Second, func() string {
		c.mustCall(t, http.StatusOK, "GET", "/v1/global-control/results", devReadKey, nil, &r)
		if r.Exposed.Units != exposed.units || r.Control.Units != control.units || r.Exposed.Converters != exposed.converters ||
			r.Control.Converters != control.converters || r.Exposed.Value != exposed.value || r.Control.Value != control.value ||
			r.Exposed.ValueSumSq != exposed.sumSq || r.Control.ValueSumSq != control.sumSq {
			return fmt.Sprintf("report %+v %+v, hand count %+v %+v", r.Exposed, r.Control, exposed, control)
		}
		return ""
	})
	if r.Share != 20 || math.Abs(r.ConversionRate.Control-float64(control.converters)/float64(control.units)) > 1e-12 ||
		math.Abs(r.RevenuePerUnit.Exposed-exposed.value/float64(exposed.units)) > 1e-12 {
		t.Fatalf("report rates %+v %+v share %v", r.ConversionRate, r.RevenuePerUnit, r.Share)
	}
	var gcExposures uint64
	if err := m.conn.QueryRow(context.Background(), `SELECT count() FROM events WHERE kind = 'exposure' AND unit IN (
		SELECT unit FROM events WHERE kind = 'suppressed' AND name = 'global_control')`).Scan(&gcExposures); err != nil {
		t.Fatal(err)
	}
	if gcExposures != 0 {
		t.Fatalf("%d exposures of global control units", gcExposures)
	}
}
