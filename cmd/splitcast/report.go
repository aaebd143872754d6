package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/splitcast/splitcast/analytics/results"
)

// reportFlags are the flags of `splitcast report` beyond the shared config.
type reportFlags struct {
	url       *string
	key       *string
	breakdown *string
}

func addReportFlags(fs *flag.FlagSet, cmd string) reportFlags {
	var f reportFlags
	if cmd == "report" {
		f.url = fs.String("url", "", "the Splitcast server (default: SPLITCAST_BASE_URL, else http://SPLITCAST_ADDR)")
		f.key = fs.String("key", "", "an API key with the read scope (default: SPLITCAST_READ_KEY, else the dev read key)")
		f.breakdown = fs.String("breakdown", "", "also print the primary metric broken down by this dimension (channel, or one the experiment names)")
	}
	return f
}

// Report is `splitcast report KEY`: it fetches the report from a running
// server's GET /v1/experiments/KEY/results and prints it as a table; with
// -breakdown DIM, the report of ?breakdown=DIM, and its breakdown after it.
func (m *Main) Report(ctx context.Context, f reportFlags, args []string) error {
	if len(args) != 1 {
		return errors.New("usage: splitcast report [-url URL] [-key KEY] [-breakdown DIMENSION] EXPERIMENT")
	}
	base, key := *f.url, *f.key
	if base == "" {
		base = m.Config.BaseURL
	}
	if key == "" {
		key = m.Config.ReadKey
	}
	r, err := fetchReport(ctx, &http.Client{Timeout: 5 * time.Minute}, base, key, args[0], *f.breakdown)
	if err != nil {
		return err
	}
	if err := writeReportTable(m.stdout, r); err != nil {
		return err
	}
	return writeBreakdownTable(m.stdout, r)
}

// fetchReport GETs an experiment's report from the server at base, broken
// down by breakdown unless that is "".
func fetchReport(ctx context.Context, client *http.Client, base, key, experimentKey, breakdown string) (results.Report, error) {
	var r results.Report
	u := strings.TrimRight(base, "/") + "/v1/experiments/" + url.PathEscape(experimentKey) + "/results"
	if breakdown != "" {
		u += "?breakdown=" + url.QueryEscape(breakdown)
	}
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return r, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := client.Do(req)
	if err != nil {
		return r, fmt.Errorf("report: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return r, fmt.Errorf("report: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
			return r, fmt.Errorf("report: GET %s: %d %s: %s", u, resp.StatusCode, e.Error.Code, e.Error.Message)
		}
		return r, fmt.Errorf("report: GET %s: %s", u, resp.Status)
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return r, fmt.Errorf("report: decode: %w", err)
	}
	return r, nil
}

// writeReportTable prints a report for a terminal: an SRM warning first
// when there is one, then per segment a row per arm with its exposures,
// the primary metric, its lift over the control with the interval, the
// always-valid p-value and the arm's status, then what retirement says.
func writeReportTable(w io.Writer, r results.Report) error {
	writeReportHeader(w, r)
	for _, s := range r.Segments {
		if err := writeSegmentTable(w, r, s); err != nil {
			return err
		}
		writeSegmentNotes(w, s)
		writeBanditNotes(w, r, s)
	}
	return nil
}

