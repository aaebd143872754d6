package results

import (
	"context"

	"github.com/splitcast/splitcast/experiment"
)

// ChannelReader reads an experiment's counts per arm and channel: an
// optional companion of AggregateReader (analytics/clickhouse's
// ChannelReader).
type ChannelReader interface {
	ChannelCounts(ctx context.Context, experimentKey string) ([]ChannelCounts, error)
}

// ChannelCounts are one arm's counts on one channel: its units are those
// first exposed on the channel in the arm, its opens, clicks, unsubscribes
// and complaints those on the channel; conversions carry no channel, so a
// unit's count on every channel it was reached on. Only the unit counts of
// Counts are filled (no machine or event counts).
type ChannelCounts struct {
	Segment string `json:"segment"`
	Variant string `json:"variant"`
	Channel string `json:"channel"`
	Counts  Counts `json:"counts"`
}

// ChannelReport is the report of one channel: per segment, its arms on the
// channel and each metric's comparisons, as in the report's total.
type ChannelReport struct {
	Channel  string          `json:"channel"`
	Segments []SegmentReport `json:"segments"`
}

// AddChannels fills r.Channels from the counts per channel: one entry per
// channel exp sends on, then any other channel the counts name, each with
// r's segments and arms (an arm without units on a channel has zero
// counts). Only Arms and Metrics of each SegmentReport are filled.
func AddChannels(r *Report, exp experiment.Experiment, counts []ChannelCounts) {
	var channels []string
	seen := map[string]bool{}
	for _, c := range exp.SendsOn() {
		channels, seen[string(c)] = append(channels, string(c)), true
	}
	by := map[[3]string]Counts{}
	for _, c := range counts {
		if !seen[c.Channel] {
			channels, seen[c.Channel] = append(channels, c.Channel), true
		}
		by[[3]string{c.Channel, c.Segment, c.Variant}] = c.Counts
	}
	r.Channels = []ChannelReport{}
	for _, ch := range channels {
		cr := ChannelReport{Channel: ch, Segments: []SegmentReport{}}
		for _, s := range r.Segments {
			sr := SegmentReport{Key: s.Key, Name: s.Name, Control: s.Control, PhaseSRM: []PhaseSRM{}}
			for _, a := range s.Arms {
				sr.Arms = append(sr.Arms, ArmReport{Variant: a.Variant, Name: a.Name, Control: a.Control, Status: a.Status,
					Weight: a.Weight, Counts: by[[3]string{ch, s.Key, a.Variant}], Daily: []DailyPoint{}})
			}
			for _, m := range ReportMetrics {
				sr.Metrics = append(sr.Metrics, buildMetric(exp, m, sr, exp.Retirement.WithDefaults()))
			}
			cr.Segments = append(cr.Segments, sr)
		}
		r.Channels = append(r.Channels, cr)
	}
}
