package clickhouse_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/analytics/clickhouse"
	"github.com/splitcast/splitcast/analytics/traits"
)

// traitToday is the day the trait fixtures are computed for: fixed, so that
// the hand computations below never move with the calendar.
var traitToday = analytics.Day(time.Date(2025, 3, 20, 12, 0, 0, 0, time.UTC))

// history writes a unit's events, each at hour h of the day `ago` days
// before traitToday. Sends tie opens and clicks to an exposure's channel.
type history struct {
	t      *testing.T
	events []analytics.Event
	n      int
}

func (h *history) at(ago int, hour int) time.Time {
	return analytics.DayTime(traitToday - int32(ago)).Add(time.Duration(hour) * time.Hour)
}

func (h *history) add(unit string, kind analytics.Kind, ago int, send, channel string, machine bool) string {
	h.n++
	id := fmt.Sprintf("%s-%s-%d", unit, kind, h.n)
	e := analytics.Event{ID: id, Kind: kind, Time: h.at(ago, 9+h.n%10), Experiment: "x", Segment: "s", Variant: "a",
		Unit: unit, SendID: send, Machine: machine}
	if kind == analytics.KindExposure {
		e.Channel = channel
	}
	if machine {
		e.MachineReason = "test"
	}
	h.events = append(h.events, e)
	return id
}

// send logs an exposure of send id on channel, ago days back.
func (h *history) send(unit string, ago int, send, channel string) {
	h.add(unit, analytics.KindExposure, ago, send, channel, false)
}

func (h *history) human(unit string, kind analytics.Kind, ago int, send string) string {
	return h.add(unit, kind, ago, send, "", false)
}

func (h *history) machine(unit string, kind analytics.Kind, ago int, send string) {
	h.add(unit, kind, ago, send, "", true)
}

// replay writes a copy of an already written event, as a spool replay does.
func (h *history) replay(id string) {
	for _, e := range h.events {
		if e.ID == id {
			h.events = append(h.events, e)
			return
		}
	}
	h.t.Fatalf("replay: no event %s", id)
}

