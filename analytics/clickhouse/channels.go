package clickhouse

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/splitcast/splitcast/analytics/results"
)

// ChannelReader is the results.ChannelReader on the events table: an
// experiment's counts per arm and channel, by a query of its own beside the
// report's rollup read.
type ChannelReader struct{ conn driver.Conn }

var _ results.ChannelReader = ChannelReader{}

// NewChannelReader returns a reader of conn's database.
func NewChannelReader(conn driver.Conn) ChannelReader { return ChannelReader{conn: conn} }

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
func (r ChannelReader) ChannelCounts(ctx context.Context, key string) ([]results.ChannelCounts, error) {
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
