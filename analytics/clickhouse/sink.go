package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/ClickHouse/ch-go/proto"
	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
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
	// spare holds the column storage of finished Writes, lent to the next
	// ones' batches (see columnStore): one per Write that ran at the same
	// time as others, up to maxSpare. A Write that finds none makes its own.
	spare chan *columnStore
}

// maxSpare is the most column stores a sink keeps: the ingester writes a
// large batch as Writers (2 by default) parallel parts.
const maxSpare = 4

var _ ingest.Sink = (*EventSink)(nil)

// NewEventSink returns a sink on conn's database, which must be migrated.
func NewEventSink(conn driver.Conn) *EventSink {
	return &EventSink{conn: conn, spare: make(chan *columnStore, maxSpare)}
}

// insertEvents names every column the sink writes; date and received_at take
// their table defaults (toDate(time) and the server's now()).
const insertEvents = "INSERT INTO events (event_id, kind, time, experiment, version, segment, variant, unit, " +
	"send_id, channel, name, value, url, machine, machine_reason)"

// Write inserts events in one batch: all of them or, on error, none that the
// caller can count on (it keeps the batch and may write it again). A server
// that cannot be reached gives an EUNAVAILABLE error.
func (s *EventSink) Write(ctx context.Context, events []analytics.Event) error {
	if len(events) == 0 {
		return nil
	}
	if err := s.write(ctx, events); err != nil {
		err = translate(err)
		if refusedForContent(err) {
			err = ingest.Rejected(err)
		}
		return fmt.Errorf("insert %d events: %w", len(events), err)
	}
	return nil
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
	var cols blockColumns
	if err := cols.bind(batch.Columns()); err != nil {
		batch.Abort()
		return err
	}
	var store *columnStore
	select {
	case store = <-s.spare:
	default:
		store = new(columnStore)
	}
	cols.borrow(store)
	defer func() {
		cols.giveBack(store)
		select {
		case s.spare <- store:
		default:
		}
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
		cols.append(events[off:min(off+blockRows, len(events))])
	}
	return batch.Send()
}

// blockColumns are the columns of a batch of insertEvents as clickhouse-go
// keeps them: the ch-go columns that it encodes onto the wire. The sink
// appends to them directly. Through clickhouse-go's Append, each block
// copied every value into a slice of the sink's own and then, one by one,
// into a column that started empty at every Write and grew by copying
// (about 350 bytes allocated per event, most of the sink's share of the
// server's garbage), plus a null mask per column and block.
type blockColumns struct {
	id, kind, experiment, segment, variant, unit, sendID, channel, name, url, reason *proto.ColStr

	time    *proto.ColDateTime
	version *proto.ColUInt32
	value   *proto.ColFloat64
	machine *proto.ColUInt8
}

// bind points c at the ch-go columns of cols, a batch's columns. It fails,
// rather than write anything, if a column of insertEvents is missing or
// not of the type the sink appends to: the events table changed, or
// clickhouse-go no longer keeps its columns as it did in v2.26.
func (c *blockColumns) bind(cols []column.Interface) error {
	bound := 0
	for _, col := range cols {
		var ok bool
		switch col.Name() {
		case "event_id":
			c.id, ok = chColumn[proto.ColStr](col)
		case "kind":
			c.kind, ok = chColumn[proto.ColStr](col)
		case "time":
			c.time, ok = chColumn[proto.ColDateTime](col)
		case "experiment":
			c.experiment, ok = chColumn[proto.ColStr](col)
		case "version":
			c.version, ok = chColumn[proto.ColUInt32](col)
		case "segment":
			c.segment, ok = chColumn[proto.ColStr](col)
		case "variant":
			c.variant, ok = chColumn[proto.ColStr](col)
		case "unit":
			c.unit, ok = chColumn[proto.ColStr](col)
		case "send_id":
			c.sendID, ok = chColumn[proto.ColStr](col)
		case "channel":
			c.channel, ok = chColumn[proto.ColStr](col)
		case "name":
			c.name, ok = chColumn[proto.ColStr](col)
		case "value":
			c.value, ok = chColumn[proto.ColFloat64](col)
		case "url":
			c.url, ok = chColumn[proto.ColStr](col)
		case "machine":
			c.machine, ok = chColumn[proto.ColUInt8](col)
		case "machine_reason":
			c.reason, ok = chColumn[proto.ColStr](col)
		}
		if !ok {
			return fmt.Errorf("events column %s: the sink cannot append to a %s column held as %T", col.Name(), col.Type(), col)
		}
		bound++
	}
	if bound != 15 {
		return fmt.Errorf("the batch has %d of the 15 columns the sink writes", bound)
	}
	return nil
}

