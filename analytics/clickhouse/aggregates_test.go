package clickhouse_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/go-faster/city"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/analytics/clickhouse"
	"github.com/splitcast/splitcast/analytics/results"
	"github.com/splitcast/splitcast/experiment"
)

// aggSeedAs is aggSeed's events with suffix added to each id: more events
// of the same shape, none a copy of aggSeed's.
func aggSeedAs(seed uint64, suffix string) []analytics.Event {
	events := aggSeed(seed)
	for i := range events {
		events[i].ID += suffix
	}
	return events
}

// aggSeed returns a seeded event list for experiment "exp" with everything
// the aggregates must get right: copies of the same event (replays), units
// re-sent the same arm, units exposed in two arms (a later arm and a later
// segment), machine-flagged opens and clicks beside human ones, units whose
// opens are all machine, conversions with values (several per unit),
// fatigue events, events of never-exposed units, an open timed before its
// unit's exposure, and another experiment's events. Values are multiples of
// 0.25, so that sums are exact in any order.
func aggSeed(seed uint64) []analytics.Event {
	r := rand.New(rand.NewPCG(seed, 7))
	t0 := time.Date(2025, 5, 1, 8, 0, 0, 0, time.UTC)
	var out []analytics.Event
	n := 0
	add := func(e analytics.Event) analytics.Event {
		n++
		e.ID = fmt.Sprintf("ev-%05d", n)
		if e.Experiment == "" {
			e.Experiment = "exp"
		}
		out = append(out, e)
		return e
	}
	arms := map[string][]string{"s1": {"a", "b", "c", experiment.HoldoutArm}, "s2": {"a", "b"}}
	for u := 0; u < 400; u++ {
		unit := "u" + strconv.Itoa(u)
		seg := []string{"s1", "s2"}[u%2]
		v := arms[seg][r.IntN(len(arms[seg]))]
		at := t0.Add(time.Duration(r.IntN(4*24*3600)) * time.Second)
		ver := uint32(3 + r.IntN(3))
		exp := analytics.Event{Kind: analytics.KindExposure, Time: at, Version: ver, Segment: seg, Variant: v, Unit: unit}
		add(exp)
		if r.IntN(10) == 0 { // re-sent, same arm
			e := exp
			e.Time = at.Add(time.Hour)
			add(e)
		}
		if r.IntN(12) == 0 { // exposed in a second arm later
			e := exp
			e.Time = at.Add(30 * time.Hour)
			e.Variant = arms[seg][(aggIndex(arms[seg], v)+1)%len(arms[seg])]
			if r.IntN(3) == 0 {
				e.Segment, e.Variant = "s2", "b"
			}
			e.Version = 6
			add(e)
		}
		if u%50 == 7 { // the same second in two arms: see tieRank
			e := exp
			e.Variant = arms[seg][(aggIndex(arms[seg], v)+1)%len(arms[seg])]
			add(e)
		}
		if u == 9 { // a custom event counts nowhere
			e := exp
			e.Kind, e.Name = analytics.KindCustom, "viewed_pricing"
			add(e)
		}
		outcome := func(k analytics.Kind, p float64, machine bool, value float64) {
			if r.Float64() >= p {
				return
			}
			e := exp
			e.Kind, e.Machine, e.Value = k, machine, value
			e.Time = at.Add(time.Duration(r.IntN(3*24*3600)) * time.Second)
			if machine {
				e.MachineReason = "prefetch"
			}
			add(e)
		}
		for i := 0; i < 3; i++ {
			outcome(analytics.KindOpen, 0.3, false, 0)
			outcome(analytics.KindOpen, 0.15, true, 0)
			outcome(analytics.KindClick, 0.12, false, 0)
			outcome(analytics.KindClick, 0.05, true, 0)
			outcome(analytics.KindConversion, 0.08, false, float64(1+r.IntN(400))/4)
		}
		outcome(analytics.KindConversion, 0.02, true, 10)
		outcome(analytics.KindUnsubscribe, 0.03, false, 0)
		outcome(analytics.KindUnsubscribe, 0.01, true, 0)
		outcome(analytics.KindComplaint, 0.02, false, 0)
		outcome(analytics.KindComplaint, 0.01, true, 0)
		if u == 11 { // clock skew: an open stamped a day before the exposure
			e := exp
			e.Kind, e.Time = analytics.KindOpen, at.Add(-24*time.Hour)
			add(e)
		}
	}
	// Never exposed: their events count nowhere.
	add(analytics.Event{Kind: analytics.KindOpen, Time: t0, Segment: "s1", Variant: "a", Unit: "ghost"})
	add(analytics.Event{Kind: analytics.KindConversion, Time: t0, Segment: "s1", Variant: "b", Unit: "ghost", Value: 99})
	// Another experiment, same units.
	add(analytics.Event{Experiment: "other", Kind: analytics.KindExposure, Time: t0, Segment: "s1", Variant: "a", Unit: "u1"})
	add(analytics.Event{Experiment: "other", Kind: analytics.KindOpen, Time: t0, Segment: "s1", Variant: "a", Unit: "u1"})
	return out
}

