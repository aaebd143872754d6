package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/analytics/ingest"
)

// EventSink is the ingest.Sink that writes events to the events table.
// It is safe for concurrent use.
//
// Delivery is at least once, so the same event may be written more than
// once. EventSink does not deduplicate: the table is a ReplacingMergeTree
// keyed by event id, which folds copies eventually, when it merges parts, and
// every query that counts deduplicates by event_id itself (count(DISTINCT
// event_id), uniqExact) so that a copy not merged yet never counts twice.
type EventSink struct {
	conn driver.Conn
	// spare holds the block values of finished Writes, lent to the next
	// ones (see blockValues): one per Write that ran at the same time as
	// others, up to maxSpare. A Write that finds none makes its own.
	spare spares[blockValues]
	// userSpare is spare for the user events' blocks.
	userSpare spares[userBlock]
}

// spares lend values from Write to Write: get one kept, or a new one when
// none is; put one back unless maxSpare are kept already.
type spares[T any] chan *T

func (s spares[T]) get() *T {
	select {
	case v := <-s:
		return v
	default:
		return new(T)
	}
}

func (s spares[T]) put(v *T) {
	select {
	case s <- v:
	default:
	}
}

// maxSpare is the most block values a sink keeps: the ingester writes a
// large batch as Writers (2 by default) parallel parts.
const maxSpare = 4

var _ ingest.Sink = (*EventSink)(nil)

// NewEventSink returns a sink on conn's database, which must be migrated.
func NewEventSink(conn driver.Conn) *EventSink {
	return &EventSink{conn: conn, spare: make(spares[blockValues], maxSpare), userSpare: make(spares[userBlock], maxSpare)}
}

// insertEvents names every column the sink writes, in the order of
// blockValues.columns; date and received_at take their table defaults
// (toDate(time) and the server's now()).
const insertEvents = "INSERT INTO events (event_id, kind, time, experiment, version, segment, variant, unit, " +
	"send_id, channel, name, value, url, machine, machine_reason, dim_keys, dim_values)"

// Write inserts events in one batch: all of them or, on error, none that the
// caller can count on (it keeps the batch and may write it again). A server
// that cannot be reached gives an EUNAVAILABLE error.
func (s *EventSink) Write(ctx context.Context, events []analytics.Event) error {
	if len(events) == 0 {
		return nil
	}
	message, user := splitUser(events)
	if len(message) > 0 {
		if err := s.write(ctx, message); err != nil {
			return insertError(len(message), "events", err)
		}
	}
	// After the message events: a failure here has the whole batch
	// written again, and the message events' second copies change no count.
	if len(user) > 0 {
		if err := s.writeUser(ctx, user); err != nil {
			var bad *badProps
			if errors.As(err, &bad) {
				return fmt.Errorf("insert %d user events: %w", len(user), ingest.Rejected(err))
			}
			return insertError(len(user), "user events", err)
		}
	}
	return nil
}

// insertError is the error of an insert of n rows of what refused: an
// ingest.Rejected one when ClickHouse refused the rows themselves.
func insertError(n int, what string, err error) error {
	err = translate(err)
	if refusedForContent(err) {
		err = ingest.Rejected(err)
	}
	return fmt.Errorf("insert %d %s: %w", n, what, err)
}

// refusedForContent reports whether ClickHouse refused an insert for the
// rows in it, which it will refuse again: the ingester then sifts the
// batch for those rows (see ingest.ErrRejected). Outages, timeouts, memory
// limits and schema errors are not: a schema error refuses every row, and
// must stop the ingest, not empty it into the dead-letter file.
func refusedForContent(err error) bool {
	var exc *ch.Exception
	if !errors.As(err, &exc) {
		return false
	}
	switch exc.Code {
	case 6, 27, 38, 41, 53, 69, 70, 72, 321, // CANNOT_PARSE_*, TYPE_MISMATCH, ARGUMENT_OUT_OF_BOUND, CANNOT_CONVERT_TYPE, VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
		395: // FUNCTION_THROW_IF_VALUE_IS_NON_ZERO: a view's check on the rows
		return true
	case 252: // TOO_MANY_PARTS: an outage, unless one insert touches too many partitions
		return strings.Contains(exc.Message, "partitions for single INSERT block")
	}
	return false
}

