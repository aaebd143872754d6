package results

import (
	"context"
	"sort"
	"time"
)

// AggregateReader reads the aggregates of one experiment's events: what
// reports and the retirement loop compute their statistics from.
// Implementations: analytics/clickhouse (production); tests build Aggregates
// by hand.
//
// Every implementation keeps the same contract, stated on Aggregates and its
// fields: each event counts once whatever the number of its copies
// (deduplicated by Event.ID), a unit counts in the arm of its first exposure
// (intent to treat), and a unit's events count only if it was exposed.
type AggregateReader interface {
	Aggregates(ctx context.Context, experimentKey string) (Aggregates, error)
}

// Aggregates are the counts of one experiment's events, as of when they were
// read. A unit's arm is the segment and variant (or HoldoutArm) of its first
// exposure, ties within one second broken by the smaller low 32 bits of
// cityHash64(event_id) (a numeric key: a string tie-break is several times
// slower on ClickHouse 18.16); every later event of
// the unit, whatever arm it names, counts in that arm (intent to treat), and
// the events of units never exposed count nowhere.
type Aggregates struct {
	Experiment string `json:"experiment"`
	// Arms holds one entry per arm with at least one exposed unit, ordered
	// by segment and variant.
	Arms []ArmAggregate `json:"arms"`
	// Daily holds, per arm and UTC day, the units that reached each count
	// that day: cumulative sums over days give the totals of Arms. An
	// event's day is the later of its own day and its unit's first exposure
	// day, so that no cumulative rate has a unit counted before it was
	// exposed. Ordered by segment, variant and day; days without news are
	// absent.
	Daily []DailyAggregate `json:"daily"`
	// Versions holds, per arm and experiment version, the units whose first
	// exposure carried that version: summed per phase, they are the phase's
	// new units, the observations of its sample ratio check. Ordered by
	// segment, variant and version.
	Versions []VersionExposure `json:"versions"`
	// ByVersion holds, per arm and experiment version, the counts of the
	// units whose first exposure carried that version: summed per phase,
	// the strata of a bandit segment's estimates (PhaseStrata). Filled only
	// for experiments with a bandit segment; see VersionCounts.
	ByVersion []VersionCounts `json:"by_version,omitempty"`
	// Custom holds the experiment's custom metrics per arm, from a
	// CustomMetricReader (read apart from the rest); empty without any.
	Custom []CustomAggregate `json:"custom,omitempty"`
}

// Counts are an arm's totals. Event counts are of distinct events; unit
// counts are of distinct units. Human counts leave out machine-flagged
// events: a unit opened if it has at least one open not flagged. The machine
// counts beside them say how much flagged traffic there was.
type Counts struct {
	// Exposed is the number of units whose first exposure was in this arm.
	Exposed int64 `json:"exposed"`
	// MultiArm is the number of those units that were exposed in another
	// arm too (after a retirement, or a change of segment).
	MultiArm int64 `json:"multi_arm"`

	Opens        KindCounts `json:"opens"`
	Clicks       KindCounts `json:"clicks"`
	Conversions  KindCounts `json:"conversions"`
	Unsubscribes KindCounts `json:"unsubscribes"`
	Complaints   KindCounts `json:"complaints"`
	// OpenClickers is the number of units with a human open and a human
	// click: the numerator of click-to-open, whose denominator is
	// Opens.Units.
	OpenClickers int64 `json:"open_clickers"`
	// Value is the sum of the values of human conversions.
	Value float64 `json:"value"`
	// ValueSumSq is the sum over units of the square of each unit's total
	// human conversion value: with N = Exposed and Sum = Value it gives the
	// variance of revenue per recipient (stats.Moments).
	ValueSumSq float64 `json:"value_sum_sq"`
}

// KindCounts counts the events of one kind in an arm.
type KindCounts struct {
	// Units have at least one human event of the kind.
	Units int64 `json:"units"`
	// Events are the human events of the kind.
	Events int64 `json:"events"`
	// MachineUnits have events of the kind, every one machine-flagged: they
	// would be in Units if flagged traffic counted.
	MachineUnits int64 `json:"machine_units"`
	// MachineEvents are the machine-flagged events of the kind.
	MachineEvents int64 `json:"machine_events"`
}

