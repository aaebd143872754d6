package clickhouse

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/analytics/traits"
)

var _ traits.UserReader = (*TraitReader)(nil)

// tableMarkQuery is markQuery for inserts into the table %s.
const tableMarkQuery = `SELECT now(), toFloat64(max(elapsed)) FROM system.processes WHERE startsWith(query, 'INSERT INTO %s')`

// userEventsQuery reads the user events of the units filter selects, on or
// after a day, in order of unit and event id, each id's copies in the
// order received: the reader keeps the first (the event identity rule of
// the README). An id belongs to one unit (the API derives it from the unit
// and the caller's id), so sorting by unit first loses nothing; folding
// the copies as they stream past, rather than by a LIMIT BY over a sort on
// the id alone, took ClickHouse a third of the time (1.05-1.15 s against
// 3.0-3.4 s for 794,500 events of 50,000 units). The date column is in
// the server's time zone: a day's margin keeps pruning from cutting a UTC
// day short. The properties come as one String (propsExpr).
func userEventsQuery(filter string) string {
	return `SELECT unit, event_id, toInt64(toUInt32(time)) AS t, name, ` + propsExpr() + ` AS props
FROM user_events
WHERE date >= toDate(?) - 1 AND ` + dayExpr + ` >= ? ` + filter + `
ORDER BY unit, event_id, received_at`
}

// propsExpr encodes a row's eight property arrays as one String, read back
// by decodeProps: scanning Array columns row by row is clickhouse-go's
// slow path (reflection, an allocation per element and a fmt.Sprint per
// string: about 10 us of client CPU per event), where a String is one
// copy. The arrays come in the table's order, each as its length, ';',
// then each element as its length in bytes, ':' and its bytes. A number is
// its 8 IEEE 754 bytes little-endian less the trailing zero bytes that
// reinterpretAsString drops (decodeProps puts them back), so no value is
// rounded through text; a bool is "0" or "1".
func propsExpr() string {
	arr := func(a string) string {
		return "concat(toString(length(" + a + ")), ';', arrayStringConcat(arrayMap(x -> concat(toString(length(x)), ':', x), " + a + ")))"
	}
	return "concat(" + strings.Join([]string{
		arr("s_keys"), arr("s_vals"),
		arr("n_keys"), arr("arrayMap(v -> reinterpretAsString(v), n_vals)"),
		arr("b_keys"), arr("arrayMap(v -> toString(v), b_vals)"),
		arr("l_keys"), arr("l_vals"),
	}, ", ") + ")"
}

// changedUserUnits selects the units with a user event received since a mark.
const changedUserUnits = `AND unit GLOBAL IN (SELECT DISTINCT unit FROM user_events WHERE date >= toDate(?) - 1 AND received_at >= toDateTime(?))`