func aggIndex(xs []string, x string) int {
	for i, y := range xs {
		if y == x {
			return i
		}
	}
	return -1
}

// aggReplays returns copies of about a fifth of events, as spool replays
// and retried conversions deliver them.
func aggReplays(events []analytics.Event, seed uint64) []analytics.Event {
	r := rand.New(rand.NewPCG(seed, 9))
	var out []analytics.Event
	for _, e := range events {
		if r.IntN(5) == 0 {
			out = append(out, e)
		}
	}
	return out
}

// aggWant computes the aggregates of experiment key from the raw events in
// plain Go, independently of the SQL: deduplicate by id, find each unit's
// first exposure, count.
func aggWant(events []analytics.Event, key string) results.Aggregates {
	seen := map[string]bool{}
	byUnit := map[string][]analytics.Event{}
	for _, e := range events {
		if e.Experiment != key || seen[e.ID] {
			continue
		}
		seen[e.ID] = true
		byUnit[e.Unit] = append(byUnit[e.Unit], e)
	}
	day := func(t time.Time) time.Time { return t.UTC().Truncate(24 * time.Hour) }
	type armKey struct{ seg, v string }
	type dayKey struct {
		a armKey
		d time.Time
	}
	arms := map[armKey]*results.Counts{}
	vers := map[armKey]map[uint32]int64{}
	days := map[dayKey]*results.DailyAggregate{}
	daily := func(a armKey, d time.Time) *results.DailyAggregate {
		k := dayKey{a, d}
		if days[k] == nil {
			days[k] = &results.DailyAggregate{Segment: a.seg, Variant: a.v, Day: d}
		}
		return days[k]
	}
	for _, evs := range byUnit {
		var first *analytics.Event
		armSet := map[armKey]bool{}
		for i := range evs {
			e := &evs[i]
			if e.Kind != analytics.KindExposure {
				continue
			}
			armSet[armKey{e.Segment, e.Variant}] = true
			if first == nil || e.Time.Before(first.Time) || (e.Time.Equal(first.Time) && tieRank(e.ID) < tieRank(first.ID)) {
				first = e
			}
		}
		if first == nil {
			continue
		}
		a := armKey{first.Segment, first.Variant}
		if arms[a] == nil {
			arms[a], vers[a] = &results.Counts{}, map[uint32]int64{}
		}
		c := arms[a]
		fday := day(first.Time)
		c.Exposed++
		vers[a][first.Version]++
		daily(a, fday).Exposed++
		if len(armSet) > 1 {
			c.MultiArm++
		}
		type perKind struct {
			human, machine int64
			firstHuman     time.Time
		}
		k := map[analytics.Kind]*perKind{}
		var value float64
		for _, e := range evs {
			if e.Kind == analytics.KindExposure {
				continue
			}
			if k[e.Kind] == nil {
				k[e.Kind] = &perKind{}
			}
			pk := k[e.Kind]
			if e.Machine {
				pk.machine++
				continue
			}
			pk.human++
			if d := day(e.Time); pk.firstHuman.IsZero() || d.Before(pk.firstHuman) {
				pk.firstHuman = d
			}
			if e.Kind == analytics.KindConversion {
				value += e.Value
				d := day(e.Time)
				if d.Before(fday) {
					d = fday
				}
				daily(a, d).Value += e.Value
			}
		}
		later := func(d time.Time) time.Time {
			if d.Before(fday) {
				return fday
			}
			return d
		}
		count := func(kind analytics.Kind, kc *results.KindCounts, dayField func(*results.DailyAggregate) *int64) {
			pk := k[kind]
			if pk == nil {
				return
			}
			kc.Events += pk.human
			kc.MachineEvents += pk.machine
			if pk.human > 0 {
				kc.Units++
				*dayField(daily(a, later(pk.firstHuman)))++
			} else if pk.machine > 0 {
				kc.MachineUnits++
			}
		}
		count(analytics.KindOpen, &c.Opens, func(d *results.DailyAggregate) *int64 { return &d.Openers })
		count(analytics.KindClick, &c.Clicks, func(d *results.DailyAggregate) *int64 { return &d.Clickers })
		count(analytics.KindConversion, &c.Conversions, func(d *results.DailyAggregate) *int64 { return &d.Converters })
		count(analytics.KindUnsubscribe, &c.Unsubscribes, func(d *results.DailyAggregate) *int64 { return &d.Unsubscribers })
		count(analytics.KindComplaint, &c.Complaints, func(d *results.DailyAggregate) *int64 { return &d.Complainers })
		if o, cl := k[analytics.KindOpen], k[analytics.KindClick]; o != nil && cl != nil && o.human > 0 && cl.human > 0 {
			c.OpenClickers++
			d := o.firstHuman
			if cl.firstHuman.After(d) {
				d = cl.firstHuman
			}
			daily(a, later(d)).OpenClickers++
		}
		c.Value += value
		c.ValueSumSq += value * value
	}
	out := results.Aggregates{Experiment: key}
	for a, c := range arms {
		out.Arms = append(out.Arms, results.ArmAggregate{Segment: a.seg, Variant: a.v, Counts: *c})
		for v, n := range vers[a] {
			out.Versions = append(out.Versions, results.VersionExposure{Segment: a.seg, Variant: a.v, Version: v, Exposed: n})
		}
	}
	for _, d := range days {
		out.Daily = append(out.Daily, *d)
	}
	out.Sort()
	return out
}