// chColumn returns the ch-go column of type P in which col, a clickhouse-go
// column, keeps its rows: the unexported field col, which clickhouse-go
// v2.26 gives every column type that the sink writes. ok is false if col
// has no such field of type P, so that a change of clickhouse-go's
// internals is an error, never memory misread.
func chColumn[P any](col column.Interface) (p *P, ok bool) {
	v := reflect.ValueOf(col)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return nil, false
	}
	f := v.Elem().FieldByName("col")
	if !f.IsValid() || f.Type() != reflect.TypeFor[P]() {
		return nil, false
	}
	// reflect gives no typed access to an unexported field; its type is
	// the one checked above.
	return (*P)(f.Addr().UnsafePointer()), true
}

// strs lists c's String columns, in the order of columnStore.strs.
func (c *blockColumns) strs() [11]*proto.ColStr {
	return [...]*proto.ColStr{c.id, c.kind, c.experiment, c.segment, c.variant, c.unit, c.sendID, c.channel, c.name, c.url, c.reason}
}

// columnStore is the storage of the columns of insertEvents, kept by the
// sink from one Write to the next: lent to a batch's columns, which fill
// and empty it block after block, and taken back when the batch is sent.
// It holds one block, at most blockRows rows: about 3 MB for events of
// typical length.
type columnStore struct {
	strs    [11]proto.ColStr
	time    []proto.DateTime
	version proto.ColUInt32
	value   proto.ColFloat64
	machine proto.ColUInt8
}

// borrow makes c's columns, new and empty, use s's storage.
func (c *blockColumns) borrow(s *columnStore) {
	for k, col := range c.strs() {
		col.Buf, col.Pos = s.strs[k].Buf[:0], s.strs[k].Pos[:0]
	}
	c.time.Data = s.time[:0]
	*c.version, *c.value, *c.machine = s.version[:0], s.value[:0], s.machine[:0]
}

// giveBack returns c's storage, grown as the blocks needed, to s, and
// empties c's columns so that the batch no longer shares it.
func (c *blockColumns) giveBack(s *columnStore) {
	for k, col := range c.strs() {
		s.strs[k] = *col
		*col = proto.ColStr{}
	}
	s.time, c.time.Data = c.time.Data, nil
	s.version, s.value, s.machine = *c.version, *c.value, *c.machine
	*c.version, *c.value, *c.machine = nil, nil, nil
}

// append adds events to c's columns, one row each.
func (c *blockColumns) append(events []analytics.Event) {
	// A column grows once to the block's rows, not by copying as it
	// fills; after the first Write, it already has them. The strings'
	// bytes grow by appending: the first Writes size them.
	n := len(events)
	for _, col := range c.strs() {
		col.Pos = slices.Grow(col.Pos, n)
	}
	c.time.Data = slices.Grow(c.time.Data, n)
	*c.version, *c.value, *c.machine = slices.Grow(*c.version, n), slices.Grow(*c.value, n), slices.Grow(*c.machine, n)
	for i := range events {
		e := &events[i]
		c.id.Append(e.ID)
		c.kind.Append(string(e.Kind))
		// time is a DateTime: UTC seconds.
		c.time.Append(e.Time)
		c.experiment.Append(e.Experiment)
		c.version.Append(e.Version)
		c.segment.Append(e.Segment)
		c.variant.Append(e.Variant)
		c.unit.Append(e.Unit)
		c.sendID.Append(e.SendID)
		c.channel.Append(e.Channel)
		c.name.Append(e.Name)
		c.value.Append(e.Value)
		c.url.Append(e.URL)
		var machine uint8
		if e.Machine {
			machine = 1
		}
		c.machine.Append(machine)
		c.reason.Append(e.MachineReason)
	}
}

// Ping checks that ClickHouse answers: EUNAVAILABLE if it does not.
func (s *EventSink) Ping(ctx context.Context) error {
	if err := s.conn.Ping(ctx); err != nil {
		return fmt.Errorf("ping clickhouse: %w", translate(err))
	}
	return nil
}
