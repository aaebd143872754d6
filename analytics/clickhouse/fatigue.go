package clickhouse

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
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
// Cost: the signals' whole table on the first read only (a unit's
// unsubscribe of last year still counts), and the exposures of the cap
// window's partitions; then an incremental read (since a mark) reads only
// the parts of events written since it, like the trait refresh (see tail).
type FatigueReader struct {
	conn driver.Conn
	// Margin and FixedMargin are TraitReader's: how far before the
	// previous mark each read looks for inserts that were in flight.
	Margin      time.Duration
	FixedMargin bool
	// Rollups, when set, are the report rollups ArmFatigue reads the
	// messages of (unit_state's ex_arms and ex_counts, migration 0015), as
	// last folded, keeping counts as the UnitReader does (see readKept);
	// the suppressions, few and first in the sort key, are read from the
	// events.
	Rollups *Rollups

	kept keptCounts[sendEntry]
}

var _ fatigue.Reader = (*FatigueReader)(nil)

// sendEntry is a unit's exposures in one arm: the arm, and how many.
type sendEntry struct {
	Arm   uint64
	Sends uint32
}

// sendEntries reads sendEntry, a unit's entry per arm it was exposed in.
var sendEntries = entryQuery[sendEntry]{
	name:      "sends",
	compare:   func(a, b sendEntry) int { return cmp.Or(cmp.Compare(a.Arm, b.Arm), cmp.Compare(a.Sends, b.Sends)) },
	columns:   []string{"ex_arms", "ex_counts"},
	entry:     "tupleElement(e, 1) AS earm, tupleElement(e, 2) AS sends",
	keys:      "earm, sends",
	arrayJoin: "ARRAY JOIN arrayMap((a, c) -> tuple(a, c), ex_arms, ex_counts) AS e",
	fields:    func(e *sendEntry) []any { return []any{&e.Arm, &e.Sends} },
}

// NewFatigueReader returns a reader of conn's database, which must be
// migrated.
func NewFatigueReader(conn driver.Conn) *FatigueReader {
	return &FatigueReader{conn: conn, Margin: DefaultTraitMargin}
}

// fatigueSignals is the latest time of each unit, channel and kind of
// suppression signal; the caller appends the received_at filter. Units
// are read as fatigue.Key gives them (murmurHash2_64), here and below: fixed
// width, nothing to decode or hash per row.
const fatigueSignals = `SELECT murmurHash2_64(unit), channel, kind, max(time) FROM events
WHERE kind IN ('unsubscribe', 'complaint', 'resubscribe')`

// fatigueSends are the exposures since a time (the first parameter's day,
// for the partitions, then the time itself): the channel as its index in
// experiment.AllChannels (0 for none), the event id as fatigue.SendKey
// gives it, numbers rather than strings to decode. Copies of one event are
// read as they come: the gate counts a key once. Sorted by unit key, the
// order in which the gate's table is laid out (see fatigue's index): the
// sort costs ClickHouse less than random probes would cost the gate.
const fatigueSends = `SELECT murmurHash2_64(unit) AS k, toUInt8(indexOf(['email', 'push', 'sms', 'in_app'], channel)),
	reinterpretAsUInt64(reverse(unhex(substring(event_id, 3, 16)))), time FROM events
WHERE kind = 'exposure' AND date >= toDate(?) AND time >= toDateTime(?)
ORDER BY k`

// fatigueChanged is an incremental read's one scan: every signal and
// exposure received since a mark, in the parts written since ({tail}, see
// tail: without it, every refresh read the received_at column of every
// event ever stored), within the partitions of a date (the first
// parameter), exposures from a time (the third). The kind is its index in
// fatigueKinds; channel, key and order as fatigueSends'.
const fatigueChanged = `SELECT toUInt8(indexOf(['exposure', 'unsubscribe', 'complaint', 'resubscribe'], kind)), murmurHash2_64(unit) AS k,
	toUInt8(indexOf(['email', 'push', 'sms', 'in_app'], channel)),
	reinterpretAsUInt64(reverse(unhex(substring(event_id, 3, 16)))), time FROM events
PREWHERE received_at >= toDateTime(?)
WHERE {tail} AND date >= toDate(?) AND kind IN ('exposure', 'unsubscribe', 'complaint', 'resubscribe')
	AND (kind != 'exposure' OR time >= toDateTime(?))
ORDER BY k`

var fatigueKinds = [...]analytics.Kind{analytics.KindExposure, analytics.KindUnsubscribe, analytics.KindComplaint, analytics.KindResubscribe}

// Fatigue reads the signals and the exposures stored since the mark since
// (all of them when since is zero), the exposures only from from on (none
// when from is zero), and returns the next mark. An incremental read is one
// scan of the partitions of the last analytics.MaxAge (an event older than
// that is refused at the edge; one imported later counts from the next
// start's full read).
func (r *FatigueReader) Fatigue(ctx context.Context, since, from time.Time) (fatigue.Batch, time.Time, error) {
	mark, err := nextMark(ctx, r.conn, r.Margin, r.FixedMargin)
	if err != nil {
		return fatigue.Batch{}, since, err
	}
	if !since.IsZero() {
		b, err := r.changed(ctx, since, from)
		if err != nil {
			return fatigue.Batch{}, since, err
		}
		return b, mark, nil
	}
	var b fatigue.Batch
	if b.Signals, err = r.signals(ctx, fatigueSignals+" GROUP BY unit, channel, kind", nil); err != nil {
		return fatigue.Batch{}, since, err
	}
	if !from.IsZero() {
		// A day's margin: the date column is in the server's time zone.
		if b.Sends, err = r.sends(ctx, fatigueSends, []any{dateString(analytics.Day(from) - 1), uint32(from.Unix())}); err != nil {
			return fatigue.Batch{}, since, err
		}
	}
	return b, mark, nil
}