// tieRank breaks ties between exposures in the same second as the query
// does: by the low 32 bits of ClickHouse's cityHash64 of the event id.
func tieRank(id string) uint64 { return city.CH64([]byte(id)) & 0xffffffff }

func aggInsert(t testing.TB, conn driver.Conn, batches ...[]analytics.Event) {
	t.Helper()
	sink := clickhouse.NewEventSink(conn)
	for _, b := range batches {
		if err := sink.Write(context.Background(), b); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
}

func TestAggregates(t *testing.T) {
	ctx := context.Background()
	conn, _ := env.NewDatabase(t)
	events := aggSeed(1)
	// Copies in separate inserts, so separate parts: nothing merged yet.
	aggInsert(t, conn, events[:len(events)/2], aggReplays(events, 2), events[len(events)/2:], aggReplays(events, 3))

	got, err := clickhouse.NewAggregateReader(conn).Aggregates(ctx, "exp")
	if err != nil {
		t.Fatalf("Aggregates: %v", err)
	}
	want := aggWant(events, "exp")
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got.Arms, "", " ")
		w, _ := json.MarshalIndent(want.Arms, "", " ")
		t.Errorf("Aggregates(exp) differs from the Go computation\narms got:\n%s\narms want:\n%s", g, w)
		if !reflect.DeepEqual(got.Versions, want.Versions) {
			t.Errorf("Versions:\n got %+v\nwant %+v", got.Versions, want.Versions)
		}
		if !reflect.DeepEqual(got.Daily, want.Daily) {
			t.Errorf("Daily:\n got %+v\nwant %+v", got.Daily, want.Daily)
		}
	}
	// The seed must exercise what it claims to.
	var total results.Counts
	for _, a := range got.Arms {
		total.Add(a.Counts)
	}
	if total.MultiArm < 10 || total.Opens.MachineUnits == 0 || total.Opens.MachineEvents == 0 ||
		total.Conversions.Events <= total.Conversions.Units || total.Complaints.Units == 0 || total.OpenClickers == 0 {
		t.Errorf("seed too thin: %+v", total)
	}
	t.Logf("%d events (+ copies), %d units exposed, %d in two arms, %d arms, %d daily rows",
		len(events), total.Exposed, total.MultiArm, len(got.Arms), len(got.Daily))

	// Independent SQL for key figures, written differently: LIMIT 1 BY in
	// place of GROUP BY and argMin.
	t.Run("sql", func(t *testing.T) {
		type armCount struct {
			Segment string `ch:"segment"`
			Variant string `ch:"variant"`
			N       uint64 `ch:"n"`
		}
		var exposed []armCount
		if err := conn.Select(ctx, &exposed, `
			SELECT segment, variant, count() AS n FROM (
				SELECT unit, segment, variant FROM events
				WHERE experiment = 'exp' AND kind = 'exposure'
				ORDER BY unit, time, cityHash64(event_id) % 4294967296 LIMIT 1 BY unit)
			GROUP BY segment, variant ORDER BY segment, variant`); err != nil {
			t.Fatal(err)
		}
		if len(exposed) != len(got.Arms) {
			t.Fatalf("SQL finds %d arms, Aggregates %d", len(exposed), len(got.Arms))
		}
		for i, e := range exposed {
			if a := got.Arms[i]; a.Segment != e.Segment || a.Variant != e.Variant || a.Exposed != int64(e.N) {
				t.Errorf("exposed %s/%s = %d by SQL, Aggregates says %s/%s = %d", e.Segment, e.Variant, e.N, a.Segment, a.Variant, a.Exposed)
			}
		}
		scalar := func(q string) float64 {
			t.Helper()
			var x float64
			if err := conn.QueryRow(ctx, q).Scan(&x); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			return x
		}
		exposedUnits := "unit IN (SELECT unit FROM events WHERE experiment = 'exp' AND kind = 'exposure')"
		if x := scalar(`SELECT toFloat64(uniqExact(unit)) FROM events WHERE experiment = 'exp' AND kind = 'open' AND machine = 0 AND ` + exposedUnits); x != float64(total.Opens.Units) {
			t.Errorf("human openers: SQL %v, Aggregates %d", x, total.Opens.Units)
		}
		if x := scalar(`SELECT toFloat64(uniqExact(event_id)) FROM events WHERE experiment = 'exp' AND kind = 'click' AND machine != 0 AND ` + exposedUnits); x != float64(total.Clicks.MachineEvents) {
			t.Errorf("machine clicks: SQL %v, Aggregates %d", x, total.Clicks.MachineEvents)
		}
		if x := scalar(`SELECT sum(value) FROM (
				SELECT event_id, value FROM events
				WHERE experiment = 'exp' AND kind = 'conversion' AND machine = 0 AND ` + exposedUnits + `
				ORDER BY event_id LIMIT 1 BY event_id)`); x != total.Value {
			t.Errorf("human conversion value: SQL %v, Aggregates %v", x, total.Value)
		}
		if x := scalar(`SELECT sum(v * v) FROM (
				SELECT unit, sum(value) AS v FROM (
					SELECT event_id, unit, value FROM events
					WHERE experiment = 'exp' AND kind = 'conversion' AND machine = 0 AND ` + exposedUnits + `
					ORDER BY event_id LIMIT 1 BY event_id)
				GROUP BY unit)`); x != total.ValueSumSq {
			t.Errorf("sum of squared unit values: SQL %v, Aggregates %v", x, total.ValueSumSq)
		}
		if x := scalar(`SELECT toFloat64(count()) FROM (
				SELECT unit FROM events WHERE experiment = 'exp' AND kind = 'exposure'
				GROUP BY unit HAVING uniqExact(segment, variant) > 1)`); x != float64(total.MultiArm) {
			t.Errorf("units in two arms: SQL %v, Aggregates %d", x, total.MultiArm)
		}
	})

	t.Run("passes", func(t *testing.T) {
		// Read in about 7 passes over hash buckets of units: the same.
		r := clickhouse.NewAggregateReader(conn)
		r.RowsPerPass = 300
		again, err := r.Aggregates(ctx, "exp")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(again, want) {
			t.Errorf("Aggregates in passes of 300 rows differ from the Go computation")
		}
	})

	t.Run("merged", func(t *testing.T) {
		// After the table folds copies, nothing changes.
		if err := conn.Exec(ctx, "OPTIMIZE TABLE events FINAL"); err != nil {
			t.Fatal(err)
		}
		again, err := clickhouse.NewAggregateReader(conn).Aggregates(ctx, "exp")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(again, got) {
			t.Errorf("Aggregates changed after OPTIMIZE FINAL")
		}
	})

	t.Run("empty", func(t *testing.T) {
		a, err := clickhouse.NewAggregateReader(conn).Aggregates(ctx, "nothing")
		if err != nil || a.Experiment != "nothing" || len(a.Arms)+len(a.Daily)+len(a.Versions) != 0 {
			t.Errorf("Aggregates(nothing) = %+v, %v; want empty, nil", a, err)
		}
	})
}

