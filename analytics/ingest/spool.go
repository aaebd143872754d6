package ingest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
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

// Spool defaults, documented on SpoolConfig.
const (
	DefaultMaxSpoolBytes = 1 << 30 // 1 GiB
	DefaultSegmentBytes  = 64 << 20
	DefaultSyncInterval  = 200 * time.Millisecond
)

const (
	segMagic     = "SCSPOOL1" // first 8 bytes of every segment file; the 1 is the format version
	segExt       = ".seg"
	ackName      = "ack"
	lockName     = "LOCK"
	headerLen    = int64(len(segMagic))
	recHeaderLen = 8       // uint32 length + uint32 CRC32C
	maxRecordLen = 1 << 30 // a length above this is corruption, not a record
	ackLen       = 20      // uint64 seq + int64 offset + uint32 CRC32C
)

// castagnoli is read-only after initialisation: a constant in all but syntax.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// SpoolConfig configures a Spool. Every zero value is replaced by the
// default named on its field.
type SpoolConfig struct {
	// Dir holds the segment files. It is created if missing. Required. Only
	// one Spool may use a directory at a time (enforced with a lock file on
	// Unix).
	Dir string
	// MaxBytes bounds the spool's size on disk; Append fails with
	// EUNAVAILABLE instead of growing past it. Default DefaultMaxSpoolBytes.
	MaxBytes int64
	// SegmentBytes is the size at which a new segment file is started.
	// Disk space comes back a whole segment at a time, once every record in
	// it has been acknowledged. Default DefaultSegmentBytes.
	SegmentBytes int64
	// SyncInterval is how long appended records may wait for fsync: a crash
	// of the machine loses at most the records appended in the last
	// SyncInterval. Default DefaultSyncInterval; negative means fsync after
	// every Append.
	SyncInterval time.Duration
	// Logger receives recovery and corruption reports. Nil discards them.
	Logger *slog.Logger
}

