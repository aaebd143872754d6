package results_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics/results"
	"github.com/splitcast/splitcast/analytics/results/resultstest"
	"github.com/splitcast/splitcast/experiment"
)

// TestUndefinedStaysUndefined: in segment pro, b has no units (empty arm)
// and c converts nobody while the control converts nobody either (zero
// standard error); the JSON has null for their statistics, p-values and
// intervals, with the status, and Holm leaves them out of the family; the
// CSV leaves the same cells empty and names the status.
func TestUndefinedStaysUndefined(t *testing.T) {
	h := resultstest.Started(t, resultstest.Definition(t, 0))
	agg := resultstest.AggOf(2, resultstest.Arm("pro", "a", 5000, 0), resultstest.Arm("pro", "c", 4000, 0),
		resultstest.Arm("rest", "a", 3000, 90), resultstest.Arm("rest", "b", 2000, 60))
	r := results.BuildReport(resultstest.Current(h), h, agg, resultstest.T0.Add(time.Hour))
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Segments []struct {
			Key     string
			Metrics []struct {
				Metric string
				Rows   []struct {
					Variant    string
					Comparison map[string]any
				}
			}
		}
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, m := range doc.Segments[0].Metrics {
		if m.Metric != string(experiment.MetricConversionRate) {
			continue
		}
		for _, row := range m.Rows {
			if row.Comparison == nil {
				continue
			}
			fh := row.Comparison["fixed_horizon"].(map[string]any)
			seq := row.Comparison["sequential"].(map[string]any)
			var nulls []string
			var status, relStatus string
			switch row.Variant {
			case "b":
				status, relStatus = "empty_arm", "untested"
				nulls = []string{"abs_lift", "abs_ci", "rel_lift", "rel_ci", "statistic", "p_value"}
			case "c":
				status, relStatus = "no_variance", "zero_control"
				nulls = []string{"abs_ci", "rel_lift", "rel_ci", "statistic", "p_value"}
			}
			if fh["status"] != status || fh["rel_status"] != relStatus {
				t.Errorf("%s: status %v, rel_status %v, want %s, %s", row.Variant, fh["status"], fh["rel_status"], status, relStatus)
			}
			for _, k := range nulls {
				if v, ok := fh[k]; !ok || v != nil {
					t.Errorf("%s: fixed_horizon.%s = %v (present %v), want null", row.Variant, k, v, ok)
				}
			}
			for _, k := range []string{"p_value", "ci", "diff"} {
				if seq[k] != nil {
					t.Errorf("%s: sequential.%s = %v, want null", row.Variant, k, seq[k])
				}
			}
			for _, k := range []string{"p_value_holm", "sequential_p_value_holm"} {
				if v, ok := row.Comparison[k]; !ok || v != nil {
					t.Errorf("%s: %s = %v, want null", row.Variant, k, v)
				}
			}
			checked++
		}
	}
	if checked != 2 {
		t.Fatalf("checked %d comparisons, want 2", checked)
	}

	var out bytes.Buffer
	if err := results.WriteCSV(&out, r); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&out).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	seen := 0
	for _, rec := range recs[1:] {
		if rec[col["segment"]] != "pro" || rec[col["metric"]] != string(experiment.MetricConversionRate) || rec[col["variant"]] == "a" {
			continue
		}
		seen++
		want := map[string]string{"b": "empty_arm", "c": "no_variance"}[rec[col["variant"]]]
		if rec[col["test_status"]] != want {
			t.Errorf("CSV %s test_status = %q, want %q", rec[col["variant"]], rec[col["test_status"]], want)
		}
		for _, k := range []string{"p_value", "p_value_holm", "abs_ci_lower", "abs_ci_upper", "rel_lift", "seq_p_value"} {
			if rec[col[k]] != "" {
				t.Errorf("CSV %s %s = %q, want empty", rec[col["variant"]], k, rec[col[k]])
			}
		}
	}
	if seen != 2 {
		t.Errorf("CSV has %d rows of pro's compared arms, want 2", seen)
	}
}

// TestFormatNA: an undefined number reads "n/a" with the reason.
func TestFormatNA(t *testing.T) {
	if got := results.FormatNA("control is 0"); got != "n/a: control is 0" {
		t.Errorf(`FormatNA("control is 0") = %q`, got)
	}
	if got := results.FormatNA(""); got != "n/a" {
		t.Errorf(`FormatNA("") = %q`, got)
	}
}
