// Package analytics is the event vocabulary: what Splitcast records (Event
// and its kinds), how each event is built and checked from what the edge
// received (an exposure from an assignment, an open or a click from a
// verified token, a server event with its idempotency rule), and the
// classification of machine traffic. The steps after it are its
// subpackages: ingest carries events to ClickHouse, traits computes
// behavioural traits, results builds reports, retire decides retirements.
// It knows nothing of HTTP or ClickHouse.
package analytics

import (
	"context"
	"strings"
	"time"
)

// Kind is what happened to a message.
type Kind string

// The event kinds. Exposure is logged by assignment; open and click by the
// pixel and the redirect; the rest arrive through the events API.
const (
	KindExposure    Kind = "exposure"
	KindOpen        Kind = "open"
	KindClick       Kind = "click"
	KindConversion  Kind = "conversion"
	KindUnsubscribe Kind = "unsubscribe"
	KindComplaint   Kind = "complaint"
	KindCustom      Kind = "custom"
	// KindResubscribe lifts an unsubscribe or a complaint: the unit may be
	// messaged again, on the event's channel (all channels without one).
	KindResubscribe Kind = "resubscribe"
	// KindSuppressed records that assignment answered a unit suppressed
	// (the reason in Name, the arm it would have had): no message went
	// out, and no exposure was logged. Reports count these units per arm.
	KindSuppressed Kind = "suppressed"
)

// Valid reports whether k is one of the known kinds.
func (k Kind) Valid() bool {
	switch k {
	case KindExposure, KindOpen, KindClick, KindConversion, KindUnsubscribe, KindComplaint, KindCustom, KindTrack,
		KindResubscribe, KindSuppressed:
		return true
	}
	return false
}

// Event is one thing that happened to one unit in one arm of an experiment.
// ID is the deduplication key: every copy of the same event (a replay from
// the spool, a retried conversion) carries the same ID and the same Time, so
// counting distinct IDs counts each event once.
type Event struct {
	ID         string
	Kind       Kind
	Time       time.Time
	Experiment string
	Version    uint32
	Segment    string
	Variant    string
	Unit       string
	SendID     string
	Channel    string
	Name       string  // conversion or custom event name
	Value      float64 // e.g. revenue of a conversion
	URL        string  // click destination
	// Dims is, on an exposure, the experiment's breakdown dimensions and
	// their values for this unit (ExposureDims), encoded by EncodeDims so
	// that Event stays comparable with ==; "" elsewhere.
	Dims string
	// Machine is set when the event looks like machine traffic (a mail privacy
	// prefetch, a link scanner, a bot); MachineReason says why. Flagged events
	// are kept and reported beside human ones, never dropped.
	Machine       bool
	MachineReason string
	// Props are a user event's (KindTrack) typed properties, as
	// EncodeProps writes them; empty for every other kind.
	Props string
}

// Logger accepts events for eventual delivery to a store (ingest.Ingester).
// Log returns once the events are durable: an answer sent after it is never
// lost to a crash of the process. Append accepts them without waiting, and
// Commit waits for what Append accepted (and everything before it): the
// pixel and the redirect never wait, bulk assignment waits once per chunk
// of answers. None of them blocks on the Sink; they return an EUNAVAILABLE
// error only when the events cannot be accepted or made durable. They copy
// the events they keep: the caller may reuse the slice (bulk assignment
// reuses its events from chunk to chunk).
type Logger interface {
	Log(ctx context.Context, events ...Event) error
	Append(events ...Event) (Ticket, error)
	Commit(ctx context.Context, t Ticket) error
}

// Ticket stands for events a Logger accepted, for Commit. The zero Ticket
// is always committed.
type Ticket uint64

// Day returns the UTC day number of t: days since 1970-01-01.
func Day(t time.Time) int32 { return int32(t.Unix() / 86400) }

// DayTime returns the start of UTC day d.
func DayTime(d int32) time.Time { return time.Unix(int64(d)*86400, 0).UTC() }

// The separators of Event.Dims: ASCII unit and record separators, which
// ExposureDims keeps out of keys and values.
const (
	dimSep  = "\x1f" // between a key and its value
	pairSep = "\x1e" // between pairs
)

// EncodeDims encodes parallel keys and values as Event.Dims.
func EncodeDims(keys, values []string) string {
	var b strings.Builder
	for i := range keys {
		if i > 0 {
			b.WriteString(pairSep)
		}
		b.WriteString(keys[i])
		b.WriteString(dimSep)
		b.WriteString(values[i])
	}
	return b.String()
}

// DecodeDims returns the parallel keys and values of an Event.Dims.
func DecodeDims(dims string) (keys, values []string) {
	if dims == "" {
		return nil, nil
	}
	for _, pair := range strings.Split(dims, pairSep) {
		k, v, _ := strings.Cut(pair, dimSep)
		keys, values = append(keys, k), append(values, v)
	}
	return keys, values
}
