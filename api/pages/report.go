// Package pages renders Splitcast's server-side HTML: the report page of an
// experiment, from the report model of analytics/results. It knows nothing
// of HTTP: api serves what it writes.
package pages

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/splitcast/splitcast/analytics/results"
	"github.com/splitcast/splitcast/experiment"
)

// The report page is rendered here, server-side: its charts are SVG built
// from the report's numbers, so that the page needs no script, no CDN and
// no network beyond this server.

//go:embed templates/report.html
var reportTemplates embed.FS

var reportTemplate = template.Must(template.New("report.html").ParseFS(reportTemplates, "templates/report.html"))

// Report writes the HTML report page of r, with the experiment's history
// (oldest first) for its retirement and phase panels.
func Report(w io.Writer, r results.Report, history []experiment.Version) error {
	return renderReportPage(w, newReportView(r, history))
}

func renderReportPage(w io.Writer, v reportView) error {
	var buf bytes.Buffer
	if err := reportTemplate.Execute(&buf, v); err != nil {
		return err
	}
	_, err := io.WriteString(w, neutralBidi.Replace(buf.String()))
	return err
}

// NeutralizeBidi returns s, an HTML page, with its bidirectional controls
// shown as visible marks (see neutralBidi): the console's pages use it too.
func NeutralizeBidi(s string) string { return neutralBidi.Replace(s) }

// neutralBidi shows the bidirectional controls as visible marks: text
// from an experiment's definition or history (a name, a reason, an author)
// holding U+202E would otherwise reverse what follows it on the page and
// make one thing read as another. The template itself holds none of them.
var neutralBidi = strings.NewReplacer(
	"\u202a", "[U+202A]", "\u202b", "[U+202B]", "\u202c", "[U+202C]", "\u202d", "[U+202D]", "\u202e", "[U+202E]",
	"\u2066", "[U+2066]", "\u2067", "[U+2067]", "\u2068", "[U+2068]", "\u2069", "[U+2069]",
	"\u200e", "[U+200E]", "\u200f", "[U+200F]", "\u061c", "[U+061C]")

// palette colours the arms of a segment, in order; colour-blind safe
// (Okabe–Ito).
var palette = []string{"#555555", "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442"}

// metricLabels name the metrics for people.
var metricLabels = map[experiment.Metric]string{
	experiment.MetricOpenRate:            "Open rate",
	experiment.MetricClickRate:           "Click rate",
	experiment.MetricClickToOpen:         "Click-to-open",
	experiment.MetricConversionRate:      "Conversion rate",
	experiment.MetricRevenuePerRecipient: "Revenue per recipient",
	experiment.MetricUnsubscribeRate:     "Unsubscribe rate",
	experiment.MetricComplaintRate:       "Complaint rate",
}

func metricLabel(m experiment.Metric) string {
	if l, ok := metricLabels[m]; ok {
		return l
	}
	return string(m)
}

// reportView is what the page template shows.
type reportView struct {
	R          results.Report
	Title      string
	Primary    string
	Generated  string
	Started    string
	Confidence string
	Segments   []segmentView
	// SRMSegments name the segments with a sample ratio mismatch.
	SRMSegments []string
	Phases      []phaseView
	History     []historyView
	// Breakdown is the breakdown section, when the page was asked for one
	// (?breakdown=DIM).
	Breakdown *breakdownView
	// Fatigue and Channels are the report's fatigue and per-channel
	// sections, when it has them.
	Fatigue  *fatigueView
	Channels []channelView
}

type phaseView struct {
	Index          int
	Versions       string
	Action, Author string
	Reason         string
	Started, Ended string
}

// historyView is one retire or conclude version: the retirement history
// with its evidence.
type historyView struct {
	Version                uint32
	Action, Author, Reason string
	When, Segment, Variant string
}

type segmentView struct {
	Key, Name, Control, Winner string
	Concluded                  string
	MultiArm                   int64
	Arms                       []armView
	Primary                    metricView
	Others                     []metricView
	Charts                     []chartView
	SRM                        []srmView
	Machine                    []machineView
	Retirement                 results.SegmentRetirement
	// Bandit is set for a bandit segment: its estimator and the
	// phase-stratified rows of the primary metric.
	Bandit *banditView
}

