package ingest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/experiment"
)

// journalMagic starts every journal segment; the 1 is the format version.
const (
	journalMagic = "SCJRNL01"
	journalExt   = ".wal"
	// journalSegmentBytes is the size at which the journal starts a new
	// segment: disk space comes back a whole segment at a time, once every
	// record in it has reached the Sink or the spool.
	journalSegmentBytes = 16 << 20
)

// journal is the write-ahead log in front of the in-memory queue: every
// accepted event is appended to it before Log returns, so that what an
// answer confirmed survives a crash of the process (SIGKILL included) or of
// the machine. Records use the spool's format (appendRecord).
//
// Group commit: append only copies the record into a buffer; one goroutine
// writes the buffer and fsyncs it, for every record waiting, and starts the
// next round as soon as the last one ends. A caller that waits (commit)
// waits for at most two rounds, a few milliseconds; the pixel and the
// redirect do not wait, and a crash loses at most their records of the
// last gatherDelay (5ms) and of the round in progress.
//
// A record is outstanding until release says its events reached the Sink
// or a synced spool; a segment is deleted once it is full and none of its
// records is outstanding. What a crash leaves is moved to the spool by
// recoverJournal at the next Open: records already delivered then arrive
// twice, which the Sink tolerates (events are deduplicated by id).
type journal struct {
	dir string
	log *slog.Logger

	mu       sync.Mutex
	pending  []piece          // records appended and not yet written, in order
	spare    [][]byte         // written buffers, for reuse
	segs     map[uint64]*jseg // live segments by sequence number
	cur      uint64           // the segment new records go to
	appended uint64           // records appended so far: the last ticket
	durable  uint64           // records written and fsynced
	err      error            // a write or fsync failure: the journal is broken
	closed   bool
	rounds   sync.Mutex    // held by whoever runs a commit round
	wake     chan struct{} // the committer has work
	round    chan struct{} // closed at the end of each commit round
	done     chan struct{} // the committer has exited
	files    map[uint64]*os.File
	size     int64 // bytes assigned to segment cur
	enc      []byte
}

// piece is records of one segment waiting to be written.
type piece struct {
	seg uint64
	b   []byte
}

// jseg is a journal segment's bookkeeping.
type jseg struct {
	outstanding int  // records not yet released
	full        bool // no record will be added
	unwritten   int  // pieces of it not yet written
}

// mark says that n records of segment seg end in a batch: once the batch
// is delivered, they are released.
type mark struct {
	seg uint64
	n   int
}

// openJournal starts a journal in dir, after the segments numbered up to
// after; recoverJournal must have emptied dir first.
func openJournal(dir string, after uint64, log *slog.Logger) (*journal, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	j := &journal{dir: dir, log: log, segs: map[uint64]*jseg{}, files: map[uint64]*os.File{},
		cur: after + 1, wake: make(chan struct{}, 1), round: make(chan struct{}), done: make(chan struct{})}
	j.segs[j.cur] = &jseg{}
	go j.run()
	return j, nil
}

func (j *journal) path(seq uint64) string {
	return filepath.Join(j.dir, fmt.Sprintf("%020d%s", seq, journalExt))
}

// append adds events as one record and returns its segment and its
// ticket, for commit.
func (j *journal) append(events []analytics.Event) (seg uint64, ticket uint64, err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return 0, 0, j.err
	}
	if j.closed {
		return 0, 0, experiment.Errorf(experiment.EUNAVAILABLE, "event journal is closed")
	}
	rec := appendRecord(j.enc[:0], events)
	if cap(rec) <= 1<<20 {
		j.enc = rec[:0]
	}
	if j.size > 0 && j.size+int64(len(rec)) > journalSegmentBytes {
		j.segs[j.cur].full = true
		j.cur++
		j.segs[j.cur] = &jseg{}
		j.size = 0
	}
	j.size += int64(len(rec))
	s := j.segs[j.cur]
	s.outstanding++
	if n := len(j.pending); n > 0 && j.pending[n-1].seg == j.cur {
		j.pending[n-1].b = append(j.pending[n-1].b, rec...)
	} else {
		var b []byte
		if k := len(j.spare); k > 0 {
			b, j.spare = j.spare[k-1][:0], j.spare[:k-1]
		}
		j.pending = append(j.pending, piece{seg: j.cur, b: append(b, rec...)})
		s.unwritten++
	}
	j.appended++
	select {
	case j.wake <- struct{}{}:
	default:
	}
	return j.cur, j.appended, nil
}