func TestAggregatesUnavailable(t *testing.T) {
	_, err := clickhouse.NewAggregateReader(deadConn(t)).Aggregates(context.Background(), "exp")
	if code := experiment.ErrorCode(err); code != experiment.EUNAVAILABLE {
		t.Errorf("Aggregates on a dead server: code %q (%v), want %q", code, err, experiment.EUNAVAILABLE)
	}
}

// BenchmarkAggregates times the aggregate query on SPLITCAST_BENCH_EVENTS
// events (default 200,000), generated once by the server: one experiment,
// 3 segments × 3 variants, about 10 events per unit (exposures, human and
// machine opens, clicks, conversions with values, fatigue events), and a
// tenth of them copied as replays.
//
//	SPLITCAST_BENCH_EVENTS=10000000 go test -run '^$' -bench Aggregates -benchtime 3x ./analytics/clickhouse
func BenchmarkAggregates(b *testing.B) {
	n := 200_000
	if s := os.Getenv("SPLITCAST_BENCH_EVENTS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			b.Fatalf("SPLITCAST_BENCH_EVENTS=%q: want a positive number", s)
		}
		n = v
	}
	ctx := context.Background()
	conn, _ := env.NewDatabase(b)
	start := time.Now()
	aggBenchSeed(b, conn, n)
	b.Logf("seeded %d events (+%d copies) in %v", n, n/10, time.Since(start).Round(time.Millisecond))
	r := clickhouse.NewAggregateReader(conn)
	var units int64
	b.ResetTimer()
	for b.Loop() {
		a, err := r.Aggregates(ctx, "bench")
		if err != nil {
			b.Fatal(err)
		}
		units = 0
		for _, x := range a.Arms {
			units += x.Exposed
		}
	}
	b.ReportMetric(float64(n)/(b.Elapsed().Seconds()/float64(b.N)), "events/s")
	b.ReportMetric(float64(units), "units")
}

