package clickhouse_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/analytics/clickhouse"
	"github.com/splitcast/splitcast/analytics/imports"
	"github.com/splitcast/splitcast/experiment"
)

// BenchmarkImport measures an import of a 200k-row CSV (parse, check,
// spool, write) against a bare insert of the same events through the same
// sink, in the same run and database: rows/s of each by the wall clock,
// their ratio, and this process's CPU per row (ClickHouse's own CPU is the
// same for both). Run: go test -run XXX -bench Import -benchtime 3x ./analytics/clickhouse/
func BenchmarkImport(b *testing.B) {
	const rows = 200_000
	conn, _ := env.NewDatabase(b)
	sink := clickhouse.NewEventSink(conn)
	exp := experiment.Experiment{Key: "bench", Version: 1, Channel: experiment.ChannelEmail,
		Segments: []experiment.Segment{{Key: "all", Variants: []experiment.Variant{{Key: "a", Control: true, Weight: 1}, {Key: "b", Weight: 1}}}}}
	var file bytes.Buffer
	file.WriteString("unit,kind,time,segment,variant,value\n")
	t0 := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC).Unix()
	for i := range rows {
		switch u := i / 2; i % 2 {
		case 0:
			fmt.Fprintf(&file, "u%d,exposure,%d,all,%s,\n", u, t0+int64(u%86400), []string{"a", "b"}[u%2])
		default:
			fmt.Fprintf(&file, "u%d,conversion,%d,,,%d.%02d\n", u, t0+int64(u%86400)+60, u%200, u%100)
		}
	}
	// The same events, built once, for the bare insert.
	var events []analytics.Event
	collect := writerFunc(func(_ context.Context, es []analytics.Event) error {
		events = append(events, es...)
		return nil
	})
	if _, err := imports.Import(context.Background(), exp, bytes.NewReader(file.Bytes()), imports.CSV, collect, imports.Options{TempDir: b.TempDir()}); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var bareWall, impWall, bareCPU, impCPU time.Duration
	bare := func() {
		for off := 0; off < len(events); off += imports.DefaultBatch {
			if err := sink.Write(ctx, events[off:min(off+imports.DefaultBatch, len(events))]); err != nil {
				b.Fatal(err)
			}
		}
	}
	imp := func() {
		if _, err := imports.Import(ctx, exp, strings.NewReader(file.String()), imports.CSV, sink, imports.Options{TempDir: b.TempDir()}); err != nil {
			b.Fatal(err)
		}
	}
	timed := func(f func(), wall, cpu *time.Duration) {
		w0, c0 := time.Now(), cpuTime(b)
		f()
		*wall += time.Since(w0)
		*cpu += cpuTime(b) - c0
	}
	// Alternate which goes first: the second of a pair runs while
	// ClickHouse merges the parts of the first.
	for i := 0; b.Loop(); i++ {
		if i%2 == 0 {
			timed(bare, &bareWall, &bareCPU)
			timed(imp, &impWall, &impCPU)
		} else {
			timed(imp, &impWall, &impCPU)
			timed(bare, &bareWall, &bareCPU)
		}
	}
	n := float64(b.N) * rows
	b.ReportMetric(n/impWall.Seconds(), "import_rows/s")
	b.ReportMetric(n/bareWall.Seconds(), "bare_rows/s")
	b.ReportMetric(impWall.Seconds()/bareWall.Seconds(), "import/bare_wall")
	b.ReportMetric(float64(impCPU.Nanoseconds())/n, "import_cpu_ns/row")
	b.ReportMetric(float64(bareCPU.Nanoseconds())/n, "bare_cpu_ns/row")
}

type writerFunc func(context.Context, []analytics.Event) error

func (f writerFunc) Write(ctx context.Context, es []analytics.Event) error { return f(ctx, es) }
