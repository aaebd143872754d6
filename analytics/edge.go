package analytics

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/splitcast/splitcast/experiment"
)

// The rules by which the edge (the assignment API, the pixel, the redirect
// and the events API) turns what it received into events. Handlers decode,
// call one of these and encode; the rules live here so that they are
// tested, and reused, without HTTP.

// MaxIDLen bounds every identifier a caller sends: unit id, send id, event
// id or idempotency key, and event name. It is experiment.MaxIDLen, which
// tracking tokens also carry.
const MaxIDLen = experiment.MaxIDLen

// MaxSkew bounds how far in the future a caller's event time may be.
const MaxSkew = 5 * time.Minute

// MaxAge bounds how far in the past a caller's event time may be. Events
// are stored by month: a batch reaching back years touches a partition per
// month, which ClickHouse refuses (more than 100 in one insert), and an
// event that old belongs to no running experiment's analysis anyway.
const MaxAge = 30 * 24 * time.Hour

// MaxValue bounds an event's value (revenue, say): 0 to MaxValue, and a
// conversion named RefundName alone may be negative, down to -MaxValue. A
// billion in one order is beyond any message's conversion; a typo of
// -1e12 would otherwise sink a variant's revenue.
const MaxValue = 1e9

// RefundName is the name of the conversion that takes revenue back: the
// only event whose value may be negative.
const RefundName = "refund"

// CheckUnit checks a unit id sent in field: required, at most MaxIDLen
// bytes, valid UTF-8 (stored as it is, invalid bytes would be replaced
// somewhere on the way, and two distinct ids would become one).
func CheckUnit(field, unit string) error {
	if unit == "" {
		return experiment.Invalid(field, "required")
	}
	return checkID(field, unit)
}

// checkID checks an optional identifier: at most MaxIDLen bytes of valid
// UTF-8.
func checkID(field, id string) error {
	if len(id) > MaxIDLen {
		return experiment.Invalid(field, "longer than %d bytes", MaxIDLen)
	}
	if !utf8.ValidString(id) {
		return experiment.Invalid(field, "not valid UTF-8")
	}
	return nil
}

// CheckAssign checks what an assignment request names besides its
// experiment: the unit, the send id (optional) and the channel (optional,
// one of experiment's channels). It runs before anything is assigned or
// logged.
func CheckAssign(unit, sendID, channel string) error {
	if err := CheckUnit("unit_id", unit); err != nil {
		return err
	}
	if err := checkID("send_id", sendID); err != nil {
		return err
	}
	if channel != "" && !experiment.Channel(channel).Valid() {
		return experiment.Invalid("channel", "unknown channel %q", channel)
	}
	return nil
}

// Arm is where a tracked event belongs: the experiment version, segment and
// arm a unit was assigned, and the send, as an assignment answered them or a
// verified token carries them.
type Arm struct {
	Experiment string
	Version    uint32
	Segment    string
	Variant    string
	Unit       string
	SendID     string
	// Channel is the channel the message went out on, as a token carries
	// it ("" for tokens signed before tokens carried one).
	Channel string
}

// Exposure returns the exposure of arm's unit sent on channel at now. Its
// id follows the send: a retried assignment of the same send id is the same
// exposure, and counts once; without a send id, the exposure gets a fresh
// id from ids, and its SendID is that id (the sender's handle for it).
func Exposure(ids *IDs, arm Arm, channel string, now time.Time) Event {
	var id string
	if arm.SendID == "" {
		id = ids.Next("x:")
		arm.SendID = id[len("x:"):]
	} else {
		id = Digest("x:", arm.Experiment, arm.Unit, arm.SendID)
	}
	return Event{
		ID: id, Kind: KindExposure, Time: now.UTC().Truncate(time.Second),
		Experiment: arm.Experiment, Version: arm.Version, Segment: arm.Segment, Variant: arm.Variant,
		Unit: arm.Unit, SendID: arm.SendID, Channel: channel,
	}
}

