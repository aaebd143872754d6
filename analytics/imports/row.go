package imports

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/experiment"
)

// The columns of a row, as the CSV header and the NDJSON keys name them.
const (
	colUnit    = "unit"
	colKind    = "kind"
	colTime    = "time"
	colSegment = "segment"
	colVariant = "variant"
	colValue   = "value"
	colEventID = "event_id"
	colChannel = "channel"
	colMachine = "machine"
)

var columns = []string{colUnit, colKind, colTime, colSegment, colVariant, colValue, colEventID, colChannel, colMachine}

// row is one row's fields as text (NDJSON numbers and booleans as their
// JSON text), "" for absent.
type row [9]string

// minTime is the earliest time a row may carry: anything before is a unit
// mistake (milliseconds read as seconds go the other way, past maxAhead).
var minTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// maxAhead bounds how far past the import's clock a row's time may be.
const maxAhead = analytics.MaxSkew

// rowError is the error of a bad row: invalid, naming the line and field.
func rowError(line int, field, format string, args ...any) error {
	e := experiment.Invalid(field, format, args...)
	e.Line = line
	e.Message = "line " + strconv.Itoa(line) + ": " + e.Message
	return e
}

// checker turns rows into events for one experiment.
type checker struct {
	exp experiment.Experiment
	now time.Time
}

// event checks row r (at line) and returns its event.
func (c *checker) event(line int, r *row) (analytics.Event, error) {
	e := analytics.Event{Experiment: c.exp.Key, Version: c.exp.Version, Unit: r[0], Kind: analytics.Kind(r[1])}
	if e.Unit == "" {
		return e, rowError(line, colUnit, "required")
	}
	if len(e.Unit) > analytics.MaxIDLen || !utf8.ValidString(e.Unit) {
		return e, rowError(line, colUnit, "want valid UTF-8 of at most %d bytes", analytics.MaxIDLen)
	}
	switch e.Kind {
	case analytics.KindExposure, analytics.KindOpen, analytics.KindClick, analytics.KindConversion,
		analytics.KindUnsubscribe, analytics.KindComplaint:
	case "":
		return e, rowError(line, colKind, "required")
	default:
		return e, rowError(line, colKind, "unknown kind %q: want exposure, open, click, conversion, unsubscribe or complaint", r[1])
	}
	t, err := parseTime(r[2])
	if err != nil {
		return e, rowError(line, colTime, "%v", err)
	}
	if t.Before(minTime) || t.After(c.now.Add(maxAhead)) {
		return e, rowError(line, colTime, "%s is before 2000 or in the future", t.Format(time.RFC3339))
	}
	e.Time = t
	if err := c.arm(line, r, &e); err != nil {
		return e, err
	}
	if err := c.rest(line, r, &e); err != nil {
		return e, err
	}
	if r[6] == "" {
		e.ID = contentID(&e)
	} else {
		e.ID = r[6]
	}
	return e, nil
}

// arm checks segment and variant: required on an exposure, and then an arm
// of the definition; elsewhere optional (a unit's events count in the arm
// of its first exposure whatever they name) and stored as given.
func (c *checker) arm(line int, r *row, e *analytics.Event) error {
	e.Segment, e.Variant = r[3], r[4]
	for i, f := range []string{colSegment, colVariant} {
		if len(r[3+i]) > analytics.MaxIDLen || !utf8.ValidString(r[3+i]) {
			return rowError(line, f, "want valid UTF-8 of at most %d bytes", analytics.MaxIDLen)
		}
	}
	if e.Kind != analytics.KindExposure {
		return nil
	}
	if e.Segment == "" {
		return rowError(line, colSegment, "required on an exposure")
	}
	si := c.exp.Segment(e.Segment)
	if si < 0 {
		return rowError(line, colSegment, "experiment %s has no segment %q", c.exp.Key, e.Segment)
	}
	switch {
	case e.Variant == "":
		return rowError(line, colVariant, "required on an exposure")
	case e.Variant == experiment.HoldoutArm && c.exp.Holdout > 0:
	case c.exp.Segments[si].Variant(e.Variant) < 0:
		return rowError(line, colVariant, "segment %s has no variant %q", e.Segment, e.Variant)
	}
	return nil
}

