package imports

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"sync"
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
	// TempDir holds the checked events between the two passes beyond the
	// first spoolMem bytes, which stay in memory (default os.TempDir()).
	TempDir string
	// Batch is the events per write (default DefaultBatch).
	Batch int
	// Now is the clock that bounds the rows' times (default time.Now).
	Now func() time.Time
}

// DefaultBatch is the events per write: large inserts are what ClickHouse
// takes fastest (at 1M rows, batches of 250k made the bare insert and the
// import over HTTP about 1.2x as fast as batches of 100k), and 250k events
// are ~50 MB of memory, twice over while one batch is decoded as the
// other is written.
const DefaultBatch = 250_000

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
	sp := &spool{dir: o.TempDir}
	defer sp.close()
	sum := Summary{Experiment: exp.Key, Format: f}
	digest := sha256.New()
	if err := check(io.TeeReader(in, digest), exp, f, o.Now(), sp, &sum); err != nil {
		return sum, err
	}
	sum.SHA256 = hex.EncodeToString(digest.Sum(nil))
	events, err := sp.reader()
	if err != nil {
		return sum, fmt.Errorf("import: spool: %w", err)
	}
	// Buffers no larger than the file needs: each is zeroed when made.
	return sum, write(ctx, events, w, int(min(int64(o.Batch), sum.Rows)))
}

// check is the first pass: it reads every row, checks it, and adds its
// event to sp. Checking (with the derived id's SHA-256) costs about twice
// what reading (parsing) does, so one goroutine reads chunks of rows, a
// few check them in parallel, and this one adds the checked chunks to sp
// in the order they were read: the error is the first bad row's whatever
// the goroutines' timing.
func check(in io.Reader, exp experiment.Experiment, f Format, now time.Time, sp *spool, sum *Summary) error {
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
	checkers := min(max(runtime.GOMAXPROCS(0), 1), maxCheckers)
	full, free := make(chan *rowChunk, checkers), make(chan *rowChunk, 2*checkers+2)
	for range cap(free) {
		free <- &rowChunk{}
	}
	checked := make(chan *rowChunk, cap(free))
	readErr := make(chan error, 1)
	go func() {
		readErr <- readChunks(rows, full, free)
		close(full)
	}()
	var wg sync.WaitGroup
	for range checkers {
		wg.Go(func() {
			c := checker{exp: exp, now: now}
			for ch := range full {
				c.chunk(ch)
				checked <- ch
			}
		})
	}
	go func() {
		wg.Wait()
		close(checked)
	}()
	// In order: chunk seq next is the oldest not yet added.
	pending := map[int]*rowChunk{}
	next := 0
	var bad error
	for ch := range checked {
		if bad != nil {
			continue // draining, after free was closed
		}
		pending[ch.seq] = ch
		for ch := pending[next]; ch != nil && bad == nil; ch = pending[next] {
			delete(pending, next)
			next++
			if bad = ch.err; bad == nil {
				if err := sp.addChunk(ch.out); err != nil {
					bad = fmt.Errorf("import: spool: %w", err)
				}
				sum.Rows += int64(ch.n)
				sum.Exposures += ch.exposures
			}
			if bad != nil {
				close(free) // the reader stops at its next chunk
				break
			}
			free <- ch
		}
	}
	if bad != nil {
		return bad // on an earlier line than any read error
	}
	if err := <-readErr; err != nil {
		return err
	}
	if sum.Rows == 0 {
		return experiment.Invalid("body", "no rows: nothing to import")
	}
	return nil
}

// maxCheckers bounds the goroutines that check rows: beyond the cores,
// more only take turns.
const maxCheckers = 4

// rowChunk is rows read and not yet checked, with their lines, and once
// checked, their spool records or the first bad row's error.
type rowChunk struct {
	rows  [chunkRows]row
	lines [chunkRows]int
	n     int
	seq   int // the order it was read in, from 0

	out       []byte // records of appendEvent, each after its length
	exposures int64
	err       error
}

// chunkRows is the rows per chunk.
const chunkRows = 1024

