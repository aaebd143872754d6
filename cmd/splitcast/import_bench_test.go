package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/analytics/clickhouse"
	"github.com/splitcast/splitcast/analytics/imports"
	"github.com/splitcast/splitcast/experiment"
)

// BenchmarkImportHTTP is the import as a user runs it: `splitcast import`
// streaming a 1M-row file (CSV, then NDJSON) over loopback HTTP to a
// running server (its own process), which checks it, spools it and writes it to ClickHouse,
// against a bare insert of the same events through the same sink into the
// same database, in the same run, alternating which goes first (the second
// of a pair runs while ClickHouse merges the first's parts). It reports
// rows/s of both by the wall clock and their ratio.
// Run: go test -run XXX -bench ImportHTTP -benchtime 3x ./cmd/splitcast/
func BenchmarkImportHTTP(b *testing.B) {
	for _, f := range []imports.Format{imports.CSV, imports.NDJSON} {
		b.Run(string(f), func(b *testing.B) { benchImportHTTP(b, f) })
	}
}

func benchImportHTTP(b *testing.B, f imports.Format) {
	const rows = 1_000_000
	conn, db := env.NewDatabase(b)
	// The server is a process of its own, as in production: this one holds
	// the bare insert's million events, which its collector would scan.
	dir := b.TempDir()
	srv := &serveProcess{t: b, bin: buildSplitcast(b, dir), dir: dir, addr: freeAddr(b), chAddr: env.Addr, db: db}
	if err := srv.start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := srv.stop(); err != nil {
			b.Error(err)
		}
	})
	c := apiClient{base: "http://" + srv.addr, http: &http.Client{Timeout: 5 * time.Minute}}
	def := []byte(`{"key":"bench","channel":"email","segments":[{"key":"all","variants":[` +
		`{"key":"a","control":true,"weight":1},{"key":"b","weight":1}]}],"primary_metric":"conversion_rate"}`)
	c.mustCall(b, http.StatusCreated, "POST", "/v1/experiments", devAdminKey, def, nil)

	file := filepath.Join(b.TempDir(), "campaign."+string(f))
	data := importBenchFile(rows, f)
	if err := os.WriteFile(file, data, 0o600); err != nil {
		b.Fatal(err)
	}
	// The same events, checked once, for the bare insert.
	var events []analytics.Event
	collect := collectWriter(func(es []analytics.Event) { events = append(events, es...) })
	exp := experiment.Experiment{Key: "bench", Version: 1, Channel: experiment.ChannelEmail,
		Segments: []experiment.Segment{{Key: "all", Variants: []experiment.Variant{{Key: "a", Control: true, Weight: 1}, {Key: "b", Weight: 1}}}}}
	if _, err := imports.Import(context.Background(), exp, bytes.NewReader(data), f, collect, imports.Options{TempDir: b.TempDir()}); err != nil {
		b.Fatal(err)
	}
	sink := clickhouse.NewEventSink(conn)
	ctx := context.Background()
	bare := func() {
		for off := 0; off < len(events); off += imports.DefaultBatch {
			if err := sink.Write(ctx, events[off:min(off+imports.DefaultBatch, len(events))]); err != nil {
				b.Fatal(err)
			}
		}
	}
	imp := func() {
		if err := run(ctx, []string{"import", "-url", c.base, "-key", devAdminKey, "-experiment", "bench", file},
			testGetenv(db), io.Discard, io.Discard); err != nil {
			b.Fatalf("splitcast import: %v", err)
		}
	}
	var bareWall, impWall time.Duration
	timed := func(f func(), wall *time.Duration) {
		t0 := time.Now()
		f()
		*wall += time.Since(t0)
	}
	for i := 0; b.Loop(); i++ {
		if i%2 == 0 {
			timed(bare, &bareWall)
			timed(imp, &impWall)
		} else {
			timed(imp, &impWall)
			timed(bare, &bareWall)
		}
	}
	n := float64(b.N) * rows
	b.ReportMetric(n/impWall.Seconds(), "import_rows/s")
	b.ReportMetric(n/bareWall.Seconds(), "bare_rows/s")
	b.ReportMetric(impWall.Seconds()/bareWall.Seconds(), "import/bare_wall")
}

// importBenchFile is rows rows of exposures and conversions, half a unit's
// each, with both time shapes in NDJSON.
func importBenchFile(rows int, f imports.Format) []byte {
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
	return file.Bytes()
}

type collectWriter func([]analytics.Event)

func (f collectWriter) Write(_ context.Context, es []analytics.Event) error {
	f(es)
	return nil
}