// traitFixture is a known history of several units, and each unit's traits
// on traitToday worked out by hand from the rules in analytics/traits.go.
func traitFixture(t *testing.T) (*history, map[string]traits.Traits) {
	h := &history{t: t}
	want := map[string]traits.Traits{}

	// active: first seen 60 days ago; opens 1 day ago (two, one replayed),
	// 10 days ago (on push) and 40 days ago; a click 1 day ago; a
	// conversion 3 days ago. Machine opens and a burst of scanner clicks on
	// push are excluded, else push would be the preferred channel.
	h.send("active", 60, "a-60", "email")
	h.send("active", 40, "a-40", "email")
	h.send("active", 11, "a-11", "push")
	h.send("active", 2, "a-2", "email")
	h.human("active", analytics.KindOpen, 40, "a-40")
	h.human("active", analytics.KindOpen, 10, "a-11")
	h.human("active", analytics.KindConversion, 3, "a-40")
	h.human("active", analytics.KindOpen, 1, "a-2")
	h.replay(h.human("active", analytics.KindOpen, 1, "a-2"))
	h.replay(h.human("active", analytics.KindClick, 1, "a-2"))
	h.machine("active", analytics.KindOpen, 0, "a-2")
	for range 10 {
		h.machine("active", analytics.KindClick, 0, "a-11")
	}
	// opens 2/3/4, clicks 1/1/1, conversions 1/1/1; score 3+3+5 = 11: high.
	// Last engagement 1 day ago, the one before the last 7 days 10 days ago:
	// a gap of 7 (3-day conversion to 10-day open), so active, not re-engaged.
	// Email: 4 engagements (opens 40 and 1 ×2, click, conversion: 5), push 1.
	want["active"] = traits.Traits{Known: true, Opens7d: 2, Opens30d: 3, Opens90d: 4, Clicks7d: 1, Clicks30d: 1, Clicks90d: 1,
		Conversions7d: 1, Conversions30d: 1, Conversions90d: 1, DaysSinceOpen: 1, DaysSinceClick: 1,
		EngagementScore: 11, EngagementLevel: "high", LifecycleStage: "active", PreferredChannel: "email"}

	// at risk: one open 20 days ago, of a push.
	h.send("atrisk", 50, "r-50", "email")
	h.send("atrisk", 21, "r-21", "push")
	h.human("atrisk", analytics.KindOpen, 20, "r-21")
	want["atrisk"] = traits.Traits{Known: true, Opens30d: 1, Opens90d: 1, DaysSinceOpen: 20, DaysSinceClick: -1,
		EngagementScore: 1, EngagementLevel: "low", LifecycleStage: "at_risk", PreferredChannel: "push"}

	// dormant: an sms open 45 days ago; since then only exposures and an
	// Apple Mail Privacy Protection prefetch, which is not a human open.
	h.send("dormant", 80, "d-80", "sms")
	h.human("dormant", analytics.KindOpen, 45, "d-80")
	h.send("dormant", 5, "d-5", "email")
	h.machine("dormant", analytics.KindOpen, 5, "d-5")
	want["dormant"] = traits.Traits{Known: true, Opens90d: 1, DaysSinceOpen: 45, DaysSinceClick: -1,
		EngagementLevel: "none", LifecycleStage: "dormant", PreferredChannel: "sms"}

	// re-engaged: an open 70 days ago, then nothing until 2 days ago.
	h.send("back", 85, "b-85", "email")
	h.human("back", analytics.KindOpen, 70, "b-85")
	h.send("back", 3, "b-3", "email")
	h.human("back", analytics.KindOpen, 2, "b-3")
	want["back"] = traits.Traits{Known: true, Opens7d: 1, Opens30d: 1, Opens90d: 2, DaysSinceOpen: 2, DaysSinceClick: -1,
		EngagementScore: 1, EngagementLevel: "low", LifecycleStage: "re_engaged", PreferredChannel: "email"}

	// new: one exposure 2 days ago, nothing else.
	h.send("fresh", 2, "f-2", "push")
	want["fresh"] = traits.Traits{Known: true, DaysSinceOpen: -1, DaysSinceClick: -1,
		EngagementLevel: "none", LifecycleStage: "new"}

	// onboarding: first seen 10 days ago, a click 9 days ago, and a
	// conversion without a token (no send id, so no channel).
	h.send("onboard", 10, "o-10", "email")
	h.human("onboard", analytics.KindClick, 9, "o-10")
	h.human("onboard", analytics.KindConversion, 4, "")
	want["onboard"] = traits.Traits{Known: true, Clicks30d: 1, Clicks90d: 1, Conversions7d: 1, Conversions30d: 1,
		Conversions90d: 1, DaysSinceOpen: -1, DaysSinceClick: 9,
		EngagementScore: 8, EngagementLevel: "medium", LifecycleStage: "onboarding", PreferredChannel: "email"}

	// old: seen 120 days ago only: known, outside every window, dormant.
	h.send("old", 120, "old-120", "email")
	h.human("old", analytics.KindOpen, 120, "old-120")
	want["old"] = traits.Traits{Known: true, DaysSinceOpen: -1, DaysSinceClick: -1,
		EngagementLevel: "none", LifecycleStage: "dormant"}

	want["nobody"] = traits.DefaultTraits()
	return h, want
}

func TestTraitReaderComputesTraits(t *testing.T) {
	t.Run("raw", func(t *testing.T) { testTraitReaderComputesTraits(t, false) })
	t.Run("unit_activity", func(t *testing.T) { testTraitReaderComputesTraits(t, true) })
}

