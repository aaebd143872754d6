package clickhouse_test

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/analytics/clickhouse"
	"github.com/splitcast/splitcast/analytics/traits"
)

// arraysQuery is how ChangedUserEvents read user events before it read
// the properties as one String: the arrays themselves, each id's first copy
// picked by a LIMIT BY on a sort by id. TestUserEventsAsArrays holds the
// new read to it.
const arraysQuery = `SELECT unit, toInt64(toUInt32(time)) AS t, name, s_keys, s_vals, n_keys, n_vals, b_keys, b_vals, l_keys, l_vals
FROM (
	SELECT event_id, unit, time, name, s_keys, s_vals, n_keys, n_vals, b_keys, b_vals, l_keys, l_vals
	FROM user_events
	WHERE toInt32(intDiv(toUInt32(time), 86400)) >= ?
	ORDER BY event_id, received_at
	LIMIT 1 BY event_id
)
ORDER BY unit, t, event_id`

// readAsArrays reads user events on or after day from with arraysQuery,
// building the properties from the arrays as the old reader did.
func readAsArrays(t *testing.T, conn driver.Conn, from int32) []traits.UnitEvents {
	t.Helper()
	rows, err := conn.Query(context.Background(), arraysQuery, from)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []traits.UnitEvents
	for rows.Next() {
		var (
			unit, name             string
			at                     int64
			sk, sv, nk, bk, lk, lv []string
			nv                     []float64
			bv                     []uint8
		)
		if err := rows.Scan(&unit, &at, &name, &sk, &sv, &nk, &nv, &bk, &bv, &lk, &lv); err != nil {
			t.Fatal(err)
		}
		var props []analytics.Prop
		for i := range min(len(sk), len(sv)) {
			props = append(props, analytics.Prop{Key: sk[i], Type: analytics.PropString, Str: sv[i]})
		}
		for i := range min(len(nk), len(nv)) {
			props = append(props, analytics.Prop{Key: nk[i], Type: analytics.PropNumber, Num: nv[i]})
		}
		for i := range min(len(bk), len(bv)) {
			props = append(props, analytics.Prop{Key: bk[i], Type: analytics.PropBool, Bool: bv[i] != 0})
		}
		for i := range min(len(lk), len(lv)) {
			if n := len(props); n > 0 && props[n-1].Type == analytics.PropList && props[n-1].Key == lk[i] {
				props[n-1].List = append(props[n-1].List, lv[i])
				continue
			}
			props = append(props, analytics.Prop{Key: lk[i], Type: analytics.PropList, List: []string{lv[i]}})
		}
		if len(out) == 0 || out[len(out)-1].Unit != unit {
			out = append(out, traits.UnitEvents{Unit: unit})
		}
		u := &out[len(out)-1]
		u.Events = append(u.Events, traits.UserEvent{Time: at, Name: name, Props: props})
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestUserEventsAsArrays: ChangedUserEvents, which reads each row's
// properties as one String it decodes, returns what the arrays themselves
// say, read the old way, event for event and bit for bit: keys and values
// holding the encoding's own separators, digits, NUL bytes and UTF-8,
// empty strings, numbers whose bytes end in zeros (0, -0, 2, the smallest
// subnormal), the extremes, lists with a repeated value, arrays of unequal
// lengths, events with no properties, ties in time, and copies of one id
// received later with other content (the first copy received is the
// event).
func TestUserEventsAsArrays(t *testing.T) {
	ctx := context.Background()
	conn, _ := env.NewDatabase(t)
	day := analytics.DayTime(traitToday)
	type row struct {
		id, unit, name         string
		at                     time.Time
		received               time.Time
		sk, sv, nk, bk, lk, lv []string
		nv                     []float64
		bv                     []uint8
	}
	recv := day.Add(10 * time.Hour)
	rows := []row{
		{id: "t:a1", unit: "u:1", name: "order_completed", at: day.Add(time.Hour), received: recv,
			sk: []string{"category", "3:ab;", ""}, sv: []string{"shoes", "12;4:x", ""},
			nk: []string{"total", "zero", "neg0", "two", "tiny", "max", "min", "third", "-1"},
			nv: []float64{19.99, 0, math.Copysign(0, -1), 2, math.SmallestNonzeroFloat64, math.MaxFloat64, -math.MaxFloat64, 1.0 / 3, -1},
			bk: []string{"gift", "first"}, bv: []uint8{1, 0},
			lk: []string{"tags", "tags", "tags", "cats"}, lv: []string{"sale", "", "sale", "日本\x00語"}},
		{id: "t:a2", unit: "u:1", name: "page_viewed", at: day.Add(time.Hour), received: recv},
		{id: "t:a0", unit: "u:1", name: "page_viewed", at: day.Add(time.Hour), received: recv,
			sk: []string{strings.Repeat("k", 300)}, sv: []string{strings.Repeat("v;:", 1000)}},
		// A later copy of t:a1 with other content does not replace it.
		{id: "t:a1", unit: "u:1", name: "order_completed", at: day.Add(2 * time.Hour), received: recv.Add(time.Minute),
			nk: []string{"total"}, nv: []float64{1}},
		// The first copy of t:b1 is received first though stored second.
		{id: "t:b1", unit: "u:2", name: "ticket_opened", at: day.Add(-48 * time.Hour), received: recv.Add(time.Minute),
			sk: []string{"stage"}, sv: []string{"late"}},
		{id: "t:b1", unit: "u:2", name: "ticket_opened", at: day.Add(-47 * time.Hour), received: recv,
			sk: []string{"stage"}, sv: []string{"new"}},
		// Arrays of unequal lengths: the pairs that exist are read.
		{id: "t:b2", unit: "u:2", name: "odd", at: day.Add(-time.Hour), received: recv,
			sk: []string{"a", "b"}, sv: []string{"1"}, nk: []string{"n"}, bk: []string{"x"}, bv: []uint8{1, 1},
			lk: []string{"l"}, lv: []string{"1", "2"}},
		// A list's key interleaved with another's: two properties.
		{id: "t:b3", unit: "u:2", name: "odd", at: day.Add(-30 * time.Minute), received: recv,
			lk: []string{"tags", "cats", "tags"}, lv: []string{"a", "b", "c"}},
		{id: "t:c1", unit: "", name: "", at: day, received: recv},
		// Before the day read from: not read.
		{id: "t:d1", unit: "u:3", name: "order_completed", at: day.Add(-400 * 24 * time.Hour), received: recv},
	}
	// Many more, across many units: past the reader's chunks of events and
	// properties (analytics.ChunkLen), with ties in time and several copies.
	for i := range 3000 {
		u := fmt.Sprintf("u:bulk%03d", i/2%97) // an id belongs to one unit
		rows = append(rows, row{id: fmt.Sprintf("t:bulk%05d", i/2*2), unit: u, name: "page_viewed",
			at: day.Add(-time.Duration(i%13) * time.Hour), received: recv.Add(time.Duration(i%2) * time.Second),
			sk: []string{"page", "ref"}, sv: []string{fmt.Sprint(i), ""}, nk: []string{"n"}, nv: []float64{float64(i)}})
	}
	// One unit with more events than the reader lends a unit at first
	// (its events then move to an array of their own).
	for i := range 1500 {
		rows = append(rows, row{id: fmt.Sprintf("t:big%05d", i), unit: "u:big", name: "page_viewed",
			at: day.Add(-time.Duration(i%300) * time.Minute), received: recv, nk: []string{"n"}, nv: []float64{float64(i)}})
	}
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO user_events (event_id, time, unit, name, s_keys, s_vals, n_keys, n_vals, b_keys, b_vals, l_keys, l_vals, received_at)")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := batch.Append(r.id, r.at, r.unit, r.name, orEmpty(r.sk), orEmpty(r.sv), orEmpty(r.nk), append([]float64{}, r.nv...),
			orEmpty(r.bk), append([]uint8{}, r.bv...), orEmpty(r.lk), orEmpty(r.lv), r.received); err != nil {
			t.Fatal(err)
		}
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}
	from := traitToday - 365
	got, _, err := clickhouse.NewTraitReader(conn).ChangedUserEvents(ctx, time.Time{}, from)
	if err != nil {
		t.Fatal(err)
	}
	want := readAsArrays(t, conn, from)
	// The old read is what the rows say: three units (u:3's event is too
	// old), u:1's order is its first copy, u:2's ticket the copy received
	// first.
	if len(want) != 3+97+1 || want[1].Unit != "u:1" || len(want[1].Events) != 3 || want[1].Events[1].Props[0].Str != "shoes" ||
		want[2].Unit != "u:2" || want[2].Events[0].Props[0].Str != "new" {
		t.Fatalf("the old read is not what the rows say: %.2000v", want)
	}
	if !sameUnitEvents(got, want) {
		t.Errorf("ChangedUserEvents = %.3000v\nthe arrays say %.3000v", got, want)
	}
	// Bit for bit: -0 and the subnormal survive.
	nums := got[1].Events[1].Props
	for _, p := range nums {
		if p.Key == "neg0" && !math.Signbit(p.Num) || p.Key == "tiny" && p.Num != math.SmallestNonzeroFloat64 {
			t.Errorf("%s = %v (%x)", p.Key, p.Num, math.Float64bits(p.Num))
		}
	}
}