// Suppressed returns the record that arm's unit was answered suppressed
// for reason on channel at now: the arm is where the unit would have been,
// so that reports count suppressed units per arm. Its id follows the send,
// as an exposure's does (a retried suppressed send counts once).
func Suppressed(ids *IDs, arm Arm, channel, reason string, now time.Time) Event {
	var id string
	if arm.SendID != "" {
		id = Digest("s:", arm.Experiment, arm.Unit, arm.SendID)
	} else {
		id = ids.Next("s:")
	}
	return Event{
		ID: id, Kind: KindSuppressed, Time: now.UTC().Truncate(time.Second),
		Experiment: arm.Experiment, Version: arm.Version, Segment: arm.Segment, Variant: arm.Variant,
		Unit: arm.Unit, SendID: arm.SendID, Channel: channel, Name: reason,
	}
}

// Tracked returns the open or the click (kind) of a verified token's arm at
// now, to url for a click, flagged as machine traffic by reason when
// machine. Every hit is its own event: a second open of a message is a
// second open (reports count units and events apart).
func Tracked(ids *IDs, kind Kind, arm Arm, url string, now time.Time, machine bool, reason string) Event {
	// "o:" or "c:" and an id of the source, in one allocation.
	var id [2 + 32]byte
	return Event{
		ID: string(ids.AppendID(append(id[:0], kind[0], ':'))), Kind: kind, Time: now.UTC().Truncate(time.Second),
		Experiment: arm.Experiment, Version: arm.Version, Segment: arm.Segment, Variant: arm.Variant,
		Unit: arm.Unit, SendID: arm.SendID, Channel: arm.Channel, URL: url, Machine: machine, MachineReason: reason,
	}
}

// ServerEvent is one server-side event as a caller sent it: a conversion, an
// unsubscribe, a complaint or a custom event. ID or IdempotencyKey makes a
// retried event count once; the arm comes from Token when given, and
// otherwise from the unit's first exposure when the report is built.
type ServerEvent struct {
	ID             string
	IdempotencyKey string
	Kind           string
	Experiment     string
	UnitID         string
	Token          string
	Name           string
	Value          *float64
	Time           *time.Time
	// Channel is what an unsubscribe, complaint or resubscribe is about
	// ("" for every channel); the token's channel when it carries one.
	Channel string
}

// OpenToken verifies the token a server event carries and returns its arm.
type OpenToken func(token string) (Arm, error)

// KnownExperiment reports whether an experiment of that key exists (in any
// status: conversions keep coming after an experiment completes).
type KnownExperiment func(key string) bool

// ServerEvents checks a batch of server events all or nothing and makes
// their events: a batch with one bad event is refused whole, with the field
// of the first problem (events[i].field), so that a client can fix and
// resend it without duplicating the good ones. A batch holds 1 to max
// events, each of an experiment that known says exists (ENOTFOUND
// otherwise).
//
// Identity: an event's id is unique in a deployment (see
// NewServerEvent): two copies of an id are the same event and count once.
// A batch that repeats an id with different content is refused with
// ECONFLICT, naming the later copy. Across requests the first copy stored
// is the event; a later, different copy of the same id must never be
// counted in its place (reports and rollups fold by event_id, keeping the
// copy received first).
func ServerEvents(ids *IDs, in []ServerEvent, max int, open OpenToken, known KnownExperiment, now time.Time) ([]Event, error) {
	if err := checkBatchSize(len(in), max); err != nil {
		return nil, err
	}
	now = now.UTC()
	out := make([]Event, len(in))
	for i := range in {
		ev, err := NewServerEvent(ids, &in[i], open, now)
		if err != nil {
			// The prefix is built only for an error: an allocation per
			// event otherwise.
			var e *experiment.Error
			if errors.As(err, &e) {
				e.Field = "events[" + strconv.Itoa(i) + "]." + e.Field
			}
			return nil, err
		}
		out[i] = ev
	}
	if err := checkBatch(in, out, known); err != nil {
		return nil, err
	}
	return out, nil
}

