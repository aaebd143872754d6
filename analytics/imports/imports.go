package imports

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/experiment"
)

// Writer stores a batch of events, all or none (analytics/clickhouse's
// EventSink); a batch written twice changes nothing that reports count.
type Writer interface {
	Write(ctx context.Context, events []analytics.Event) error
}

// Options tune an import. Zero fields take the defaults.
type Options struct {
	// TempDir holds the checked events between the two passes (default
	// os.TempDir()).
	TempDir string
	// Batch is the events per write (default DefaultBatch).
	Batch int
	// Now is the clock that bounds the rows' times (default time.Now).
	Now func() time.Time
}

// DefaultBatch is the events per write: large inserts are what ClickHouse
// takes fastest, and 100k events are ~20 MB of memory.
const DefaultBatch = 100_000

// Summary is what an import read and wrote.
type Summary struct {
	Experiment string `json:"experiment"`
	Format     Format `json:"format"`
	// Rows is the number of data rows (events, copies included); the report
	// counts each event id once, so duplicated rows count once there.
	Rows int64 `json:"rows"`
	// Exposures is how many of them are exposures.
	Exposures int64 `json:"exposures"`
	// SHA256 is the digest of the file as received.
	SHA256 string `json:"sha256"`
}

// Import reads a file of events of experiment exp from in, checks every
// row, and only then writes them to w in batches: a bad row is an
// experiment.EINVALID error naming its line and field, and nothing is
// written. A write error is returned as it is; the same file imported again
// writes the same event ids, so a retry completes it.
func Import(ctx context.Context, exp experiment.Experiment, in io.Reader, f Format, w Writer, o Options) (Summary, error) {
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	tmp, err := os.CreateTemp(o.TempDir, "splitcast-import-*")
	if err != nil {
		return Summary{}, fmt.Errorf("import: %w", err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	sum := Summary{Experiment: exp.Key, Format: f}
	digest := sha256.New()
	if err := check(io.TeeReader(in, digest), exp, f, o.Now(), tmp, &sum); err != nil {
		return sum, err
	}
	sum.SHA256 = hex.EncodeToString(digest.Sum(nil))
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return sum, fmt.Errorf("import: %w", err)
	}
	// Buffers no larger than the file needs: each is zeroed when made.
	return sum, write(ctx, bufio.NewReaderSize(tmp, 1<<20), w, int(min(int64(o.Batch), sum.Rows)))
}

// check is the first pass: it reads every row, checks it, and appends its
// event to out.
func check(in io.Reader, exp experiment.Experiment, f Format, now time.Time, out io.Writer, sum *Summary) error {
	var rows rowReader
	if f == NDJSON {
		rows = newNDJSONRows(in)
	} else {
		c, err := newCSVRows(in)
		if err != nil {
			return err
		}
		rows = c
	}
	bw := bufio.NewWriterSize(out, 1<<20)
	c := checker{exp: exp, now: now}
	var r row
	var buf []byte
	for {
		line, err := rows.next(&r)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		e, err := c.event(line, &r)
		if err != nil {
			return err
		}
		sum.Rows++
		if e.Kind == analytics.KindExposure {
			sum.Exposures++
		}
		buf = appendEvent(buf[:0], &e)
		if _, err := bw.Write(buf); err != nil {
			return fmt.Errorf("import: spool: %w", err)
		}
	}
	if sum.Rows == 0 {
		return experiment.Invalid("body", "no rows: nothing to import")
	}
	return bw.Flush()
}

// write is the second pass: the checked events, in batches. Decoding the
// next batch overlaps the write of the one before (two buffers), so that
// the client's work hides behind ClickHouse's.
func write(ctx context.Context, in *bufio.Reader, w Writer, batch int) error {
	d := decoder{r: in, shared: map[string]string{}}
	done := make(chan error, 1)
	done <- nil
	bufs := [2][]analytics.Event{make([]analytics.Event, 0, batch), make([]analytics.Event, 0, batch)}
	for k := 0; ; k++ {
		events := bufs[k%2][:0]
		var err error
		for len(events) < batch {
			var e analytics.Event
			if e, err = d.next(); err != nil {
				break
			}
			events = append(events, e)
		}
		if err != nil && err != io.EOF {
			<-done
			return fmt.Errorf("import: spool: %w", err)
		}
		if werr := <-done; werr != nil {
			return werr
		}
		if err == io.EOF {
			return w.Write(ctx, events)
		}
		go func() { done <- w.Write(ctx, events) }()
	}
}

// The temporary file holds each checked event as its strings (uvarint
// length, bytes), then its time (varint Unix seconds), value (float64
// bits), version and machine flag: the second pass neither parses nor
// checks again.

func appendEvent(b []byte, e *analytics.Event) []byte {
	for _, s := range []string{e.ID, string(e.Kind), e.Experiment, e.Segment, e.Variant, e.Unit, e.Channel, e.MachineReason} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendVarint(b, e.Time.Unix())
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(e.Value))
	b = binary.AppendUvarint(b, uint64(e.Version))
	if e.Machine {
		return append(b, 1)
	}
	return append(b, 0)
}

// decoder reads the temporary file's events, sharing one copy of each
// string that repeats (kinds, arms, channels), so that a batch of events
// costs an allocation per id and unit, not per field.
type decoder struct {
	r      *bufio.Reader
	shared map[string]string
}

// sharedFields are the indices of the strings that repeat from event to
// event: kind, experiment, segment, variant, channel, machine reason.
var sharedFields = [8]bool{false, true, true, true, true, false, true, true}

func (d *decoder) next() (analytics.Event, error) {
	var e analytics.Event
	var strs [8]string
	for i := range strs {
		n, err := binary.ReadUvarint(d.r)
		if err != nil {
			if i == 0 && err == io.EOF {
				return e, io.EOF
			}
			return e, unexpected(err)
		}
		b, err := d.r.Peek(int(n))
		if err != nil {
			return e, unexpected(err)
		}
		if sharedFields[i] {
			s, ok := d.shared[string(b)]
			if !ok {
				s = string(b)
				d.shared[s] = s
			}
			strs[i] = s
		} else {
			strs[i] = string(b)
		}
		_, _ = d.r.Discard(int(n))
	}
	e.ID, e.Kind, e.Experiment, e.Segment, e.Variant, e.Unit, e.Channel, e.MachineReason =
		strs[0], analytics.Kind(strs[1]), strs[2], strs[3], strs[4], strs[5], strs[6], strs[7]
	t, err := binary.ReadVarint(d.r)
	if err != nil {
		return e, unexpected(err)
	}
	e.Time = time.Unix(t, 0).UTC()
	var v [8]byte
	if _, err := io.ReadFull(d.r, v[:]); err != nil {
		return e, unexpected(err)
	}
	e.Value = math.Float64frombits(binary.LittleEndian.Uint64(v[:]))
	ver, err := binary.ReadUvarint(d.r)
	if err != nil {
		return e, unexpected(err)
	}
	e.Version = uint32(ver)
	m, err := d.r.ReadByte()
	if err != nil {
		return e, unexpected(err)
	}
	e.Machine = m == 1
	return e, nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