func (c SpoolConfig) withDefaults() SpoolConfig {
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxSpoolBytes
	}
	if c.SegmentBytes == 0 {
		c.SegmentBytes = DefaultSegmentBytes
	}
	if c.SyncInterval == 0 {
		c.SyncInterval = DefaultSyncInterval
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports the first field of c that cannot be used, as an
// EINVALID *experiment.Error naming it.
func (c SpoolConfig) Validate() error {
	switch {
	case c.Dir == "":
		return experiment.Invalid("Dir", "spool directory is required")
	case c.MaxBytes < 0:
		return experiment.Invalid("MaxBytes", "must not be negative")
	case c.SegmentBytes < 0:
		return experiment.Invalid("SegmentBytes", "must not be negative")
	}
	return nil
}

// SpoolStats is a snapshot of a Spool's gauges and counters.
type SpoolStats struct {
	Bytes          int64 // size of the segment files on disk
	Batches        int64 // records not yet acknowledged
	CorruptRecords int64 // records skipped because their checksum or encoding was bad
	TornRecords    int64 // incomplete records discarded at the end of a segment
}

// Spool is a durable FIFO of event batches on disk, used by the Ingester
// while its Sink cannot take them.
//
// Layout: Dir holds segment files named by a 20-digit sequence number
// ("00000000000000000001.seg"), an "ack" file and a "LOCK" file. A segment
// starts with the 8-byte magic "SCSPOOL1", followed by records:
//
//	uint32 little-endian payload length
//	uint32 little-endian CRC32 (Castagnoli) of the payload
//	payload: one batch of events (see appendBatch)
//
// Records are only ever appended, one write(2) per record. The 20-byte
// "ack" file (uint64 segment sequence number, int64 offset, CRC32C of the
// two; little-endian, overwritten in place) records how far the consumer
// has got; segments wholly consumed are deleted. MaxBytes counts the
// segment files as they are on disk, consumed records of a segment still
// in use included.
//
// Durability: records reach the disk within SyncInterval (fsync on a timer,
// on segment rotation and on Close), so a machine crash loses at most the
// last SyncInterval of appends; a process crash loses nothing written. The
// ack file is not fsynced: if it is lost, acknowledged batches are replayed
// again, and duplicates are harmless because events are deduplicated by ID.
//
// Recovery: Peek verifies each record's checksum. A record that runs past
// the end of its segment (a write torn by a crash) is discarded with the
// rest of that segment and counted in TornRecords. A complete record whose
// checksum or encoding is wrong is skipped and counted in CorruptRecords;
// the records after it are still read. A damaged length field cannot be
// told apart from a torn tail: the rest of that segment is discarded.
//
// A Spool is safe for concurrent use. Append may be called from many
// goroutines; Peek and Ack are meant for a single consumer.
type Spool struct {
	cfg  SpoolConfig
	log  *slog.Logger
	lock io.Closer

	mu      sync.Mutex
	closed  bool
	segs    []segment // oldest first; the reader is in segs[0]
	w       *os.File  // the last segment, open for append; nil when all are sealed
	r       *os.File  // segs[0], open for reading
	rseq    uint64    // the sequence number r belongs to
	readOff int64     // read cursor in segs[0]
	next    uint64    // sequence number of the next segment
	bytes   int64
	batches int64
	corrupt int64
	torn    int64
	enc     []byte // reused encoding buffer

	ack        *os.File // the ack file, once written
	peeked     bool     // cur, curNext and curRecords hold what Peek returned
	cur        []analytics.Event
	curNext    int64
	curRecords int
	dirty      bool
	syncTime   *time.Timer
}

type segment struct {
	seq  uint64
	size int64
}

// OpenSpool opens the spool in cfg.Dir, creating it if needed. Batches left
// by a previous process are kept and returned first by Peek.
func OpenSpool(cfg SpoolConfig) (*Spool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	lock, err := lockDir(filepath.Join(cfg.Dir, lockName))
	if err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	s := &Spool{cfg: cfg, log: cfg.Logger, lock: lock, readOff: headerLen}
	if err := s.recover(); err != nil {
		lock.Close()
		return nil, fmt.Errorf("open spool: %w", err)
	}
	if s.batches > 0 {
		s.log.Info("spool: found batches from a previous run", "dir", cfg.Dir, "batches", s.batches, "bytes", s.bytes)
	}
	return s, nil
}

// recover lists the segments, drops those the ack file says are consumed
// and counts the records left.
func (s *Spool) recover() error {
	entries, err := os.ReadDir(s.cfg.Dir)
	if err != nil {
		return err
	}
	var seqs []uint64
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasSuffix(name, segExt) {
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(name, segExt), 10, 64)
		if err != nil {
			continue
		}
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	ackSeq, ackOff, ackOK := s.readAck()
	if ackOK {
		s.next = ackSeq
	}
	for _, seq := range seqs {
		s.next = max(s.next, seq)
		path := s.segPath(seq)
		if ackOK && seq < ackSeq {
			if err := os.Remove(path); err != nil {
				return err
			}
			continue
		}
		size, err := s.checkSegment(path)
		if err != nil {
			return err
		}
		if size < 0 { // removed or set aside
			continue
		}
		s.segs = append(s.segs, segment{seq: seq, size: size})
		s.bytes += size
	}
	s.next++
	if len(s.segs) > 0 && ackOK && s.segs[0].seq == ackSeq && ackOff >= headerLen && ackOff <= s.segs[0].size {
		s.readOff = ackOff
	}
	for i, seg := range s.segs {
		off := headerLen
		if i == 0 {
			off = s.readOff
		}
		n, err := s.countRecords(seg, off)
		if err != nil {
			return err
		}
		s.batches += n
	}
	return nil
}

// checkSegment returns the size of the segment at path, or -1 if it was
// removed (created but never written, by a crash) or set aside (not a
// segment of this format: kept for a human, never replayed).
func (s *Spool) checkSegment(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	var magic [len(segMagic)]byte
	n, err := f.ReadAt(magic[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	if n < len(magic) && segMagic[:n] == string(magic[:n]) {
		return -1, os.Remove(path)
	}
	if string(magic[:]) != segMagic {
		s.corrupt++
		s.log.Error("spool: segment has an unknown format; set aside, not replayed", "path", path)
		return -1, os.Rename(path, path+".corrupt")
	}
	return fi.Size(), nil
}

// countRecords counts the records of seg from off whose headers fit in the
// file. Checksums are left to Peek, which reads the payloads anyway.
func (s *Spool) countRecords(seg segment, off int64) (int64, error) {
	f, err := os.Open(s.segPath(seg.seq))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var n int64
	var hdr [recHeaderLen]byte
	for off+recHeaderLen <= seg.size {
		if _, err := f.ReadAt(hdr[:], off); err != nil {
			return 0, err
		}
		l := int64(binary.LittleEndian.Uint32(hdr[:4]))
		if l > maxRecordLen || off+recHeaderLen+l > seg.size {
			break
		}
		n++
		off += recHeaderLen + l
	}
	return n, nil
}

func (s *Spool) segPath(seq uint64) string {
	return filepath.Join(s.cfg.Dir, fmt.Sprintf("%020d%s", seq, segExt))
}

// Append writes events as one record at the end of the spool. It fails
// with EUNAVAILABLE if the record would take the spool past MaxBytes; a
// write error (such as ENOSPC) is returned wrapped and leaves the spool as
// it was.
func (s *Spool) Append(events []analytics.Event) error {
	if len(events) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return experiment.Errorf(experiment.EUNAVAILABLE, "spool is closed")
	}
	rec := appendRecord(s.enc[:0], events)
	if cap(rec) <= 4<<20 { // keep the buffer unless a huge batch blew it up
		s.enc = rec[:0]
	}
	n := int64(len(rec))
	if n-recHeaderLen > maxRecordLen {
		return fmt.Errorf("append to spool: batch of %d events encodes to %d bytes, over the %d limit", len(events), n, maxRecordLen)
	}
	rotate := s.w == nil || s.segs[len(s.segs)-1].size+n > s.cfg.SegmentBytes && s.segs[len(s.segs)-1].size > headerLen
	need := n
	if rotate {
		need += headerLen
	}
	if s.bytes+need > s.cfg.MaxBytes {
		return experiment.Errorf(experiment.EUNAVAILABLE, "spool full: %d of %d bytes used", s.bytes, s.cfg.MaxBytes)
	}
	if rotate {
		if err := s.seal(); err != nil {
			return fmt.Errorf("append to spool: %w", err)
		}
		if err := s.newSegment(); err != nil {
			return fmt.Errorf("append to spool: %w", err)
		}
	}
	seg := &s.segs[len(s.segs)-1]
	if _, err := s.w.Write(rec); err != nil {
		// Cut the partial record off so that later records stay readable;
		// failing that, seal the segment: the reader stops at seg.size.
		if terr := s.w.Truncate(seg.size); terr != nil {
			s.w.Close()
			s.w = nil
		}
		return fmt.Errorf("append to spool: %w", err)
	}
	seg.size += n
	s.bytes += n
	s.batches++
	switch {
	case s.cfg.SyncInterval < 0:
		if err := s.w.Sync(); err != nil {
			return fmt.Errorf("append to spool: %w", err)
		}
	case !s.dirty:
		s.dirty = true
		s.syncTime = time.AfterFunc(s.cfg.SyncInterval, s.syncDirty)
	}
	return nil
}

// newSegment starts the next segment file and makes it the append target.
func (s *Spool) newSegment() error {
	seq := s.next
	path := s.segPath(seq)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(segMagic); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	// The directory entry must be durable too, or the synced data could
	// be orphaned by a crash.
	if err := syncDir(s.cfg.Dir); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	s.next++
	if len(s.segs) == 0 {
		s.readOff = headerLen
	}
	s.segs = append(s.segs, segment{seq: seq, size: headerLen})
	s.bytes += headerLen
	s.w = f
	return nil
}

// seal fsyncs and closes the append target, if any.
func (s *Spool) seal() error {
	if s.w == nil {
		return nil
	}
	err := s.w.Sync()
	if cerr := s.w.Close(); err == nil {
		err = cerr
	}
	s.w = nil
	return err
}

// syncDirty runs SyncInterval after the first unsynced Append. The fsync
// itself happens outside the lock so that appends do not wait for it.
func (s *Spool) syncDirty() {
	s.mu.Lock()
	f := s.w
	s.dirty = false
	s.mu.Unlock()
	if f == nil {
		return
	}
	if err := f.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
		s.log.Error("spool: fsync failed", "err", err)
	}
}

// Sync fsyncs what was appended: once it returns, every record appended
// before the call survives a crash of the machine. A segment sealed since
// was fsynced when it was sealed.
func (s *Spool) Sync() error {
	s.mu.Lock()
	f := s.w
	s.mu.Unlock()
	if f == nil {
		return nil
	}
	if err := f.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("sync spool: %w", err)
	}
	return nil
}

