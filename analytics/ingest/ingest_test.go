package ingest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/experiment"
)

// fakeSink records the batches written to it. It fails while err is set,
// and blocks while gate is non-nil (until the gate closes or, if it honours
// contexts, the context ends).
type fakeSink struct {
	mu       sync.Mutex
	batches  [][]analytics.Event
	calls    int
	err      error
	gate     chan struct{}
	deaf     bool // ignore ctx while blocked, like a stuck driver
	failEach int  // fail every failEach-th call, if > 0
}

func (s *fakeSink) Write(ctx context.Context, events []analytics.Event) error {
	s.mu.Lock()
	s.calls++
	err, gate, deaf := s.err, s.gate, s.deaf
	if s.failEach > 0 && s.calls%s.failEach == 0 {
		err = errors.New("flaky")
	}
	s.mu.Unlock()
	if gate != nil {
		if deaf {
			<-gate
		} else {
			select {
			case <-gate:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.batches = append(s.batches, slices.Clone(events))
	s.mu.Unlock()
	return nil
}

func (s *fakeSink) set(f func(s *fakeSink)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *fakeSink) sizes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n []int
	for _, b := range s.batches {
		n = append(n, len(b))
	}
	return n
}

func (s *fakeSink) callCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// ids returns the IDs written, in order, duplicates included.
func (s *fakeSink) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for _, b := range s.batches {
		for _, e := range b {
			ids = append(ids, e.ID)
		}
	}
	return ids
}

// fakeClock is a settable Now, safe for the writer goroutine to read.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func MustOpenIngester(tb testing.TB, cfg Config) *Ingester {
	tb.Helper()
	i, err := Open(cfg)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { i.Close(context.Background()) })
	return i
}

func MustLog(tb testing.TB, i *Ingester, events ...analytics.Event) {
	tb.Helper()
	// One Append each, then one Commit for all: a Log each would wait for
	// an fsync per event, longer than the short flush intervals the tests
	// count batches by.
	var last analytics.Ticket
	for _, e := range events {
		t, err := i.Append(e)
		if err != nil {
			tb.Fatalf("Append(%s): %v", e.ID, err)
		}
		last = max(last, t)
	}
	if err := i.Commit(context.Background(), last); err != nil {
		tb.Fatalf("Commit: %v", err)
	}
}

func MustClose(tb testing.TB, i *Ingester) {
	tb.Helper()
	if err := i.Close(context.Background()); err != nil {
		tb.Fatalf("Close: %v", err)
	}
}

// waitFor polls cond until it holds or five seconds pass.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// checkDelivered fails unless every ID of want was written at least once.
func checkDelivered(tb testing.TB, sink *fakeSink, want []analytics.Event) {
	tb.Helper()
	got := make(map[string]bool)
	for _, id := range sink.ids() {
		got[id] = true
	}
	var missing []string
	for _, e := range want {
		if !got[e.ID] {
			missing = append(missing, e.ID)
		}
	}
	if len(missing) > 0 {
		tb.Errorf("%d of %d accepted events never written, e.g. %v", len(missing), len(want), missing[:min(5, len(missing))])
	}
}

func idsOf(events []analytics.Event) []string {
	var ids []string
	for _, e := range events {
		ids = append(ids, e.ID)
	}
	return ids
}

func TestIngestConfigValidate(t *testing.T) {
	sink := &fakeSink{}
	ok := Config{Sink: sink, Dir: "/tmp/x"}
	for _, tt := range []struct {
		name  string
		edit  func(*Config)
		field string
	}{
		{"defaults", func(*Config) {}, ""},
		{"no sink", func(c *Config) { c.Sink = nil }, "Sink"},
		{"no dir", func(c *Config) { c.Dir = "" }, "Dir"},
		{"negative queue", func(c *Config) { c.QueueSize = -1 }, "QueueSize"},
		{"negative batch", func(c *Config) { c.MaxBatch = -1 }, "MaxBatch"},
		{"batch over queue", func(c *Config) { c.QueueSize, c.MaxBatch = 10, 11 }, "MaxBatch"},
		{"small queue, default batch", func(c *Config) { c.QueueSize = 10 }, ""},
		{"negative interval", func(c *Config) { c.FlushInterval = -1 }, "FlushInterval"},
		{"negative timeout", func(c *Config) { c.WriteTimeout = -1 }, "WriteTimeout"},
		{"retry max under min", func(c *Config) { c.RetryMin, c.RetryMax = time.Minute, time.Second }, "RetryMax"},
		{"large retry min, default max", func(c *Config) { c.RetryMin = time.Hour }, ""},
		{"negative spool", func(c *Config) { c.MaxSpoolBytes = -1 }, "MaxSpoolBytes"},
		{"negative segment", func(c *Config) { c.SegmentBytes = -1 }, "SegmentBytes"},
		{"sync every append", func(c *Config) { c.SyncInterval = -1 }, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			err := c.Validate()
			if tt.field == "" {
				if err != nil {
					t.Errorf("Validate() = %v, want nil", err)
				}
				return
			}
			if experiment.ErrorCode(err) != experiment.EINVALID || experiment.ErrorField(err) != tt.field {
				t.Errorf("Validate() = %v, want EINVALID naming %q", err, tt.field)
			}
		})
	}
}