type banditView struct {
	Estimator, Error, Level string
	Rows                    []banditRowView
}

type banditRowView struct {
	Variant, Treatment, Control, Diff, CI, P string
	Strata                                   int
}

type armView struct {
	Variant, Name, Status, Color string
	Control                      bool
	Weight                       int
	Exposed, MultiArm            int64
	RetiredAt, RetiredReason     string
}

type metricView struct {
	Metric             string
	Label              string
	Primary, Guardrail bool
	LowerIsBetter      bool
	Scale              string // the bars' half width, in the lift's unit
	Correction         string // the multiple-comparison correction's label
	HasProbBest        bool   // some row has a probability to be best
	HasCUPED           bool   // some row has a CUPED estimate
	Rows               []metricRowView
}

type metricRowView struct {
	Variant, Color string
	Control        bool
	Value          string
	Fraction       string
	Compared       bool
	Error          string
	AbsLift, AbsCI string
	RelLift, RelCI string
	P, PAdj        string // PAdj: adjusted by the policy's correction
	SeqP, SeqPAdj  string
	ProbBest       string // the probability to be best, where the report has it
	// CUPED, CUPEDCI and CUPEDNote: the CUPED-adjusted lift, its interval,
	// and the variance reduction (or why it is n/a).
	CUPED, CUPEDCI, CUPEDNote string
	SeqCI                     string
	ProbBetter                string
	// Better and Worse mark a difference significant at Alpha by the
	// always-valid test, in the metric's good or bad direction.
	Better, Worse bool
	Bar           barView
}

// barView is an interval bar: the fixed-horizon interval (thick), the
// always-valid interval (thin) and the point estimate, on a scale centred
// on zero.
type barView struct {
	Width, Height  int
	Zero           float64
	X1, X2, Point  float64
	W              float64 // X2 - X1
	SX1, SX2       float64
	HasSeq, HasBar bool
	Color          string
}

type chartView struct {
	Title                    string
	Width                    int
	Height                   int
	Left, Right, Top, Bottom float64
	YTicks                   []tick
	XTicks                   []tick
	Lines                    []lineView
}

type tick struct {
	Pos   float64
	Label string
}

type lineView struct {
	Variant, Color string
	Points         string
	Dots           []point
}

type point struct{ X, Y float64 }

type srmView struct {
	Label    string
	Rows     []srmRow
	Chi2, P  string
	Mismatch bool
	Note     string
}

type srmRow struct {
	Arm                string
	Observed, Expected string
	Share              string
}

type machineView struct {
	Variant, Color                  string
	OpenUnits, OpenMachineUnits     int64
	OpenEvents, OpenMachineEvents   int64
	ClickUnits, ClickMachineUnits   int64
	ClickEvents, ClickMachineEvents int64
	MachineShare                    string
}

func newReportView(r results.Report, history []experiment.Version) reportView {
	v := reportView{R: r, Title: r.Experiment, Primary: metricLabel(r.PrimaryMetric),
		Generated: fmtTime(r.GeneratedAt), Confidence: strconv.FormatFloat(100*(1-r.Alpha), 'g', 4, 64) + "%",
		Breakdown: newBreakdownView(r.Breakdown), Fatigue: newFatigueView(r), Channels: newChannelViews(r)}
	if r.Name != "" {
		v.Title = r.Name
	}
	if r.StartedAt != nil {
		v.Started = fmtTime(*r.StartedAt)
	}
	for _, p := range r.Phases {
		pv := phaseView{Index: p.Index, Action: string(p.Action), Author: p.Author, Reason: p.Reason, Started: fmtTime(p.StartedAt),
			Versions: fmt.Sprintf("v%d–v%d", p.FirstVersion, p.LastVersion)}
		if p.FirstVersion == p.LastVersion {
			pv.Versions = fmt.Sprintf("v%d", p.FirstVersion)
		}
		if p.EndedAt != nil {
			pv.Ended = fmtTime(*p.EndedAt)
		}
		v.Phases = append(v.Phases, pv)
	}
	for i, h := range history {
		if h.Action != experiment.ActionRetire && h.Action != experiment.ActionConclude {
			continue
		}
		hv := historyView{Version: h.Version, Action: string(h.Action), Author: h.Author, Reason: h.Reason, When: fmtTime(h.CreatedAt)}
		if i > 0 {
			hv.Segment, hv.Variant = changedArm(history[i-1].Definition, h.Definition)
		}
		v.History = append(v.History, hv)
	}
	for _, s := range r.Segments {
		v.Segments = append(v.Segments, newSegmentView(r, s))
		mismatch := s.SRM.Mismatch
		for _, p := range s.PhaseSRM {
			mismatch = mismatch || p.Mismatch
		}
		if mismatch {
			v.SRMSegments = append(v.SRMSegments, "segment "+s.Key)
		}
	}
	return v
}