// EachChangedUser implements traits.UserReader. Its mark is taken as
// ChangedActivity's is, on the inserts into user_events. Cost: a unit's
// whole year of user events each time it has a new one, and every unit's
// once a day (the cache's new-day read); the rows come in order of unit,
// and each unit goes to fn as its last row passes, so that the read holds
// one unit's events.
func (r *TraitReader) EachChangedUser(ctx context.Context, since time.Time, from int32, fn func(*traits.UnitEvents)) (time.Time, error) {
	mark, err := r.markOf(ctx, "user_events")
	if err != nil {
		return since, err
	}
	q := userEventsQuery("")
	args := []any{dateString(from), from}
	if !since.IsZero() {
		q = userEventsQuery(changedUserUnits)
		args = append(args, dateString(from), uint32(since.Unix()))
	}
	rows, err := r.conn.Query(ctx, q, args...)
	if err != nil {
		return since, fmt.Errorf("user events: %w", translate(err))
	}
	defer rows.Close()
	// A unit's events, and their properties in one array, in memory that
	// the next unit reuses (fn keeps nothing of them). An event's
	// properties are a span of props, cut out when the unit ends, since
	// props may move as it grows.
	var (
		cur       traits.UnitEvents
		have      bool // cur holds a unit (its name may be "")
		props     []analytics.Prop
		spans     [][2]int
		unit, id  string
		name, enc string
		t         int64
		scratch   []string
		order     timeOrder
	)
	hand := func() {
		for i, sp := range spans {
			cur.Events[i].Props = props[sp[0]:sp[1]:sp[1]]
		}
		order.byTime(cur.Events)
		fn(&cur)
		cur.Events, props, spans = cur.Events[:0], props[:0], spans[:0]
	}
	for rows.Next() {
		prevUnit, prevID := unit, id
		if err := rows.Scan(&unit, &id, &t, &name, &enc); err != nil {
			return since, fmt.Errorf("user events: %w", translate(err))
		}
		if have && unit == prevUnit && id == prevID {
			continue // a later copy of the event just kept
		}
		if have && unit != prevUnit {
			hand()
		}
		from := len(props)
		if props, err = decodeProps(enc, &scratch, props); err != nil {
			// Only propsExpr writes what decodeProps reads: a row it cannot
			// read is a bug here, not bad data, and fails the refresh loudly
			// rather than leaving a unit's traits quietly wrong.
			return since, fmt.Errorf("user events: unit %q, event %q: %w", unit, id, err)
		}
		cur.Unit, have = unit, true
		cur.Events = append(cur.Events, traits.UserEvent{Time: t, Name: name})
		spans = append(spans, [2]int{from, len(props)})
	}
	if err := rows.Err(); err != nil {
		return since, fmt.Errorf("user events: %w", translate(err))
	}
	if have {
		hand()
	}
	return mark, nil
}

// byTime sorts a unit's events, which came in order of their ids, into
// order of time, leaving ties in order of id, as the readers of
// UnitEvents expect. It sorts (time, position) keys and moves each event
// once, through o's scratch, where a stable sort of the events themselves
// moved each 48-byte event about log n times: that sort was a quarter of
// a refresh's read (TestByTimeEqualsStableSort).
func (o *timeOrder) byTime(events []traits.UserEvent) {
	if slices.IsSortedFunc(events, func(a, b traits.UserEvent) int { return cmp.Compare(a.Time, b.Time) }) {
		return
	}
	keys := o.keys[:0]
	for i := range events {
		keys = append(keys, timeKey{events[i].Time, i})
	}
	slices.SortFunc(keys, func(a, b timeKey) int { return cmp.Or(cmp.Compare(a.t, b.t), cmp.Compare(a.i, b.i)) })
	tmp := append(o.tmp[:0], events...)
	for j, k := range keys {
		events[j] = tmp[k.i]
	}
	clear(tmp) // the events' strings belong to the caller now
	o.keys, o.tmp = keys, tmp
}

// timeOrder is byTime's scratch, kept from unit to unit.
type timeOrder struct {
	keys []timeKey
	tmp  []traits.UserEvent
}

type timeKey struct {
	t int64
	i int
}

// markOf is nextMark for reads of table's rows received since it.
func (r *TraitReader) markOf(ctx context.Context, table string) (time.Time, error) {
	var now time.Time
	var running float64
	if r.FixedMargin {
		if err := r.conn.QueryRow(ctx, "SELECT now()").Scan(&now); err != nil {
			return time.Time{}, fmt.Errorf("server time: %w", translate(err))
		}
		return now.Add(-r.Margin), nil
	}
	if err := r.conn.QueryRow(ctx, fmt.Sprintf(tableMarkQuery, table)).Scan(&now, &running); err != nil {
		return time.Time{}, fmt.Errorf("server time and running inserts: %w", translate(err))
	}
	return now.Add(-time.Duration(running*float64(time.Second)) - r.Margin), nil
}

