package clickhouse

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/analytics/results"
)

// ChannelReader is the results.ChannelReader: an experiment's counts per
// arm and channel. With Rollups it reads unit_state's channel columns
// (migration 0015) as last folded, keeping counts as the UnitReader does
// (see readKept); without, it reads the raw events. Safe for concurrent
// use.
type ChannelReader struct {
	conn driver.Conn
	// Rollups, when set, are the report rollups it reads, folded by the
	// caller.
	Rollups *Rollups

	kept keptCounts[channelEntry]
}

var _ results.ChannelReader = (*ChannelReader)(nil)

// NewChannelReader returns a reader of conn's database, which must be
// migrated.
func NewChannelReader(conn driver.Conn) *ChannelReader { return &ChannelReader{conn: conn} }

// channelEntry is a kind of unit on a channel: the channel, its arm there,
// what it did there (unit_state's ch_flags), whether it converted and its
// conversions' value.
type channelEntry struct {
	Channel string
	Arm     uint64
	Flags   uint8
	Conv    uint8
	Value   float64
}

// channelEntries reads channelEntry, a unit's entry per channel.
var channelEntries = entryQuery[channelEntry]{
	name:    "channels",
	columns: channelColumns,
	compare: func(a, b channelEntry) int {
		return cmp.Or(cmp.Compare(a.Channel, b.Channel), cmp.Compare(a.Arm, b.Arm), cmp.Compare(a.Flags, b.Flags),
			cmp.Compare(a.Conv, b.Conv), cmp.Compare(a.Value, b.Value))
	},
	entry: fmt.Sprintf("tupleElement(c, 1) AS channel, tupleElement(c, 2) AS carm, tupleElement(c, 3) AS flags, toUInt8(p[%d] > 0) AS conv, uvalue AS yv",
		slices.Index(packedColumns(), "h_"+string(analytics.KindConversion))+1),
	keys:      "channel, carm, flags, conv, yv",
	arrayJoin: "ARRAY JOIN arrayMap((a, b, f) -> tuple(a, b, f), ch_names, ch_arms, ch_flags) AS c",
	fields:    func(e *channelEntry) []any { return []any{&e.Channel, &e.Arm, &e.Flags, &e.Conv, &e.Value} },
}

// rolledChannels is ChannelCounts from the rollups.
func (r *ChannelReader) rolledChannels(ctx context.Context, key string) ([]results.ChannelCounts, error) {
	counts, names, err := readKept(ctx, r.conn, r.Rollups, &r.kept, unitSumsKey{experiment: key}, channelEntries)
	if err != nil {
		return nil, fmt.Errorf("channel counts: %w", err)
	}
	by := map[[3]string]*results.ChannelCounts{}
	for _, c := range counts {
		e, n := c.E, c.N
		name, ok := names[e.Arm]
		if !ok {
			return nil, fmt.Errorf("channel counts: experiment %s has units in arm %d, which has no name", key, e.Arm)
		}
		k := [3]string{e.Channel, name[0], name[1]}
		cc := by[k]
		if cc == nil {
			cc = &results.ChannelCounts{Segment: name[0], Variant: name[1], Channel: e.Channel}
			by[k] = cc
		}
		cc.Counts.AddUnits(results.UnitMetrics{Open: e.Flags&1 != 0, Click: e.Flags&2 != 0, Conversion: e.Conv != 0,
			Unsubscribe: e.Flags&4 != 0, Complaint: e.Flags&8 != 0, Revenue: e.Value}, n)
	}
	out := make([]results.ChannelCounts, 0, len(by))
	for _, c := range by {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b results.ChannelCounts) int {
		return cmp.Or(cmp.Compare(a.Segment, b.Segment), cmp.Compare(a.Variant, b.Variant), cmp.Compare(a.Channel, b.Channel))
	})
	return out, nil
}

// channelCounts counts per arm and channel the units first exposed on the
// channel in that arm, and of them those with a human open, click, both,
// an unsubscribe or a complaint on the channel (the channel a token
// carries); conversions carry no channel, so a unit's human conversions
// and their value count on every channel it was exposed on. Copies of an
// event count once: presence for units, and values summed per event id.
const channelCounts = `SELECT segment, variant, channel, count(),
	countIf(opens > 0), countIf(clicks > 0), countIf(opens > 0 AND clicks > 0),
	countIf(conversions > 0), sum(value), sum(value * value),
	countIf(unsubs > 0), countIf(complaints > 0)
FROM (
	SELECT unit, channel, segment, variant, opens, clicks, unsubs, complaints
	FROM (
		SELECT unit, channel, argMin(segment, time) AS segment, argMin(variant, time) AS variant
		FROM events WHERE experiment = ? AND kind = 'exposure'
		GROUP BY unit, channel
	) ANY LEFT JOIN (
		SELECT unit, channel,
			countIf(kind = 'open' AND machine = 0) AS opens, countIf(kind = 'click' AND machine = 0) AS clicks,
			countIf(kind = 'unsubscribe') AS unsubs, countIf(kind = 'complaint') AS complaints
		FROM events WHERE experiment = ? AND kind IN ('open', 'click', 'unsubscribe', 'complaint')
		GROUP BY unit, channel
	) USING (unit, channel)
) ANY LEFT JOIN (
	SELECT unit, count() AS conversions, sum(v) AS value
	FROM (
		SELECT event_id, any(unit) AS unit, any(value) AS v FROM events
		WHERE experiment = ? AND kind = 'conversion' AND machine = 0
		GROUP BY event_id
	)
	GROUP BY unit
) USING (unit)
GROUP BY segment, variant, channel
ORDER BY segment, variant, channel`

// ChannelCounts reads the experiment's counts per arm and channel.
func (r *ChannelReader) ChannelCounts(ctx context.Context, key string) ([]results.ChannelCounts, error) {
	if r.Rollups != nil {
		return r.rolledChannels(ctx, key)
	}
	rows, err := r.conn.Query(ctx, channelCounts, key, key, key)
	if err != nil {
		return nil, fmt.Errorf("channel counts: %w", translate(err))
	}
	defer rows.Close()
	var out []results.ChannelCounts
	for rows.Next() {
		var c results.ChannelCounts
		var exposed, opens, clicks, openClicks, conv, unsubs, complaints uint64
		if err := rows.Scan(&c.Segment, &c.Variant, &c.Channel, &exposed, &opens, &clicks, &openClicks,
			&conv, &c.Counts.Value, &c.Counts.ValueSumSq, &unsubs, &complaints); err != nil {
			return nil, fmt.Errorf("channel counts: %w", translate(err))
		}
		c.Counts.Exposed, c.Counts.OpenClickers = int64(exposed), int64(openClicks)
		c.Counts.Opens.Units, c.Counts.Clicks.Units, c.Counts.Conversions.Units = int64(opens), int64(clicks), int64(conv)
		c.Counts.Unsubscribes.Units, c.Counts.Complaints.Units = int64(unsubs), int64(complaints)
		out = append(out, c)
	}
	return out, translate(rows.Err())
}
