package main

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics/results"
	"github.com/splitcast/splitcast/experiment"
)

// TestDemoBandit runs `splitcast demo -scenario bandit` through the real
// API and ClickHouse: after its burn-in the bandit loop moves the weights
// towards b (20% better on clicks) in versions whose reasons hold the
// posteriors, the report estimates the segment phase by phase and says
// so, and a second server on the same database agrees with the first on
// every unit's variant within its snapshot refresh after a further update.
func TestDemoBandit(t *testing.T) {
	m, stdout, getenv := runDemo(t, "-scenario", "bandit", "-seed", "3", "-units", "6000", "-days", "2")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	key := regexp.MustCompile(`/experiments/([^?]+)\?`).FindStringSubmatch(stdout.String())[1]
	c := apiClient{base: "http://" + m.Addr(), http: &http.Client{Timeout: time.Minute}}

	var hb struct {
		Versions []experiment.Version `json:"versions"`
	}
	c.mustCall(t, http.StatusOK, "GET", "/v1/experiments/"+key+"/history", devReadKey, nil, &hb)
	var reweights []experiment.Version
	for _, v := range hb.Versions {
		if v.Action == experiment.ActionReweight {
			reweights = append(reweights, v)
		}
	}
	if len(reweights) < 2 {
		t.Fatalf("%d reweight versions in the history, want one after each of at least two days:\n%s", len(reweights), stdout.String())
	}
	first := reweights[0]
	burnIn := regexp.MustCompile(` ([a-z]+) n=(\d+) Beta\(`).FindAllStringSubmatch(first.Reason, -1)
	if first.Author != "bandit-loop" || len(burnIn) != 3 || !strings.Contains(first.Reason, "P(best)=") {
		t.Fatalf("first reweight by %q: %q, want the bandit loop's posteriors of the 3 arms", first.Author, first.Reason)
	}
	for _, arm := range burnIn {
		var n int
		fmt.Sscan(arm[2], &n)
		if n < 300 {
			t.Errorf("the first reweight came with %s at n=%d, before the burn-in of 300", arm[1], n)
		}
	}
	last := reweights[len(reweights)-1].Definition.Segments[0].Variants
	if last[1].Weight <= last[0].Weight || last[1].Weight <= last[2].Weight || last[0].Weight < 500 || last[2].Weight < 500 {
		t.Errorf("weights after %d updates = control %d, b %d, c %d: want b ahead and every arm at or above the 5%% floor",
			len(reweights), last[0].Weight, last[1].Weight, last[2].Weight)
	}

	var r results.Report
	c.mustCall(t, http.StatusOK, "GET", "/v1/experiments/"+key+"/results", devReadKey, nil, &r)
	s := r.Segments[0]
	if s.Allocation != "bandit" || s.Bandit == nil || s.Bandit.Error != "" || s.Bandit.Estimator != results.Estimator {
		t.Fatalf("report segment %s: allocation %q, bandit %+v; want the stratified estimates", s.Key, s.Allocation, s.Bandit)
	}
	for _, bm := range s.Bandit.Metrics {
		if bm.Metric != experiment.MetricClickRate {
			continue
		}
		for _, row := range bm.Rows {
			// The last phase, begun by the last evening's update, has no
			// units yet.
			if !row.Estimate.Defined || row.Estimate.Strata != len(reweights) || row.Estimate.Dropped != 1 {
				t.Errorf("click rate of %s: %+v, want an estimate over every phase with units", row.Variant, row.Estimate)
			}
		}
	}
	if !strings.Contains(stdout.String(), "estimator: phase-stratified") || !strings.Contains(stdout.String(), "stratified b vs control:") {
		t.Errorf("the demo's terminal report does not give the stratified estimates:\n%s", stdout.String())
	}
	if len(r.Phases) != len(reweights)+1 || r.Phases[1].Action != experiment.ActionReweight || r.Phases[1].Reason != first.Reason {
		t.Errorf("report phases = %+v, want the start and %d reweights with their evidence", r.Phases, len(reweights))
	}

	// The page, as Chromium renders it, says which estimator it shows and
	// gives the stratified rows.
	chromium := mustChromium(t)
	pageURL := regexp.MustCompile(`Report page: (\S+)`).FindStringSubmatch(stdout.String())[1]
	dom := dumpDOM(t, chromium, pageURL)
	rows := regexp.MustCompile(`<tr class="bandit-row"><td><b>([a-z]+)</b></td><td>([^<]*)</td>`).FindAllStringSubmatch(dom, -1)
	if !strings.Contains(dom, "Estimator: phase-stratified") || len(rows) != 2 || rows[0][1] != "b" {
		t.Errorf("the page's bandit panel: estimator shown %t, rows %q", strings.Contains(dom, "Estimator: phase-stratified"), rows)
	}
	for _, bm := range s.Bandit.Metrics {
		if bm.Metric == experiment.MetricClickRate && len(rows) == 2 {
			if want := results.FormatValue(false, bm.Rows[0].Estimate.Treatment); rows[0][2] != want {
				t.Errorf("page: stratified value of b = %q, the JSON's is %q", rows[0][2], want)
			}
		}
	}

	// Two servers: B reads the versions A's loop writes.
	const refresh = time.Second
	db := getenv("SPLITCAST_CLICKHOUSE_DATABASE")
	b, _ := MustMain(t, db, "-snapshot-refresh", refresh.String())
	cb := apiClient{base: "http://" + b.Addr(), http: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
	units := make([]string, 300)
	for i := range units {
		units[i] = fmt.Sprintf(`{"unit_id":"two-servers-%d","attributes":{"plan":"free"}}`, i)
	}
	before := bulkArms(t, c, key, units)
	if _, err := waitSameArms(t, cb, key, units, before, time.Now(), refresh+time.Second); err != nil {
		t.Fatalf("server B before the update: %v", err)
	}
	// The loop looks on a clock a day ahead, when the segment is due
	// again (its last update was on the demo's last evening); two days have
	// not taken b to its cap, so the weights move.
	m.bandit.Now = func() time.Time { return time.Now().Add(24 * time.Hour) }
	applied, err := m.bandit.RunOnce(ctx)
	if err != nil || len(applied) != 1 {
		t.Fatalf("bandit RunOnce = %d updates, %v; want one", len(applied), err)
	}
	changed := time.Now()
	if err := m.refresher.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	after := bulkArms(t, c, key, units)
	moved := 0
	for i := range after {
		if after[i].Version != applied[0].Version {
			t.Fatalf("server A answers %s after the update to v%d", after[i].arm(), applied[0].Version)
		}
		if after[i].place() != before[i].place() {
			moved++
		}
	}
	delay, err := waitSameArms(t, cb, key, units, after, changed, refresh+time.Second)
	if err != nil {
		t.Fatalf("server B after the update: %v", err)
	}
	t.Logf("bandit update v%d: %d of %d units moved variant; server B agreed after %v (refresh %v)", applied[0].Version, moved, len(units), delay.Round(time.Millisecond), refresh)
}