func TestIngesterBatchesBySize(t *testing.T) {
	sink := &fakeSink{}
	i := MustOpenIngester(t, Config{Sink: sink, Dir: t.TempDir(), MaxBatch: 10, QueueSize: 100, FlushInterval: time.Hour})
	events := testEvents("s", 25)
	MustLog(t, i, events...)
	waitFor(t, "two full batches", func() bool { return len(sink.sizes()) == 2 })
	time.Sleep(10 * time.Millisecond) // the 5 left over must wait for the interval
	if got := sink.sizes(); !slices.Equal(got, []int{10, 10}) {
		t.Errorf("batch sizes before Close = %v, want [10 10]", got)
	}
	MustClose(t, i)
	if got := sink.sizes(); !slices.Equal(got, []int{10, 10, 5}) {
		t.Errorf("batch sizes after Close = %v, want [10 10 5]", got)
	}
	if got := sink.ids(); !slices.Equal(got, idsOf(events)) {
		t.Errorf("written %v, want %v", got, idsOf(events))
	}
}

func TestIngesterBatchesByInterval(t *testing.T) {
	sink := &fakeSink{}
	i := MustOpenIngester(t, Config{Sink: sink, Dir: t.TempDir(), MaxBatch: 1000, FlushInterval: 5 * time.Millisecond})
	MustLog(t, i, testEvents("i", 3)...)
	waitFor(t, "the interval flush", func() bool { return i.Stats().EventsWritten > 0 })
	if got := sink.sizes(); !slices.Equal(got, []int{3}) {
		t.Errorf("batch sizes = %v, want [3]", got)
	}
	if st := i.Stats(); st.EventsAccepted != 3 || st.EventsWritten != 3 || st.QueueDepth != 0 || st.EventsSpooled != 0 {
		t.Errorf("Stats = %+v, want 3 accepted and written, nothing queued or spooled", st)
	}
}

func TestIngesterSinkDownThenBack(t *testing.T) {
	clock := newFakeClock()
	sink := &fakeSink{err: errors.New("clickhouse down")}
	dir := t.TempDir()
	i := MustOpenIngester(t, Config{
		Sink: sink, Dir: dir, MaxBatch: 10, QueueSize: 100,
		FlushInterval: time.Millisecond, RetryMin: time.Second, RetryMax: 4 * time.Second, Now: clock.Now,
	})
	events := testEvents("d", 50)
	MustLog(t, i, events...)
	waitFor(t, "all 50 spooled", func() bool { return i.Stats().EventsSpooled == 50 })

	st := i.Stats()
	if st.SinkHealthy || st.WriteFailures != 1 || st.SpoolBatches == 0 || st.LastWriteError == "" || !st.LastWriteErrorAt.Equal(clock.Now()) {
		t.Errorf("Stats while down = %+v, want unhealthy after exactly 1 failure (the rest spooled without trying), batches spooled, the error recorded", st)
	}

	// Backoff: no probe before RetryMin, then one, then the wait doubles.
	time.Sleep(20 * time.Millisecond)
	if n := sink.callCount(); n != 1 {
		t.Fatalf("Sink calls before RetryMin = %d, want 1", n)
	}
	clock.Advance(time.Second)
	// Wait for the failure to be recorded, not just for the call: the next
	// retry is scheduled from the clock as the failure is handled, and
	// advancing the clock before that would move the schedule too.
	waitFor(t, "the first probe", func() bool { return i.Stats().WriteFailures == 2 })
	clock.Advance(time.Second)
	time.Sleep(20 * time.Millisecond)
	if n := sink.callCount(); n != 2 {
		t.Fatalf("Sink calls 1s after a second failure = %d, want 2 (backoff doubled to 2s)", n)
	}

	sink.set(func(s *fakeSink) { s.err = nil })
	clock.Advance(time.Second)
	waitFor(t, "the replay", func() bool { return len(sink.ids()) >= 50 })
	waitFor(t, "an empty spool", func() bool { return i.Stats().SpoolBatches == 0 })
	// The spool preserved order, so the whole sequence comes back in order.
	if got := sink.ids(); !slices.Equal(got, idsOf(events)) {
		t.Errorf("written %v, want %v", got, idsOf(events))
	}
	st = i.Stats()
	if !st.SinkHealthy || st.EventsReplayed != 50 || st.EventsWritten != 50 || st.SpoolBytes != 0 {
		t.Errorf("Stats after recovery = %+v, want healthy, 50 replayed and written, spool empty", st)
	}
	if f := segFiles(t, dir); len(f) != 0 {
		t.Errorf("segment files left after replay: %v", f)
	}
}

