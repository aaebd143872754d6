package clickhouse_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/analytics/clickhouse"
)

var benchSizes = []int{10_000, 100_000}

// benchInsert runs write on batches of each size and reports events/s.
func benchInsert(b *testing.B, write func(ctx context.Context, conn driver.Conn, events []analytics.Event) error) {
	for _, n := range benchSizes {
		events := make([]analytics.Event, n)
		for i := range events {
			events[i] = testEvent(i)
		}
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			conn, _ := env.NewDatabase(b)
			ctx := context.Background()
			b.ReportAllocs()
			batches := 0
			for b.Loop() {
				if err := write(ctx, conn, events); err != nil {
					b.Fatal(err)
				}
				batches++
			}
			b.ReportMetric(float64(batches*n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

func BenchmarkEventSinkWrite(b *testing.B) {
	benchInsert(b, func(ctx context.Context, conn driver.Conn, events []analytics.Event) error {
		return clickhouse.NewEventSink(conn).Write(ctx, events)
	})
}

// BenchmarkBareInsert inserts the same rows with clickhouse-go alone: the
// baseline that EventSink's overhead is measured against.
func BenchmarkBareInsert(b *testing.B) {
	benchInsert(b, func(ctx context.Context, conn driver.Conn, events []analytics.Event) error {
		batch, err := conn.PrepareBatch(ctx, "INSERT INTO events (event_id, kind, time, experiment, version, segment, variant, unit, "+
			"send_id, channel, name, value, url, machine, machine_reason)")
		if err != nil {
			return err
		}
		for _, e := range events {
			var machine uint8
			if e.Machine {
				machine = 1
			}
			if err := batch.Append(e.ID, string(e.Kind), e.Time, e.Experiment, e.Version, e.Segment, e.Variant, e.Unit,
				e.SendID, e.Channel, e.Name, e.Value, e.URL, machine, e.MachineReason); err != nil {
				return err
			}
		}
		return batch.Send()
	})
}