func orEmpty(s []string) []string { return append([]string{}, s...) }

// sameUnitEvents compares numbers by their bits, so that -0 is not 0.
func sameUnitEvents(a, b []traits.UnitEvents) bool {
	norm := func(us []traits.UnitEvents) []traits.UnitEvents {
		out := make([]traits.UnitEvents, len(us))
		for i, u := range us {
			out[i].Unit = u.Unit
			for _, e := range u.Events {
				var props []analytics.Prop
				for _, p := range e.Props {
					if p.Type == analytics.PropNumber {
						p.Str = string(rune(math.Float64bits(p.Num) >> 63)) // the sign
					}
					props = append(props, p)
				}
				e.Props = props
				out[i].Events = append(out[i].Events, e)
			}
		}
		return out
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

// BenchmarkChangedUserEvents reads back 200,000 user events of 2,000 units
// (orders with four properties, as the loadtest's track part sends), the
// whole of a refresh that finds every unit changed, a unit at a time
// (EachChangedUser), and reports the client's allocation per event beside
// its time.
func BenchmarkChangedUserEvents(b *testing.B) {
	ctx := context.Background()
	conn, _ := env.NewDatabase(b)
	day := analytics.DayTime(traitToday)
	const units, perUnit = 2000, 100
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO user_events (event_id, time, unit, name, s_keys, s_vals, n_keys, n_vals, b_keys, b_vals, l_keys, l_vals)")
	if err != nil {
		b.Fatal(err)
	}
	for i := range units * perUnit {
		u := i % units
		if err := batch.Append(fmt.Sprintf("t:%d:%d", u, i), day.Add(-time.Duration(i%(300*24))*time.Hour),
			fmt.Sprintf("u:%05d", u), "order_completed", []string{"category"}, []string{"shoes"},
			[]string{"total"}, []float64{float64(i%5000) / 100}, []string{"gift"}, []uint8{uint8(i % 2)},
			[]string{"tags", "tags"}, []string{"sale", "new"}); err != nil {
			b.Fatal(err)
		}
	}
	if err := batch.Send(); err != nil {
		b.Fatal(err)
	}
	r := clickhouse.NewTraitReader(conn)
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		_, err := r.EachChangedUser(ctx, time.Time{}, traitToday-364, func(*traits.UnitEvents) { n++ })
		if err != nil || n != units {
			b.Fatalf("read %d units, %v", n, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*units*perUnit), "ns/event")
}