func TestIngesterInterleavesReplayWithNewBatches(t *testing.T) {
	dir := t.TempDir()
	s := MustOpenSpool(t, SpoolConfig{Dir: dir})
	var old []analytics.Event
	for b := range 20 {
		batch := testEvents(fmt.Sprint("old", b), 10)
		old = append(old, batch...)
		if err := s.Append(batch); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	sink := &fakeSink{}
	i := MustOpenIngester(t, Config{Sink: sink, Dir: dir, MaxBatch: 10, FlushInterval: time.Millisecond})
	fresh := testEvents("new", 30)
	MustLog(t, i, fresh...)
	waitFor(t, "everything written", func() bool { return len(sink.ids()) >= 230 })
	var replayed []string
	for _, id := range sink.ids() {
		if id[:3] == "old" {
			replayed = append(replayed, id)
		}
	}
	if !slices.Equal(replayed, idsOf(old)) {
		t.Errorf("spooled events replayed out of order")
	}
	checkDelivered(t, sink, fresh)
}

func TestIngesterSlowSinkFails(t *testing.T) {
	gate := make(chan struct{})
	defer close(gate)
	sink := &fakeSink{gate: gate, deaf: true}
	i := MustOpenIngester(t, Config{Sink: sink, Dir: t.TempDir(), MaxBatch: 5, WriteTimeout: 20 * time.Millisecond, FlushInterval: time.Hour})
	MustLog(t, i, testEvents("slow", 5)...)
	waitFor(t, "the timed-out batch to be spooled", func() bool { return i.Stats().EventsSpooled == 5 })
	st := i.Stats()
	if st.SinkHealthy || st.WriteFailures != 1 || st.SpoolBatches != 1 {
		t.Errorf("Stats = %+v, want the slow write counted as a failure and its batch spooled", st)
	}
}

func TestIngesterQueueFullSpoolsWithoutBlocking(t *testing.T) {
	gate := make(chan struct{})
	sink := &fakeSink{gate: gate}
	i := MustOpenIngester(t, Config{Sink: sink, Dir: t.TempDir(), MaxBatch: 5, QueueSize: 10, FlushInterval: time.Millisecond, WriteTimeout: time.Minute})
	events := testEvents("q", 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		MustLog(t, i, events...)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Log blocked behind a stuck Sink")
	}
	st := i.Stats()
	if st.EventsAccepted != 100 || st.EventsSpooled < 80 || st.QueueDepth > 10 || st.Rejected != 0 {
		t.Errorf("Stats with the Sink stuck = %+v, want all 100 accepted, most spooled, queue within 10", st)
	}
	close(gate)
	waitFor(t, "all events written", func() bool {
		st := i.Stats()
		return st.SpoolBatches == 0 && st.QueueDepth == 0 && st.EventsWritten >= 100
	})
	checkDelivered(t, sink, events)
}

func TestIngesterSpoolFull(t *testing.T) {
	clock := newFakeClock()
	sink := &fakeSink{err: errors.New("down")}
	i := MustOpenIngester(t, Config{
		Sink: sink, Dir: t.TempDir(), MaxBatch: 5, QueueSize: 10, MaxSpoolBytes: 4096,
		FlushInterval: time.Millisecond, Now: clock.Now,
	})
	var accepted []analytics.Event
	var rejectErr error
	for _, e := range testEvents("full", 1000) {
		err := i.Log(context.Background(), e)
		if err != nil {
			rejectErr = err
			continue
		}
		accepted = append(accepted, e)
	}
	if code := experiment.ErrorCode(rejectErr); code != experiment.EUNAVAILABLE {
		t.Fatalf("Log into a full spool: %v (code %q), want %s", rejectErr, code, experiment.EUNAVAILABLE)
	}
	st := i.Stats()
	if st.Rejected != int64(1000-len(accepted)) || st.EventsAccepted != int64(len(accepted)) || st.SpoolBytes > 4096 {
		t.Errorf("Stats = %+v, want %d accepted, the rest rejected, spool within 4096 bytes", st, len(accepted))
	}
	sink.set(func(s *fakeSink) { s.err = nil })
	clock.Advance(time.Minute)
	waitFor(t, "the accepted events to be written", func() bool {
		st := i.Stats()
		return st.SpoolBatches == 0 && st.QueueDepth == 0
	})
	checkDelivered(t, sink, accepted)
	// Room again: Log accepts.
	MustLog(t, i, testEvents("after", 1)...)
}

func TestIngesterCloseFlushes(t *testing.T) {
	sink := &fakeSink{}
	dir := t.TempDir()
	i := MustOpenIngester(t, Config{Sink: sink, Dir: dir, FlushInterval: time.Hour})
	events := testEvents("c", 10)
	MustLog(t, i, events...)
	MustClose(t, i)
	if got := sink.ids(); !slices.Equal(got, idsOf(events)) {
		t.Errorf("written at Close %v, want %v", got, idsOf(events))
	}
	if err := i.Log(context.Background(), events[0]); experiment.ErrorCode(err) != experiment.EUNAVAILABLE {
		t.Errorf("Log after Close = %v, want EUNAVAILABLE", err)
	}
	if f := segFiles(t, dir); len(f) != 0 {
		t.Errorf("segment files after a clean Close: %v", f)
	}
}

func TestIngesterCloseWithDeadSinkThenReplay(t *testing.T) {
	for _, tt := range []struct {
		name string
		sink *fakeSink
	}{
		{"failing", &fakeSink{err: errors.New("down")}},
		// Hangs and ignores its context: Close must still return near its
		// deadline, with everything spooled.
		{"hanging", &fakeSink{gate: make(chan struct{}), deaf: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			i := MustOpenIngester(t, Config{Sink: tt.sink, Dir: dir, MaxBatch: 30, FlushInterval: time.Hour, WriteTimeout: time.Hour})
			events := testEvents("z", 100)
			MustLog(t, i, events...)
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			start := time.Now()
			if err := i.Close(ctx); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("Close took %v with a 50ms deadline", d)
			}
			if st := i.Stats(); st.EventsSpooled != 100 || st.EventsLost != 0 {
				t.Errorf("Stats after Close = %+v, want all 100 spooled", st)
			}
			if tt.sink.gate != nil {
				close(tt.sink.gate)
			}

			sink := &fakeSink{}
			i = MustOpenIngester(t, Config{Sink: sink, Dir: dir, FlushInterval: time.Millisecond})
			waitFor(t, "the replay", func() bool { return i.Stats().SpoolBatches == 0 })
			if got := sink.ids(); !slices.Equal(got, idsOf(events)) {
				t.Errorf("replayed %d events, want the 100 in order", len(got))
			}
			MustClose(t, i)
			if f := segFiles(t, dir); len(f) != 0 {
				t.Errorf("segment files after the replay: %v", f)
			}
		})
	}
}

