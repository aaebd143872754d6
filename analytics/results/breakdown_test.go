package results_test

import (
	"bytes"
	"encoding/csv"
	"math/rand/v2"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics/results"
	"github.com/splitcast/splitcast/analytics/results/resultstest"
	"github.com/splitcast/splitcast/analytics/stats"
)

// TestBreakdown: each value's comparisons equal those of a report of the
// units with that value alone, and every p-value of a metric is
// BH-adjusted over all the breakdown's comparisons of that metric.
func TestBreakdown(t *testing.T) {
	h := resultstest.Started(t, resultstest.Definition(t, 0))
	exp := resultstest.Current(h)
	rng := rand.New(rand.NewPCG(3, 4))
	var units []results.Unit
	for i := range 6000 {
		seg, arms := "pro", []string{"a", "b", "c"}
		if i%3 == 0 {
			seg, arms = "rest", []string{"a", "b"}
		}
		u := results.Unit{Segment: seg, Variant: arms[rng.IntN(len(arms))], N: 1, Dims: []string{[]string{"email", "push", ""}[rng.IntN(3)]}}
		u.Outcome.Open = rng.Float64() < 0.3
		u.Outcome.Click = u.Outcome.Open && rng.Float64() < 0.3
		u.Outcome.Conversion = rng.Float64() < 0.05
		if u.Outcome.Conversion {
			u.Outcome.Revenue = float64(rng.IntN(10000)) / 100
		}
		units = append(units, u)
	}
	aggOf := func(value string) results.Aggregates {
		counts := map[[2]string]*results.Counts{}
		for _, u := range units {
			if u.Dims[0] != value {
				continue
			}
			k := [2]string{u.Segment, u.Variant}
			if counts[k] == nil {
				counts[k] = &results.Counts{}
			}
			c, o := counts[k], u.Outcome
			c.Exposed++
			c.Value += o.Revenue
			c.ValueSumSq += o.Revenue * o.Revenue
			for _, f := range []struct {
				has bool
				n   *int64
			}{{o.Open, &c.Opens.Units}, {o.Click, &c.Clicks.Units}, {o.Open && o.Click, &c.OpenClickers}, {o.Conversion, &c.Conversions.Units}} {
				if f.has {
					*f.n++
				}
			}
		}
		var arms []results.ArmAggregate
		for k, c := range counts {
			arms = append(arms, results.ArmAggregate{Segment: k[0], Variant: k[1], Counts: *c})
		}
		return resultstest.AggOf(2, arms...)
	}
	now := resultstest.T0.Add(time.Hour)
	r := results.BuildReport(exp, h, aggOf("email"), now)
	results.AddBreakdown(&r, units, "channel")
	b := r.Breakdown
	if b == nil || b.Dimension != "channel" || b.Warning == "" || len(b.Segments) != 2 {
		t.Fatalf("breakdown = %+v", b)
	}
	families := map[string][]float64{}
	var bh []*float64
	var metrics []string
	for _, s := range b.Segments {
		if len(s.Values) != 3 {
			t.Fatalf("segment %s has values %+v, want 3", s.Key, s.Values)
		}
		for _, v := range s.Values {
			alone := results.BuildReport(exp, h, aggOf(v.Value), now)
			var seg results.SegmentReport
			for _, x := range alone.Segments {
				if x.Key == s.Key {
					seg = x
				}
			}
			for mi, m := range v.Metrics {
				for ri, row := range m.Rows {
					want := seg.Metrics[mi].Rows[ri]
					if row.Value != want.Value || row.Denominator != want.Denominator {
						t.Errorf("%s/%s/%s/%s value %v of %v, alone %v of %v", s.Key, v.Value, m.Metric, row.Variant, row.Value, row.Denominator, want.Value, want.Denominator)
					}
					if row.Comparison == nil {
						continue
					}
					if !reflect.DeepEqual(*row.Comparison, *want.Comparison) {
						t.Errorf("%s/%s/%s/%s comparison differs from the report of its units alone", s.Key, v.Value, m.Metric, row.Variant)
					}
					if p, ok := row.Comparison.FixedHorizon.P(); ok {
						families[string(m.Metric)] = append(families[string(m.Metric)], p)
						bh, metrics = append(bh, row.PValueBH), append(metrics, string(m.Metric))
					}
				}
			}
		}
	}
	adjusted := map[string][]float64{}
	for m, ps := range families {
		adjusted[m] = stats.BenjaminiHochberg(ps)
	}
	next := map[string]int{}
	for i, got := range bh {
		m := metrics[i]
		want := adjusted[m][next[m]]
		next[m]++
		if got == nil || *got != want {
			t.Errorf("%s comparison %d: p_value_bh %v, want %v", m, i, got, want)
		}
	}
	if b.Comparisons != 3*2+3*1 {
		t.Errorf("Comparisons = %d, want 9 (3 values x 2 variants in pro, x 1 in rest)", b.Comparisons)
	}
	checkBreakdownCSV(t, r)
}

