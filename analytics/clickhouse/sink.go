package clickhouse

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/splitcast/splitcast/analytics"
)

// EventSink is the analytics.Sink that writes events to the events table.
// It is safe for concurrent use.
//
// Delivery is at least once, so the same event may be written more than
// once. EventSink does not deduplicate: the table is a ReplacingMergeTree
// keyed by event id, which folds copies eventually, when it merges parts, and
// every query that counts deduplicates by event_id itself (count(DISTINCT
// event_id), uniqExact) so that a copy not merged yet never counts twice.
type EventSink struct {
	conn driver.Conn
}

var _ analytics.Sink = (*EventSink)(nil)

// NewEventSink returns a sink on conn's database, which must be migrated.
func NewEventSink(conn driver.Conn) *EventSink { return &EventSink{conn: conn} }

// insertEvents names every column the sink writes; date and received_at take
// their table defaults (toDate(time) and the server's now()).
const insertEvents = "INSERT INTO events (event_id, kind, time, experiment, version, segment, variant, unit, " +
	"send_id, channel, name, value, url, machine, machine_reason)"

// Write inserts events in one batch: all of them or, on error, none that the
// caller can count on (it keeps the batch and may write it again). A server
// that cannot be reached gives an EUNAVAILABLE error.
func (s *EventSink) Write(ctx context.Context, events []analytics.Event) error {
	if len(events) == 0 {
		return nil
	}
	if err := s.write(ctx, events); err != nil {
		return fmt.Errorf("insert %d events: %w", len(events), translate(err))
	}
	return nil
}

func (s *EventSink) write(ctx context.Context, events []analytics.Event) error {
	batch, err := s.conn.PrepareBatch(ctx, insertEvents)
	if err != nil {
		return err
	}
	for i := range events {
		e := &events[i]
		var machine uint8
		if e.Machine {
			machine = 1
		}
		// time is a DateTime: UTC seconds.
		if err := batch.Append(e.ID, string(e.Kind), e.Time.UTC(), e.Experiment, e.Version, e.Segment, e.Variant, e.Unit,
			e.SendID, e.Channel, e.Name, e.Value, e.URL, machine, e.MachineReason); err != nil {
			batch.Abort()
			return err
		}
	}
	return batch.Send()
}

// Ping checks that ClickHouse answers: EUNAVAILABLE if it does not.
func (s *EventSink) Ping(ctx context.Context) error {
	if err := s.conn.Ping(ctx); err != nil {
		return fmt.Errorf("ping clickhouse: %w", translate(err))
	}
	return nil
}