// commit waits until the record of ticket, and every one before it, is on
// disk.
func (j *journal) commit(done <-chan struct{}, ticket uint64) error {
	for {
		j.mu.Lock()
		durable, err, round := j.durable, j.err, j.round
		j.mu.Unlock()
		if durable >= ticket {
			return nil
		}
		if err != nil {
			return err
		}
		// With no round running, the caller runs one itself: handing it to
		// the committer goroutine cost a wake-up and a switch per round,
		// which on a busy machine was most of an assignment's wait.
		if j.rounds.TryLock() {
			j.flushRound()
			j.rounds.Unlock()
			continue
		}
		select {
		case <-round:
		case <-done:
			return experiment.Errorf(experiment.EUNAVAILABLE, "events accepted but not yet on disk")
		}
	}
}

// release marks records as delivered.
func (j *journal) release(marks []mark) {
	if len(marks) == 0 {
		return
	}
	j.mu.Lock()
	for _, m := range marks {
		if s := j.segs[m.seg]; s != nil {
			s.outstanding -= m.n
		}
	}
	j.mu.Unlock()
	select {
	case j.wake <- struct{}{}:
	default:
	}
}

// gatherDelay is how long the committer lets records that no caller waits
// on gather before it writes them: a crash loses at most what was appended
// to them in the last gatherDelay and the round in progress.
const gatherDelay = 5 * time.Millisecond

// run is the committer: it runs a round whenever there is work that no
// waiting caller runs (the pixel's records, releases to collect).
func (j *journal) run() {
	defer close(j.done)
	for {
		j.mu.Lock()
		for len(j.pending) == 0 && !j.closed && !j.collectable() {
			j.mu.Unlock()
			<-j.wake
			j.mu.Lock()
		}
		closing := j.closed
		j.mu.Unlock()
		if !closing {
			// Records nobody waits on gather for a moment, so that one
			// fsync takes many of them: an fsync costs about 140us of CPU
			// here, and a round every millisecond or two was a tenth of the
			// pixel's CPU under load. A caller that waits (commit) runs its
			// own round meanwhile, undelayed.
			time.Sleep(gatherDelay)
		}
		j.rounds.Lock()
		n := j.flushRound()
		j.rounds.Unlock()
		if closing && n == 0 {
			return
		}
	}
}

// flushRound is one commit round: it writes and fsyncs what is pending,
// marks it durable, and deletes the segments nothing needs any more. It
// returns the pieces written. j.rounds is held: rounds run one at a time,
// so records reach their files in order.
func (j *journal) flushRound() int {
	j.mu.Lock()
	work, target := j.pending, j.appended
	j.pending = nil
	j.mu.Unlock()
	err := j.write(work)
	j.mu.Lock()
	for _, p := range work {
		j.segs[p.seg].unwritten--
		if len(j.spare) < 4 && cap(p.b) <= 1<<20 {
			j.spare = append(j.spare, p.b)
		}
	}
	if err != nil && j.err == nil {
		j.err = experiment.Errorf(experiment.EUNAVAILABLE, "event journal: %v", err)
		j.log.Error("ingest: journal write failed; refusing events", "err", err)
	}
	if err == nil {
		j.durable = target
	}
	close(j.round)
	j.round = make(chan struct{})
	j.rotateIdle()
	gone := j.collect()
	j.mu.Unlock()
	j.remove(gone)
	return len(work)
}

// write appends the pieces to their segment files and fsyncs each file
// written; a new file's directory entry is synced too.
func (j *journal) write(work []piece) error {
	if len(work) == 0 {
		return nil
	}
	var touched []*os.File
	created := false
	for _, p := range work {
		f := j.files[p.seg]
		if f == nil {
			var err error
			if f, err = os.OpenFile(j.path(p.seg), os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600); err != nil {
				return err
			}
			if _, err := f.WriteString(journalMagic); err != nil {
				f.Close()
				return err
			}
			j.files[p.seg] = f
			created = true
		}
		if _, err := f.Write(p.b); err != nil {
			return err
		}
		if !slices.Contains(touched, f) {
			touched = append(touched, f)
		}
	}
	for _, f := range touched {
		if err := f.Sync(); err != nil {
			return err
		}
	}
	if created {
		return syncDir(j.dir)
	}
	return nil
}

// rotateIdle starts a new segment when every record of the current one is
// written and released: the old one is then deleted, so that a crash of an
// idle server replays nothing twice, and after a busy spell the journal
// shrinks as soon as the queue is delivered, not only when a segment
// fills. j.mu is held.
func (j *journal) rotateIdle() {
	if s := j.segs[j.cur]; j.size > 0 && s.outstanding <= 0 && s.unwritten == 0 && len(j.pending) == 0 {
		s.full = true
		j.cur++
		j.segs[j.cur] = &jseg{}
		j.size = 0
	}
}

