// Package ingest carries accepted events to a Sink without losing any: a
// bounded queue, batching by size and interval, and an append-only,
// checksummed disk spool for when the Sink is slow or down.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/experiment"
)

// Ingester defaults, documented on Config.
// Sink stores batches of events. Write must be all or nothing from the
// caller's point of view: on error the caller keeps the whole batch and may
// write it again later, so a Sink must tolerate duplicates by ID. An
// Ingester calls Write from several goroutines at once (Config.Writers).
type Sink interface {
	Write(ctx context.Context, events []analytics.Event) error
}

const (
	DefaultQueueSize     = 200_000
	DefaultMaxBatch      = 50_000
	DefaultWriters       = 2
	DefaultFlushInterval = time.Second
	DefaultWriteTimeout  = 10 * time.Second
	DefaultRetryMin      = time.Second
	DefaultRetryMax      = 30 * time.Second
)

// Config configures an Ingester. Every zero value is replaced by the
// default named on its field.
type Config struct {
	// Sink receives the batches. Required.
	Sink Sink
	// Dir is the spool directory (see Spool). Required.
	Dir string
	// QueueSize is how many events may wait in memory for the writer.
	// Beyond it, Log writes to the spool instead. Default DefaultQueueSize.
	QueueSize int
	// MaxBatch is the most events written to the Sink at once; a full batch
	// is written without waiting for FlushInterval. Default DefaultMaxBatch,
	// or QueueSize if that is smaller.
	MaxBatch int
	// FlushInterval is the longest an accepted event waits in memory before
	// the writer sends it while the Sink is healthy (twice that on the tick
	// that retries a batch the Sink refused). It is also the period at
	// which a failed Sink is checked for a due retry. Default
	// DefaultFlushInterval.
	FlushInterval time.Duration
	// Writers is how many Sink.Write calls share one batch, each with a part
	// of it (of at least MinPart events: smaller batches go whole), in
	// parallel. One insert keeps
	// one core of ClickHouse busy (it parses, sorts and writes its part
	// alone) and waits meanwhile: with one writer, a 1M-unit bulk send
	// filled the queue at about 150,000 events/s while both processes
	// together used 1.2 of the 2 cores. If any part fails, the whole batch
	// counts as failed and is spooled and written again; the parts that
	// were written are then stored twice, which every count tolerates, as
	// it does the duplicate of a timed-out write: events are deduplicated
	// by id. Default DefaultWriters; 1 writes each batch whole.
	Writers int
	// WriteTimeout bounds one Sink.Write; a slower write counts as failed and
	// its batch is spooled (the Sink may still complete it: a duplicate).
	// A reader of what was stored since a time that cannot see the inserts
	// running relies on it: see clickhouse.TraitMargin.
	// Default DefaultWriteTimeout.
	WriteTimeout time.Duration
	// RetryMin and RetryMax bound the backoff between probes of a failed
	// Sink: the first retry comes RetryMin after the failure, each further
	// failure doubles the wait up to RetryMax. Defaults DefaultRetryMin and
	// DefaultRetryMax (or RetryMin, if that is larger).
	RetryMin, RetryMax time.Duration
	// MaxSpoolBytes, SegmentBytes and SyncInterval configure the spool; see
	// SpoolConfig for their defaults and meaning. SyncInterval no longer
	// bounds what a crash loses: the journal holds every accepted event,
	// and the Ingester fsyncs the spool itself before the journal lets go
	// of what it spooled.
	MaxSpoolBytes int64
	SegmentBytes  int64
	SyncInterval  time.Duration
	// Now tells the time for retry scheduling and error timestamps.
	// Default time.Now.
	Now func() time.Time
	// Logger receives sink failures, recoveries and spool problems. Nil
	// discards them.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.QueueSize == 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = min(DefaultMaxBatch, c.QueueSize)
	}
	if c.Writers == 0 {
		c.Writers = DefaultWriters
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.RetryMin == 0 {
		c.RetryMin = DefaultRetryMin
	}
	if c.RetryMax == 0 {
		c.RetryMax = max(DefaultRetryMax, c.RetryMin)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c Config) spoolConfig() SpoolConfig {
	return SpoolConfig{Dir: c.Dir, MaxBytes: c.MaxSpoolBytes, SegmentBytes: c.SegmentBytes, SyncInterval: c.SyncInterval, Logger: c.Logger}
}

// Validate reports the first field of c that cannot be used, as an
// EINVALID *experiment.Error naming it. Zero values are valid: they stand
// for the defaults.
func (c Config) Validate() error {
	switch {
	case c.Sink == nil:
		return experiment.Invalid("Sink", "a sink is required")
	case c.QueueSize < 0:
		return experiment.Invalid("QueueSize", "must not be negative")
	case c.MaxBatch < 0:
		return experiment.Invalid("MaxBatch", "must not be negative")
	case c.Writers < 0:
		return experiment.Invalid("Writers", "must not be negative")
	case c.FlushInterval < 0:
		return experiment.Invalid("FlushInterval", "must not be negative")
	case c.WriteTimeout < 0:
		return experiment.Invalid("WriteTimeout", "must not be negative")
	case c.RetryMin < 0:
		return experiment.Invalid("RetryMin", "must not be negative")
	case c.RetryMax < 0:
		return experiment.Invalid("RetryMax", "must not be negative")
	}
	if err := c.spoolConfig().Validate(); err != nil {
		var e *experiment.Error
		if errors.As(err, &e) && e.Field == "MaxBytes" {
			return experiment.Invalid("MaxSpoolBytes", "%s", e.Message)
		}
		return err
	}
	d := c.withDefaults()
	if d.MaxBatch > d.QueueSize {
		return experiment.Invalid("MaxBatch", "%d is larger than QueueSize %d", d.MaxBatch, d.QueueSize)
	}
	if d.RetryMin > d.RetryMax {
		return experiment.Invalid("RetryMax", "%v is shorter than RetryMin %v", d.RetryMax, d.RetryMin)
	}
	return nil
}

// Stats is a snapshot of an Ingester's gauges and counters, for
// export as metrics. Counters only grow during the Ingester's life.
type Stats struct {
	QueueDepth       int       // events accepted into memory and not yet written or spooled
	QueueCapacity    int       // QueueSize
	SpoolBytes       int64     // size of the spool on disk
	SpoolBatches     int64     // batches in the spool waiting for replay
	EventsAccepted   int64     // events Log accepted (queued or spooled)
	EventsWritten    int64     // events written to the Sink, replays included
	EventsSpooled    int64     // events appended to the spool, by Log or by the writer
	EventsReplayed   int64     // events written to the Sink from the spool
	WriteFailures    int64     // failed or timed-out Sink writes
	Rejected         int64     // events Log refused with EUNAVAILABLE
	EventsLost       int64     // accepted events that Close could neither write nor spool; should stay 0
	DeadLettered     int64     // events the Sink refused for good, moved to the dead-letter file
	CorruptRecords   int64     // spool records skipped for a bad checksum or encoding
	TornRecords      int64     // incomplete spool records discarded after a crash
	LastWriteError   string    // the most recent Sink failure, kept after recovery
	LastWriteErrorAt time.Time // when LastWriteError happened
	SinkHealthy      bool      // false from a failed write until a write succeeds
}

// Ingester is the Logger of the ingest path: it appends events to a
// journal on disk (group commit: one fsync for every caller waiting), queues
// them in memory, writes them to the Sink in batches from one goroutine,
// and spools to disk whatever the Sink cannot take, replaying it in order
// once the Sink recovers.
//
// Guarantees: an event for which Log (or Commit after Append) returned nil
// is written to the Sink at least once, whatever happens to the process or
// the machine: it is in the journal, and a journal record is released only
// once its events are in the Sink or in a synced spool. What a crash leaves
// in the journal is moved to the spool by the next Open. An event that
// Append accepted and nobody committed is lost only if the crash comes
// within one commit round (a write and an fsync, a few milliseconds). Spooled batches reach the Sink in the
// order they were spooled. Events may be written more than once (a replay
// after a write that timed out but succeeded, or after a crash before the
// spool's acknowledgement): the Sink deduplicates by ID.
type Ingester struct {
	cfg   Config
	log   *slog.Logger
	spool *Spool

	// The queue is a list of chunks of MaxBatch events: Log copies each
	// event once, into tail; a full chunk is a batch, handed to the Sink
	// as it is and recycled afterwards.
	mu       sync.Mutex
	chunks   [][]analytics.Event // full chunks, oldest first
	tail     []analytics.Event   // the chunk being filled; nil if none
	free     [][]analytics.Event // delivered chunks for reuse
	queued   int                 // events accepted into memory and not yet written or spooled
	closed   bool
	inflight sync.WaitGroup // Log calls writing to the spool

	full  chan struct{}        // a chunk is full: wake the writer
	quit  chan context.Context // carries Close's context to the writer
	done  chan struct{}        // the writer has exited
	ready chan struct{}        // always closed: a select case for "replay now"

	runCtx    context.Context // cancelled when Close's context ends, to abort a write
	cancelRun context.CancelFunc
	closeOnce sync.Once
	closeErr  error
	lastErr   atomic.Pointer[writeErr]

	// Owned by the writer goroutine.
	held         []analytics.Event // a batch neither the Sink nor the spool took, retried first
	healthy      bool
	backoff      time.Duration
	nextProbe    time.Time
	spoolRetryAt time.Time

	// journal holds every accepted event until it is delivered.
	journal *journal
	// Marks of the journal records ending in each chunk, parallel to
	// chunks and tail; heldMarks are held's.
	chunkMarks [][]mark
	tailMarks  []mark
	heldMarks  []mark

	accepted, written, spooled, replayed atomic.Int64
	failures, rejected, lost             atomic.Int64
	deadLettered                         atomic.Int64
	sinkHealthy, rejecting               atomic.Bool
	writing                              atomic.Int32 // Sink.Write calls running, abandoned ones included
}

type writeErr struct {
	msg string
	at  time.Time
}

// Open validates cfg, opens the spool in cfg.Dir and starts the
// writer, which first replays whatever a previous process left spooled.
func Open(cfg Config) (*Ingester, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	spool, err := OpenSpool(cfg.spoolConfig())
	if err != nil {
		return nil, err
	}
	// The journal's folder is inside the spool's, under its lock.
	jdir := filepath.Join(cfg.Dir, "journal")
	last, recovered, err := recoverJournal(jdir, spool, cfg.Logger)
	if err != nil {
		spool.Close()
		return nil, err
	}
	if recovered > 0 {
		cfg.Logger.Info("ingest: moved events a previous process had accepted from the journal to the spool", "events", recovered)
	}
	jr, err := openJournal(jdir, last, cfg.Logger)
	if err != nil {
		spool.Close()
		return nil, err
	}
	i := &Ingester{
		cfg:     cfg,
		log:     cfg.Logger,
		spool:   spool,
		journal: jr,
		full:    make(chan struct{}, 1),
		quit:    make(chan context.Context, 1),
		done:    make(chan struct{}),
		ready:   make(chan struct{}),
		healthy: true,
	}
	close(i.ready)
	i.runCtx, i.cancelRun = context.WithCancel(context.Background())
	i.sinkHealthy.Store(true)
	go i.run()
	return i, nil
}

// Log accepts events for delivery and returns once they are durable (see
// Append and Commit). It never waits for the Sink.
func (i *Ingester) Log(ctx context.Context, events ...analytics.Event) error {
	t, err := i.Append(events...)
	if err != nil {
		return err
	}
	return i.Commit(ctx, t)
}

// Commit returns once the events of t, and all accepted before them, are
// on disk; an error means they may not be (the journal failed, or ctx
// ended first), though they are still delivered unless the process dies.
func (i *Ingester) Commit(ctx context.Context, t analytics.Ticket) error {
	if t == 0 {
		return nil
	}
	return i.journal.commit(ctx.Done(), uint64(t))
}

// Append accepts events for delivery without waiting: it appends them to
// the journal's buffer and to the in-memory queue or, if the queue has no
// room for all of them, to the spool (a synchronous disk write and fsync).
// It returns an EUNAVAILABLE error, having accepted none of the events,
// only if neither can take them or the Ingester is closed.
func (i *Ingester) Append(events ...analytics.Event) (analytics.Ticket, error) {
	n := len(events)
	if n == 0 {
		return 0, nil
	}
	i.mu.Lock()
	if i.closed {
		i.mu.Unlock()
		i.rejected.Add(int64(n))
		return 0, experiment.Errorf(experiment.EUNAVAILABLE, "event ingest is shutting down")
	}
	// Close waits for inflight before draining the queue and closing the
	// spool and the journal.
	i.inflight.Add(1)
	i.mu.Unlock()
	defer i.inflight.Done()
	seg, ticket, err := i.journal.append(events)
	if err != nil {
		i.rejected.Add(int64(n))
		return 0, err
	}
	i.mu.Lock()
	if i.queued+n <= i.cfg.QueueSize {
		signal := false
		for rest := events; len(rest) > 0; {
			if i.tail == nil {
				i.tail = i.chunk()
			}
			k := min(cap(i.tail)-len(i.tail), len(rest))
			i.tail = append(i.tail, rest[:k]...)
			rest = rest[k:]
			if len(i.tail) == cap(i.tail) {
				i.chunks = append(i.chunks, i.tail)
				i.chunkMarks = append(i.chunkMarks, i.tailMarks)
				i.tail, i.tailMarks = nil, nil
				signal = true
			}
		}
		// The record ends in the chunk that got its last event: chunks
		// are delivered in order, so it is delivered with that one.
		if i.tail != nil {
			i.tailMarks = addMark(i.tailMarks, seg)
		} else {
			k := len(i.chunkMarks) - 1
			i.chunkMarks[k] = addMark(i.chunkMarks[k], seg)
		}
		i.queued += n
		i.mu.Unlock()
		i.accepted.Add(int64(n))
		if signal {
			select {
			case i.full <- struct{}{}:
			default:
			}
		}
		return analytics.Ticket(ticket), nil
	}
	i.mu.Unlock()
	err = i.spool.Append(events)
	if err == nil {
		err = i.spool.Sync()
	}
	// Refused events must not be stored: the journal lets go of them too.
	i.journal.release([]mark{{seg: seg, n: 1}})
	if err != nil {
		i.rejected.Add(int64(n))
		if !i.rejecting.Swap(true) {
			i.log.Error("ingest: rejecting events: queue full and spool cannot take them", "err", err)
		}
		return 0, experiment.Errorf(experiment.EUNAVAILABLE, "cannot accept events now: queue and spool are full")
	}
	if i.rejecting.Load() && i.rejecting.Swap(false) {
		i.log.Info("ingest: accepting events again")
	}
	i.accepted.Add(int64(n))
	i.spooled.Add(int64(n))
	return 0, nil
}

// addMark counts one more record of segment seg in marks.
func addMark(marks []mark, seg uint64) []mark {
	if k := len(marks) - 1; k >= 0 && marks[k].seg == seg {
		marks[k].n++
		return marks
	}
	return append(marks, mark{seg: seg, n: 1})
}

// Close stops accepting events, writes the queue to the Sink and spools
// whatever cannot be written before ctx is done. It waits for the spool
// writes even after ctx is done: they are local and bounded, and skipping
// them would lose accepted events. The spool is left for the next
// Open on the same directory.
func (i *Ingester) Close(ctx context.Context) error {
	i.closeOnce.Do(func() {
		i.mu.Lock()
		i.closed = true
		i.mu.Unlock()
		i.inflight.Wait()
		i.quit <- ctx
		select {
		case <-i.done:
		case <-ctx.Done():
			i.cancelRun() // abort a Sink write in progress; drain spools the rest
			<-i.done
		}
		i.cancelRun()
		// The spool first: its Close fsyncs what drain spooled, which the
		// journal's records then no longer need to hold.
		i.closeErr = errors.Join(i.closeErr, i.spool.Close(), i.journal.close())
	})
	return i.closeErr
}

// Stats returns the current gauges and counters.
func (i *Ingester) Stats() Stats {
	i.mu.Lock()
	depth := i.queued
	i.mu.Unlock()
	ss := i.spool.Stats()
	st := Stats{
		QueueDepth:     depth,
		QueueCapacity:  i.cfg.QueueSize,
		SpoolBytes:     ss.Bytes,
		SpoolBatches:   ss.Batches,
		EventsAccepted: i.accepted.Load(),
		EventsWritten:  i.written.Load(),
		EventsSpooled:  i.spooled.Load(),
		EventsReplayed: i.replayed.Load(),
		WriteFailures:  i.failures.Load(),
		Rejected:       i.rejected.Load(),
		EventsLost:     i.lost.Load(),
		DeadLettered:   i.deadLettered.Load(),
		CorruptRecords: ss.CorruptRecords,
		TornRecords:    ss.TornRecords,
		SinkHealthy:    i.sinkHealthy.Load(),
	}
	if e := i.lastErr.Load(); e != nil {
		st.LastWriteError, st.LastWriteErrorAt = e.msg, e.at
	}
	return st
}

// run is the writer: the only goroutine that calls the Sink and reads the
// spool. New batches and replays interleave while the Sink is healthy.
func (i *Ingester) run() {
	defer close(i.done)
	ticker := time.NewTicker(i.cfg.FlushInterval)
	defer ticker.Stop()
	for {
		var replay <-chan struct{}
		if i.healthy && i.spool.Batches() > 0 && !i.cfg.Now().Before(i.spoolRetryAt) {
			replay = i.ready
		}
		select {
		case ctx := <-i.quit:
			i.drain(ctx)
			return
		case <-i.full:
			i.flush(false)
		case <-ticker.C:
			i.probe()
			i.flush(true)
		case <-replay:
			i.replayOne()
		}
	}
}

// chunk returns an empty chunk of capacity MaxBatch. i.mu is held.
func (i *Ingester) chunk() []analytics.Event {
	if n := len(i.free); n > 0 {
		c := i.free[n-1]
		i.free = i.free[:n-1]
		return c
	}
	return make([]analytics.Event, 0, i.cfg.MaxBatch)
}

// next returns the batch to deliver next, with the marks of the journal
// records ending in it: the held one, else the oldest full chunk, else with
// all the partial tail; nil if there is none.
func (i *Ingester) next(all bool) ([]analytics.Event, []mark) {
	if i.held != nil {
		return i.held, i.heldMarks
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if len(i.chunks) > 0 {
		c, m := i.chunks[0], i.chunkMarks[0]
		i.chunks[0], i.chunkMarks[0] = nil, nil
		i.chunks, i.chunkMarks = i.chunks[1:], i.chunkMarks[1:]
		return c, m
	}
	if all && len(i.tail) > 0 {
		c, m := i.tail, i.tailMarks
		i.tail, i.tailMarks = nil, nil
		return c, m
	}
	return nil, nil
}

// delivered frees batch's places in the queue, releases its journal
// records and, unless a timed-out Sink write may still be reading it,
// keeps its chunk for reuse.
func (i *Ingester) delivered(batch []analytics.Event, marks []mark, reusable bool) {
	i.held, i.heldMarks = nil, nil
	i.journal.release(marks)
	if reusable {
		clear(batch) // drop references to the events' strings
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.queued -= len(batch)
	if reusable && len(i.free) < 2 && cap(batch) == i.cfg.MaxBatch {
		i.free = append(i.free, batch[:0])
	}
}

// flush delivers full batches, and with all also the partial one, once:
// events that arrive while it writes wait for the next tick or a full
// batch. Taking the partial tail again after each write would, under
// steady traffic, turn one flush into a stream of small inserts back to
// back (one per Sink round trip), each a new part for ClickHouse to write
// and merge. It stops at a batch that neither the Sink nor the spool
// takes: that batch is held, keeping its queue places, and retried first
// next time.
func (i *Ingester) flush(all bool) {
	for {
		batch, marks := i.next(all)
		if batch == nil {
			return
		}
		if len(batch) < cap(batch) {
			all = false // the partial tail: the only one this flush takes
		}
		ok, reusable := i.deliver(i.runCtx, batch)
		if !ok {
			i.held, i.heldMarks = batch, marks
			return
		}
		i.delivered(batch, marks, reusable)
	}
}

// deliver writes batch to the Sink if it is healthy, else or on failure to
// the spool. It reports whether either took the batch, and whether batch
// may be reused: not if an abandoned Sink write may still read it.
func (i *Ingester) deliver(ctx context.Context, batch []analytics.Event) (ok, reusable bool) {
	reusable = true
	if i.healthy && ctx.Err() == nil {
		abandoned, err := i.write(ctx, batch)
		if err == nil {
			i.writeOK()
			i.written.Add(int64(len(batch)))
			return true, true
		}
		if errors.Is(err, ErrRejected) {
			// Sifting may leave writes running; the chunk is not reused.
			reusable = false
			if batch = i.sift(ctx, batch, err); len(batch) == 0 {
				i.writeOK()
				return true, false
			}
			err = fmt.Errorf("sink write failed while sifting a refused batch: %d events spooled", len(batch))
		}
		reusable = reusable && !abandoned
		i.writeFailed(err)
	}
	// Synced before the journal lets go of the batch's records.
	err := i.spool.Append(batch)
	if err == nil {
		err = i.spool.Sync()
	}
	if err != nil {
		i.log.Error("ingest: cannot spool batch; holding it in memory", "events", len(batch), "err", err)
		return false, reusable
	}
	i.spooled.Add(int64(len(batch)))
	return true, reusable
}

// write calls the Sink with WriteTimeout. A Sink that ignores its context
// is abandoned at the timeout rather than waited for: a slow Sink is a
// failed Sink. While an abandoned call has not returned, further writes
// fail at once, so that a hung Sink holds one goroutine and one batch, not
// one per retry.
func (i *Ingester) write(ctx context.Context, batch []analytics.Event) (abandoned bool, err error) {
	if i.writing.Load() > 0 {
		return false, errors.New("sink write: an earlier write timed out and has not returned")
	}
	ctx, cancel := context.WithTimeout(ctx, i.cfg.WriteTimeout)
	defer cancel()
	res := make(chan error, 1)
	i.writing.Add(1)
	go func() {
		err := i.writeParts(ctx, batch)
		i.writing.Add(-1) // before the send, so the writer never sees itself as still writing
		res <- err
	}()
	select {
	case err := <-res:
		return false, err
	case <-ctx.Done():
		select {
		case err := <-res: // finished just in time
			return false, err
		default:
			return true, fmt.Errorf("sink write of %d events: %w", len(batch), ctx.Err())
		}
	}
}

// MinPart is the fewest events a part of a batch written by several
// Writers holds: smaller batches go whole, since each part is an insert,
// and so a part ClickHouse must write and later merge.
const MinPart = 4096

// writeParts writes batch through up to Writers parallel Sink calls.
func (i *Ingester) writeParts(ctx context.Context, batch []analytics.Event) error {
	n := min(i.cfg.Writers, len(batch)/MinPart)
	if n <= 1 {
		return i.cfg.Sink.Write(ctx, batch)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	size := (len(batch) + n - 1) / n
	for k := range n {
		part := batch[k*size : min(len(batch), (k+1)*size)]
		wg.Go(func() { errs[k] = i.cfg.Sink.Write(ctx, part) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (i *Ingester) writeOK() {
	if !i.sinkHealthy.Load() {
		i.log.Info("ingest: sink is healthy again", "spooled_batches", i.spool.Batches())
	}
	i.healthy = true
	i.backoff = 0
	i.sinkHealthy.Store(true)
}

// writeFailed marks the Sink failed and schedules the next probe, doubling
// the wait after each consecutive failure.
func (i *Ingester) writeFailed(err error) {
	now := i.cfg.Now()
	i.failures.Add(1)
	i.lastErr.Store(&writeErr{msg: err.Error(), at: now})
	if i.backoff == 0 {
		i.backoff = i.cfg.RetryMin
		i.log.Warn("ingest: sink write failed; spooling until it recovers", "err", err)
	} else {
		i.backoff = min(2*i.backoff, i.cfg.RetryMax)
		i.log.Debug("ingest: sink still failing", "err", err, "retry_in", i.backoff)
	}
	i.healthy = false
	i.sinkHealthy.Store(false)
	i.nextProbe = now.Add(i.backoff)
}

// probe tries a failed Sink again once its backoff has passed, with the
// oldest spooled batch so that the spool's order is kept, or, if nothing is
// spooled, by letting the next new batch try.
func (i *Ingester) probe() {
	if i.healthy || i.cfg.Now().Before(i.nextProbe) {
		return
	}
	if i.spool.Batches() > 0 {
		i.replayOne()
		return
	}
	i.healthy = true
}

// replayOne writes the oldest spooled batch to the Sink and acknowledges
// it. On failure the batch stays first in the spool.
func (i *Ingester) replayOne() {
	batch, err := i.spool.Peek(i.cfg.MaxBatch)
	if errors.Is(err, io.EOF) {
		return
	}
	if err != nil {
		// A read error is not the Sink's fault; wait before retrying so as
		// not to spin on a bad disk.
		i.log.Error("ingest: cannot read spool", "err", err)
		i.spoolRetryAt = i.cfg.Now().Add(i.cfg.RetryMin)
		return
	}
	if _, err := i.write(i.runCtx, batch); errors.Is(err, ErrRejected) {
		// A refused spooled batch would block the spool for ever: sift
		// it. If part of it still fails, the whole batch stays spooled and
		// its landed part is written again later (a duplicate).
		if rest := i.sift(i.runCtx, batch, err); len(rest) > 0 {
			i.writeFailed(fmt.Errorf("sink write failed while sifting a refused spooled batch"))
			return
		}
	} else if err != nil {
		i.writeFailed(err)
		return
	} else {
		i.written.Add(int64(len(batch)))
	}
	i.writeOK()
	i.replayed.Add(int64(len(batch)))
	if err := i.spool.Ack(); err != nil {
		i.log.Warn("ingest: replayed batch may be replayed again after a restart", "err", err)
	}
}

// drain delivers everything queued at Close: to the Sink while it is
// healthy and ctx allows, else to the spool.
func (i *Ingester) drain(ctx context.Context) {
	for {
		batch, marks := i.next(true)
		if batch == nil {
			return
		}
		if ok, _ := i.deliver(ctx, batch); ok {
			i.delivered(batch, marks, false)
			continue
		}
		i.mu.Lock()
		lost := i.queued
		i.mu.Unlock()
		i.lost.Add(int64(lost))
		i.log.Error("ingest: events left in the journal at shutdown: sink and spool both failed", "events", lost)
		i.closeErr = fmt.Errorf("close ingester: %d events could be neither written nor spooled; the journal keeps them for the next start", lost)
		return
	}
}
