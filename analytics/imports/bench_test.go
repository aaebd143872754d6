package imports

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics"
)

type discard struct{}

func (discard) Write(context.Context, []analytics.Event) error { return nil }

// BenchmarkImportCSV is the client side of an import alone (parse, check,
// spool, read back), writing nowhere: ns/op per row.
func BenchmarkImportCSV(b *testing.B) {
	const rows = 100_000
	var file bytes.Buffer
	file.WriteString("unit,kind,time,segment,variant,value\n")
	t0 := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC).Unix()
	for i := range rows {
		u := i / 2
		if i%2 == 0 {
			fmt.Fprintf(&file, "u%d,exposure,%d,vip,%s,\n", u, t0+int64(u%86400), []string{"a", "b"}[u%2])
		} else {
			fmt.Fprintf(&file, "u%d,conversion,2025-03-01T10:00:00Z,,,%d.%02d\n", u, u%200, u%100)
		}
	}
	b.ReportAllocs()
	b.SetBytes(int64(file.Len()))
	for b.Loop() {
		if _, err := Import(context.Background(), testExperiment(), bytes.NewReader(file.Bytes()), CSV, discard{},
			Options{TempDir: b.TempDir(), Now: func() time.Time { return now }}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/rows, "ns/row")
}