// writeBreakdownTable writes r's breakdown, if it has one, on the primary
// metric: its warning, then per segment and value of the dimension a row
// per arm with its units, value, lift and interval, p-value and
// BH-adjusted p-value.
func writeBreakdownTable(w io.Writer, r results.Report) error {
	b := r.Breakdown
	if b == nil {
		return nil
	}
	fmt.Fprintf(w, "\nbreakdown by %s: %s\n", b.Dimension, b.Warning)
	mean := r.PrimaryMetric.IsMean()
	for _, bs := range b.Segments {
		tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "\nsegment %s\t%s\tVARIANT\tUNITS\t%s\tLIFT\t%g%% CI\tP\tP (BH)\t\n", bs.Key,
			strings.ToUpper(b.Dimension), strings.ToUpper(string(r.PrimaryMetric)), 100*(1-r.Alpha))
		for _, bv := range bs.Values {
			value := bv.Value
			if value == "" {
				value = "(none)"
			}
			for _, bm := range bv.Metrics {
				if bm.Metric != r.PrimaryMetric {
					continue
				}
				for _, row := range bm.Rows {
					cells := breakdownCells(mean, row)
					fmt.Fprintf(tw, "\t%s\t%s\t%s\t\n", value, row.Variant, strings.Join(cells[:], "\t"))
				}
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// breakdownCells are one breakdown row's units (its metric's denominator
// for a rate, the arm's units for a mean), value, absolute lift, interval,
// p-value and BH-adjusted p-value; "-" where not computed, "n/a" and the
// reason where undefined.
func breakdownCells(mean bool, row results.BreakdownRow) [6]string {
	cells := [6]string{fmt.Sprintf("%.0f", row.Denominator), results.FormatValue(mean, row.Value), "-", "-", "-", "-"}
	c := row.Comparison
	if c == nil || c.Error != "" {
		return cells
	}
	fh := c.FixedHorizon
	na := results.FormatNA(results.TestReason(fh.Status))
	cells[2], cells[3], cells[4], cells[5] = na, na, na, na
	if fh.AbsLift != nil {
		cells[2] = results.FormatDiff(mean, *fh.AbsLift)
	}
	if fh.AbsCI != nil {
		cells[3] = results.FormatInterval(mean, fh.AbsCI.Lower, fh.AbsCI.Upper)
	}
	if fh.PValue != nil {
		cells[4] = results.FormatP(*fh.PValue)
	}
	if row.PValueBH != nil {
		cells[5] = results.FormatP(*row.PValueBH)
	}
	return cells
}

// writeBanditNotes writes a bandit segment's estimator and, per arm, its
// phase-stratified lift on the primary metric: the numbers to read there,
// since the table above pools phases of different weights.
func writeBanditNotes(w io.Writer, r results.Report, s results.SegmentReport) {
	if s.Bandit == nil {
		return
	}
	fmt.Fprintf(w, "  bandit segment: the table pools phases; estimator: %s\n", s.Bandit.Estimator)
	if s.Bandit.Error != "" {
		fmt.Fprintf(w, "  no stratified estimates: %s\n", s.Bandit.Error)
	}
	mean := r.PrimaryMetric.IsMean()
	for _, row := range s.Bandit.Rows(r.PrimaryMetric) {
		e := row.Estimate
		if !e.Defined {
			fmt.Fprintf(w, "  stratified %s: not enough units in a common phase\n", row.Variant)
			continue
		}
		fmt.Fprintf(w, "  stratified %s vs %s: %s vs %s, diff %s, %g%% CI %s, p=%s, over %d phases\n", row.Variant, s.Control,
			results.FormatValue(mean, e.Treatment), results.FormatValue(mean, e.Control), results.FormatDiff(mean, e.Diff),
			100*(1-e.Alpha), results.FormatInterval(mean, e.CI.Lower, e.CI.Upper), results.FormatP(e.PValue), e.Strata)
	}
}

// writeReportHeader writes the report's title line and its SRM warnings,
// which come first: they say whether the numbers below can be trusted.
func writeReportHeader(w io.Writer, r results.Report) {
	fmt.Fprintf(w, "%s", r.Experiment)
	if r.Name != "" {
		fmt.Fprintf(w, " (%s)", r.Name)
	}
	fmt.Fprintf(w, "  v%d %s  primary metric %s  %g%% intervals  generated %s\n", r.Version, r.Status, r.PrimaryMetric,
		100*(1-r.Alpha), r.GeneratedAt.UTC().Format(time.RFC3339))
	for _, s := range r.Segments {
		if s.SRM.Mismatch {
			fmt.Fprintf(w, "WARNING: sample ratio mismatch in segment %s (chi2=%.1f, p=%.3g): its numbers may be biased and automatic retirement is blocked\n",
				s.Key, s.SRM.ChiSquare, s.SRM.PValue)
		}
		for _, p := range s.PhaseSRM {
			if p.Mismatch {
				fmt.Fprintf(w, "WARNING: sample ratio mismatch in segment %s, phase %d (chi2=%.1f, p=%.3g)\n", s.Key, p.Phase, p.ChiSquare, p.PValue)
			}
		}
	}
}

// writeSegmentTable writes one segment's arms on the primary metric.
func writeSegmentTable(w io.Writer, r results.Report, s results.SegmentReport) error {
	primary := r.PrimaryMetric
	title := s.Key
	if s.Name != "" {
		title += " (" + s.Name + ")"
	}
	fmt.Fprintf(w, "\nsegment %s  control %s", title, s.Control)
	if s.Winner != "" {
		fmt.Fprintf(w, "  concluded: %s wins", s.Winner)
	}
	fmt.Fprintln(w)
	var pm *results.MetricReport
	for i := range s.Metrics {
		if s.Metrics[i].Metric == primary {
			pm = &s.Metrics[i]
		}
	}
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "VARIANT\tSTATUS\tEXPOSED\t%s\tLIFT\t%g%% CI\tALWAYS-VALID CI\tP (ALWAYS-VALID)\tP(BEAT CONTROL)\tP(BEST)\t\n",
		strings.ToUpper(string(primary)), 100*(1-r.Alpha))
	for i, a := range s.Arms {
		name := a.Variant
		if a.Control {
			name += " (control)"
		}
		cells := [7]string{"-", "-", "-", "-", "-", "-", "-"}
		if pm != nil && i < len(pm.Rows) {
			cells = rowCells(primary.IsMean(), pm.Rows[i])
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t\n", name, a.Status, a.Counts.Exposed, strings.Join(cells[:], "\t"))
	}
	return tw.Flush()
}

// rowCells are the value, lift, interval, always-valid interval, p-value,
// probability to beat control and to be best of one arm; "-" where not
// computed (the control's comparison, a mean's probabilities).
func rowCells(mean bool, row results.MetricRow) [7]string {
	cells := [7]string{results.FormatValue(mean, row.Value), "-", "-", "-", "-", "-", "-"}
	if row.ProbBest != nil {
		cells[6] = results.FormatShare(*row.ProbBest)
	}
	c := row.Comparison
	if c == nil || c.Error != "" {
		return cells
	}
	// The relative lift where it is defined, else the absolute one; "n/a"
	// and the reason for what is undefined (null in the JSON).
	fh := c.FixedHorizon
	na := results.FormatNA(results.TestReason(fh.Status))
	switch {
	case fh.RelLift != nil:
		cells[1], cells[2] = results.FormatRelLift(*fh.RelLift), results.FormatNA(results.RelReason(fh))
		if fh.RelCI != nil {
			cells[2] = results.FormatRelInterval(fh.RelCI.Lower, fh.RelCI.Upper)
		}
	case fh.AbsLift != nil:
		cells[1], cells[2] = results.FormatDiff(mean, *fh.AbsLift), na
		if fh.AbsCI != nil {
			cells[2] = results.FormatInterval(mean, fh.AbsCI.Lower, fh.AbsCI.Upper)
		}
	default:
		cells[1], cells[2] = na, na
	}
	cells[3], cells[4] = results.FormatNA(results.SeqReason(fh)), results.FormatNA(results.SeqReason(fh))
	if sq := c.Sequential; sq.Defined {
		cells[3], cells[4] = results.FormatInterval(mean, sq.CI.Lower, sq.CI.Upper), results.FormatP(sq.PValue)
	}
	if c.ProbBetter != nil {
		cells[5] = results.FormatShare(*c.ProbBetter)
	}
	return cells
}

// writeSegmentNotes writes a segment's retirements, what its retirement
// waits for, and what the loop would decide now.
func writeSegmentNotes(w io.Writer, s results.SegmentReport) {
	for _, a := range s.Arms {
		if a.Status == results.ArmRetired {
			at := ""
			if a.RetiredAt != nil {
				at = " at " + a.RetiredAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(w, "  retired %s%s: %s\n", a.Variant, at, a.RetiredReason)
		}
	}
	for _, b := range s.Retirement.Blocked {
		if s.Winner == "" {
			fmt.Fprintf(w, "  retirement waits: %s\n", b)
		}
	}
	for _, d := range s.Retirement.Decisions {
		fmt.Fprintf(w, "  retirement would %s %s: %s\n", d.Kind, d.Variant, d.Reason)
	}
}