// Peek returns the oldest events not yet acknowledged, or io.EOF if there
// are none: the oldest record, followed by as many of the next records of
// the same segment as fit in maxEvents, so that many small spooled batches
// replay as one write. Order is preserved. Peek returns the same events
// until Ack is called. Torn and corrupt records are skipped, counted and
// logged on the way.
func (s *Spool) Peek(maxEvents int) ([]analytics.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, experiment.Errorf(experiment.EUNAVAILABLE, "spool is closed")
	}
	if s.peeked {
		return s.cur, nil
	}
	for len(s.segs) > 0 {
		seg := s.segs[0]
		if s.readOff >= seg.size {
			if s.w != nil && len(s.segs) == 1 { // caught up with the writer
				break
			}
			s.dropHead()
			continue
		}
		events, next, err := s.readRecord(seg, s.readOff)
		if err != nil {
			if !s.skip(seg, s.readOff, next, err) {
				return nil, fmt.Errorf("read spool: %w", err)
			}
			s.readOff = next
			continue
		}
		records := 1
		for next < seg.size && len(events) < maxEvents {
			more, after, err := s.readRecord(seg, next)
			if err != nil {
				if !s.skip(seg, next, after, err) {
					break // retried by the next Peek
				}
				next = after
				continue
			}
			if len(events)+len(more) > maxEvents {
				break
			}
			events = append(events, more...)
			next = after
			records++
		}
		s.peeked, s.cur, s.curNext, s.curRecords = true, events, next, records
		return events, nil
	}
	s.batches = 0 // whatever the count said, nothing is left
	return nil, io.EOF
}

