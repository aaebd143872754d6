package pages

import (
	"strconv"

	"github.com/splitcast/splitcast/analytics/results"
)

// fatigueView is the page's fatigue section: per arm, the messages per
// unit, the suppressed units by reason, and beside the primary metric the
// unsubscribe and complaint rates, so that an arm winning by sending more
// or by annoying people shows.
type fatigueView struct {
	Primary string
	Reasons []string
	Rows    []fatigueRowView
}

type fatigueRowView struct {
	Segment, Variant                string
	MessagedUnits, Messages         int64
	PerUnit                         string
	Primary, Unsubscribe, Complaint string
	SuppressedUnits                 int64
	SuppressedShare                 string
	ByReason                        []int64
}

func newFatigueView(r results.Report) *fatigueView {
	f := r.Fatigue
	if f == nil {
		return nil
	}
	v := &fatigueView{Primary: metricLabel(f.PrimaryMetric), Reasons: results.SuppressionReasons}
	mean := f.PrimaryMetric.IsMean()
	for _, a := range f.Arms {
		row := fatigueRowView{Segment: a.Segment, Variant: a.Variant, MessagedUnits: a.MessagedUnits, Messages: a.Messages,
			PerUnit: strconv.FormatFloat(a.MessagesPerUnit, 'f', 2, 64), Primary: results.FormatValue(mean, a.Primary),
			Unsubscribe: results.FormatValue(false, a.UnsubscribeRate), Complaint: results.FormatValue(false, a.ComplaintRate),
			SuppressedUnits: a.SuppressedUnits, SuppressedShare: results.FormatShare(a.SuppressedShare)}
		for _, reason := range results.SuppressionReasons {
			row.ByReason = append(row.ByReason, a.Suppressed[reason])
		}
		v.Rows = append(v.Rows, row)
	}
	return v
}

// channelView is one channel of the page's per-channel section: per
// segment, a row per arm with each metric's value on that channel alone and
// its comparison with the control there.
type channelView struct {
	Channel string
	Tables  []channelTable
}

type channelTable struct {
	Segment string
	Metrics []string
	Rows    []channelRowView
}

type channelRowView struct {
	Variant string
	Control bool
	Units   int64
	Cells   []channelCell
}

type channelCell struct {
	Metric, Value, Fraction string
	Lift, CI, P             string
}

func newChannelViews(r results.Report) []channelView {
	var out []channelView
	for _, ch := range r.Channels {
		cv := channelView{Channel: ch.Channel}
		for _, s := range ch.Segments {
			t := channelTable{Segment: s.Key}
			for _, m := range s.Metrics {
				t.Metrics = append(t.Metrics, metricLabel(m.Metric))
			}
			for i, a := range s.Arms {
				rv := channelRowView{Variant: a.Variant, Control: a.Control, Units: a.Counts.Exposed}
				for _, m := range s.Metrics {
					mean, row := m.Metric.IsMean(), m.Rows[i]
					cell := channelCell{Metric: string(m.Metric), Value: results.FormatValue(mean, row.Value),
						Fraction: results.FormatFraction(mean, row.Numerator, row.Denominator)}
					if c := row.Comparison; c != nil && c.Error != "" {
						cell.Lift = c.Error
					} else if c != nil {
						cells := metricRowView{}
						fixedCells(&cells, mean, c)
						cell.Lift, cell.CI = cells.AbsLift, cells.AbsCI
						if cells.P != cells.AbsLift { // an undefined lift's reason once, not twice
							cell.P = "p " + cells.P
						}
					}
					rv.Cells = append(rv.Cells, cell)
				}
				t.Rows = append(t.Rows, rv)
			}
			cv.Tables = append(cv.Tables, t)
		}
		out = append(out, cv)
	}
	return out
}