// changedArm names the segment and variant a retire or conclude version
// changed: the variant that became retired, or the segment's new winner.
func changedArm(before, after experiment.Experiment) (segment, variant string) {
	for _, s := range after.Segments {
		bi := before.Segment(s.Key)
		if bi < 0 {
			continue
		}
		b := before.Segments[bi]
		if s.Winner != "" && b.Winner != s.Winner {
			segment, variant = s.Key, s.Winner
		}
		for _, vr := range s.Variants {
			if vi := b.Variant(vr.Key); vr.Retired && vi >= 0 && !b.Variants[vi].Retired {
				return s.Key, vr.Key
			}
		}
	}
	return segment, variant
}

func newSegmentView(r results.Report, s results.SegmentReport) segmentView {
	sv := segmentView{Key: s.Key, Name: s.Name, Control: s.Control, Winner: s.Winner, MultiArm: s.MultiArmUnits, Retirement: s.Retirement}
	if s.ConcludedAt != nil {
		sv.Concluded = fmtTime(*s.ConcludedAt)
	}
	colors := map[string]string{}
	for i, a := range s.Arms {
		colors[a.Variant] = palette[i%len(palette)]
		av := armView{Variant: a.Variant, Name: a.Name, Status: string(a.Status), Color: colors[a.Variant], Control: a.Control,
			Weight: a.Weight, Exposed: a.Counts.Exposed, MultiArm: a.Counts.MultiArm, RetiredReason: a.RetiredReason}
		if a.RetiredAt != nil {
			av.RetiredAt = fmtTime(*a.RetiredAt)
		}
		sv.Arms = append(sv.Arms, av)
		c := a.Counts
		mv := machineView{Variant: a.Variant, Color: colors[a.Variant],
			OpenUnits: c.Opens.Units, OpenMachineUnits: c.Opens.MachineUnits, OpenEvents: c.Opens.Events, OpenMachineEvents: c.Opens.MachineEvents,
			ClickUnits: c.Clicks.Units, ClickMachineUnits: c.Clicks.MachineUnits, ClickEvents: c.Clicks.Events, ClickMachineEvents: c.Clicks.MachineEvents}
		if all := c.Opens.Events + c.Opens.MachineEvents + c.Clicks.Events + c.Clicks.MachineEvents; all > 0 {
			mv.MachineShare = results.FormatShare(float64(c.Opens.MachineEvents+c.Clicks.MachineEvents) / float64(all))
		} else {
			mv.MachineShare = "–"
		}
		sv.Machine = append(sv.Machine, mv)
	}
	for mi, m := range s.Metrics {
		mv := newMetricView(r, s, m, colors)
		if m.Primary {
			sv.Primary = mv
			sv.Charts = append(sv.Charts, metricChart(s, mi, metricLabel(m.Metric)+" (cumulative)", m.Mean, colors))
		} else {
			sv.Others = append(sv.Others, mv)
		}
	}
	sv.Charts = append(sv.Charts, exposureChart(s, colors))
	sv.Bandit = newBanditView(r, s)
	sv.SRM = append(sv.SRM, newSRMView("All phases", s.SRM))
	for _, p := range s.PhaseSRM {
		if p.Total == 0 && len(s.PhaseSRM) > 1 {
			continue // a phase without units in this segment has nothing to check
		}
		sv.SRM = append(sv.SRM, newSRMView(fmt.Sprintf("Phase %d", p.Phase), p.SRMReport))
	}
	return sv
}