// aggBenchSeed has the server generate n events, and a tenth of them again
// as copies, with INSERT ... SELECT from system.numbers: 10M rows from Go
// would take longer than the query being measured.
func aggBenchSeed(b *testing.B, conn driver.Conn, n int) {
	b.Helper()
	// Event number i belongs to unit i/10; its kind by i%10: 0 exposure,
	// 1-3 open (3 machine), 4-5 click, 6-7 conversion, 8 unsubscribe,
	// 9 complaint. Outcomes happen with unit-dependent odds.
	gen := `
		SELECT concat('e', toString(number)) AS event_id,
			['exposure','open','open','open','click','click','conversion','conversion','unsubscribe','complaint'][number % 10 + 1] AS kind,
			toDateTime(1746086400 + intDiv(number, 10) % 864000 + (number % 10) * 3600) AS time,
			'bench' AS experiment, toUInt32(3 + intDiv(number, 10) % 3) AS version,
			concat('s', toString(cityHash64(intDiv(number, 10)) % 3)) AS segment,
			concat('v', toString(cityHash64(intDiv(number, 10), 1) % 3)) AS variant,
			concat('user-', toString(intDiv(number, 10))) AS unit,
			toFloat64((number % 10 IN (6, 7)) * (number % 97)) AS value,
			toUInt8(number % 10 = 3) AS machine
		FROM system.numbers
		WHERE number % 10 = 0 OR cityHash64(number) % 100 < [0, 40, 20, 30, 10, 5, 5, 2, 1, 1][number % 10 + 1]`
	ins := "INSERT INTO events (event_id, kind, time, experiment, version, segment, variant, unit, value, machine) "
	if err := conn.Exec(context.Background(), ins+"SELECT * FROM ("+gen+") LIMIT "+strconv.Itoa(n)); err != nil {
		b.Fatalf("seed: %v", err)
	}
	cols := "event_id, kind, time, experiment, version, segment, variant, unit, value, machine"
	if err := conn.Exec(context.Background(), ins+"SELECT "+cols+" FROM events WHERE cityHash64(event_id) % 10 = 0"); err != nil {
		b.Fatalf("seed copies: %v", err)
	}
}
