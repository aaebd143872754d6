package clickhouse_test

import (
	"context"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/analytics/clickhouse"
)

// cpuNow is this process's user and system CPU time.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkTrackSinkVsBareInsert writes batches of 10,000 user events
// (four typed properties each) through the EventSink, as the ingester does
// for POST /v1/track, and the same rows by a bare PrepareBatch/Append/Send
// of precomputed columns into the same table, in alternating rounds; it
// reports each one's median events/s (wall) and client CPU per event, and
// the ratio of the sink's rate to the bare insert's.
func BenchmarkTrackSinkVsBareInsert(b *testing.B) {
	const n = 10_000
	ctx := context.Background()
	conn, _ := env.NewDatabase(b)
	sink := clickhouse.NewEventSink(conn)
	events := make([]analytics.Event, n)
	for i := range events {
		events[i] = analytics.Event{ID: "t:" + strconv.Itoa(i), Kind: analytics.KindTrack, Time: time.Date(2025, 3, 1, 0, 0, i%3600, 0, time.UTC),
			Unit: "u-" + strconv.Itoa(i%1000), Name: "order_completed", Props: analytics.EncodeProps([]analytics.Prop{
				{Key: "total", Type: analytics.PropNumber, Num: float64(i)}, {Key: "category", Type: analytics.PropString, Str: "shoes"},
				{Key: "gift", Type: analytics.PropBool}, {Key: "tags", Type: analytics.PropList, List: []string{"a", "b"}}})}
	}
	bare := func() error {
		batch, err := conn.PrepareBatch(ctx, "INSERT INTO user_events (event_id, time, unit, name, s_keys, s_vals, n_keys, n_vals, b_keys, b_vals, l_keys, l_vals)")
		if err != nil {
			return err
		}
		for i := range events {
			e := &events[i]
			if err := batch.Append(e.ID, e.Time, e.Unit, e.Name, []string{"category"}, []string{"shoes"}, []string{"total"}, []float64{float64(i)},
				[]string{"gift"}, []uint8{0}, []string{"tags", "tags"}, []string{"a", "b"}); err != nil {
				return err
			}
		}
		return batch.Send()
	}
	measure := func(write func() error) (rate, cpuPerEvent float64) {
		start, cpu := time.Now(), cpuNow()
		if err := write(); err != nil {
			b.Fatal(err)
		}
		return n / time.Since(start).Seconds(), float64((cpuNow() - cpu).Nanoseconds()) / n
	}
	b.Run("ratio", func(b *testing.B) {
		var sr, br, sc, bc []float64
		for range 7 {
			r, c := measure(func() error { return sink.Write(ctx, events) })
			sr, sc = append(sr, r), append(sc, c)
			r, c = measure(bare)
			br, bc = append(br, r), append(bc, c)
		}
		for _, s := range [][]float64{sr, br, sc, bc} {
			slices.Sort(s)
		}
		b.ReportMetric(sr[3], "sink-events/s")
		b.ReportMetric(br[3], "bare-events/s")
		b.ReportMetric(sc[3], "sink-cpu-ns/event")
		b.ReportMetric(bc[3], "bare-cpu-ns/event")
		b.ReportMetric(sr[3]/br[3], "sink/bare")
	})
}