func newSRMView(label string, s results.SRMReport) srmView {
	v := srmView{Label: label, Chi2: fmt.Sprintf("%.2f", s.ChiSquare), P: results.FormatP(s.PValue), Mismatch: s.Mismatch, Note: s.Error}
	for i, a := range s.Arms {
		row := srmRow{Arm: a, Observed: strconv.FormatFloat(s.Observed[i], 'f', 0, 64)}
		if i < len(s.Expected) {
			row.Expected = strconv.FormatFloat(s.Expected[i], 'f', 1, 64)
		}
		if i < len(s.Shares) {
			row.Share = results.FormatShare(s.Shares[i])
		}
		v.Rows = append(v.Rows, row)
	}
	return v
}

func newMetricView(r results.Report, s results.SegmentReport, m results.MetricReport, colors map[string]string) metricView {
	mv := metricView{Metric: string(m.Metric), Label: metricLabel(m.Metric), Primary: m.Primary, Guardrail: m.Guardrail,
		LowerIsBetter: m.LowerIsBetter, Correction: r.Correction.Label()}
	// One scale for every bar of the metric, wide enough for every interval.
	var scale float64
	for _, row := range m.Rows {
		if c := row.Comparison; c != nil && c.Error == "" {
			if iv := c.FixedHorizon.AbsCI; iv != nil {
				scale = math.Max(scale, math.Max(math.Abs(iv.Lower), math.Abs(iv.Upper)))
			}
			if c.Sequential.Defined {
				scale = math.Max(scale, math.Max(math.Abs(c.Sequential.CI.Lower), math.Abs(c.Sequential.CI.Upper)))
			}
		}
	}
	noBars := scale == 0 || math.IsInf(scale, 0) || math.IsNaN(scale)
	if noBars {
		scale = 1 // no interval has any width: nothing to draw
	}
	scale *= 1.05
	mv.Scale = strings.TrimPrefix(results.FormatDiff(m.Mean, scale), "+")
	if noBars {
		mv.Scale = ""
	}
	for i, row := range m.Rows {
		rv := metricRowView{Variant: row.Variant, Color: colors[row.Variant], Control: s.Arms[i].Control,
			Value: results.FormatValue(m.Mean, row.Value), Fraction: results.FormatFraction(m.Mean, row.Numerator, row.Denominator)}
		if row.ProbBest != nil {
			rv.ProbBest, mv.HasProbBest = results.FormatShare(*row.ProbBest), true
		}
		if c := row.Comparison; c != nil {
			rv.Compared = true
			rv.Error = c.Error
			fh, sq := c.FixedHorizon, c.Sequential
			if c.CUPED != nil {
				mv.HasCUPED = true
				cupedCells(&rv, m.Mean, c)
			}
			if c.Error == "" {
				fixedCells(&rv, m.Mean, c)
				if fh.AbsCI != nil {
					rv.Bar = bar(*fh.AbsLift, fh.AbsCI.Lower, fh.AbsCI.Upper, scale, rv.Color)
					rv.Bar.HasBar = !noBars
				}
			}
			rv.SeqP, rv.SeqPAdj = results.FormatNA(results.SeqReason(fh)), ""
			if c.Error == "" && sq.Defined {
				rv.SeqP, rv.SeqPAdj = results.FormatP(sq.PValue), optP(c.SequentialPValueAdjusted, "")
				rv.SeqCI = results.FormatInterval(m.Mean, sq.CI.Lower, sq.CI.Upper)
				rv.Bar.HasSeq = true
				rv.Bar.SX1, rv.Bar.SX2 = rv.Bar.x(sq.CI.Lower, scale), rv.Bar.x(sq.CI.Upper, scale)
				if sq.PValue < r.Alpha {
					up := sq.CI.Lower > 0
					down := sq.CI.Upper < 0
					rv.Better = (up && !m.LowerIsBetter) || (down && m.LowerIsBetter)
					rv.Worse = (down && !m.LowerIsBetter) || (up && m.LowerIsBetter)
				}
			}
			if c.ProbBetter != nil {
				rv.ProbBetter = results.FormatShare(*c.ProbBetter)
			}
		}
		mv.Rows = append(mv.Rows, rv)
	}
	return mv
}