// collectable reports whether a segment can be deleted, or the current
// one retired. j.mu is held.
func (j *journal) collectable() bool {
	if s := j.segs[j.cur]; j.size > 0 && s.outstanding <= 0 && s.unwritten == 0 {
		return true
	}
	return j.collectableFull()
}

// collectableFull reports whether a full segment can be deleted. j.mu is
// held.
func (j *journal) collectableFull() bool {
	for _, s := range j.segs {
		if s.full && s.outstanding <= 0 && s.unwritten == 0 {
			return true
		}
	}
	return false
}

// collect takes the segments that can be deleted out of the books. j.mu
// is held.
func (j *journal) collect() []uint64 {
	var gone []uint64
	for seq, s := range j.segs {
		if (s.full || j.closed) && s.outstanding <= 0 && s.unwritten == 0 {
			gone = append(gone, seq)
			delete(j.segs, seq)
		}
	}
	return gone
}

// remove closes and deletes segment files; only the committer calls it.
func (j *journal) remove(seqs []uint64) {
	for _, seq := range seqs {
		if f := j.files[seq]; f != nil {
			f.Close()
			delete(j.files, seq)
		}
		if err := os.Remove(j.path(seq)); err != nil && !errors.Is(err, os.ErrNotExist) {
			j.log.Warn("ingest: cannot remove journal segment", "segment", seq, "err", err)
		}
	}
}

// close writes what is pending, deletes the segments whose records were
// all delivered and keeps the others for recoverJournal.
func (j *journal) close() error {
	j.mu.Lock()
	j.closed = true
	j.mu.Unlock()
	select {
	case j.wake <- struct{}{}:
	default:
	}
	<-j.done
	// A caller's round may still run; the files are closed after it.
	j.rounds.Lock()
	defer j.rounds.Unlock()
	j.mu.Lock()
	defer j.mu.Unlock()
	for seq, f := range j.files {
		f.Close()
		delete(j.files, seq)
	}
	return j.err
}

// recoverJournal moves the records of the journal segments in dir to the
// spool, fsyncs it, and deletes the segments; it returns the highest
// segment number seen, so that the next journal does not reuse it. A torn
// record at the end of a segment (a crash during its write, never
// acknowledged) is dropped; a corrupt one is skipped and logged.
func recoverJournal(dir string, spool *Spool, log *slog.Logger) (last uint64, events int, err error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("recover journal: %w", err)
	}
	var seqs []uint64
	for _, e := range entries {
		name := e.Name()
		if seq, err := strconv.ParseUint(strings.TrimSuffix(name, journalExt), 10, 64); err == nil && strings.HasSuffix(name, journalExt) {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	for _, seq := range seqs {
		path := filepath.Join(dir, fmt.Sprintf("%020d%s", seq, journalExt))
		b, err := os.ReadFile(path)
		if err != nil {
			return 0, 0, fmt.Errorf("recover journal: %w", err)
		}
		n, err := replayJournal(b, spool, log, path)
		if err != nil {
			return 0, 0, err
		}
		events += n
		last = seq
	}
	if len(seqs) == 0 {
		return 0, 0, nil
	}
	if err := spool.Sync(); err != nil {
		return 0, 0, fmt.Errorf("recover journal: %w", err)
	}
	for _, seq := range seqs {
		if err := os.Remove(filepath.Join(dir, fmt.Sprintf("%020d%s", seq, journalExt))); err != nil {
			return 0, 0, fmt.Errorf("recover journal: %w", err)
		}
	}
	return last, events, nil
}

// replayJournal appends the records of one segment's bytes to the spool.
func replayJournal(b []byte, spool *Spool, log *slog.Logger, path string) (int, error) {
	if len(b) < len(journalMagic) || string(b[:len(journalMagic)]) != journalMagic {
		if len(b) > 0 && len(b) >= len(journalMagic) {
			log.Error("ingest: journal segment has an unknown format; skipped", "path", path)
		}
		return 0, nil
	}
	off, events := len(journalMagic), 0
	for off+recHeaderLen <= len(b) {
		l := int(binary.LittleEndian.Uint32(b[off:]))
		if l > maxRecordLen || off+recHeaderLen+l > len(b) {
			break // torn: never acknowledged to anyone
		}
		payload := b[off+recHeaderLen : off+recHeaderLen+l]
		off += recHeaderLen + l
		if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(b[off-l-4:]) {
			log.Error("ingest: skipping corrupt journal record", "path", path)
			continue
		}
		evs, err := decodeBatch(payload)
		if err != nil {
			log.Error("ingest: skipping undecodable journal record", "path", path, "err", err)
			continue
		}
		if err := spool.Append(evs); err != nil {
			return 0, fmt.Errorf("recover journal into spool: %w", err)
		}
		events += len(evs)
	}
	return events, nil
}