var (
	errTorn    = errors.New("incomplete record at the end of a segment")
	errCorrupt = errors.New("corrupt record")
)

// readRecord reads and decodes the record of seg at off. next is where the
// following record starts; for errTorn it is the end of the segment, for
// errCorrupt the end of the bad record.
func (s *Spool) readRecord(seg segment, off int64) (events []analytics.Event, next int64, err error) {
	r, err := s.reader(seg.seq)
	if err != nil {
		return nil, off, err
	}
	rest := seg.size - off
	if rest < recHeaderLen {
		return nil, seg.size, errTorn
	}
	var hdr [recHeaderLen]byte
	if _, err := r.ReadAt(hdr[:], off); err != nil {
		return nil, off, err
	}
	l := int64(binary.LittleEndian.Uint32(hdr[:4]))
	if l > maxRecordLen || recHeaderLen+l > rest {
		return nil, seg.size, errTorn
	}
	next = off + recHeaderLen + l
	payload := make([]byte, l)
	if _, err := r.ReadAt(payload, off+recHeaderLen); err != nil {
		return nil, off, err
	}
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(hdr[4:]) {
		return nil, next, fmt.Errorf("%w: checksum mismatch", errCorrupt)
	}
	events, err = decodeBatch(payload)
	if err != nil {
		return nil, next, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	return events, next, nil
}

// skip counts and logs a torn or corrupt record and reports true; for any
// other error (an I/O error, worth retrying) it reports false.
func (s *Spool) skip(seg segment, off, next int64, err error) bool {
	switch {
	case errors.Is(err, errTorn):
		s.torn++
		s.log.Warn("spool: discarding incomplete record at the end of a segment",
			"segment", seg.seq, "offset", off, "bytes", seg.size-off)
	case errors.Is(err, errCorrupt):
		s.corrupt++
		s.batches = max(s.batches-1, 0)
		s.log.Error("spool: skipping corrupt record", "segment", seg.seq, "offset", off, "bytes", next-off, "err", err)
	default:
		return false
	}
	return true
}

// reader returns a read handle on segment seq, reusing the last one.
func (s *Spool) reader(seq uint64) (*os.File, error) {
	if s.r != nil && s.rseq == seq {
		return s.r, nil
	}
	if s.r != nil {
		s.r.Close()
	}
	r, err := os.Open(s.segPath(seq))
	if err != nil {
		s.r = nil
		return nil, err
	}
	s.r, s.rseq = r, seq
	return r, nil
}

// dropHead deletes segs[0], which the reader has finished.
func (s *Spool) dropHead() {
	seg := s.segs[0]
	if s.r != nil && s.rseq == seg.seq {
		s.r.Close()
		s.r = nil
	}
	if err := os.Remove(s.segPath(seg.seq)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		// Harmless beyond the disk space: the ack file makes the next Open
		// delete it.
		s.log.Warn("spool: cannot remove consumed segment", "segment", seg.seq, "err", err)
	}
	s.bytes -= seg.size
	s.segs = s.segs[1:]
	s.readOff = headerLen
}

// Ack marks the events last returned by Peek as delivered, so that neither
// Peek nor a later Open returns them again. A segment is deleted once all
// its records are acknowledged. An error means only that the position could
// not be saved: after a restart some batches may be replayed twice.
func (s *Spool) Ack() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.peeked {
		return errors.New("spool: Ack without Peek")
	}
	s.readOff = s.curNext
	s.batches = max(s.batches-int64(s.curRecords), 0)
	s.peeked, s.cur = false, nil
	if s.readOff >= s.segs[0].size {
		if s.w != nil && len(s.segs) == 1 {
			// The spool is empty: start afresh with the next Append
			// rather than keep a file of consumed records.
			s.w.Close()
			s.w = nil
		}
		s.dropHead()
	}
	return s.writeAck()
}

