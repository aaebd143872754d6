package imports

import (
	"bytes"
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics"
)

type discard struct{}

func (discard) Write(context.Context, []analytics.Event) error { return nil }

// benchFile is rows rows of exposures and conversions, as CSV or NDJSON,
// with both time shapes.
func benchFile(rows int, f Format) []byte {
	var file bytes.Buffer
	if f == CSV {
		file.WriteString("unit,kind,time,segment,variant,value\n")
	}
	t0 := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC).Unix()
	for i := range rows {
		u := i / 2
		arm := []string{"a", "b"}[u%2]
		switch {
		case f == CSV && i%2 == 0:
			fmt.Fprintf(&file, "u%d,exposure,%d,vip,%s,\n", u, t0+int64(u%86400), arm)
		case f == CSV:
			fmt.Fprintf(&file, "u%d,conversion,2025-03-01T10:00:00Z,,,%d.%02d\n", u, u%200, u%100)
		case i%2 == 0:
			fmt.Fprintf(&file, `{"unit":"u%d","kind":"exposure","time":%d,"segment":"vip","variant":"%s"}`+"\n", u, t0+int64(u%86400), arm)
		default:
			fmt.Fprintf(&file, `{"unit":"u%d","kind":"conversion","time":"2025-03-01T10:00:00Z","value":%d.%02d}`+"\n", u, u%200, u%100)
		}
	}
	return file.Bytes()
}

// BenchmarkImport is the client side of an import alone (parse, check,
// spool, read back), writing nowhere: per row, this process's CPU time
// (user+sys, which the machine's other load changes less than the wall
// clock) and allocations.
func BenchmarkImport(b *testing.B) {
	const rows = 100_000
	for _, f := range []Format{CSV, NDJSON} {
		b.Run(string(f), func(b *testing.B) {
			file := benchFile(rows, f)
			b.ReportAllocs()
			b.SetBytes(int64(len(file)))
			cpu0 := cpuTime(b)
			for b.Loop() {
				if _, err := Import(context.Background(), testExperiment(), bytes.NewReader(file), f, discard{},
					Options{TempDir: b.TempDir(), Now: func() time.Time { return now }}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((cpuTime(b)-cpu0).Nanoseconds())/float64(b.N)/rows, "cpu_ns/row")
		})
	}
}

// cpuTime is this process's CPU time so far, user and system.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
