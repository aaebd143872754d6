// Command benchreport measures GET /v1/experiments/{key}/results against
// the flat aggregate of the raw events, on a ClickHouse seeded with
// millions of events. scripts/bench-report.sh drives it; it is never part
// of the tests.
//
//	benchreport seed -clickhouse-addr A -database D -events 10000000 [-scale 1] [-experiments 1]
//	benchreport time -clickhouse-addr A -database D -url http://127.0.0.1:P -key K -rounds 5 [-trickle 1000] [-raw=false]
//	benchreport rows -clickhouse-addr A -database D [-trickle 1000]
//	benchreport traits -clickhouse-addr A -database D [-trickle 1000]
//	benchreport news -clickhouse-addr A -database D [-trickle 1000] [-experiments 1]
//	benchreport retire -clickhouse-addr A -database D -rounds 3 [-trickle 1000] [-experiments 20]
//	benchreport write -clickhouse-addr A -database D2 -events 1000000 [-batch 10000] [-fold-every 10]
//
// seed migrates the database, creates and starts the experiment "bench" and
// inserts the events in large batches (EventSink). time writes new events
// before each round and then times the flat aggregate, GET /results from
// the running server, a reader new to the experiment and, with -raw, the
// raw events reader; it prints the rounds, the medians and their ratios,
// and then what rows does. rows prints, from system.query_log, each
// statement's read_rows, memory and ClickHouse CPU for a warm report, a
// cold one and the flat aggregate. traits does the same for an incremental
// trait refresh after trickle new events. news writes trickle new events
// into the seeded experiments. write measures the write side in a fresh
// database: events inserted in batches as the ingester writes them, both
// rollups folded every few inserts as readers would, and the ClickHouse CPU
// of the inserts against that of the rollups' upkeep, from query_log.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/analytics/clickhouse"
	"github.com/splitcast/splitcast/analytics/retire"
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
	if len(os.Args) < 2 || !slices.Contains([]string{"seed", "time", "rows", "traits", "news", "write", "retire"}, os.Args[1]) {
		fmt.Fprintln(os.Stderr, "usage: benchreport seed|time|rows|traits|news|write|retire [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("benchreport "+os.Args[1], flag.ExitOnError)
	addr := fs.String("clickhouse-addr", "127.0.0.1:19000", "ClickHouse native address")
	db := fs.String("database", "benchreport", "database")
	events := fs.Int("events", 10_000_000, "seed: events to insert")
	batch := fs.Int("batch", 10_000, "write: events per insert")
	foldEvery := fs.Int("fold-every", 10, "write: inserts between folds")
	experiments := fs.Int("experiments", 1, "seed: experiments to spread the units over (bench-01, bench-02, ... with automatic retirement; 1: bench alone)")
	scale := fs.Float64("scale", 1, "seed: events per exposed unit other than the exposure, in units of 0.62 (1: about 1.6 events per unit; 8: about 6)")
	url := fs.String("url", "http://127.0.0.1:8080", "time: the server")
	key := fs.String("key", "dev-read-key", "time: a read key")
	rounds := fs.Int("rounds", 5, "time: measured rounds of each")
	trickle := fs.Int("trickle", 1000, "time: new events written before each round")
	raw := fs.Bool("raw", true, "time: also time the raw events reader (slow at tens of millions of events)")
	_ = fs.Parse(os.Args[2:])
	ctx := context.Background()
	// Its own queries are logged, for readRows.
	conn, err := clickhouse.Open(ctx, clickhouse.Options{Addr: *addr, Database: *db, Settings: map[string]any{"log_queries": 1}})
	if err != nil {
		fail(err)
	}
	defer conn.Close()
	switch os.Args[1] {
	case "seed":
		err = seed(ctx, conn, *events, *scale, *experiments)
	case "news":
		news := newNews(conn)
		for i := range *experiments {
			if *experiments > 1 {
				news.keys = append(news.keys, fmt.Sprintf("%s-%02d", benchKey, i+1))
			}
		}
		err = news.write(ctx, *trickle)
	case "retire":
		err = retirePasses(ctx, conn, *rounds, *trickle, *experiments)
	case "write":
		err = writeSide(ctx, conn, *events, *batch, *foldEvery)
	case "traits":
		err = traitRefresh(ctx, conn, newNews(conn), *trickle)
	case "rows":
		err = readRows(ctx, conn, newNews(conn), *trickle)
	default:
		err = timeReport(ctx, conn, *url, *key, *rounds, *trickle, *raw)
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
func seed(ctx context.Context, conn driver.Conn, total int, scale float64, experiments int) error {
	if _, err := (&migrations.Runner{Conn: conn}).Up(ctx); err != nil {
		return err
	}
	start := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -14)
	keys := []string{benchKey}
	if experiments > 1 {
		keys = keys[:0]
		for i := range experiments {
			keys = append(keys, fmt.Sprintf("%s-%02d", benchKey, i+1))
		}
	}
	for _, key := range keys {
		if err := startBench(ctx, conn, start, key, experiments > 1); err != nil {
			return err
		}
	}
	return seedEvents(ctx, conn, start, total, scale, keys)
}

// startBench creates experiment key (benchDefinition's, with automatic
// retirement if auto) and starts it at start.
func startBench(ctx context.Context, conn driver.Conn, start time.Time, key string, auto bool) error {
	def, err := experiment.Decode([]byte(benchDefinition))
	if err != nil {
		return err
	}
	def.Key = key
	def.Retirement.Auto = auto
	store := clickhouse.NewExperimentStore(conn)
	v1, err := experiment.Create(def, "benchreport", "benchmark", start.Add(-time.Hour))
	if err != nil {
		return err
	}
	if err := store.Create(ctx, v1); err != nil {
		return fmt.Errorf("create %s (seed a fresh database): %w", key, err)
	}
	v2, err := experiment.Start(v1.Definition, "benchreport", "benchmark", start)
	if err != nil {
		return err
	}
	return store.Save(ctx, v2)
}

// seedEvents inserts the events of units u00000000, u00000001, ... exposed
// in the 14 days from start, in large batches, until there are at least
// total, the units taking the experiments keys in turn; it prints its
// progress on stderr.
func seedEvents(ctx context.Context, conn driver.Conn, start time.Time, total int, scale float64, keys []string) error {
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
		batch = appendUnitEvents(batch, rng, keys[u%len(keys)], fmt.Sprintf("u%08d", u), start, scale)
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
// exposure in a random arm within 14 days of start, and per exposed unit
// on average 0.5*scale opens (a fifth of them by machines), 0.1*scale
// clicks and 0.02*scale conversions, after the exposure; 1% of all events
// are written twice (a replayed copy, counted once). Scale 1 is about 1.6
// events per exposed unit, the mix of a newsletter and the least favourable
// case for a per-unit rollup; scale 8 is about 6.
func appendUnitEvents(batch []analytics.Event, rng *rand.Rand, key, unit string, start time.Time, scale float64) []analytics.Event {
	segs, vars := [...]string{"pro", "everyone"}, [...]string{"control", "b", "c"}
	seg, v := segs[rng.IntN(2)], vars[rng.IntN(3)]
	t := start.Add(time.Duration(rng.Int64N(int64(14 * 24 * time.Hour))))
	add := func(kind analytics.Kind, id string, after int, f func(*analytics.Event)) {
		e := analytics.Event{ID: id, Kind: kind, Time: t.Add(time.Duration(after) * time.Second), Experiment: key, Version: 2,
			Segment: seg, Variant: v, Unit: unit, SendID: "s" + unit, Channel: "email"}
		if f != nil {
			f(&e)
		}
		batch = append(batch, e)
		if rng.Float64() < 0.01 {
			batch = append(batch, e)
		}
	}
	add(analytics.KindExposure, "x:"+unit, 0, nil)
	for i := range poisson(rng, 0.5*scale) {
		add(analytics.KindOpen, fmt.Sprintf("o:%s:%d", unit, i), 1+rng.IntN(40000), func(e *analytics.Event) {
			if rng.Float64() < 0.2 {
				e.Machine, e.MachineReason = true, analytics.ReasonAppleMPP
			}
		})
	}
	for i := range poisson(rng, 0.1*scale) {
		add(analytics.KindClick, fmt.Sprintf("c:%s:%d", unit, i), 60+rng.IntN(50000), func(e *analytics.Event) { e.URL = "https://example.com/a" })
	}
	for i := range poisson(rng, 0.02*scale) {
		add(analytics.KindConversion, fmt.Sprintf("e:%s:%d", unit, i), 600+rng.IntN(80000), func(e *analytics.Event) {
			e.Name, e.Value = "purchase", float64(20+rng.IntN(80))
		})
	}
	return batch
}

// poisson draws a Poisson count of mean m (Knuth's method: m is small).
func poisson(rng *rand.Rand, m float64) int {
	limit, p, k := math.Exp(-m), 1.0, 0
	for {
		p *= rng.Float64()
		if p <= limit {
			return k
		}
		k++
	}
}

// statement is a query and its parameters.
type statement struct {
	query string
	args  []any
}

// timeReport times GET /results from the server at url against the flat
// aggregate of the raw events, rounds times each after a warm-up, with
// trickle new events written before each round (so that every report has
// news to fold, as on a live experiment), and beside them a cold read (a
// reader new to the experiment, as after a restart) and, if raw, the raw
// events reader. It prints the rounds, the medians and their ratios, and
// then the read_rows and memory of a warm report's statements.
func timeReport(ctx context.Context, conn driver.Conn, url, key string, rounds, trickle int, raw bool) error {
	if err := printSize(ctx, conn); err != nil {
		return err
	}
	client := &http.Client{Timeout: 10 * time.Minute}
	rawReader := clickhouse.NewAggregateReader(conn)
	rawReader.Rollups = nil
	// The report's aggregates alone, by a reader kept across rounds as a
	// server keeps it: GET /results adds the history, the per-unit
	// analyses (CUPED) and the fatigue and channel sections.
	warm := clickhouse.NewAggregateReader(conn)
	news := newNews(conn)
	timers := []struct {
		name string
		run  func() (time.Duration, error)
	}{
		{"flat GROUP BY", func() (time.Duration, error) {
			return timeBare(ctx, conn, []statement{{query: flatQuery, args: []any{benchKey}}})
		}},
		{"GET /results", func() (time.Duration, error) { return timeResults(ctx, client, url, key) }},
		{"rollup read", func() (time.Duration, error) {
			t0 := time.Now()
			_, err := warm.Aggregates(ctx, benchKey)
			return time.Since(t0), err
		}},
		{"cold read", func() (time.Duration, error) {
			t0 := time.Now()
			_, err := clickhouse.NewAggregateReader(conn).Aggregates(ctx, benchKey)
			return time.Since(t0), err
		}},
	}
	if raw {
		timers = append(timers, struct {
			name string
			run  func() (time.Duration, error)
		}{"raw events reader", func() (time.Duration, error) {
			t0 := time.Now()
			_, err := rawReader.Aggregates(ctx, benchKey)
			return time.Since(t0), err
		}})
	}
	// One of each first, to warm the caches; then they alternate, so that
	// the load of the machine weighs on all alike.
	times := make([][]time.Duration, len(timers))
	for round := 0; round <= rounds; round++ {
		if err := news.write(ctx, trickle); err != nil {
			return err
		}
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
	line := fmt.Sprintf("median of %d (%d new events before each):", rounds, trickle)
	for i, tm := range timers {
		line += fmt.Sprintf(" %s %s,", tm.name, median(times[i]).Round(time.Millisecond))
	}
	fmt.Println(strings.TrimSuffix(line, ","))
	flat, get, warmRead, cold := median(times[0]), median(times[1]), median(times[2]), median(times[3])
	fmt.Printf("ratios: GET /results / flat GROUP BY %.2f (target <= 1.25 at 1.6 events per unit, <= 0.5 at 6); rollup read / flat %.2f; cold read / flat %.2f\n",
		get.Seconds()/flat.Seconds(), warmRead.Seconds()/flat.Seconds(), cold.Seconds()/flat.Seconds())
	if raw {
		fmt.Printf("ratios: raw events reader / rollup read %.1f\n", median(times[4]).Seconds()/warmRead.Seconds())
	}
	return readRows(ctx, conn, news, trickle)
}

// flatQuery is the cheapest aggregate of an experiment's raw events, the
// floor a report is measured against.
const flatQuery = "SELECT segment, variant, kind, count() FROM events WHERE experiment = ? GROUP BY segment, variant, kind"

// readRows prints, from system.query_log, the rows read and the memory
// used by each statement of a warm report (a reader that has read the
// experiment once, after trickle new events) and of a cold one. conn must
// log its queries (log_queries = 1).
func readRows(ctx context.Context, conn driver.Conn, news *newsWriter, trickle int) error {
	warm := clickhouse.NewAggregateReader(conn)
	if _, err := warm.Aggregates(ctx, benchKey); err != nil {
		return err
	}
	if err := news.write(ctx, trickle); err != nil {
		return err
	}
	cold := clickhouse.NewAggregateReader(conn)
	for _, r := range []struct {
		name string
		run  func() error
	}{
		{"warm", func() error { _, err := warm.Aggregates(ctx, benchKey); return err }},
		{"cold", func() error { _, err := cold.Aggregates(ctx, benchKey); return err }},
		{"flat", func() error {
			_, err := timeBare(ctx, conn, []statement{{query: flatQuery, args: []any{benchKey}}})
			return err
		}},
	} {
		if err := statements(ctx, conn, r.name, r.run); err != nil {
			return err
		}
	}
	return nil
}

// statements runs run and prints, from system.query_log, each statement it
// ran with its read_rows, memory and ClickHouse CPU, and their sums.
func statements(ctx context.Context, conn driver.Conn, name string, run func() error) error {
	var since time.Time
	if err := conn.QueryRow(ctx, "SELECT now()").Scan(&since); err != nil {
		return err
	}
	// query_log's times are whole seconds: a second between the
	// sections keeps each one's statements apart.
	time.Sleep(time.Second)
	if err := run(); err != nil {
		return err
	}
	if err := conn.Exec(ctx, "SYSTEM FLUSH LOGS"); err != nil {
		return err
	}
	rows, err := conn.Query(ctx, `SELECT substring(replaceRegexpAll(query, '\\s+', ' '), 1, 50), read_rows, memory_usage, query_duration_ms,
			toUInt64(arraySum(arrayFilter((v, k) -> k IN ('UserTimeMicroseconds', 'SystemTimeMicroseconds'), ProfileEvents.Values, ProfileEvents.Names)) / 1000)
		FROM system.query_log
		WHERE type = 2 AND event_time > ? AND query NOT LIKE '%query_log%' AND query NOT LIKE 'SELECT now()%'
		ORDER BY event_time, query_start_time`, since)
	if err != nil {
		return err
	}
	defer rows.Close()
	var total, peak, cpu uint64
	for rows.Next() {
		var q string
		var n, mem, ms, cms uint64
		if err := rows.Scan(&q, &n, &mem, &ms, &cms); err != nil {
			return err
		}
		total, peak, cpu = total+n, max(peak, mem), cpu+cms
		fmt.Printf("query_log %s: read_rows %d, memory %d MB, %d ms, CPU %d ms: %s...\n", name, n, mem>>20, ms, cms, q)
	}
	fmt.Printf("query_log %s in all: read_rows %d, peak memory %d MB, ClickHouse CPU %d ms\n", name, total, peak>>20, cpu)
	return rows.Err()
}

// retirePasses runs passes of the retirement loop in one process, as a
// server runs them, over the seeded experiments: the first reads each
// experiment anew (from the sums saved in report_sums, if any), the next
// ones after trickle new events spread over the experiments; it prints each
// pass's time.
func retirePasses(ctx context.Context, conn driver.Conn, passes, trickle, experiments int) error {
	base := clickhouse.NewAggregateReader(conn)
	store := clickhouse.NewExperimentStore(conn)
	loop := &retire.Loop{Store: store, Reader: clickhouse.NewBanditAggregates(conn, base, store)}
	news := newNews(conn)
	for i := range experiments {
		if experiments > 1 {
			news.keys = append(news.keys, fmt.Sprintf("%s-%02d", benchKey, i+1))
		}
	}
	for pass := 1; pass <= passes; pass++ {
		if pass > 1 {
			if err := news.write(ctx, trickle); err != nil {
				return err
			}
		}
		t0 := time.Now()
		applied, err := loop.RunOnce(ctx)
		if err != nil {
			return err
		}
		fmt.Printf("retirement pass %d in one process over %d experiments (%d new events before it): %s, %d decisions\n",
			pass, experiments, map[bool]int{true: trickle}[pass > 1], time.Since(t0).Round(time.Millisecond), len(applied))
	}
	return nil
}

// writeSide inserts total events into a fresh database in batches, folds
// the report's and the trait refresh's rollups every foldEvery batches and
// at the end, and prints the ClickHouse CPU per million events of the
// inserts alone and of the upkeep.
func writeSide(ctx context.Context, conn driver.Conn, total, batchSize, foldEvery int) error {
	if _, err := (&migrations.Runner{Conn: conn}).Up(ctx); err != nil {
		return err
	}
	var since time.Time
	if err := conn.QueryRow(ctx, "SELECT now()").Scan(&since); err != nil {
		return err
	}
	time.Sleep(1100 * time.Millisecond)
	sink := clickhouse.NewEventSink(conn)
	report, activity := clickhouse.NewRollups(conn), clickhouse.NewActivityRollups(conn)
	fold := func() error {
		if err := report.Fold(ctx); err != nil {
			return err
		}
		return activity.Fold(ctx)
	}
	// The first fold of an empty database reads everything: fold it once
	// before, so that every later one is incremental.
	if err := fold(); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(3, 4))
	start := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -14)
	batch := make([]analytics.Event, 0, batchSize+16)
	n, batches := 0, 0
	for u := 0; n < total; u++ {
		batch = appendUnitEvents(batch, rng, benchKey, fmt.Sprintf("w%08d", u), start, 1)
		if len(batch) < batchSize && n+len(batch) < total {
			continue
		}
		if err := sink.Write(ctx, batch); err != nil {
			return err
		}
		n += len(batch)
		batch = batch[:0]
		if batches++; batches%foldEvery == 0 {
			if err := fold(); err != nil {
				return err
			}
		}
	}
	if err := fold(); err != nil {
		return err
	}
	if err := conn.Exec(ctx, "SYSTEM FLUSH LOGS"); err != nil {
		return err
	}
	var insertMs, upkeepMs, inserts, upkeeps uint64
	err := conn.QueryRow(ctx, `SELECT
			sumIf(cpu, q LIKE 'INSERT INTO events %'), sumIf(cpu, q NOT LIKE 'INSERT INTO events %'),
			countIf(q LIKE 'INSERT INTO events %'), countIf(q NOT LIKE 'INSERT INTO events %')
		FROM (
			SELECT query AS q, toUInt64(arraySum(arrayFilter((v, k) -> k IN ('UserTimeMicroseconds', 'SystemTimeMicroseconds'), ProfileEvents.Values, ProfileEvents.Names)) / 1000) AS cpu
			FROM system.query_log
			WHERE type = 2 AND event_time > ? AND query NOT LIKE '%query_log%' AND query NOT LIKE 'SELECT now()%'
		)`, since).Scan(&insertMs, &upkeepMs, &inserts, &upkeeps)
	if err != nil {
		return err
	}
	perM := func(ms uint64) float64 { return float64(ms) / 1000 / (float64(n) / 1e6) }
	fmt.Printf("write side: %d events in %d inserts of %d, rollups folded every %d inserts (%d statements)\n", n, inserts, batchSize, foldEvery, upkeeps)
	fmt.Printf("write side: ClickHouse CPU per million events: inserts %.2f s, rollup upkeep %.2f s; (inserts + upkeep) / inserts %.2f (target <= 1.5)\n",
		perM(insertMs), perM(upkeepMs), float64(insertMs+upkeepMs)/float64(max(insertMs, 1)))
	return nil
}

// traitRefresh prints the statements of an incremental trait refresh
// (TraitReader.ChangedActivity) that finds trickle new events.
func traitRefresh(ctx context.Context, conn driver.Conn, news *newsWriter, trickle int) error {
	// The rollup is back-filled by migrate; a fold first catches up with
	// what came since, so that the refresh measured folds only the news,
	// as a refresh every interval does.
	rolled := clickhouse.NewTraitReader(conn)
	rolled.Rollups = clickhouse.NewActivityRollups(conn)
	if err := rolled.Rollups.Fold(ctx); err != nil {
		return err
	}
	var since time.Time
	if err := conn.QueryRow(ctx, "SELECT now()").Scan(&since); err != nil {
		return err
	}
	time.Sleep(1100 * time.Millisecond)
	if err := news.write(ctx, trickle); err != nil {
		return err
	}
	today := int32(time.Now().Unix() / 86400)
	for _, r := range []struct {
		name   string
		reader *clickhouse.TraitReader
	}{{"trait refresh (unit_activity)", rolled}, {"trait refresh (raw events)", clickhouse.NewTraitReader(conn)}} {
		var units int
		err := statements(ctx, conn, r.name, func() error {
			acts, _, err := r.reader.ChangedActivity(ctx, since, today)
			units = len(acts)
			return err
		})
		if err != nil {
			return err
		}
		fmt.Printf("%s: %d new events, %d units read\n", r.name, trickle, units)
	}
	return nil
}

// newsWriter writes new events into the experiment: exposures of new
// units and opens and clicks of units already exposed.
type newsWriter struct {
	conn driver.Conn
	rng  *rand.Rand
	next int
	// keys are the experiments the news go to, in turn (benchKey if none).
	keys []string
	// run tells apart the new units of writers in separate processes.
	run uint32
}

// newNews is a writer of news unlike any other process's.
func newNews(conn driver.Conn) *newsWriter {
	now := uint64(time.Now().UnixNano())
	return &newsWriter{conn: conn, rng: rand.New(rand.NewPCG(7, now)), run: uint32(now)}
}

func (w *newsWriter) write(ctx context.Context, n int) error {
	if n == 0 {
		return nil
	}
	start := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -14)
	batch := make([]analytics.Event, 0, n+8)
	for len(batch) < n {
		w.next++
		unit := fmt.Sprintf("n%x-%08d", w.run, w.next)
		if w.rng.IntN(2) == 0 {
			unit = fmt.Sprintf("u%08d", w.rng.IntN(100000))
		}
		key := benchKey
		if len(w.keys) > 0 {
			key = w.keys[w.next%len(w.keys)]
		}
		batch = appendUnitEvents(batch, w.rng, key, unit, start, 1)
	}
	for i := range batch {
		batch[i].ID = fmt.Sprintf("%s:news%x-%d", batch[i].ID, w.run, w.next)
	}
	return clickhouse.NewEventSink(w.conn).Write(ctx, batch)
}

// printSize prints the experiment's events and exposed units, as a reader
// new to it counts them.
func printSize(ctx context.Context, conn driver.Conn) error {
	var total uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM events WHERE experiment = ?", benchKey).Scan(&total); err != nil {
		return err
	}
	agg, err := clickhouse.NewAggregateReader(conn).Aggregates(ctx, benchKey)
	if err != nil {
		return err
	}
	var exposed int64
	for _, a := range agg.Arms {
		exposed += a.Exposed
	}
	fmt.Printf("events: %d rows, %d exposed units\n", total, exposed)
	return nil
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
