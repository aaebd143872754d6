// Command benchreport measures GET /v1/experiments/{key}/results against
// the bare SQL it runs, on a ClickHouse seeded with millions of events.
// scripts/bench-report.sh drives it; it is never part of the tests.
//
//	benchreport seed -clickhouse-addr A -database D -events 10000000
//	benchreport time -clickhouse-addr A -database D -url http://127.0.0.1:P -key K -rounds 5
//
// seed migrates the database, creates and starts the experiment "bench" and
// inserts the events in large batches (EventSink: PrepareBatch, Append,
// Send). time records the statements that analytics/clickhouse's
// AggregateReader sends for the experiment, then alternates: those
// statements run bare through the same driver (every row read, nothing
// computed), and GET /results from the running server (the same statements,
// plus the history, the statistics and the JSON); it prints the medians and
// their ratio.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/analytics/clickhouse"
	"github.com/splitcast/splitcast/experiment"
	"github.com/splitcast/splitcast/migrations"
)

const benchKey = "bench"

// benchDefinition is an email experiment of two segments of three variants,
// like the README's example.
const benchDefinition = `{"key": "bench", "name": "Report benchmark", "channel": "email", "allocation": 100,
 "segments": [
  {"key": "pro", "rule": {"attr": "plan", "op": "equals", "value": "pro"}, "variants": [
    {"key": "control", "weight": 1, "control": true}, {"key": "b", "weight": 1}, {"key": "c", "weight": 1}]},
  {"key": "everyone", "variants": [
    {"key": "control", "weight": 1, "control": true}, {"key": "b", "weight": 1}, {"key": "c", "weight": 1}]}],
 "primary_metric": "click_rate",
 "retirement": {"auto": false}}`