// decodeProps reads propsExpr's encoding back into typed properties, in
// the order the arrays were read before: strings, numbers, bools, then
// lists, a list's repeated key folded into one property, appended to out
// (which may hold other events' properties: they are left alone).
// The strings are slices of s. It reads the elements into *scratch, which
// it keeps for the next row: what it allocates is a list's strings, and
// room for the properties when out has too little.
func decodeProps(s string, scratch *[]string, out []analytics.Prop) ([]analytics.Prop, error) {
	d := propsDecoder{s: s, elems: (*scratch)[:0]}
	var ends [8]int // where each array's elements end in d.elems
	for k := range ends {
		d.array()
		ends[k] = len(d.elems)
	}
	*scratch = d.elems
	if d.err == nil && d.s != "" {
		d.err = fmt.Errorf("%d bytes after the last array", len(d.s))
	}
	if d.err != nil {
		return nil, fmt.Errorf("properties: %w", d.err)
	}
	e := d.elems
	arr := func(j int) []string {
		if j == 0 {
			return e[:ends[0]]
		}
		return e[ends[j-1]:ends[j]]
	}
	pair := func(k int) (keys, vals []string) {
		keys, vals = arr(2*k), arr(2*k+1)
		n := min(len(keys), len(vals))
		return keys[:n], vals[:n]
	}
	sk, sv := pair(0)
	nk, nv := pair(1)
	bk, bv := pair(2)
	lk, lv := pair(3)
	if len(sk)+len(nk)+len(bk)+len(lk) == 0 {
		return out, nil
	}
	base := len(out) // what out held already is another event's
	for i := range sk {
		out = append(out, analytics.Prop{Key: sk[i], Type: analytics.PropString, Str: sv[i]})
	}
	for i := range nk {
		if len(nv[i]) > 8 {
			return nil, fmt.Errorf("properties: number %q has %d bytes", nk[i], len(nv[i]))
		}
		var b [8]byte
		copy(b[:], nv[i])
		out = append(out, analytics.Prop{Key: nk[i], Type: analytics.PropNumber, Num: math.Float64frombits(binary.LittleEndian.Uint64(b[:]))})
	}
	for i := range bk {
		out = append(out, analytics.Prop{Key: bk[i], Type: analytics.PropBool, Bool: bv[i] != "0"})
	}
	for i := range lk {
		if n := len(out); n > base && out[n-1].Type == analytics.PropList && out[n-1].Key == lk[i] {
			out[n-1].List = append(out[n-1].List, lv[i])
			continue
		}
		out = append(out, analytics.Prop{Key: lk[i], Type: analytics.PropList, List: []string{lv[i]}})
	}
	return out, nil
}

// propsDecoder reads propsExpr's arrays off s into elems; the first error
// stops it.
type propsDecoder struct {
	s     string
	elems []string
	err   error
}

// array reads one array: its length, ';', and its elements.
func (d *propsDecoder) array() {
	n := d.number(';')
	if d.err == nil && n > len(d.s) {
		d.err = fmt.Errorf("an array of %d elements in %d bytes", n, len(d.s))
	}
	for range n {
		size := d.number(':')
		if d.err == nil && size > len(d.s) {
			d.err = fmt.Errorf("an element of %d bytes with %d left", size, len(d.s))
		}
		if d.err != nil {
			return
		}
		d.elems, d.s = append(d.elems, d.s[:size]), d.s[size:]
	}
}

// number reads a decimal count ended by end.
func (d *propsDecoder) number(end byte) int {
	if d.err != nil {
		return 0
	}
	n, i := 0, 0
	// Nine digits at most: no count propsExpr writes is longer, and nine
	// cannot overflow an int of 32 bits.
	for ; i < len(d.s) && i <= 9 && d.s[i] >= '0' && d.s[i] <= '9'; i++ {
		n = n*10 + int(d.s[i]-'0')
	}
	if i == 0 || i > 9 || i == len(d.s) || d.s[i] != end {
		d.err = fmt.Errorf("no count ended by %q", end)
		return 0
	}
	d.s = d.s[i+1:]
	return n
}
