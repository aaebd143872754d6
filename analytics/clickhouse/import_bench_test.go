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

// BenchmarkImport measures an import of a 200k-row file, CSV and NDJSON
// (parse, check, spool, write), against a bare insert of the same events
// through the same sink, in the same run and database: rows/s of each by
// the wall clock and their ratio, and this process's CPU per row, user+sys
// (ClickHouse's own work is the same for both, and the wall clock of a
// shared machine says more about its other load than about either).
// Run: go test -run XXX -bench Import -benchtime 4x ./analytics/clickhouse/
func BenchmarkImport(b *testing.B) {
	for _, f := range []imports.Format{imports.CSV, imports.NDJSON} {
		b.Run(string(f), func(b *testing.B) { benchImport(b, f) })
	}
}

func benchImport(b *testing.B, f imports.Format) {
	const rows = 200_000
	conn, _ := env.NewDatabase(b)
	sink := clickhouse.NewEventSink(conn)
	exp := experiment.Experiment{Key: "bench", Version: 1, Channel: experiment.ChannelEmail,
		Segments: []experiment.Segment{{Key: "all", Variants: []experiment.Variant{{Key: "a", Control: true, Weight: 1}, {Key: "b", Weight: 1}}}}}
	var file bytes.Buffer
	if f == imports.CSV {
		file.WriteString("unit,kind,time,segment,variant,value\n")
	}
	t0 := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC).Unix()
	for i := range rows {
		u := i / 2
		arm := []string{"a", "b"}[u%2]
		switch {
		case f == imports.CSV && i%2 == 0:
			fmt.Fprintf(&file, "u%d,exposure,%d,all,%s,\n", u, t0+int64(u%86400), arm)
		case f == imports.CSV:
			fmt.Fprintf(&file, "u%d,conversion,%d,,,%d.%02d\n", u, t0+int64(u%86400)+60, u%200, u%100)
		case i%2 == 0:
			fmt.Fprintf(&file, `{"unit":"u%d","kind":"exposure","time":%d,"segment":"all","variant":"%s"}`+"\n", u, t0+int64(u%86400), arm)
		default:
			fmt.Fprintf(&file, `{"unit":"u%d","kind":"conversion","time":"%s","value":%d.%02d}`+"\n", u,
				time.Unix(t0+int64(u%86400)+60, 0).UTC().Format(time.RFC3339), u%200, u%100)
		}
	}
	// The same events, built once, for the bare insert.
	var events []analytics.Event
	collect := writerFunc(func(_ context.Context, es []analytics.Event) error {
		events = append(events, es...)
		return nil
	})
	if _, err := imports.Import(context.Background(), exp, bytes.NewReader(file.Bytes()), f, collect, imports.Options{TempDir: b.TempDir()}); err != nil {
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
		if _, err := imports.Import(ctx, exp, strings.NewReader(file.String()), f, sink, imports.Options{TempDir: b.TempDir()}); err != nil {
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
