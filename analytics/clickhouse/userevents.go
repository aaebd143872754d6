package clickhouse

import (
	"context"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/splitcast/splitcast/analytics"
)

// insertUserEvents names the columns of user_events the sink writes, in the
// order of userBlock.columns; date and received_at take their defaults.
const insertUserEvents = "INSERT INTO user_events (event_id, time, unit, name, " +
	"s_keys, s_vals, n_keys, n_vals, b_keys, b_vals, l_keys, l_vals)"

// splitUser returns events with the user events (analytics.KindTrack)
// moved out: message events go to the events table, user events to
// user_events. It keeps events when there is no user event, which is the
// common case and allocates nothing.
func splitUser(events []analytics.Event) (message, user []analytics.Event) {
	n := 0
	for i := range events {
		if events[i].Kind == analytics.KindTrack {
			n++
		}
	}
	if n == 0 {
		return events, nil
	}
	if n == len(events) {
		return nil, events
	}
	message = make([]analytics.Event, 0, len(events)-n)
	user = make([]analytics.Event, 0, n)
	for i := range events {
		if events[i].Kind == analytics.KindTrack {
			user = append(user, events[i])
		} else {
			message = append(message, events[i])
		}
	}
	return message, user
}

// userBlock holds user events as the columns of insertUserEvents.
type userBlock struct {
	id, unit, name []string
	time           []time.Time

	sKeys, sVals, nKeys, bKeys, lKeys, lVals [][]string
	nVals                                    [][]float64
	bVals                                    [][]uint8
}

// fill makes b hold events' rows. A user event whose Props do not decode
// cannot have come from analytics.NewUserEvent; it is an error, which the
// ingest treats as a refused row.
func (b *userBlock) fill(events []analytics.Event) error {
	for i := range events {
		e := &events[i]
		props, err := analytics.DecodeProps(e.Props)
		if err != nil {
			return &badProps{id: e.ID, err: err}
		}
		b.id, b.unit, b.name = append(b.id, e.ID), append(b.unit, e.Unit), append(b.name, e.Name)
		b.time = append(b.time, e.Time)
		var sk, sv, nk, bk, lk, lv []string
		var nv []float64
		var bv []uint8
		for _, p := range props {
			switch p.Type {
			case analytics.PropString:
				sk, sv = append(sk, p.Key), append(sv, p.Str)
			case analytics.PropNumber:
				nk, nv = append(nk, p.Key), append(nv, p.Num)
			case analytics.PropBool:
				v := uint8(0)
				if p.Bool {
					v = 1
				}
				bk, bv = append(bk, p.Key), append(bv, v)
			case analytics.PropList:
				for _, s := range p.List {
					lk, lv = append(lk, p.Key), append(lv, s)
				}
			}
		}
		b.sKeys, b.sVals = append(b.sKeys, nonNil(sk)), append(b.sVals, nonNil(sv))
		b.nKeys, b.nVals = append(b.nKeys, nonNil(nk)), append(b.nVals, nonNilF(nv))
		b.bKeys, b.bVals = append(b.bKeys, nonNil(bk)), append(b.bVals, nonNilB(bv))
		b.lKeys, b.lVals = append(b.lKeys, nonNil(lk)), append(b.lVals, nonNil(lv))
	}
	return nil
}

// badProps is a user event whose properties do not decode.
type badProps struct {
	id  string
	err error
}

func (e *badProps) Error() string { return "user event " + e.id + ": " + e.err.Error() }
func (e *badProps) Unwrap() error { return e.err }

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilF(s []float64) []float64 {
	if s == nil {
		return []float64{}
	}
	return s
}

func nonNilB(s []uint8) []uint8 {
	if s == nil {
		return []uint8{}
	}
	return s
}

func (b *userBlock) columns() []namedValues {
	return []namedValues{
		{"event_id", b.id}, {"time", b.time}, {"unit", b.unit}, {"name", b.name},
		{"s_keys", b.sKeys}, {"s_vals", b.sVals}, {"n_keys", b.nKeys}, {"n_vals", b.nVals},
		{"b_keys", b.bKeys}, {"b_vals", b.bVals}, {"l_keys", b.lKeys}, {"l_vals", b.lVals},
	}
}

// writeUser inserts user events into user_events in one INSERT, a block
// of at most blockRows rows at a time.
func writeUser(ctx context.Context, conn driver.Conn, events []analytics.Event) error {
	batch, err := conn.PrepareBatch(ctx, insertUserEvents)
	if err != nil {
		return err
	}
	for off := 0; off < len(events); off += blockRows {
		if off > 0 {
			if err := batch.Flush(); err != nil {
				batch.Abort()
				return err
			}
		}
		var b userBlock
		if err := b.fill(events[off:min(off+blockRows, len(events))]); err != nil {
			batch.Abort()
			return err
		}
		if err := appendColumns(batch, b.columns()); err != nil {
			batch.Abort()
			return err
		}
	}
	return batch.Send()
}