// checkBatch checks what concerns the batch as a whole: each experiment
// exists (asked once per key), and an id repeated in it repeats the same
// event.
func checkBatch(in []ServerEvent, out []Event, known KnownExperiment) error {
	exists := map[string]bool{}
	var seen map[string]int
	for i := range out {
		ev := &out[i]
		ok, asked := exists[ev.Experiment]
		if !asked {
			ok = known(ev.Experiment)
			exists[ev.Experiment] = ok
		}
		if !ok {
			return &experiment.Error{Code: experiment.ENOTFOUND, Field: "events[" + strconv.Itoa(i) + "].experiment",
				Message: "no experiment " + ev.Experiment}
		}
		if in[i].ID == "" && in[i].IdempotencyKey == "" {
			continue // a fresh id: never repeated
		}
		if seen == nil {
			seen = make(map[string]int, len(out))
		}
		if j, dup := seen[ev.ID]; dup && !sameEvent(&out[j], ev) {
			return &experiment.Error{Code: experiment.ECONFLICT, Field: "events[" + strconv.Itoa(i) + "].id",
				Message: "repeats the id of events[" + strconv.Itoa(j) + "] with different content: an id names one event"}
		}
		seen[ev.ID] = i
	}
	return nil
}

// sameEvent reports whether a and b are copies of one event.
func sameEvent(a, b *Event) bool {
	x, y := *a, *b
	if !x.Time.Equal(y.Time) {
		return false
	}
	x.Time, y.Time = time.Time{}, time.Time{}
	return x == y
}

// NewServerEvent checks one server event and makes its Event. Its errors
// are *experiment.Error naming the field within the event (kind, unit_id).
//
// The rules: kind is conversion, unsubscribe, complaint or custom; a token,
// when sent, gives the arm and must agree with the experiment and unit sent
// beside it; the experiment and unit are required (or the token); a value
// is within the range of checkValue; a time is at most MaxSkew ahead of now and
// at most MaxAge behind it, and defaults to now; the id is derived from the
// experiment and the caller's id or idempotency key (one of them, or both
// equal), or fresh when there is none, in which case a retry counts twice.
func NewServerEvent(ids *IDs, in *ServerEvent, open OpenToken, now time.Time) (Event, error) {
	kind := Kind(in.Kind)
	switch kind {
	case KindConversion, KindUnsubscribe, KindComplaint, KindCustom, KindResubscribe:
	case "":
		return Event{}, experiment.Invalid("kind", "required: conversion, unsubscribe, complaint, resubscribe or custom")
	default:
		return Event{}, experiment.Invalid("kind", "unknown kind %q: want conversion, unsubscribe, complaint, resubscribe or custom", in.Kind)
	}
	if in.Channel != "" && !experiment.Channel(in.Channel).Valid() {
		return Event{}, experiment.Invalid("channel", "unknown channel %q", in.Channel)
	}
	ev := Event{Kind: kind, Experiment: in.Experiment, Unit: in.UnitID, Name: in.Name, Channel: in.Channel, Time: now.Truncate(time.Second)}
	if in.Token != "" {
		if err := ev.fromToken(in.Token, open); err != nil {
			return Event{}, err
		}
	}
	if ev.Experiment == "" {
		return Event{}, experiment.Invalid("experiment", "required (or a token)")
	}
	if !experiment.ValidKey(ev.Experiment) {
		return Event{}, experiment.Invalid("experiment", "not a valid experiment key")
	}
	if err := CheckUnit("unit_id", ev.Unit); err != nil {
		return Event{}, err
	}
	if err := checkID("name", in.Name); err != nil {
		return Event{}, err
	}
	if in.Value != nil {
		if err := checkValue(*in.Value, kind, in.Name); err != nil {
			return Event{}, err
		}
		ev.Value = *in.Value
	}
	if in.Time != nil {
		if in.Time.After(now.Add(MaxSkew)) {
			return Event{}, experiment.Invalid("time", "in the future")
		}
		if in.Time.Before(now.Add(-MaxAge)) {
			return Event{}, experiment.Invalid("time", "more than 30 days in the past")
		}
		ev.Time = in.Time.UTC().Truncate(time.Second)
	}
	id, err := serverEventID(ids, in, ev.Experiment)
	if err != nil {
		return Event{}, err
	}
	ev.ID = id
	return ev, nil
}