func TestIngesterCloseReportsLoss(t *testing.T) {
	sink := &fakeSink{err: errors.New("down")}
	i := MustOpenIngester(t, Config{Sink: sink, Dir: t.TempDir(), MaxBatch: 100, FlushInterval: time.Hour, MaxSpoolBytes: 1024})
	MustLog(t, i, testEvents("lost", 50)...)
	err := i.Close(context.Background())
	if err == nil {
		t.Fatal("Close with the Sink down and the spool too small = nil, want an error")
	}
	if st := i.Stats(); st.EventsLost != 50 {
		t.Errorf("EventsLost = %d, want 50", st.EventsLost)
	}
}

func TestIngesterCrashReplaysTheRest(t *testing.T) {
	dir := t.TempDir()
	sink := &fakeSink{err: errors.New("down")}
	i := MustOpenIngester(t, Config{Sink: sink, Dir: dir, MaxBatch: 10, FlushInterval: time.Millisecond, SyncInterval: -1})
	events := testEvents("k", 40)
	MustLog(t, i, events...)
	waitFor(t, "all spooled", func() bool { return i.Stats().EventsSpooled == 40 })
	// Kill: the writer stops, the spool and the journal are abandoned
	// unsynced, no Close.
	i.journal.crash()
	i.spool.crash()

	sink2 := &fakeSink{}
	MustOpenIngester(t, Config{Sink: sink2, Dir: dir, FlushInterval: time.Millisecond})
	waitFor(t, "the replay", func() bool { return len(sink2.ids()) >= 40 })
	// The journal may not have deleted its copy of the spooled records
	// before the crash: those then arrive twice (at least once, as the
	// Sink contract says). In order of first arrival, every one is there.
	if got := firstOf(sink2.ids()); !slices.Equal(got, idsOf(events)) {
		t.Errorf("replayed %v, want %v", got, idsOf(events))
	}
}