// readChunks reads rows into chunks taken from free and sends them to full
// until the end, or the first read error, which it returns. It stops early
// when free is closed (the checker found a bad row).
func readChunks(rows rowReader, full chan<- *rowChunk, free <-chan *rowChunk) error {
	for seq := 0; ; seq++ {
		ch, ok := <-free
		if !ok {
			return nil
		}
		ch.n, ch.seq = 0, seq
		var err error
		for ch.n < chunkRows {
			if ch.lines[ch.n], err = rows.next(&ch.rows[ch.n]); err != nil {
				break
			}
			ch.n++
		}
		if ch.n > 0 {
			full <- ch
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// chunk checks ch's rows and encodes their events into ch.out, stopping at
// the first bad row, whose error it sets.
func (c *checker) chunk(ch *rowChunk) {
	ch.out, ch.exposures, ch.err = ch.out[:0], 0, nil
	var lenb [binary.MaxVarintLen64]byte
	var rec []byte
	for i := 0; i < ch.n; i++ {
		e, err := c.event(ch.lines[i], &ch.rows[i])
		if err != nil {
			ch.err = err
			return
		}
		if e.Kind == analytics.KindExposure {
			ch.exposures++
		}
		rec = appendEvent(rec[:0], &e)
		n := binary.PutUvarint(lenb[:], uint64(len(rec)))
		ch.out = append(append(ch.out, lenb[:n]...), rec...)
	}
}

// spoolMem is how much of the checked events a spool keeps in memory
// before it goes on in a temporary file: most files never touch the disk,
// and memory does not grow with a larger one.
const spoolMem = 32 << 20

// spoolBlock is the size of a spool's blocks of memory.
const spoolBlock = 1 << 20

// spool holds the checked events between the two passes: records of
// appendEvent, each after its length (uvarint).
type spool struct {
	dir   string
	limit int      // of mem; 0 is spoolMem
	mem   [][]byte // blocks of spoolBlock bytes
	size  int      // of mem's blocks, together
	file  *os.File
	bw    *bufio.Writer
}

// addChunk adds records of appendEvent, each after its length (uvarint).
func (s *spool) addChunk(b []byte) error {
	if s.file == nil && s.size+len(b) <= cmp.Or(s.limit, spoolMem) {
		// Blocks of a fixed size, not one slice grown by copying.
		if len(s.mem) == 0 || len(s.mem[len(s.mem)-1])+len(b) > cap(s.mem[len(s.mem)-1]) {
			s.mem = append(s.mem, make([]byte, 0, max(spoolBlock, len(b))))
		}
		last := &s.mem[len(s.mem)-1]
		*last = append(*last, b...)
		s.size += len(b)
		return nil
	}
	if s.file == nil {
		f, err := os.CreateTemp(s.dir, "splitcast-import-*")
		if err != nil {
			return err
		}
		s.file, s.bw = f, bufio.NewWriterSize(f, 1<<20)
	}
	_, err := s.bw.Write(b)
	return err
}

// reader returns the records added, in order.
func (s *spool) reader() (io.Reader, error) {
	parts := make([]io.Reader, 0, len(s.mem)+1)
	for _, b := range s.mem {
		parts = append(parts, bytes.NewReader(b))
	}
	if s.file != nil {
		if err := s.bw.Flush(); err != nil {
			return nil, err
		}
		if _, err := s.file.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		parts = append(parts, s.file)
	}
	return io.MultiReader(parts...), nil
}

func (s *spool) close() {
	if s.file != nil {
		s.file.Close()
		os.Remove(s.file.Name())
	}
}

// write is the second pass: the checked events, in batches. Decoding the
// next batch overlaps the write of the one before (two buffers), so that
// the client's work hides behind ClickHouse's.
func write(ctx context.Context, in io.Reader, w Writer, batch int) error {
	d := decoder{r: bufio.NewReaderSize(in, 1<<20)}
	done := make(chan error, 1)
	done <- nil
	// The second buffer only for a second batch: each is zeroed when made.
	var bufs [2][]analytics.Event
	for k := 0; ; k++ {
		if bufs[k%2] == nil {
			bufs[k%2] = make([]analytics.Event, batch)
		}
		events := bufs[k%2]
		n := 0
		var err error
		for ; n < batch; n++ {
			if err = d.next(&events[n]); err != nil {
				break
			}
		}
		events = events[:n]
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

// A spool record is an event's strings (uvarint length, bytes), then its
// time (varint Unix seconds), value (float64 bits), version and machine
// flag: the second pass neither parses nor checks again.

func appendEvent(b []byte, e *analytics.Event) []byte {
	for _, s := range [...]string{e.ID, string(e.Kind), e.Experiment, e.Segment, e.Variant, e.Unit, e.Channel, e.MachineReason} {
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

// decoder reads a spool's events a chunk of records at a time, each chunk
// made one string that the events' strings are cut from: decoding
// allocates per chunk, not per event or field.
type decoder struct {
	r     *bufio.Reader
	chunk []byte
	b     []byte // the records of the current chunk
	s     string // the same, as a string
	off   int
}

// chunkSize is about how many bytes of records a chunk holds.
const chunkSize = 256 << 10

// errCorrupt is a spool record that does not parse: a bug, or a disk error.
var errCorrupt = errors.New("corrupt record")

// fill reads the next chunk of whole records; io.EOF when none is left.
func (d *decoder) fill() error {
	d.chunk = d.chunk[:0]
	for len(d.chunk) < chunkSize {
		n, err := binary.ReadUvarint(d.r)
		if err == io.EOF {
			break
		}
		if err != nil {
			return unexpected(err)
		}
		at := len(d.chunk)
		d.chunk = slices.Grow(d.chunk, int(n))[:at+int(n)]
		if _, err := io.ReadFull(d.r, d.chunk[at:]); err != nil {
			return unexpected(err)
		}
	}
	if len(d.chunk) == 0 {
		return io.EOF
	}
	d.b, d.s, d.off = d.chunk, string(d.chunk), 0
	return nil
}

func (d *decoder) next(e *analytics.Event) error {
	if d.off == len(d.b) {
		if err := d.fill(); err != nil {
			return err
		}
	}
	var strs [8]string
	for i := range strs {
		n, k := binary.Uvarint(d.b[d.off:])
		if k <= 0 || uint64(len(d.b)-d.off-k) < n {
			return errCorrupt
		}
		d.off += k
		strs[i] = d.s[d.off : d.off+int(n)]
		d.off += int(n)
	}
	t, k := binary.Varint(d.b[d.off:])
	if k <= 0 || len(d.b)-d.off-k < 8 {
		return errCorrupt
	}
	d.off += k
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.b[d.off:]))
	d.off += 8
	ver, k := binary.Uvarint(d.b[d.off:])
	if k <= 0 || d.off+k >= len(d.b) {
		return errCorrupt
	}
	d.off += k
	machine := d.b[d.off] == 1
	d.off++
	*e = analytics.Event{ID: strs[0], Kind: analytics.Kind(strs[1]), Experiment: strs[2], Segment: strs[3], Variant: strs[4],
		Unit: strs[5], Channel: strs[6], MachineReason: strs[7], Time: time.Unix(t, 0).UTC(), Value: v,
		Version: uint32(ver), Machine: machine}
	return nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
