// Command trackbench holds the baselines that scripts/bench-tracking.sh
// measures Splitcast's tracking path against, on the same machine in the
// same run:
//
//	trackbench gif -addr 127.0.0.1:18081
//	    a trivial Fiber handler that answers every GET with the pixel's GIF
//	trackbench insert -clickhouse-addr 127.0.0.1:19000 -rows 500000 -batch 20000 [-columnar] [-table user_events]
//	    a bare clickhouse-go batch insert (PrepareBatch, Append, Send) of
//	    conversion rows shaped like those POST /v1/events produces, into a
//	    fresh database; prints rows/s. The baseline appends row by row, as
//	    clickhouse-go's documentation does; -columnar appends whole columns
//	    (batch.Column(i).Append) instead, the faster bare insert, for
//	    comparison; -table user_events inserts rows shaped like those POST
//	    /v1/track makes (an order with four typed properties) instead
//
// It is benchmark tooling, not part of the product: it imports Fiber
// outside api, and clickhouse-go outside analytics/clickhouse, because each
// baseline must be the library with nothing else.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/gofiber/fiber/v2"

	"github.com/splitcast/splitcast/analytics/clickhouse"
	"github.com/splitcast/splitcast/analytics/ingest"
	"github.com/splitcast/splitcast/api/tracking"
	"github.com/splitcast/splitcast/migrations"
)

// gif is byte for byte the GIF that api serves at /o/{token}.gif;
// bench-tracking.sh checks that both servers answer the same bytes.
var gif = []byte(tracking.PixelGIF)

const usage = "usage: trackbench gif -addr host:port | trackbench insert -clickhouse-addr host:port -rows N -batch B [-columnar] [-table events|user_events]"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "gif":
		err = serveGIF(ctx, os.Args[2:])
	case "insert":
		err = insert(ctx, os.Args[2:])
	default:
		err = errors.New(usage)
	}
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "trackbench:", err)
		os.Exit(1)
	}
}