// checkBreakdownCSV: the CSV of a report with a breakdown has, after the
// report's total and per-channel rows, a row per segment, value, metric and
// arm of the breakdown, with its value, p-value and BH-adjusted p-value and
// no channel or fatigue cells.
func checkBreakdownCSV(t *testing.T, r results.Report) {
	t.Helper()
	var buf bytes.Buffer
	if err := results.WriteCSV(&buf, r); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, name := range recs[0] {
		col[name] = i
	}
	var want [][5]string // segment, value, metric, variant, then value|p_value|p_value_bh
	opt := func(x *float64) string {
		if x == nil {
			return ""
		}
		return strconv.FormatFloat(*x, 'g', -1, 64)
	}
	for _, s := range r.Breakdown.Segments {
		for _, v := range s.Values {
			for _, m := range v.Metrics {
				for _, row := range m.Rows {
					var p *float64
					if row.Comparison != nil {
						p = row.Comparison.FixedHorizon.PValue
					}
					want = append(want, [5]string{s.Key, v.Value, string(m.Metric), row.Variant,
						strconv.FormatFloat(row.Value, 'g', -1, 64) + "|" + opt(p) + "|" + opt(row.PValueBH)})
				}
			}
		}
	}
	var got [][5]string
	own, perChannel := 0, 0
	for _, rec := range recs[1:] {
		if rec[col["breakdown"]] == "" {
			if rec[col["channel"]] == "" {
				own++
			} else {
				perChannel++
			}
			continue
		}
		if rec[col["breakdown"]] != r.Breakdown.Dimension {
			t.Fatalf("breakdown row names dimension %q, want %q", rec[col["breakdown"]], r.Breakdown.Dimension)
		}
		// A breakdown row is over every channel and carries no fatigue line.
		if rec[col["channel"]] != "" || rec[col["messaged_units"]] != "" || rec[col["suppressed_global_control"]] != "" {
			t.Errorf("breakdown row %v has channel or fatigue cells", rec)
		}
		got = append(got, [5]string{rec[col["segment"]], rec[col["breakdown_value"]], rec[col["metric"]], rec[col["variant"]],
			rec[col["value"]] + "|" + rec[col["p_value"]] + "|" + rec[col["p_value_bh"]]})
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("CSV breakdown rows:\n%v\nwant\n%v", got, want)
	}
	var arms int
	for _, s := range r.Segments {
		arms += len(s.Arms) * len(s.Metrics)
	}
	if own != arms {
		t.Errorf("CSV has %d rows of the report itself, want %d", own, arms)
	}
	var channelRows int
	for _, ch := range r.Channels {
		for _, s := range ch.Segments {
			channelRows += len(s.Arms) * len(s.Metrics)
		}
	}
	if perChannel != channelRows {
		t.Errorf("CSV has %d per-channel rows, want %d", perChannel, channelRows)
	}
}