// checkValue is the value rule: finite, 0 to MaxValue, negative only for
// a refund, down to -MaxValue.
func checkValue(v float64, kind Kind, name string) error {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return experiment.Invalid("value", "want a finite number")
	case v > MaxValue:
		return experiment.Invalid("value", "at most 1e9")
	case v < 0 && (kind != KindConversion || name != RefundName):
		return experiment.Invalid("value", "negative: only a conversion named %q may be", RefundName)
	case v < -MaxValue:
		return experiment.Invalid("value", "a refund is at least -1e9")
	}
	return nil
}

// fromToken sets e's arm from a verified token, which must agree with the
// experiment and unit already in e.
func (e *Event) fromToken(token string, open OpenToken) error {
	arm, err := open(token)
	if err != nil {
		return experiment.Invalid("token", "%s", experiment.ErrorMessage(err))
	}
	if e.Experiment != "" && e.Experiment != arm.Experiment {
		return experiment.Invalid("experiment", "differs from the token's experiment %q", arm.Experiment)
	}
	if e.Unit != "" && e.Unit != arm.Unit {
		return experiment.Invalid("unit_id", "differs from the token's unit")
	}
	e.Experiment, e.Unit, e.Version, e.Segment, e.Variant, e.SendID =
		arm.Experiment, arm.Unit, arm.Version, arm.Segment, arm.Variant, arm.SendID
	if e.Channel == "" {
		e.Channel = arm.Channel
	}
	return nil
}

// serverEventID is the idempotency rule: the caller's key (id or
// idempotency_key) within the experiment gives the id, so that a retried
// event counts once.
func serverEventID(ids *IDs, in *ServerEvent, exp string) (string, error) {
	key := in.ID
	if key == "" {
		key = in.IdempotencyKey
	} else if in.IdempotencyKey != "" && in.IdempotencyKey != in.ID {
		return "", experiment.Invalid("idempotency_key", "differs from id: send one of them")
	}
	switch {
	case len(key) > MaxIDLen:
		return "", experiment.Invalid("id", "longer than %d bytes", MaxIDLen)
	case key == "":
		// Without a key a retry counts twice; accepted, as callers asked.
		return ids.Next("e:"), nil
	default:
		return Digest("e:", exp, key), nil
	}
}

// checkBatchSize is the rule on the size of a batch of n events, at most max:
// at least one, and no more than max.
func checkBatchSize(n, max int) error {
	if n == 0 {
		return experiment.Invalid("events", "want at least one event")
	}
	if n > max {
		return &experiment.Error{Code: experiment.ETOOLARGE, Field: "events",
			Message: "at most " + strconv.Itoa(max) + " events per request"}
	}
	return nil
}

// ExposureDims returns the Event.Dims that an exposure stores for the
// breakdown dimensions dims: the channel for experiment.DimensionChannel,
// else the unit's attribute of that name (strings as they are, numbers and
// booleans as JSON writes them), cut to experiment.MaxDimensionValueLen
// bytes. An attribute the unit lacks, or of another type, is left out.
func ExposureDims(dims []string, attr func(string) (any, bool), channel string) string {
	var keys, values []string
	for _, d := range dims {
		var v string
		if d == experiment.DimensionChannel {
			v = channel
		} else {
			x, ok := attr(d)
			if !ok {
				continue
			}
			switch x := x.(type) {
			case string:
				v = x
			case float64:
				v = strconv.FormatFloat(x, 'g', -1, 64)
			case bool:
				v = strconv.FormatBool(x)
			default:
				continue
			}
		}
		v = strings.NewReplacer(dimSep, " ", pairSep, " ").Replace(v)
		keys, values = append(keys, d), append(values, cutUTF8(v, experiment.MaxDimensionValueLen))
	}
	return EncodeDims(keys, values)
}

// cutUTF8 returns s cut to at most n bytes, not inside a character.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