// serveGIF answers every GET with the GIF and the pixel's content type,
// with Fiber's defaults otherwise, until ctx ends.
func serveGIF(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("trackbench gif", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:18081", "listen address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/*", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, "image/gif")
		return c.Send(gif)
	})
	go func() {
		<-ctx.Done()
		app.Shutdown()
	}()
	return app.Listen(*addr)
}

// insert writes rows conversion events in batches of batch, one batch at a
// time (the plain way; the ingester writes a batch's halves in parallel),
// and prints the rate. Building the rows is not
// timed.
func insert(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("trackbench insert", flag.ContinueOnError)
	addr := fs.String("clickhouse-addr", "127.0.0.1:19000", "ClickHouse native address")
	rows := fs.Int("rows", 500_000, "rows to insert")
	batch := fs.Int("batch", ingest.DefaultMaxBatch, "rows per INSERT (default: the ingester's MaxBatch)")
	experiment := fs.String("experiment", "welcome-email", "experiment key of the rows")
	columnar := fs.Bool("columnar", false, "append whole columns instead of rows")
	table := fs.String("table", "events", "events (conversions, as POST /v1/events makes) or user_events (orders with four typed properties, as POST /v1/track makes)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *rows <= 0 || *batch <= 0 {
		return errors.New("-rows and -batch must be positive")
	}
	if *table != "events" && (*table != "user_events" || *columnar) {
		return errors.New("-table is events or user_events (which has no -columnar)")
	}
	var b [6]byte
	rand.Read(b[:])
	db := "trackbench_" + hex.EncodeToString(b[:])
	conn, err := clickhouse.Open(ctx, clickhouse.Options{Addr: *addr, Database: db})
	if err != nil {
		return err
	}
	defer func() {
		conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db)
		conn.Close()
	}()
	if _, err := (&migrations.Runner{Conn: conn}).Up(ctx); err != nil {
		return fmt.Errorf("migrate %s: %w", db, err)
	}

	all := make([]row, *rows)
	for i := range all {
		// Ids like the API's: "e:" and 32 hex digits, spread over the key.
		id := fmt.Sprintf("e:%016x%016x", uint64(i)*0x9e3779b97f4a7c15, i)
		all[i] = row{id: id, unit: "u" + strconv.Itoa(i%50_000), value: float64(i % 100)}
	}
	now := time.Now().UTC().Truncate(time.Second)
	start := time.Now()
	for off := 0; off < len(all); off += *batch {
		rows := all[off:min(off+*batch, len(all))]
		if *table == "user_events" {
			if err := insertUserEvents(ctx, conn, rows, now); err != nil {
				return err
			}
			continue
		}
		b, err := conn.PrepareBatch(ctx, "INSERT INTO events (event_id, kind, time, experiment, version, segment, variant, unit, "+
			"send_id, channel, name, value, url, machine, machine_reason)")
		if err != nil {
			return err
		}
		if *columnar {
			err = appendColumns(b, rows, now, *experiment)
		} else {
			err = appendRows(b, rows, now, *experiment)
		}
		if err != nil {
			return err
		}
		if err := b.Send(); err != nil {
			return err
		}
	}
	elapsed := time.Since(start)
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+*table).Scan(&n); err != nil {
		return err
	}
	if n != uint64(*rows) {
		return fmt.Errorf("inserted %d rows, the table holds %d", *rows, n)
	}
	mode := "rows"
	if *columnar {
		mode = "columns"
	}
	fmt.Printf("table=%s rows=%d batch=%d append=%s seconds=%.3f rows_per_s=%.0f\n", *table, *rows, *batch, mode, elapsed.Seconds(), float64(*rows)/elapsed.Seconds())
	return nil
}

// insertUserEvents inserts rows as POST /v1/track's orders: the unit, a
// name and the properties of cmd/loadtest's track script, row by row.
func insertUserEvents(ctx context.Context, conn driver.Conn, rows []row, now time.Time) error {
	b, err := conn.PrepareBatch(ctx, "INSERT INTO user_events (event_id, time, unit, name, s_keys, s_vals, n_keys, n_vals, b_keys, b_vals, l_keys, l_vals)")
	if err != nil {
		return err
	}
	for _, r := range rows {
		if err := b.Append(r.id, now, r.unit, "order_completed", []string{"category"}, []string{"shoes"}, []string{"total"}, []float64{r.value + 0.5},
			[]string{"gift"}, []uint8{0}, []string{"tags", "tags"}, []string{"sale", "new"}); err != nil {
			return err
		}
	}
	return b.Send()
}

// row holds the values of a conversion from POST /v1/events that vary;
// the other columns are constants or empty.
type row struct {
	id, unit string
	value    float64
}

// appendRows appends rows one by one: batch.Append with every column.
func appendRows(b driver.Batch, rows []row, now time.Time, experiment string) error {
	for _, r := range rows {
		if err := b.Append(r.id, "conversion", now, experiment, uint32(0), "", "", r.unit, "", "", "", r.value, "", uint8(0), ""); err != nil {
			return err
		}
	}
	return nil
}

// appendColumns appends the same values as appendRows, a column at a time.
// Building the columns is timed: a sink holding events has to.
func appendColumns(b driver.Batch, rows []row, now time.Time, experiment string) error {
	n := len(rows)
	ids, units, kinds, exps, empty := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	times, versions, values, machine := make([]time.Time, n), make([]uint32, n), make([]float64, n), make([]uint8, n)
	for i, r := range rows {
		ids[i], units[i], kinds[i], exps[i], times[i], values[i] = r.id, r.unit, "conversion", experiment, now, r.value
	}
	for i, col := range []any{ids, kinds, times, exps, versions, empty, empty, units, empty, empty, empty, values, empty, machine, empty} {
		if err := b.Column(i).Append(col); err != nil {
			return err
		}
	}
	return nil
}