// blockRows is the most rows the sink sends in one block. A batch of more
// is sent as several blocks of one INSERT: the client's column buffers then
// stay small and are reused, where one big block grows them by doubling
// and copying. ClickHouse squashes the blocks of an INSERT back into parts
// of up to min_insert_block_size_rows (about a million rows), so the number
// of parts does not change.
const blockRows = 8192

func (s *EventSink) write(ctx context.Context, events []analytics.Event) error {
	batch, err := s.conn.PrepareBatch(ctx, insertEvents)
	if err != nil {
		return err
	}
	vals := s.spare.get()
	defer func() {
		vals.forget()
		s.spare.put(vals)
	}()
	for off := 0; off < len(events); off += blockRows {
		if off > 0 {
			// Flush sends the block and empties the columns, keeping
			// their storage for the next block.
			if err := batch.Flush(); err != nil {
				batch.Abort()
				return err
			}
		}
		vals.fill(events[off:min(off+blockRows, len(events))])
		if err := appendBlock(batch, vals); err != nil {
			batch.Abort()
			return err
		}
	}
	return batch.Send()
}

// appendBlock appends vals to batch's columns, a whole column at a time:
// clickhouse-go then converts each column in one loop, where batch.Append
// boxes and converts each row's 15 values one by one (1.5 to 5 times the
// client CPU per event). What remains is the batch's own columns, which
// start empty at every Write and grow by copying as its first block fills:
// most of what a Write allocates. ch-go's client, whose columns the sink
// could keep, cannot insert into ClickHouse 18.16 (protocol revision
// 54412): v0.61.5 sends a query's client info only from revision 54420.
//
// appendBlock fails, rather than append a column that does not fit, if the
// events table no longer has insertEvents' columns, in its order and of
// types that clickhouse-go converts vals' slices to.
func appendBlock(batch driver.Batch, vals *blockValues) error {
	cols := vals.columns()
	return appendColumns(batch, cols[:])
}

// appendColumns appends each of vals to batch's column of its position,
// failing if the batch's columns are not vals' names in vals' order.
func appendColumns(batch driver.Batch, vals []namedValues) error {
	cols := batch.Columns()
	if len(cols) != len(vals) {
		return fmt.Errorf("the batch has %d columns, not the %d the sink writes", len(cols), len(vals))
	}
	for i, v := range vals {
		if cols[i].Name() != v.name {
			return fmt.Errorf("the batch's column %d is %s, not %s", i, cols[i].Name(), v.name)
		}
		var err error
		switch rows := v.values.(type) {
		// An Array column's Append of a slice of rows hands each row to
		// AppendRow as a reflect.Value, which misses clickhouse-go's typed
		// path for a row and takes the reflective one: an allocation and a
		// boxing per element. Row by row, each row is a typed slice.
		case [][]string:
			err = appendStringRows(batch.Column(i), rows)
		case [][]float64:
			err = appendRows(batch.Column(i), rows)
		case [][]uint8:
			err = appendRows(batch.Column(i), rows)
		default:
			err = batch.Column(i).Append(v.values)
		}
		if err != nil {
			return fmt.Errorf("column %s (%s): %w", v.name, cols[i].Type(), err)
		}
	}
	return nil
}

// appendStringRows appends rows of strings as rows of pointers to them:
// clickhouse-go's String column takes a *string as it is, where a string
// handed to it as an interface is copied to the heap first, an allocation
// per element (10,000 user events appended with 90.6k allocations
// instead of 170.6k).
func appendStringRows(col driver.BatchColumn, rows [][]string) error {
	n := 0
	for _, r := range rows {
		n += len(r)
	}
	ptrs := make([]*string, n)
	for _, r := range rows {
		row := ptrs[:len(r):len(r)]
		ptrs = ptrs[len(r):]
		for j := range r {
			row[j] = &r[j]
		}
		if err := col.AppendRow(row); err != nil {
			return err
		}
	}
	return nil
}

// appendRows appends rows to an Array column one row at a time.
func appendRows[T any](col driver.BatchColumn, rows [][]T) error {
	for _, r := range rows {
		if err := col.AppendRow(r); err != nil {
			return err
		}
	}
	return nil
}