// writeAck saves the read position: the oldest live segment and the offset
// in it. With no segment left it saves the next sequence number, meaning
// "everything before it is consumed". The 20 bytes are overwritten in place,
// without fsync: a torn or lost write fails the CRC and costs only
// duplicates, so one pwrite is enough.
func (s *Spool) writeAck() error {
	seq, off := s.next, headerLen
	if len(s.segs) > 0 {
		seq, off = s.segs[0].seq, s.readOff
	}
	var b [ackLen]byte
	binary.LittleEndian.PutUint64(b[0:], seq)
	binary.LittleEndian.PutUint64(b[8:], uint64(off))
	binary.LittleEndian.PutUint32(b[16:], crc32.Checksum(b[:16], castagnoli))
	if s.ack == nil {
		f, err := os.OpenFile(filepath.Join(s.cfg.Dir, ackName), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("save spool position: %w", err)
		}
		s.ack = f
	}
	if _, err := s.ack.WriteAt(b[:], 0); err != nil {
		return fmt.Errorf("save spool position: %w", err)
	}
	return nil
}

// readAck returns the saved read position; ok is false if there is none or
// it is damaged, in which case reading starts at the oldest segment.
func (s *Spool) readAck() (seq uint64, off int64, ok bool) {
	b, err := os.ReadFile(filepath.Join(s.cfg.Dir, ackName))
	if err != nil || len(b) != ackLen || crc32.Checksum(b[:16], castagnoli) != binary.LittleEndian.Uint32(b[16:]) {
		return 0, 0, false
	}
	return binary.LittleEndian.Uint64(b[0:]), int64(binary.LittleEndian.Uint64(b[8:])), true
}

// Stats returns the spool's current size and its corruption counters.
func (s *Spool) Stats() SpoolStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return SpoolStats{Bytes: s.bytes, Batches: s.batches, CorruptRecords: s.corrupt, TornRecords: s.torn}
}

// Batches returns the number of records not yet acknowledged.
func (s *Spool) Batches() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.batches
}

// Close fsyncs and closes the spool. Unacknowledged batches stay on disk
// for the next OpenSpool.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.syncTime != nil {
		s.syncTime.Stop()
	}
	err := s.seal()
	for _, f := range []*os.File{s.r, s.ack} {
		if f != nil {
			f.Close()
		}
	}
	s.r, s.ack = nil, nil
	if lerr := s.lock.Close(); err == nil {
		err = lerr
	}
	if err != nil {
		return fmt.Errorf("close spool: %w", err)
	}
	return nil
}

// syncDir fsyncs a directory so that entries created in it survive a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