func testTraitReaderComputesTraits(t *testing.T, rolled bool) {
	ctx := context.Background()
	conn, _ := env.NewDatabase(t)
	h, want := traitFixture(t)
	if err := clickhouse.NewEventSink(conn).Write(ctx, h.events); err != nil {
		t.Fatalf("Write: %v", err)
	}
	r := newTraitReader(conn, rolled)
	units := make([]string, 0, len(want))
	for u := range want {
		units = append(units, u)
	}
	acts, err := r.Activity(ctx, units, traitToday)
	if err != nil {
		t.Fatalf("Activity: %v", err)
	}
	got := map[string]traits.Traits{}
	for i := range acts {
		got[acts[i].Unit] = traits.ComputeTraits(&acts[i], traitToday)
	}
	for u, w := range want {
		g, ok := got[u]
		if !ok {
			g = traits.DefaultTraits() // no history: what the cache serves
		}
		if g != w {
			t.Errorf("traits of %s:\n got %+v\nwant %+v", u, g, w)
		}
	}
	if _, ok := got["nobody"]; ok {
		t.Errorf("Activity returned a unit without events")
	}

	changed, _, err := r.ChangedUnits(ctx, time.Time{}, traitToday-(traits.WindowDays-1))
	if err != nil {
		t.Fatalf("ChangedUnits: %v", err)
	}
	in := map[string]bool{}
	for _, u := range changed {
		in[u] = true
	}
	// "old" has no event in the window: it is not read, and gets defaults.
	for _, u := range []string{"active", "atrisk", "dormant", "back", "fresh", "onboard"} {
		if !in[u] {
			t.Errorf("ChangedUnits(zero) lacks %s: %v", u, changed)
		}
	}
	if in["old"] || len(changed) != 6 {
		t.Errorf("ChangedUnits(zero) = %v, want the 6 units with events in the window", changed)
	}

	// ChangedActivity selects the same units inside its queries, and reads
	// the same activity.
	acts, _, err = r.ChangedActivity(ctx, time.Time{}, traitToday)
	if err != nil {
		t.Fatalf("ChangedActivity: %v", err)
	}
	if len(acts) != 6 {
		t.Errorf("ChangedActivity(zero) read %d units, want 6", len(acts))
	}
	for i := range acts {
		if g, w := traits.ComputeTraits(&acts[i], traitToday), want[acts[i].Unit]; g != w {
			t.Errorf("ChangedActivity: traits of %s:\n got %+v\nwant %+v", acts[i].Unit, g, w)
		}
	}
}

// TestTraitCacheIncremental feeds the cache from the real reader, then adds
// an open: the next refresh reads only that unit and moves it from dormant to
// re-engaged.
func TestTraitCacheIncremental(t *testing.T) {
	t.Run("raw", func(t *testing.T) { testTraitCacheIncremental(t, false) })
	t.Run("unit_activity", func(t *testing.T) { testTraitCacheIncremental(t, true) })
}

func testTraitCacheIncremental(t *testing.T, rolled bool) {
	ctx := context.Background()
	conn, sink, want := storedFixture(t)
	reader := &countingReader{TraitReader: newTraitReader(conn, rolled)}
	now := analytics.DayTime(traitToday).Add(15 * time.Hour)
	cache := traits.NewCache(traits.CacheConfig{Reader: reader, Now: func() time.Time { return now }})
	if err := cache.Refresh(ctx); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	for _, u := range []string{"active", "atrisk", "dormant", "back", "fresh", "onboard", "nobody"} {
		if got := cache.Traits(u).Traits; got != want[u] {
			t.Errorf("cache.Traits(%s) = %+v, want %+v", u, got, want[u])
		}
	}
	if got := cache.Traits("old").Traits; got != traits.DefaultTraits() {
		t.Errorf("cache.Traits(old) = %+v, want defaults (no event in the window)", got)
	}

	// The dormant unit opens today.
	h2 := &history{t: t, n: 1000}
	h2.human("dormant", analytics.KindOpen, 0, "d-5")
	if err := sink.Write(ctx, h2.events); err != nil {
		t.Fatalf("Write: %v", err)
	}
	reader.read = nil
	if err := cache.Refresh(ctx); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	// The incremental read looks back a margin (DefaultTraitMargin), so units written in
	// the first batch come again; every unit read must have had events
	// stored within that margin, and the dormant one must be among them.
	if !contains(reader.read, "dormant") {
		t.Errorf("second refresh read %v, want dormant among them", reader.read)
	}
	got := cache.Traits("dormant")
	if got.LifecycleStage != "re_engaged" || got.Opens7d != 1 || got.DaysSinceOpen != 0 {
		t.Errorf("after a new open, dormant = %+v, want re_engaged with opens_7d 1, days_since_open 0", got.Traits)
	}
	if v, ok := got.Lookup("trait.lifecycle_stage"); !ok || v != "re_engaged" {
		t.Errorf(`Lookup("trait.lifecycle_stage") = %v, %v, want re_engaged`, v, ok)
	}

	// A new day moves every window without reading anything: 31 days on,
	// the open is 31 days old and the unit is dormant again.
	now = now.Add(31 * 24 * time.Hour)
	reader.read = nil
	reader.TraitReader.Margin = 0
	if err := cache.Refresh(ctx); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if got := cache.Traits("dormant"); got.LifecycleStage != "dormant" || got.DaysSinceOpen != 31 {
		t.Errorf("31 days later, dormant = %+v, want dormant, 31 days since open", got.Traits)
	}
}

