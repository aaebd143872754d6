package results

import (
	"context"
	"slices"
	"sync"

	"github.com/splitcast/splitcast/experiment"
)

// Readers read a report's sections beside its aggregates; a nil reader
// leaves its section out.
type Readers struct {
	Fatigue  FatigueReader
	Channels ChannelReader
	// Units gives the CUPED estimates and the breakdown.
	Units UnitReader
}

// AddSections reads exp's sections with readers and adds them to r, the
// report of exp: the fatigue section, each metric per channel, and from
// the units the CUPED estimates over the policy's window and, when
// breakdown is not "", the breakdown by that dimension, which must be one
// of exp's dimensions or experiment.DimensionChannel (EINVALID, field
// breakdown).
//
// The reads run side by side. Each is a query of the unit states of the
// units with news since its reader's last read, mostly ClickHouse's time
// on one of its cores, so one after the other a report waited for their
// sum. A reader reads as of its own mark, taken when its read starts: the
// caller folds the rollups first (the aggregates' read does), so that every
// section counts the events the aggregates count.
func AddSections(ctx context.Context, r *Report, exp experiment.Experiment, rd Readers, breakdown string) error {
	var dims []string
	if rd.Units != nil && breakdown != "" {
		if breakdown != experiment.DimensionChannel && !slices.Contains(exp.Dimensions, breakdown) {
			return experiment.Invalid("breakdown", "experiment %s has no dimension %q: want %s or one of %q",
				exp.Key, breakdown, experiment.DimensionChannel, exp.Dimensions)
		}
		dims = []string{breakdown}
	}
	days := exp.Retirement.WithDefaults().CupedDays
	var (
		wg     sync.WaitGroup
		arms   []ArmFatigue
		counts []ChannelCounts
		units  []Unit
		errs   [3]error
	)
	if rd.Fatigue != nil {
		wg.Go(func() { arms, errs[0] = rd.Fatigue.ArmFatigue(ctx, exp.Key) })
	}
	if rd.Channels != nil {
		wg.Go(func() { counts, errs[1] = rd.Channels.ChannelCounts(ctx, exp.Key) })
	}
	if rd.Units != nil {
		wg.Go(func() { units, errs[2] = rd.Units.Units(ctx, exp.Key, days, dims) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	if rd.Fatigue != nil {
		AddFatigue(r, arms)
	}
	if rd.Channels != nil {
		AddChannels(r, exp, counts)
	}
	if rd.Units != nil {
		AddCUPED(r, units, days)
		if breakdown != "" {
			AddBreakdown(r, units, breakdown)
		}
	}
	return nil
}