// rest checks value, event_id, channel and machine.
func (c *checker) rest(line int, r *row, e *analytics.Event) error {
	if r[5] != "" {
		if e.Kind != analytics.KindConversion {
			return rowError(line, colValue, "only a conversion has a value")
		}
		v, err := strconv.ParseFloat(r[5], 64)
		if err != nil || math.IsNaN(v) || v < 0 || v > analytics.MaxValue {
			return rowError(line, colValue, "want a number from 0 to %g, got %q", analytics.MaxValue, r[5])
		}
		e.Value = v
	}
	if len(r[6]) > analytics.MaxIDLen || !utf8.ValidString(r[6]) {
		return rowError(line, colEventID, "want valid UTF-8 of at most %d bytes", analytics.MaxIDLen)
	}
	e.Channel = string(c.exp.Channel)
	if r[7] != "" {
		if !experiment.Channel(r[7]).Valid() {
			return rowError(line, colChannel, "unknown channel %q: want email, push, sms or in_app", r[7])
		}
		e.Channel = r[7]
	}
	switch strings.ToLower(r[8]) {
	case "", "false", "0":
	case "true", "1":
		e.Machine, e.MachineReason = true, "imported"
	default:
		return rowError(line, colMachine, "want true or false, got %q", r[8])
	}
	return nil
}

// parseTime reads RFC 3339 or Unix seconds (an integer, or with a
// fraction), to the second. The two shapes nearly every file has, integer
// seconds and "2006-01-02T15:04:05Z", are read by hand; anything else, and
// anything those find out of range, by strconv and time.Parse.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errRequired
	}
	if t, ok := fastTime(s); ok {
		return t, nil
	}
	if c := s[0]; c >= '0' && c <= '9' && !strings.ContainsAny(s, "-:T") {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f > 1e11 {
			return time.Time{}, errTime(s)
		}
		return time.Unix(int64(f), 0).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, errTime(s)
	}
	return t.UTC().Truncate(time.Second), nil
}

// fastTime reads s if it is integer Unix seconds (up to 11 digits) or
// "YYYY-MM-DDTHH:MM:SSZ" with every field in range.
func fastTime(s string) (time.Time, bool) {
	num := func(s string) (int, bool) {
		n := 0
		for i := 0; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return 0, false
			}
			n = n*10 + int(s[i]-'0')
		}
		return n, len(s) > 0
	}
	if len(s) <= 11 {
		if n, ok := num(s); ok && n <= 1e11 {
			return time.Unix(int64(n), 0).UTC(), true
		}
	}
	if len(s) != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z' {
		return time.Time{}, false
	}
	y, ok1 := num(s[0:4])
	mo, ok2 := num(s[5:7])
	d, ok3 := num(s[8:10])
	h, ok4 := num(s[11:13])
	mi, ok5 := num(s[14:16])
	sec, ok6 := num(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59 {
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(mo), d, h, mi, sec, 0, time.UTC)
	if t.Day() != d { // the 31st of a shorter month, or 29 February of a common year
		return time.Time{}, false
	}
	return t, true
}

type timeError string

func (e timeError) Error() string { return string(e) }

const errRequired = timeError("required")

func errTime(s string) error {
	return timeError("want RFC 3339 or Unix seconds, got " + strconv.Quote(s))
}

// contentID derives a row's event id from what it says, so that the same
// row imported twice, or twice in one file, is one event: the first 16
// bytes of SHA-256 over the fields, each ended by a zero byte.
func contentID(e *analytics.Event) string {
	var stack [256]byte
	b := stack[:0]
	for _, s := range []string{e.Experiment, e.Unit, string(e.Kind)} {
		b = append(append(b, s...), 0)
	}
	b = append(strconv.AppendInt(b, e.Time.Unix(), 10), 0)
	b = append(append(b, e.Segment...), 0)
	b = append(append(b, e.Variant...), 0)
	b = append(strconv.AppendFloat(b, e.Value, 'g', -1, 64), 0)
	b = append(append(b, e.Channel...), 0)
	machine := byte('0')
	if e.Machine {
		machine = '1'
	}
	b = append(b, machine, 0)
	sum := sha256.Sum256(b)
	var out [4 + 32]byte
	copy(out[:], "imp-")
	hex.Encode(out[4:], sum[:16])
	return string(out[:])
}