// storedFixture stores traitFixture's history in a new database.
func storedFixture(t *testing.T) (driver.Conn, *clickhouse.EventSink, map[string]traits.Traits) {
	conn, _ := env.NewDatabase(t)
	h, want := traitFixture(t)
	sink := clickhouse.NewEventSink(conn)
	if err := sink.Write(context.Background(), h.events); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return conn, sink, want
}

// countingReader records the units each refresh reads whole, those it
// only saw (new exposures only), and those the cache asked for by name.
type countingReader struct {
	*clickhouse.TraitReader
	read, seen, whole []string
}

func (c *countingReader) ChangedActivity(ctx context.Context, since time.Time, today int32) ([]traits.UnitActivity, time.Time, error) {
	acts, next, err := c.TraitReader.ChangedActivity(ctx, since, today)
	for _, a := range acts {
		if a.Seen {
			c.seen = append(c.seen, a.Unit)
		} else {
			c.read = append(c.read, a.Unit)
		}
	}
	return acts, next, err
}

func (c *countingReader) Activity(ctx context.Context, units []string, today int32) ([]traits.UnitActivity, error) {
	c.whole = append(c.whole, units...)
	return c.TraitReader.Activity(ctx, units, today)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestTraitCacheSeenAgain: units whose new events are only exposures are
// read by one cheap query (first and last day seen) instead of their whole
// activity. A held unit keeps its counts and only moves its last day seen;
// a unit new to the window gets its first day from the whole horizon; one
// the cache dropped over MaxUnits is read whole, since it may have history.
func TestTraitCacheSeenAgain(t *testing.T) {
	t.Run("raw", func(t *testing.T) { testTraitCacheSeenAgain(t, false) })
	t.Run("unit_activity", func(t *testing.T) { testTraitCacheSeenAgain(t, true) })
}

func testTraitCacheSeenAgain(t *testing.T, rolled bool) {
	ctx := context.Background()
	conn, sink, want := storedFixture(t)
	// Marks have a second's resolution: the first refreshes' marks must be
	// after the fixture was stored, so that the next ones read only what
	// is stored below.
	time.Sleep(1100 * time.Millisecond)
	now := analytics.DayTime(traitToday).Add(15 * time.Hour)
	newCache := func(maxUnits int) (*traits.Cache, *countingReader) {
		r := &countingReader{TraitReader: newTraitReader(conn, rolled)}
		r.TraitReader.Margin = 0
		c := traits.NewCache(traits.CacheConfig{Reader: r, MaxUnits: maxUnits, Now: func() time.Time { return now }})
		if err := c.Refresh(ctx); err != nil {
			t.Fatalf("Refresh: %v", err)
		}
		return c, r
	}
	cache, reader := newCache(0)
	small, smallReader := newCache(5) // drops atrisk, the least recently seen
	if small.Held("atrisk") || !small.Held("active") {
		t.Fatalf("the small cache holds atrisk %v, active %v; want the least recently seen dropped", small.Held("atrisk"), small.Held("active"))
	}

	h2 := &history{t: t, n: 2000}
	for _, u := range []string{"active", "newbie", "old", "atrisk"} {
		h2.send(u, 0, u+"-today", "email")
	}
	if err := sink.Write(ctx, h2.events); err != nil {
		t.Fatalf("Write: %v", err)
	}
	reader.read, reader.seen = nil, nil
	if err := cache.Refresh(ctx); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if len(reader.read) != 0 || len(reader.seen) != 4 {
		t.Errorf("refresh read %v whole and saw %v, want only the 4 exposed units seen", reader.read, reader.seen)
	}
	check := func(c *traits.Cache, unit string, want traits.Traits) {
		t.Helper()
		got := c.Traits(unit)
		if got.Traits != want || got.LastSeen != traitToday {
			t.Errorf("%s = %+v, last seen %d; want %+v, last seen %d (today)", unit, got.Traits, got.LastSeen, want, traitToday)
		}
	}
	check(cache, "active", want["active"])
	check(cache, "atrisk", want["atrisk"])
	check(cache, "newbie", traits.Traits{Known: true, DaysSinceOpen: -1, DaysSinceClick: -1, EngagementLevel: "none", LifecycleStage: "new"})
	// First seen 120 days ago, nothing since but today's exposure: dormant.
	check(cache, "old", want["old"])

	smallReader.read, smallReader.seen = nil, nil
	if err := small.Refresh(ctx); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if !contains(smallReader.whole, "atrisk") {
		t.Errorf("the small cache read %v whole after seeing %v; want atrisk, which it dropped", smallReader.whole, smallReader.seen)
	}
	check(small, "atrisk", want["atrisk"])

	// An open makes the new unit's counts change: it is read whole.
	h3 := &history{t: t, n: 3000}
	h3.human("newbie", analytics.KindOpen, 0, "newbie-today")
	if err := sink.Write(ctx, h3.events); err != nil {
		t.Fatalf("Write: %v", err)
	}
	reader.read, reader.seen = nil, nil
	if err := cache.Refresh(ctx); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if !contains(reader.read, "newbie") || contains(reader.seen, "newbie") {
		t.Errorf("after an open, refresh read %v whole and saw %v; want newbie read whole", reader.read, reader.seen)
	}
	check(cache, "newbie", traits.Traits{Known: true, Opens7d: 1, Opens30d: 1, Opens90d: 1, DaysSinceOpen: 0, DaysSinceClick: -1,
		EngagementScore: 1, EngagementLevel: "low", LifecycleStage: "onboarding", PreferredChannel: "email"})
}

// TestTraitReaderMarkBeforeRunningInsert: a mark taken while an insert into
// events is running is before that insert started, however long ago that
// was, so that its rows, stamped when ClickHouse takes them but visible
// only when their part is written, are read by the next call. A mark only
// Margin before the server's time would be after it: the insert below has
// been running for over two seconds when the mark is taken.
func TestTraitReaderMarkBeforeRunningInsert(t *testing.T) {
	ctx := context.Background()
	conn, _ := env.NewDatabase(t)
	r := clickhouse.NewTraitReader(conn)
	today := analytics.Day(time.Now())
	_, mark0, err := r.ChangedActivity(ctx, time.Time{}, today)
	if err != nil {
		t.Fatal(err)
	}
	var started time.Time
	if err := conn.QueryRow(ctx, "SELECT now()").Scan(&started); err != nil {
		t.Fatal(err)
	}
	inserted := make(chan error, 1)
	go func() {
		// sleep() runs once per block, for at most 3 s a call: about 6 s.
		inserted <- conn.Exec(ctx, `INSERT INTO events (event_id, kind, time, unit)
			SELECT toString(number), 'exposure', now(), concat('slow-', toString(number))
			FROM system.numbers WHERE sleep(3) = 0 AND sleep(3) = 0 LIMIT 10`)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var running float64
		if err := conn.QueryRow(ctx, "SELECT toFloat64(max(elapsed)) FROM system.processes WHERE startsWith(query, 'INSERT INTO events')").Scan(&running); err != nil {
			t.Fatal(err)
		}
		if running >= 2.2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the slow insert has run %.1f s after 5 s", running)
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, mark1, err := r.ChangedActivity(ctx, mark0, today)
	if err != nil {
		t.Fatal(err)
	}
	if !mark1.Before(started) {
		t.Errorf("a mark taken during an insert that started at %v is %v, not before it", started, mark1)
	}
	if err := <-inserted; err != nil {
		t.Fatal(err)
	}
	acts, _, err := r.ChangedActivity(ctx, mark1, today)
	if err != nil {
		t.Fatal(err)
	}
	slow := 0
	for _, a := range acts {
		if strings.HasPrefix(a.Unit, "slow-") {
			slow++
		}
	}
	if slow != 10 {
		t.Errorf("the next read after the insert found %d of its 10 units", slow)
	}
}

// newTraitReader is the trait reader of the raw events, or with rolled of
// unit_activity: every trait test runs on both, the differential test of
// the rollup.
func newTraitReader(conn driver.Conn, rolled bool) *clickhouse.TraitReader {
	r := clickhouse.NewTraitReader(conn)
	if rolled {
		r.Rollups = clickhouse.NewActivityRollups(conn)
		r.Rollups.Margin = 0
		// And a first read of a few units at a time.
		r.RowsPerPass = 5
	}
	return r
}

// TestActivityRollupEqualsRaw is the differential test of unit_activity:
// random streams (units with several sends and channels, machine events,
// custom and fatigue events, events before the window and the horizon,
// opens before their exposure arrives, copies replayed later) arrive in
// random batches, and after each one the activity of every unit read from
// the rollup equals the raw events', whole and incrementally.
func TestActivityRollupEqualsRaw(t *testing.T) {
	ctx := context.Background()
	for _, seed := range []uint64{21, 22} {
		conn, _ := env.NewDatabase(t)
		rng := rand.New(rand.NewPCG(seed, 5))
		kinds := []analytics.Kind{analytics.KindExposure, analytics.KindOpen, analytics.KindClick, analytics.KindConversion,
			analytics.KindUnsubscribe, analytics.KindCustom}
		var stream []analytics.Event
		units := make([]string, 25)
		for i := range units {
			units[i] = fmt.Sprintf("u%d", i)
		}
		for i := range 900 {
			k := kinds[rng.IntN(len(kinds))]
			e := analytics.Event{ID: fmt.Sprintf("e%d", i), Kind: k, Experiment: "exp", Unit: units[rng.IntN(len(units))],
				Time:    analytics.DayTime(traitToday - int32(rng.IntN(130))).Add(time.Duration(rng.IntN(86400)) * time.Second),
				SendID:  fmt.Sprintf("s%d", rng.IntN(4)),
				Machine: rng.IntN(5) == 0}
			if k == analytics.KindExposure {
				// A send is on one channel (both readers take any
				// exposure's channel for a send).
				e.Channel = []string{"email", "push", "sms"}[(len(e.Unit)+int(e.SendID[1]))%3]
				if rng.IntN(6) == 0 {
					e.SendID = ""
				}
			}
			stream = append(stream, e)
		}
		for i := range 150 {
			stream = append(stream, stream[rng.IntN(i+1)])
		}
		rng.Shuffle(len(stream), func(i, j int) { stream[i], stream[j] = stream[j], stream[i] })

		raw, rolled := newTraitReader(conn, false), newTraitReader(conn, true)
		raw.Margin, rolled.Margin = 0, 0
		var since time.Time
		for len(stream) > 0 {
			n := min(len(stream), 1+rng.IntN(200))
			aggInsert(t, conn, stream[:n])
			stream = stream[n:]
			want, err := raw.Activity(ctx, units, traitToday)
			if err != nil {
				t.Fatal(err)
			}
			got, err := rolled.Activity(ctx, units, traitToday)
			if err != nil {
				t.Fatal(err)
			}
			sameActivity(t, "Activity", got, want)
			wantC, markW, err := raw.ChangedActivity(ctx, since, traitToday)
			if err != nil {
				t.Fatal(err)
			}
			gotC, _, err := rolled.ChangedActivity(ctx, since, traitToday)
			if err != nil {
				t.Fatal(err)
			}
			sameActivity(t, "ChangedActivity", gotC, wantC)
			since = markW
		}
	}
}

// sameActivity compares two readers' activity, in unit order.
func sameActivity(t *testing.T, what string, got, want []traits.UnitActivity) {
	t.Helper()
	for _, l := range [][]traits.UnitActivity{got, want} {
		sort.Slice(l, func(i, j int) bool { return l[i].Unit < l[j].Unit || l[i].Unit == l[j].Unit && !l[i].Seen && l[j].Seen })
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s from unit_activity differs from the raw events':\n got %+v\nwant %+v", what, got, want)
	}
}

// TestOverMemoryLimitRecognizesRefusal: ClickHouse's refusal of a query
// over its memory limit, as a read returns it, is what a first trait read
// splits a bucket on; another error is not.
func TestOverMemoryLimitRecognizesRefusal(t *testing.T) {
	conn, _ := env.NewDatabase(t)
	ctx := ch.Context(context.Background(), ch.WithSettings(ch.Settings{"max_memory_usage": 1 << 20}))
	var n uint64
	err := conn.QueryRow(ctx, "SELECT count() FROM (SELECT DISTINCT number FROM system.numbers LIMIT 10000000)").Scan(&n)
	if err == nil || !clickhouse.OverMemoryLimit(fmt.Errorf("activity: %w", err)) {
		t.Fatalf("a query over a 1 MiB limit = %d, %v; want a memory refusal overMemoryLimit accepts", n, err)
	}
	err = conn.QueryRow(context.Background(), "SELECT no_such_column FROM system.one").Scan(&n)
	if err == nil || clickhouse.OverMemoryLimit(err) {
		t.Errorf("an unknown column = %v; want an error overMemoryLimit refuses", err)
	}
}
