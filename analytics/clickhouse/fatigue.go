package clickhouse

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/analytics/fatigue"
	"github.com/splitcast/splitcast/analytics/results"
	"github.com/splitcast/splitcast/experiment"
)

// FatigueReader is the fatigue.Reader on the events table: the suppression
// signals and the recent exposures that every server's fatigue state is
// refreshed from.
//
// Cost: an incremental read (since a mark) filters on received_at, which
// is not in the sort key, so it reads the partitions it touches like the
// trait refresh does: the signals' whole table on the first read only (a
// unit's unsubscribe of last year still counts), then the rows received
// since the mark; the exposures, the cap window's partitions.
type FatigueReader struct {
	conn driver.Conn
	// Margin and FixedMargin are TraitReader's: how far before the
	// previous mark each read looks for inserts that were in flight.
	Margin      time.Duration
	FixedMargin bool
}

var _ fatigue.Reader = (*FatigueReader)(nil)

// NewFatigueReader returns a reader of conn's database, which must be
// migrated.
func NewFatigueReader(conn driver.Conn) *FatigueReader {
	return &FatigueReader{conn: conn, Margin: DefaultTraitMargin}
}

// fatigueSignals is the latest time of each unit, channel and kind of
// suppression signal; the caller appends the received_at filter.
const fatigueSignals = `SELECT unit, channel, kind, max(time) FROM events
WHERE kind IN ('unsubscribe', 'complaint', 'resubscribe')`

// fatigueSends are the exposures since a time (the first parameter's day,
// for the partitions, then the time itself): the channel as its index in
// experiment.AllChannels (0 for none), the event id as fatigue.SendKey
// gives it, numbers rather than strings to decode. Copies of one event are
// read as they come: the gate counts a key once.
const fatigueSends = `SELECT unit, toUInt8(indexOf(['email', 'push', 'sms', 'in_app'], channel)),
	reinterpretAsUInt64(reverse(unhex(substring(event_id, 3, 16)))), time FROM events
WHERE kind = 'exposure' AND date >= toDate(?) AND time >= toDateTime(?)`

// Fatigue reads the signals and the exposures stored since the mark since
// (all of them when since is zero), the exposures only from from on when
// from is not zero, and returns the next mark.
func (r *FatigueReader) Fatigue(ctx context.Context, since, from time.Time) (fatigue.Batch, time.Time, error) {
	mark, err := nextMark(ctx, r.conn, r.Margin, r.FixedMargin)
	if err != nil {
		return fatigue.Batch{}, since, err
	}
	var b fatigue.Batch
	recv, args := "", []any{}
	if !since.IsZero() {
		recv, args = " AND received_at >= toDateTime(?)", []any{uint32(since.Unix())}
	}
	if b.Signals, err = r.signals(ctx, fatigueSignals+recv+" GROUP BY unit, channel, kind", args); err != nil {
		return fatigue.Batch{}, since, err
	}
	if !from.IsZero() {
		// A day's margin: the date column is in the server's time zone.
		sendArgs := append([]any{dateString(analytics.Day(from) - 1), uint32(from.Unix())}, args...)
		if b.Sends, err = r.sends(ctx, fatigueSends+recv, sendArgs); err != nil {
			return fatigue.Batch{}, since, err
		}
	}
	return b, mark, nil
}

func (r *FatigueReader) signals(ctx context.Context, q string, args []any) ([]fatigue.Signal, error) {
	rows, err := r.conn.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("fatigue signals: %w", translate(err))
	}
	defer rows.Close()
	var out []fatigue.Signal
	for rows.Next() {
		var unit, channel, kind string
		var t time.Time
		if err := rows.Scan(&unit, &channel, &kind, &t); err != nil {
			return nil, fmt.Errorf("fatigue signals: %w", translate(err))
		}
		out = append(out, fatigue.Signal{Unit: unit, Channel: experiment.Channel(channel), Kind: analytics.Kind(kind), Time: t})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("fatigue signals: %w", translate(err))
	}
	return out, nil
}

func (r *FatigueReader) sends(ctx context.Context, q string, args []any) ([]fatigue.Send, error) {
	rows, err := r.conn.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("fatigue sends: %w", translate(err))
	}
	defer rows.Close()
	var out []fatigue.Send
	for rows.Next() {
		var s fatigue.Send
		var channel uint8
		if err := rows.Scan(&s.Unit, &channel, &s.ID, &s.Time); err != nil {
			return nil, fmt.Errorf("fatigue sends: %w", translate(err))
		}
		if channel > 0 {
			s.Channel = experiment.AllChannels[channel-1]
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("fatigue sends: %w", translate(err))
	}
	return out, nil
}

var _ results.FatigueReader = (*FatigueReader)(nil)

// armFatigue counts an experiment's exposures and suppressions by arm and
// reason (name, empty for exposures); the sort key starts with experiment,
// segment, variant and kind, so it reads only the experiment's rows of
// these two kinds.
const armFatigue = `SELECT segment, variant, kind, name, uniqExact(unit), uniqExact(event_id) FROM events
WHERE experiment = ? AND kind IN ('exposure', 'suppressed')
GROUP BY segment, variant, kind, name`

// armSuppressed counts the distinct suppressed units per arm, whatever the
// reason.
const armSuppressed = `SELECT segment, variant, uniqExact(unit) FROM events
WHERE experiment = ? AND kind = 'suppressed'
GROUP BY segment, variant`

// ArmFatigue reads the messages and suppressions of an experiment per arm.
func (r *FatigueReader) ArmFatigue(ctx context.Context, key string) ([]results.ArmFatigue, error) {
	rows, err := r.conn.Query(ctx, armFatigue, key)
	if err != nil {
		return nil, fmt.Errorf("arm fatigue: %w", translate(err))
	}
	defer rows.Close()
	var out []results.ArmFatigue
	at := map[[2]string]int{}
	arm := func(seg, variant string) *results.ArmFatigue {
		i, ok := at[[2]string{seg, variant}]
		if !ok {
			i = len(out)
			at[[2]string{seg, variant}] = i
			out = append(out, results.ArmFatigue{Segment: seg, Variant: variant, Suppressed: map[string]int64{}})
		}
		return &out[i]
	}
	for rows.Next() {
		var seg, variant, kind, name string
		var units, events uint64
		if err := rows.Scan(&seg, &variant, &kind, &name, &units, &events); err != nil {
			return nil, fmt.Errorf("arm fatigue: %w", translate(err))
		}
		a := arm(seg, variant)
		if kind == string(analytics.KindExposure) {
			a.MessagedUnits, a.Messages = int64(units), int64(events)
		} else {
			a.Suppressed[name] = int64(units)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("arm fatigue: %w", translate(err))
	}
	srows, err := r.conn.Query(ctx, armSuppressed, key)
	if err != nil {
		return nil, fmt.Errorf("arm suppressed: %w", translate(err))
	}
	defer srows.Close()
	for srows.Next() {
		var seg, variant string
		var units uint64
		if err := srows.Scan(&seg, &variant, &units); err != nil {
			return nil, fmt.Errorf("arm suppressed: %w", translate(err))
		}
		arm(seg, variant).SuppressedUnits = int64(units)
	}
	return out, translate(srows.Err())
}