// blockValues holds one block of events as the columns of insertEvents,
// one slice each, of the types whose slices clickhouse-go's columns
// append in bulk. A sink keeps them from one Write to the next, so that
// after the first Writes filling a block allocates nothing.
type blockValues struct {
	id, kind, experiment, segment, variant, unit, sendID, channel, name, url, reason []string

	time    []time.Time
	version []uint32
	value   []float64
	machine []uint8
	// dimKeys and dimValues are an exposure's breakdown dimensions (Event.Dims).
	dimKeys, dimValues [][]string

	// filled is the most rows filled since the last forget.
	filled int
}

// namedValues are the values of one column of insertEvents.
type namedValues struct {
	name   string
	values any
}

// columns lists v's slices in the order of insertEvents.
func (v *blockValues) columns() [17]namedValues {
	return [...]namedValues{
		{"event_id", v.id}, {"kind", v.kind}, {"time", v.time}, {"experiment", v.experiment},
		{"version", v.version}, {"segment", v.segment}, {"variant", v.variant}, {"unit", v.unit},
		{"send_id", v.sendID}, {"channel", v.channel}, {"name", v.name}, {"value", v.value},
		{"url", v.url}, {"machine", v.machine}, {"machine_reason", v.reason},
		{"dim_keys", v.dimKeys}, {"dim_values", v.dimValues},
	}
}

// strs lists v's String columns.
func (v *blockValues) strs() [11]*[]string {
	return [...]*[]string{&v.id, &v.kind, &v.experiment, &v.segment, &v.variant, &v.unit, &v.sendID, &v.channel, &v.name, &v.url, &v.reason}
}

// fill makes v hold events, one row each, and nothing else.
func (v *blockValues) fill(events []analytics.Event) {
	// Every slice is sized once to the block, not grown by copying as it
	// fills; after the first Writes, it already is.
	n := len(events)
	v.filled = max(v.filled, n)
	for _, col := range v.strs() {
		*col = slices.Grow((*col)[:0], n)
	}
	v.time = slices.Grow(v.time[:0], n)
	v.version, v.value, v.machine = slices.Grow(v.version[:0], n), slices.Grow(v.value[:0], n), slices.Grow(v.machine[:0], n)
	v.dimKeys, v.dimValues = slices.Grow(v.dimKeys[:0], n), slices.Grow(v.dimValues[:0], n)
	for i := range events {
		e := &events[i]
		v.id = append(v.id, e.ID)
		v.kind = append(v.kind, string(e.Kind))
		// time is a DateTime: clickhouse-go stores UTC seconds.
		v.time = append(v.time, e.Time)
		v.experiment = append(v.experiment, e.Experiment)
		v.version = append(v.version, e.Version)
		v.segment = append(v.segment, e.Segment)
		v.variant = append(v.variant, e.Variant)
		v.unit = append(v.unit, e.Unit)
		v.sendID = append(v.sendID, e.SendID)
		v.channel = append(v.channel, e.Channel)
		v.name = append(v.name, e.Name)
		v.value = append(v.value, e.Value)
		v.url = append(v.url, e.URL)
		var machine uint8
		if e.Machine {
			machine = 1
		}
		v.machine = append(v.machine, machine)
		v.reason = append(v.reason, e.MachineReason)
		keys, values := analytics.DecodeDims(e.Dims)
		if keys == nil {
			keys, values = []string{}, []string{} // an empty Array(String), not a missing one
		}
		v.dimKeys, v.dimValues = append(v.dimKeys, keys), append(v.dimValues, values)
	}
}

// forget drops the strings and times of the rows filled, so that a spare
// does not keep the events of its last Write alive until the next one: the
// batch's columns copied them already.
func (v *blockValues) forget() {
	for _, col := range v.strs() {
		clear((*col)[:v.filled])
	}
	clear(v.time[:v.filled])
	clear(v.dimKeys[:v.filled])
	clear(v.dimValues[:v.filled])
	v.filled = 0
}

// Ping checks that ClickHouse answers: EUNAVAILABLE if it does not.
func (s *EventSink) Ping(ctx context.Context) error {
	if err := s.conn.Ping(ctx); err != nil {
		return fmt.Errorf("ping clickhouse: %w", translate(err))
	}
	return nil
}