// fixedCells fills the row's fixed-horizon cells: each number, or "n/a"
// with the reason where it is undefined (null in the JSON).
func fixedCells(rv *metricRowView, mean bool, c *results.MetricComparison) {
	fh := c.FixedHorizon
	na := results.FormatNA(results.TestReason(fh.Status))
	rv.AbsLift, rv.AbsCI = na, ""
	if fh.AbsLift != nil {
		rv.AbsLift, rv.AbsCI = results.FormatDiff(mean, *fh.AbsLift), na
	}
	if fh.AbsCI != nil {
		rv.AbsCI = results.FormatInterval(mean, fh.AbsCI.Lower, fh.AbsCI.Upper)
	}
	relNA := results.FormatNA(results.RelReason(fh))
	rv.RelLift, rv.RelCI = relNA, ""
	if fh.RelLift != nil {
		rv.RelLift, rv.RelCI = results.FormatRelLift(*fh.RelLift), relNA
	}
	if fh.RelCI != nil {
		rv.RelCI = results.FormatRelInterval(fh.RelCI.Lower, fh.RelCI.Upper)
	}
	rv.P, rv.PAdj = optP(fh.PValue, na), optP(c.PValueAdjusted, na)
}

// cupedCells fills the row's CUPED cells: the adjusted lift and interval
// and the variance reduction, or "n/a" with the reason.
func cupedCells(rv *metricRowView, mean bool, mc *results.MetricComparison) {
	c := mc.CUPED
	na := results.FormatNA(results.CUPEDReason(c.Status))
	rv.CUPED, rv.CUPEDCI, rv.CUPEDNote = na, "", ""
	if a := c.Adjusted; a != nil {
		rv.CUPED, rv.CUPEDCI = results.FormatDiff(mean, a.Diff), na
		if a.CI != nil {
			rv.CUPEDCI = results.FormatInterval(mean, a.CI.Lower, a.CI.Upper)
		}
	}
	if c.VarianceReduction != nil {
		rv.CUPEDNote = results.FormatReduction(*c.VarianceReduction)
	}
}

// optP writes an optional p-value, or na for none.
func optP(p *float64, na string) string {
	if p == nil {
		return na
	}
	return results.FormatP(*p)
}

const barWidth, barHeight = 240, 18

func (b barView) x(v, scale float64) float64 {
	x := float64(barWidth)/2 + v/scale*float64(barWidth)/2
	return math.Round(math.Max(1, math.Min(float64(barWidth-1), x))*10) / 10
}

func bar(point, lo, hi, scale float64, color string) barView {
	b := barView{Width: barWidth, Height: barHeight, Zero: barWidth / 2, HasBar: true, Color: color}
	b.X1, b.X2, b.Point = b.x(lo, scale), b.x(hi, scale), b.x(point, scale)
	b.W = round1(math.Max(1, b.X2-b.X1))
	return b
}

// Chart geometry: the plot area inside the SVG.
const chartW, chartH, chartLeft, chartRight, chartTop, chartBottom = 460, 220, 64, 432, 14, 190

// metricChart draws each arm's cumulative value of metric mi over days.
func metricChart(s results.SegmentReport, mi int, title string, mean bool, colors map[string]string) chartView {
	return dailyChart(s, title, colors, func(d results.DailyPoint) (float64, bool) {
		if d.Exposed == 0 || mi >= len(d.Metrics) {
			return 0, false
		}
		return d.Metrics[mi], true
	}, func(y float64) string { return results.FormatValue(mean, y) }, false)
}

func exposureChart(s results.SegmentReport, colors map[string]string) chartView {
	return dailyChart(s, "Units exposed (cumulative)", colors, func(d results.DailyPoint) (float64, bool) {
		return float64(d.Exposed), true
	}, func(y float64) string { return strconv.FormatFloat(y, 'f', -1, 64) }, true)
}

