package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/splitcast/splitcast/analytics"
)

// ErrRejected marks a Sink error as permanent: the Sink refuses the batch
// for what is in it (a row ClickHouse will never accept), so writing it
// again fails again. A Sink wraps such errors with Rejected; any other
// error is taken for an outage, and the batch is spooled and retried.
var ErrRejected = errors.New("refused by the sink for its content")

// Rejected wraps err as permanent (errors.Is(err, ErrRejected)).
func Rejected(err error) error { return rejected{err} }

type rejected struct{ err error }

func (r rejected) Error() string   { return r.err.Error() }
func (r rejected) Unwrap() []error { return []error{r.err, ErrRejected} }

// DeadLetterName is the file in Config.Dir that receives the events the
// Sink refused for good: one JSON object a line, {"at", "error", "event"}.
const DeadLetterName = "deadletter.ndjson"

// sift writes batch, which the Sink refused with cause, in halves, and the
// halves refused again in halves, down to single events: those go to the
// dead-letter file and everything else lands. It returns the events that
// failed for another reason (an outage in the middle), for the spool. A
// batch with k bad events among n costs about 2k·log2(n) writes.
func (i *Ingester) sift(ctx context.Context, batch []analytics.Event, cause error) []analytics.Event {
	if len(batch) == 1 {
		i.deadLetter(batch, cause)
		return nil
	}
	var rest []analytics.Event
	mid := len(batch) / 2
	for _, half := range [][]analytics.Event{batch[:mid], batch[mid:]} {
		_, err := i.write(ctx, half)
		switch {
		case err == nil:
			i.written.Add(int64(len(half)))
		case errors.Is(err, ErrRejected):
			rest = append(rest, i.sift(ctx, half, err)...)
		default:
			rest = append(rest, half...)
		}
	}
	return rest
}

// deadLetter appends events to the dead-letter file and fsyncs it. If even
// that fails, they are counted lost: retrying them would only fail again.
func (i *Ingester) deadLetter(events []analytics.Event, cause error) {
	path := filepath.Join(i.cfg.Dir, DeadLetterName)
	err := appendDeadLetters(path, events, cause, i.cfg.Now())
	if err != nil {
		i.lost.Add(int64(len(events)))
		i.log.Error("ingest: events refused by the sink for good, and the dead-letter file cannot take them: lost",
			"events", len(events), "cause", cause, "err", err)
		return
	}
	i.deadLettered.Add(int64(len(events)))
	i.log.Error("ingest: events refused by the sink for good; written to the dead-letter file",
		"events", len(events), "event_id", events[0].ID, "path", path, "err", cause)
}

func appendDeadLetters(path string, events []analytics.Event, cause error, now time.Time) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	var b []byte
	for _, ev := range events {
		line, err := json.Marshal(struct {
			At    time.Time       `json:"at"`
			Error string          `json:"error"`
			Event analytics.Event `json:"event"`
		}{now.UTC(), cause.Error(), ev})
		if err != nil {
			f.Close()
			return fmt.Errorf("encode dead letter: %w", err)
		}
		b = append(append(b, line...), '\n')
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