func main() {
	if len(os.Args) < 2 || (os.Args[1] != "seed" && os.Args[1] != "time") {
		fmt.Fprintln(os.Stderr, "usage: benchreport seed|time [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("benchreport "+os.Args[1], flag.ExitOnError)
	addr := fs.String("clickhouse-addr", "127.0.0.1:19000", "ClickHouse native address")
	db := fs.String("database", "benchreport", "database")
	events := fs.Int("events", 10_000_000, "seed: events to insert")
	url := fs.String("url", "http://127.0.0.1:8080", "time: the server")
	key := fs.String("key", "dev-read-key", "time: a read key")
	rounds := fs.Int("rounds", 5, "time: measured rounds of each")
	_ = fs.Parse(os.Args[2:])
	ctx := context.Background()
	conn, err := clickhouse.Open(ctx, clickhouse.Options{Addr: *addr, Database: *db})
	if err != nil {
		fail(err)
	}
	defer conn.Close()
	if os.Args[1] == "seed" {
		err = seed(ctx, conn, *events)
	} else {
		err = timeReport(ctx, conn, *url, *key, *rounds)
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "benchreport:", err)
	os.Exit(1)
}

// seed migrates the database, creates and starts the experiment benchKey,
// its start 14 days ago, and inserts total events over those days.
func seed(ctx context.Context, conn driver.Conn, total int) error {
	if _, err := (&migrations.Runner{Conn: conn}).Up(ctx); err != nil {
		return err
	}
	start := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -14)
	if err := startBench(ctx, conn, start); err != nil {
		return err
	}
	return seedEvents(ctx, conn, start, total)
}

// startBench creates experiment benchKey and starts it at start.
func startBench(ctx context.Context, conn driver.Conn, start time.Time) error {
	def, err := experiment.Decode([]byte(benchDefinition))
	if err != nil {
		return err
	}
	store := clickhouse.NewExperimentStore(conn)
	v1, err := experiment.Create(def, "benchreport", "benchmark", start.Add(-time.Hour))
	if err != nil {
		return err
	}
	if err := store.Create(ctx, v1); err != nil {
		return fmt.Errorf("create %s (seed a fresh database): %w", benchKey, err)
	}
	v2, err := experiment.Start(v1.Definition, "benchreport", "benchmark", start)
	if err != nil {
		return err
	}
	return store.Save(ctx, v2)
}

// seedEvents inserts the events of units u00000000, u00000001, ... exposed
// in the 14 days from start, in large batches, until there are at least
// total; it prints its progress on stderr.
func seedEvents(ctx context.Context, conn driver.Conn, start time.Time, total int) error {
	sink := clickhouse.NewEventSink(conn)
	const batchSize = 250_000
	batch := make([]analytics.Event, 0, batchSize)
	began := time.Now()
	n := 0
	flush := func() error {
		if err := sink.Write(ctx, batch); err != nil {
			return err
		}
		n += len(batch)
		batch = batch[:0]
		fmt.Fprintf(os.Stderr, "\rseed: %d events, %.0f/s", n, float64(n)/time.Since(began).Seconds())
		return nil
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for u := 0; n+len(batch) < total; u++ {
		batch = appendUnitEvents(batch, rng, fmt.Sprintf("u%08d", u), start)
		if len(batch) >= batchSize {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "\nseed: %d events in %s\n", n, time.Since(began).Round(time.Second))
	return nil
}

// appendUnitEvents appends to batch the events of unit, drawn from rng: an
// exposure in a random arm within 14 days of start (sometimes replayed),
// and for half the units opens (some by machines), then for some clicks
// and a conversion.
func appendUnitEvents(batch []analytics.Event, rng *rand.Rand, unit string, start time.Time) []analytics.Event {
	segs, vars := [...]string{"pro", "everyone"}, [...]string{"control", "b", "c"}
	seg, v := segs[rng.IntN(2)], vars[rng.IntN(3)]
	t := start.Add(time.Duration(rng.Int64N(int64(14 * 24 * time.Hour))))
	ev := func(kind analytics.Kind, id string, at time.Time) analytics.Event {
		return analytics.Event{ID: id, Kind: kind, Time: at, Experiment: benchKey, Version: 2, Segment: seg, Variant: v,
			Unit: unit, SendID: "s" + unit, Channel: "email"}
	}
	batch = append(batch, ev(analytics.KindExposure, "x:"+unit, t))
	if rng.Float64() < 0.05 { // a replayed copy: counted once
		batch = append(batch, ev(analytics.KindExposure, "x:"+unit, t))
	}
	if rng.Float64() >= 0.5 {
		return batch
	}
	for i := 0; i == 0 || rng.Float64() < 0.4; i++ {
		e := ev(analytics.KindOpen, fmt.Sprintf("o:%s:%d", unit, i), t.Add(time.Duration(1+rng.IntN(40000))*time.Second))
		if rng.Float64() < 0.1 {
			e.Machine, e.MachineReason = true, analytics.ReasonAppleMPP
		}
		batch = append(batch, e)
	}
	if rng.Float64() >= 0.3 {
		return batch
	}
	for i := 0; i == 0 || rng.Float64() < 0.25; i++ {
		e := ev(analytics.KindClick, fmt.Sprintf("c:%s:%d", unit, i), t.Add(time.Duration(60+rng.IntN(50000))*time.Second))
		e.URL = "https://example.com/a"
		batch = append(batch, e)
	}
	if rng.Float64() < 0.2 {
		e := ev(analytics.KindConversion, "e:"+unit, t.Add(time.Duration(600+rng.IntN(80000))*time.Second))
		e.Name, e.Value = "purchase", float64(20+rng.IntN(80))
		batch = append(batch, e)
	}
	return batch
}

// recordingConn notes the statements the aggregate reader sends.
type recordingConn struct {
	driver.Conn
	mu    sync.Mutex
	stmts []statement
}

type statement struct {
	query string
	args  []any
}

func (c *recordingConn) note(q string, args []any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stmts = append(c.stmts, statement{q, args})
}

func (c *recordingConn) Query(ctx context.Context, q string, args ...any) (driver.Rows, error) {
	c.note(q, args)
	return c.Conn.Query(ctx, q, args...)
}

func (c *recordingConn) QueryRow(ctx context.Context, q string, args ...any) driver.Row {
	c.note(q, args)
	return c.Conn.QueryRow(ctx, q, args...)
}

// timeReport times the reader's statements bare against GET /results from
// the server at url, rounds times each after a warm-up, and prints the
// rounds and the medians.
func timeReport(ctx context.Context, conn driver.Conn, url, key string, rounds int) error {
	stmts, err := readerStatements(ctx, conn)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 10 * time.Minute}
	raw := clickhouse.NewAggregateReader(conn)
	raw.Rollups = nil
	timers := []struct {
		name string
		run  func() (time.Duration, error)
	}{
		{"flat GROUP BY", func() (time.Duration, error) {
			return timeBare(ctx, conn, []statement{{query: flatQuery, args: []any{benchKey}}})
		}},
		{"bare SQL", func() (time.Duration, error) { return timeBare(ctx, conn, stmts) }},
		{"GET /results", func() (time.Duration, error) { return timeResults(ctx, client, url, key) }},
		{"raw events reader", func() (time.Duration, error) {
			t0 := time.Now()
			_, err := raw.Aggregates(ctx, benchKey)
			return time.Since(t0), err
		}},
	}
	// One of each first, to warm the caches; then they alternate, so that
	// the load of the machine weighs on all alike.
	times := make([][]time.Duration, len(timers))
	for round := 0; round <= rounds; round++ {
		line := fmt.Sprintf("round %d:", round)
		for i, tm := range timers {
			d, err := tm.run()
			if err != nil {
				return fmt.Errorf("%s: %w", tm.name, err)
			}
			if round > 0 {
				times[i] = append(times[i], d)
			}
			line += fmt.Sprintf(" %s %s,", tm.name, d.Round(time.Millisecond))
		}
		if round > 0 {
			fmt.Println(strings.TrimSuffix(line, ","))
		}
	}
	flat, get, old := median(times[0]), median(times[2]), median(times[3])
	fmt.Printf("median of %d: flat GROUP BY %s, bare SQL %s, GET /results %s, raw events reader %s\n", rounds,
		flat.Round(time.Millisecond), median(times[1]).Round(time.Millisecond), get.Round(time.Millisecond), old.Round(time.Millisecond))
	fmt.Printf("ratios: GET /results / flat GROUP BY %.2f (target <= 1.25); raw events reader / GET /results %.2f\n",
		get.Seconds()/flat.Seconds(), old.Seconds()/get.Seconds())
	return readRows(ctx, conn)
}

// flatQuery is the cheapest aggregate of an experiment's raw events, the
// floor a report is measured against.
const flatQuery = "SELECT segment, variant, kind, count() FROM events WHERE experiment = ? GROUP BY segment, variant, kind"

// readRows prints the rows the report's last queries read, from
// system.query_log: the fold, the rollup read and the marks.
func readRows(ctx context.Context, conn driver.Conn) error {
	if err := conn.Exec(ctx, "SYSTEM FLUSH LOGS"); err != nil {
		return err
	}
	var kept uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = 'system' AND name = 'query_log'").Scan(&kept); err != nil {
		return err
	}
	if kept == 0 {
		fmt.Println("query_log: this server keeps none (its config has no <query_log>), so no read_rows")
		return nil
	}
	rows, err := conn.Query(ctx, `SELECT substring(replaceRegexpAll(query, '\\s+', ' '), 1, 60), read_rows, query_duration_ms
		FROM system.query_log
		WHERE type = 2 AND event_time > now() - 60 AND (query LIKE '%unit_rollup%' OR query LIKE '%rollup_arms%')
		ORDER BY event_time DESC, query_duration_ms DESC LIMIT 4`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var q string
		var n, ms uint64
		if err := rows.Scan(&q, &n, &ms); err != nil {
			return err
		}
		fmt.Printf("query_log: read_rows %d in %d ms: %s...\n", n, ms, q)
	}
	return rows.Err()
}

// readerStatements returns the statements the aggregate reader sends for
// benchKey, and prints them counted with the events and exposed units.
func readerStatements(ctx context.Context, conn driver.Conn) ([]statement, error) {
	var total uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM events WHERE experiment = ?", benchKey).Scan(&total); err != nil {
		return nil, err
	}
	rec := &recordingConn{Conn: conn}
	agg, err := clickhouse.NewAggregateReader(rec).Aggregates(ctx, benchKey)
	if err != nil {
		return nil, err
	}
	var exposed int64
	for _, a := range agg.Arms {
		exposed += a.Exposed
	}
	fmt.Printf("events: %d rows, %d exposed units; the reader sends %d statements\n", total, exposed, len(rec.stmts))
	return rec.stmts, nil
}

// timeBare returns how long stmts take to run on conn, every row read and
// nothing computed.
func timeBare(ctx context.Context, conn driver.Conn, stmts []statement) (time.Duration, error) {
	t0 := time.Now()
	for _, s := range stmts {
		rows, err := conn.Query(ctx, s.query, s.args...)
		if err != nil {
			return 0, err
		}
		for rows.Next() {
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return 0, err
		}
	}
	return time.Since(t0), nil
}

// timeResults returns how long GET /v1/experiments/benchKey/results takes
// from the server at url, the body read whole.
func timeResults(ctx context.Context, client *http.Client, url, key string) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url+"/v1/experiments/"+benchKey+"/results", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	d := time.Since(t0)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET results: %s", resp.Status)
	}
	return d, nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