func dailyChart(s results.SegmentReport, title string, colors map[string]string, value func(results.DailyPoint) (float64, bool),
	label func(float64) string, fromZero bool) chartView {
	c := chartView{Title: title, Width: chartW, Height: chartH, Left: chartLeft, Right: chartRight, Top: chartTop, Bottom: chartBottom}
	var days []time.Time
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, a := range s.Arms {
		if len(a.Daily) > len(days) {
			days = days[:0]
			for _, d := range a.Daily {
				days = append(days, d.Day)
			}
		}
		for _, d := range a.Daily {
			if y, ok := value(d); ok {
				lo, hi = math.Min(lo, y), math.Max(hi, y)
			}
		}
	}
	if len(days) == 0 || math.IsInf(lo, 0) {
		return c
	}
	if fromZero {
		lo = 0
	}
	lo, hi, step := niceRange(lo, hi)
	xOf := func(i int) float64 {
		if len(days) == 1 {
			return (chartLeft + chartRight) / 2
		}
		return chartLeft + float64(i)*(chartRight-chartLeft)/float64(len(days)-1)
	}
	yOf := func(y float64) float64 { return chartBottom - (y-lo)/(hi-lo)*(chartBottom-chartTop) }
	for y := lo; y <= hi+step/2; y += step {
		c.YTicks = append(c.YTicks, tick{Pos: round1(yOf(y)), Label: label(y)})
	}
	every := max(1, (len(days)+5)/6)
	for i, d := range days {
		if i%every == 0 || i == len(days)-1 {
			c.XTicks = append(c.XTicks, tick{Pos: round1(xOf(i)), Label: d.Format("Jan 2")})
		}
	}
	for _, a := range s.Arms {
		lv := lineView{Variant: a.Variant, Color: colors[a.Variant]}
		var pts []string
		for i, d := range a.Daily {
			if y, ok := value(d); ok {
				p := point{round1(xOf(i)), round1(yOf(y))}
				pts = append(pts, fmt.Sprintf("%g,%g", p.X, p.Y))
				lv.Dots = append(lv.Dots, p)
			}
		}
		lv.Points = strings.Join(pts, " ")
		if len(lv.Dots) > 12 {
			lv.Dots = lv.Dots[len(lv.Dots)-1:] // a line of many points needs only its end marked
		}
		c.Lines = append(c.Lines, lv)
	}
	return c
}

// niceRange widens [lo, hi] to round tick values, about five of them.
func niceRange(lo, hi float64) (float64, float64, float64) {
	if hi <= lo {
		if hi == 0 {
			return 0, 1, 0.25
		}
		lo, hi = lo-math.Abs(lo)*0.1, hi+math.Abs(hi)*0.1
	}
	raw := (hi - lo) / 4
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	return math.Floor(lo/step) * step, math.Ceil(hi/step) * step, step
}

func round1(x float64) float64 { return math.Round(x*10) / 10 }

func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// newBanditView is the bandit panel of segment s: the estimator, and per
// arm its phase-stratified comparison with the control on the primary
// metric; nil for a segment with fixed weights.
func newBanditView(r results.Report, s results.SegmentReport) *banditView {
	if s.Bandit == nil {
		return nil
	}
	v := &banditView{Estimator: s.Bandit.Estimator, Error: s.Bandit.Error, Level: fmt.Sprintf("%g%%", 100*(1-r.Alpha))}
	mean := r.PrimaryMetric.IsMean()
	for _, row := range s.Bandit.Rows(r.PrimaryMetric) {
		e := row.Estimate
		rv := banditRowView{Variant: row.Variant, Strata: e.Strata, Treatment: "–", Control: "–", Diff: "–", CI: "–", P: "–"}
		if e.Defined {
			rv.Treatment, rv.Control = results.FormatValue(mean, e.Treatment), results.FormatValue(mean, e.Control)
			rv.Diff, rv.CI = results.FormatDiff(mean, e.Diff), results.FormatInterval(mean, e.CI.Lower, e.CI.Upper)
			rv.P = results.FormatP(e.PValue)
		}
		v.Rows = append(v.Rows, rv)
	}
	return v
}