func (r *FatigueReader) changed(ctx context.Context, since, from time.Time) (fatigue.Batch, error) {
	sendsFrom := uint32(1<<32 - 1) // no exposure is that late: none read
	if !from.IsZero() {
		sendsFrom = uint32(from.Unix())
	}
	day := analytics.Day(since.Add(-analytics.MaxAge)) - 1
	var b fatigue.Batch
	err := readTail(ctx, r.conn, "events", since, func(t tail) error {
		b = fatigue.Batch{}
		if t.empty() {
			return nil
		}
		return r.readChanged(ctx, &b, strings.Replace(fatigueChanged, "{tail}", t.filter(), 1), uint32(since.Unix()), dateString(day), sendsFrom)
	})
	return b, err
}

// readChanged adds the rows of fatigueChanged (q, with args) to b.
func (r *FatigueReader) readChanged(ctx context.Context, b *fatigue.Batch, q string, args ...any) error {
	rows, err := r.conn.Query(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("fatigue changes: %w", translate(err))
	}
	defer rows.Close()
	for rows.Next() {
		var kind, channel uint8
		var unit, key uint64
		var t time.Time
		if err := rows.Scan(&kind, &unit, &channel, &key, &t); err != nil {
			return fmt.Errorf("fatigue changes: %w", translate(err))
		}
		var ch experiment.Channel
		if channel > 0 {
			ch = experiment.AllChannels[channel-1]
		}
		if kind <= 1 {
			b.Sends = append(b.Sends, fatigue.Send{Unit: fatigue.Key(unit), Channel: ch, ID: key, Time: t})
		} else {
			b.Signals = append(b.Signals, fatigue.Signal{Unit: fatigue.Key(unit), Channel: ch, Kind: fatigueKinds[kind-1], Time: t})
		}
	}
	return translate(rows.Err())
}

func (r *FatigueReader) signals(ctx context.Context, q string, args []any) ([]fatigue.Signal, error) {
	rows, err := r.conn.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("fatigue signals: %w", translate(err))
	}
	defer rows.Close()
	var out []fatigue.Signal
	for rows.Next() {
		var unit uint64
		var channel, kind string
		var t time.Time
		if err := rows.Scan(&unit, &channel, &kind, &t); err != nil {
			return nil, fmt.Errorf("fatigue signals: %w", translate(err))
		}
		out = append(out, fatigue.Signal{Unit: fatigue.Key(unit), Channel: experiment.Channel(channel), Kind: analytics.Kind(kind), Time: t})
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
		var unit uint64
		var channel uint8
		if err := rows.Scan(&unit, &channel, &s.ID, &s.Time); err != nil {
			return nil, fmt.Errorf("fatigue sends: %w", translate(err))
		}
		s.Unit = fatigue.Key(unit)
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
var armFatigue = armCounts("'exposure', 'suppressed'")

// armSuppressions is armFatigue's suppressions alone.
var armSuppressions = armCounts("'suppressed'")

// armCounts is armFatigue of the kinds listed.
func armCounts(kinds string) string {
	return `SELECT segment, variant, kind, name, uniqExact(unit), uniqExact(event_id) FROM events
WHERE experiment = ? AND kind IN (` + kinds + `)
GROUP BY segment, variant, kind, name`
}

// armSuppressed counts the distinct suppressed units per arm, whatever the
// reason.
const armSuppressed = `SELECT segment, variant, uniqExact(unit) FROM events
WHERE experiment = ? AND kind = 'suppressed'
GROUP BY segment, variant`

// ArmFatigue reads the messages and suppressions of an experiment per arm.
func (r *FatigueReader) ArmFatigue(ctx context.Context, key string) ([]results.ArmFatigue, error) {
	q := armFatigue
	var sends []savedEntry[sendEntry]
	var names map[uint64][2]string
	if r.Rollups != nil {
		var err error
		if sends, names, err = readKept(ctx, r.conn, r.Rollups, &r.kept, unitSumsKey{experiment: key}, sendEntries); err != nil {
			return nil, fmt.Errorf("arm fatigue: %w", err)
		}
		q = armSuppressions
	}
	rows, err := r.conn.Query(ctx, q, key)
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
	for _, c := range sends {
		e, n := c.E, c.N
		name, ok := names[e.Arm]
		if !ok {
			return nil, fmt.Errorf("arm fatigue: experiment %s has units in arm %d, which has no name", key, e.Arm)
		}
		a := arm(name[0], name[1])
		a.MessagedUnits += n
		a.Messages += n * int64(e.Sends)
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
	slices.SortFunc(out, func(a, b results.ArmFatigue) int {
		return cmp.Or(cmp.Compare(a.Segment, b.Segment), cmp.Compare(a.Variant, b.Variant))
	})
	return out, translate(srows.Err())
}
