package clickhouse_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/analytics/clickhouse"
)

// benchSizes are the batch sizes written: 1,000 as the ingester's interval
// flushes of a lightly loaded server, then batches of one and of several
// blocks.
var benchSizes = []int{1_000, 10_000, 100_000}

// writeFunc writes one batch of events.
type writeFunc func(ctx context.Context, events []analytics.Event) error

// benchInsert runs the write that newWrite makes on a fresh database's
// connection on batches of each size and reports events/s and this
// process's CPU per event (user and system, GC included): ClickHouse runs
// on the same cores and its share of the wall time varies from run to run,
// but what the client spends is ours.
func benchInsert(b *testing.B, newWrite func(conn driver.Conn) writeFunc) {
	for _, n := range benchSizes {
		events := make([]analytics.Event, n)
		for i := range events {
			events[i] = testEvent(i)
		}
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			conn, _ := env.NewDatabase(b)
			write := newWrite(conn)
			ctx := context.Background()
			b.ReportAllocs()
			batches := 0
			cpu0 := cpuTime(b)
			for b.Loop() {
				if err := write(ctx, events); err != nil {
					b.Fatal(err)
				}
				batches++
			}
			b.ReportMetric(float64(batches*n)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64((cpuTime(b)-cpu0).Nanoseconds())/float64(batches*n), "client-cpu-ns/event")
		})
	}
}

// cpuTime is the CPU time this process has used.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkEventSinkWrite writes through one EventSink, as a server does
// for its lifetime.
func BenchmarkEventSinkWrite(b *testing.B) {
	benchInsert(b, func(conn driver.Conn) writeFunc {
		return clickhouse.NewEventSink(conn).Write
	})
}

// BenchmarkEventSinkWriteParts writes each batch as two parallel Writes of
// half of it through one EventSink, as the ingester's two default Writers
// do with a large batch.
func BenchmarkEventSinkWriteParts(b *testing.B) {
	benchInsert(b, func(conn driver.Conn) writeFunc {
		sink := clickhouse.NewEventSink(conn)
		return func(ctx context.Context, events []analytics.Event) error {
			half := len(events) / 2
			var wg sync.WaitGroup
			var first error
			wg.Go(func() { first = sink.Write(ctx, events[:half]) })
			second := sink.Write(ctx, events[half:])
			wg.Wait()
			return errors.Join(first, second)
		}
	})
}

// BenchmarkEventSinkWriteCold writes each batch through a new EventSink:
// the first Write of a server, which has no column storage to reuse yet.
func BenchmarkEventSinkWriteCold(b *testing.B) {
	benchInsert(b, func(conn driver.Conn) writeFunc {
		return func(ctx context.Context, events []analytics.Event) error {
			return clickhouse.NewEventSink(conn).Write(ctx, events)
		}
	})
}

// BenchmarkBareInsert inserts the same rows with clickhouse-go alone, row
// by row (batch.Append of 15 values, as cmd/trackbench does): the baseline
// that EventSink's overhead is measured against.
func BenchmarkBareInsert(b *testing.B) {
	benchInsert(b, func(conn driver.Conn) writeFunc {
		return func(ctx context.Context, events []analytics.Event) error {
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
		}
	})
}