func TestIngesterConcurrentLog(t *testing.T) {
	const goroutines, each = 32, 300
	dir := t.TempDir()
	// A flaky Sink and a small queue exercise every path at once: queue,
	// overflow to the spool, failed writes and replays.
	sink := &fakeSink{failEach: 3}
	i := MustOpenIngester(t, Config{
		Sink: sink, Dir: dir, MaxBatch: 50, QueueSize: 200, FlushInterval: time.Millisecond,
		RetryMin: time.Millisecond, RetryMax: 2 * time.Millisecond, SegmentBytes: 16 << 10,
	})
	var wg sync.WaitGroup
	all := make([][]analytics.Event, goroutines)
	for g := range goroutines {
		all[g] = testEvents(fmt.Sprint("g", g), each)
		wg.Go(func() {
			for k, e := range all[g] {
				if k%7 == 0 {
					_ = i.Stats()
				}
				if err := i.Log(context.Background(), e); err != nil {
					t.Errorf("Log: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	MustClose(t, i)
	// Whatever Close spooled comes out on the next start.
	i = MustOpenIngester(t, Config{Sink: sink, Dir: dir, FlushInterval: time.Millisecond, RetryMin: time.Millisecond})
	sink.set(func(s *fakeSink) { s.failEach = 0 })
	waitFor(t, "the spool to drain", func() bool { return i.Stats().SpoolBatches == 0 })
	checkDelivered(t, sink, slices.Concat(all...))
}

// BenchmarkIngesterLog measures Log with a Sink that does nothing.
func BenchmarkIngesterLog(b *testing.B) {
	for _, bb := range []struct {
		name     string
		parallel bool
	}{{"serial", false}, {"parallel", true}} {
		b.Run(bb.name, func(b *testing.B) {
			i := MustOpenIngester(b, Config{Sink: nopSink{}, Dir: b.TempDir(), QueueSize: 1 << 20})
			e := testEvents("bench", 1)[0]
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			if bb.parallel {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := i.Log(ctx, e); err != nil {
							b.Error(err)
							return
						}
					}
				})
			} else {
				for range b.N {
					if err := i.Log(ctx, e); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.StopTimer()
			if st := i.Stats(); st.EventsSpooled > 0 {
				b.Logf("%d of %d events overflowed to the spool", st.EventsSpooled, b.N)
			}
		})
	}
}

type nopSink struct{}

func (nopSink) Write(context.Context, []analytics.Event) error { return nil }

// firstOf is ids without repeats, in order of first appearance.
func firstOf(ids []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// TestIngesterCrashKeepsWhatLogReturned: events for which Log returned
// are on disk, even while they wait in memory for a Sink that hangs: a
// crash then (no Close, nothing spooled) loses none of them, and the next
// Open delivers them.
func TestIngesterCrashKeepsWhatLogReturned(t *testing.T) {
	dir := t.TempDir()
	gate := make(chan struct{})
	defer close(gate)
	i := MustOpenIngester(t, Config{Sink: &fakeSink{gate: gate}, Dir: dir, FlushInterval: time.Hour})
	events := testEvents("w", 25)
	for _, e := range events {
		if err := i.Log(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	if st := i.Stats(); st.QueueDepth != 25 || st.EventsSpooled != 0 {
		t.Fatalf("before the crash: %+v, want 25 queued and nothing spooled", st)
	}
	i.journal.crash()
	i.spool.crash()

	sink := &fakeSink{}
	MustOpenIngester(t, Config{Sink: sink, Dir: dir, FlushInterval: time.Millisecond})
	waitFor(t, "the replay", func() bool { return len(sink.ids()) >= 25 })
	if got := firstOf(sink.ids()); !slices.Equal(got, idsOf(events)) {
		t.Errorf("after the crash, delivered %v, want %v", got, idsOf(events))
	}
}
