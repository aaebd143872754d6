package clickhouse

import (
	"context"
	"time"

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

// userBlock holds user events as the columns of insertUserEvents. A sink
// lends its blocks from Write to Write (EventSink.userSpare), as it does
// the events' (blockValues): made anew for every batch, they were a
// quarter of what the sink allocated for each user event (0.56 of 2.1 KB).
type userBlock struct {
	id, unit, name []string
	time           []time.Time

	sKeys, sVals, nKeys, bKeys, lKeys, lVals [][]string
	nVals                                    [][]float64
	bVals                                    [][]uint8

	// strs, nums and bools are the flat storage of the rows' arrays, and
	// props one event's properties as they are decoded.
	strs  []string
	nums  []float64
	bools []uint8
	props []analytics.Prop
}

// fill makes b hold events' rows. A user event whose Props do not decode
// cannot have come from analytics.NewUserEvent; it is an error, which the
// ingest treats as a refused row. Each row's arrays are windows of a few
// flat slices, so that a block allocates per column, not per event and
// property (that had been the sink's largest cost for user events), and
// not at all once a block of as many rows has been filled before.
func (b *userBlock) fill(events []analytics.Event) error {
	// Every column is cut to nothing and appended to: what a longer block
	// left past the new rows is cleared by forget when the Write ends.
	b.id, b.unit, b.name, b.time = b.id[:0], b.unit[:0], b.name[:0], b.time[:0]
	for _, col := range []*[][]string{&b.sKeys, &b.sVals, &b.nKeys, &b.bKeys, &b.lKeys, &b.lVals} {
		*col = (*col)[:0]
	}
	b.nVals, b.bVals = b.nVals[:0], b.bVals[:0]
	strs, nums, bools := b.strs[:0], b.nums[:0], b.bools[:0]
	defer func() { b.strs, b.nums, b.bools = strs, nums, bools }()
	for i := range events {
		e := &events[i]
		var err error
		if b.props, err = analytics.AppendProps(b.props[:0], e.Props); err != nil {
			return &badProps{id: e.ID, err: err}
		}
		props := b.props
		b.id, b.unit, b.name = append(b.id, e.ID), append(b.unit, e.Unit), append(b.name, e.Name)
		b.time = append(b.time, e.Time)
		// Keys then values of each type, each run a window of strs: a
		// window taken after its appends stays valid when strs grows.
		keys := func(t analytics.PropType) []string {
			from := len(strs)
			for _, p := range props {
				if p.Type == t {
					if t == analytics.PropList {
						for range p.List {
							strs = append(strs, p.Key)
						}
					} else {
						strs = append(strs, p.Key)
					}
				}
			}
			return strs[from:len(strs):len(strs)]
		}
		sk := keys(analytics.PropString)
		from := len(strs)
		for _, p := range props {
			if p.Type == analytics.PropString {
				strs = append(strs, p.Str)
			}
		}
		sv := strs[from:len(strs):len(strs)]
		nk := keys(analytics.PropNumber)
		nFrom := len(nums)
		for _, p := range props {
			if p.Type == analytics.PropNumber {
				nums = append(nums, p.Num)
			}
		}
		bk := keys(analytics.PropBool)
		bFrom := len(bools)
		for _, p := range props {
			if p.Type == analytics.PropBool {
				v := uint8(0)
				if p.Bool {
					v = 1
				}
				bools = append(bools, v)
			}
		}
		lk := keys(analytics.PropList)
		from = len(strs)
		for _, p := range props {
			if p.Type == analytics.PropList {
				strs = append(strs, p.List...)
			}
		}
		lv := strs[from:len(strs):len(strs)]
		b.sKeys, b.sVals = append(b.sKeys, sk), append(b.sVals, sv)
		b.nKeys, b.nVals = append(b.nKeys, nk), append(b.nVals, nums[nFrom:len(nums):len(nums)])
		b.bKeys, b.bVals = append(b.bKeys, bk), append(b.bVals, bools[bFrom:len(bools):len(bools)])
		b.lKeys, b.lVals = append(b.lKeys, lk), append(b.lVals, lv)
	}
	return nil
}

// forget drops what b's rows refer to (the events' strings, the times'
// locations), so that a spare block does not keep the events of its last
// Write alive until the next one: the batch's columns copied them already.
func (b *userBlock) forget() {
	clear(b.id)
	clear(b.unit)
	clear(b.name)
	clear(b.time)
	clear(b.strs)
	clear(b.props)
	for _, col := range []*[][]string{&b.sKeys, &b.sVals, &b.nKeys, &b.bKeys, &b.lKeys, &b.lVals} {
		clear(*col)
	}
}

// badProps is a user event whose properties do not decode.
type badProps struct {
	id  string
	err error
}

func (e *badProps) Error() string { return "user event " + e.id + ": " + e.err.Error() }
func (e *badProps) Unwrap() error { return e.err }

func (b *userBlock) columns() []namedValues {
	return []namedValues{
		{"event_id", b.id}, {"time", b.time}, {"unit", b.unit}, {"name", b.name},
		{"s_keys", b.sKeys}, {"s_vals", b.sVals}, {"n_keys", b.nKeys}, {"n_vals", b.nVals},
		{"b_keys", b.bKeys}, {"b_vals", b.bVals}, {"l_keys", b.lKeys}, {"l_vals", b.lVals},
	}
}

// writeUser inserts user events into user_events in one INSERT, a block
// of at most blockRows rows at a time.
func (s *EventSink) writeUser(ctx context.Context, events []analytics.Event) error {
	batch, err := s.conn.PrepareBatch(ctx, insertUserEvents)
	if err != nil {
		return err
	}
	b := s.userSpare.get()
	defer func() {
		b.forget()
		s.userSpare.put(b)
	}()
	for off := 0; off < len(events); off += blockRows {
		if off > 0 {
			if err := batch.Flush(); err != nil {
				batch.Abort()
				return err
			}
		}
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