// ArmAggregate is the totals of one arm.
type ArmAggregate struct {
	Segment string `json:"segment"`
	Variant string `json:"variant"` // a variant key or experiment.HoldoutArm
	Counts
}

// DailyAggregate is what an arm gained on one UTC day: units first exposed,
// units whose first human event of each kind it was, and the value of the
// human conversions of the day.
type DailyAggregate struct {
	Segment       string    `json:"segment"`
	Variant       string    `json:"variant"`
	Day           time.Time `json:"day"` // midnight UTC
	Exposed       int64     `json:"exposed"`
	Openers       int64     `json:"openers"`
	Clickers      int64     `json:"clickers"`
	OpenClickers  int64     `json:"open_clickers"`
	Converters    int64     `json:"converters"`
	Unsubscribers int64     `json:"unsubscribers"`
	Complainers   int64     `json:"complainers"`
	Value         float64   `json:"value"`
}

// VersionExposure is the number of units whose first exposure, in this arm,
// carried this experiment version.
type VersionExposure struct {
	Segment string `json:"segment"`
	Variant string `json:"variant"`
	Version uint32 `json:"version"`
	Exposed int64  `json:"exposed"`
}

// Arm returns the totals of the arm, zero if it has no exposed unit.
func (a Aggregates) Arm(segment, variant string) Counts {
	for _, x := range a.Arms {
		if x.Segment == segment && x.Variant == variant {
			return x.Counts
		}
	}
	return Counts{}
}

// AddUnits adds n units of outcome o to the counts (unit counts only).
func (c *Counts) AddUnits(o UnitMetrics, n int64) {
	c.Exposed += n
	c.Value += float64(n) * o.Revenue
	c.ValueSumSq += float64(n) * o.Revenue * o.Revenue
	for _, k := range []struct {
		has bool
		n   *int64
	}{{o.Open, &c.Opens.Units}, {o.Click, &c.Clicks.Units}, {o.Open && o.Click, &c.OpenClickers},
		{o.Conversion, &c.Conversions.Units}, {o.Unsubscribe, &c.Unsubscribes.Units}, {o.Complaint, &c.Complaints.Units}} {
		if k.has {
			*k.n += n
		}
	}
}

// Add adds o's counts to c's.
func (c *Counts) Add(o Counts) {
	c.Exposed += o.Exposed
	c.MultiArm += o.MultiArm
	c.Opens.add(o.Opens)
	c.Clicks.add(o.Clicks)
	c.Conversions.add(o.Conversions)
	c.Unsubscribes.add(o.Unsubscribes)
	c.Complaints.add(o.Complaints)
	c.OpenClickers += o.OpenClickers
	c.Value += o.Value
	c.ValueSumSq += o.ValueSumSq
}

func (k *KindCounts) add(o KindCounts) {
	k.Units += o.Units
	k.Events += o.Events
	k.MachineUnits += o.MachineUnits
	k.MachineEvents += o.MachineEvents
}

// Sort puts the entries of a in their documented order, for implementations
// that build them in another.
func (a *Aggregates) Sort() {
	sort.Slice(a.Arms, func(i, j int) bool {
		x, y := a.Arms[i], a.Arms[j]
		if x.Segment != y.Segment {
			return x.Segment < y.Segment
		}
		return x.Variant < y.Variant
	})
	sort.Slice(a.Daily, func(i, j int) bool {
		x, y := a.Daily[i], a.Daily[j]
		if x.Segment != y.Segment {
			return x.Segment < y.Segment
		}
		if x.Variant != y.Variant {
			return x.Variant < y.Variant
		}
		return x.Day.Before(y.Day)
	})
	sort.Slice(a.Versions, func(i, j int) bool {
		x, y := a.Versions[i], a.Versions[j]
		if x.Segment != y.Segment {
			return x.Segment < y.Segment
		}
		if x.Variant != y.Variant {
			return x.Variant < y.Variant
		}
		return x.Version < y.Version
	})
}
