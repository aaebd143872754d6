package ingest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics"
)

// TestIngesterTickTakesThePartialBatchOnce: events that arrive while a
// tick's partial batch is being written wait for the next tick (or a full
// batch) instead of following it at once. Flushing the new tail after
// every write turned steady traffic into one small insert per Sink round
// trip (about 1,000 events every 50 ms at 20k events/s), each a part for
// ClickHouse to create and merge.
func TestIngesterTickTakesThePartialBatchOnce(t *testing.T) {
	gate := make(chan struct{})
	sink := &fakeSink{gate: gate}
	const interval = 2 * time.Second
	i := MustOpenIngester(t, Config{Sink: sink, Dir: t.TempDir(), MaxBatch: 1000, FlushInterval: interval})
	MustLog(t, i, testEvents("a", 3)...)
	waitFor(t, "the tick's write to start", func() bool { return sink.callCount() == 1 })
	MustLog(t, i, testEvents("b", 2)...)
	sink.set(func(s *fakeSink) { s.gate = nil })
	close(gate)
	waitFor(t, "the tick's write", func() bool { return len(sink.sizes()) == 1 })
	// The next tick is most of an interval away; a flush that took the new
	// tail again would have written it by now.
	time.Sleep(interval / 10)
	if got := sink.sizes(); !slices.Equal(got, []int{3}) {
		t.Fatalf("batch sizes %v right after the tick's write, want [3]: the 2 later events must wait for the next tick", got)
	}
	waitFor(t, "the next tick", func() bool { return len(sink.sizes()) == 2 })
	if got := sink.sizes(); !slices.Equal(got, []int{3, 2}) {
		t.Errorf("batch sizes %v, want [3 2]", got)
	}
}

// meetingSink holds each Write until another one is in flight too (or a
// second passes), to show whether writes overlap, and fails the first
// write of a part starting with failFirst.
type meetingSink struct {
	fakeSink
	mu        sync.Mutex
	inFlight  int
	overlaps  int
	met       chan struct{}
	failFirst string
	failed    bool
}

func (s *meetingSink) Write(ctx context.Context, events []analytics.Event) error {
	s.mu.Lock()
	s.inFlight++
	if s.inFlight > 1 {
		s.overlaps++
		close(s.met)
		s.met = make(chan struct{})
	}
	met := s.met
	fail := !s.failed && events[0].ID == s.failFirst
	s.failed = s.failed || fail
	s.mu.Unlock()
	select {
	case <-met:
	case <-time.After(time.Second):
	}
	s.mu.Lock()
	s.inFlight--
	s.mu.Unlock()
	if fail {
		return errors.New("this part fails once")
	}
	return s.fakeSink.Write(ctx, events)
}

// TestIngesterWritesLargeBatchesInParts: a full batch of at least
// 2 × MinPart events goes to the Sink as Writers parts written at the same
// time; when one part fails, the whole batch is written again, so every
// event arrives (some twice, which counts deduplicate by id) and none is
// lost.
func TestIngesterWritesLargeBatchesInParts(t *testing.T) {
	const n = 2*MinPart + 10
	events := testEvents("e", n)
	sink := &meetingSink{met: make(chan struct{}), failFirst: events[(n+1)/2].ID}
	i := MustOpenIngester(t, Config{Sink: sink, Dir: t.TempDir(), MaxBatch: n, QueueSize: 2 * n,
		Writers: 2, FlushInterval: 20 * time.Millisecond, RetryMin: 10 * time.Millisecond})
	// In one call, so that the batch is full at once (a tick could take
	// part of it otherwise).
	if err := i.Log(context.Background(), events...); err != nil {
		t.Fatal(err)
	}
	// The first half is written, the second fails, then the whole batch is
	// written again: n + (n+1)/2 events in all.
	waitFor(t, "every event written", func() bool { return len(sink.ids()) >= n+(n+1)/2 })
	got := map[string]bool{}
	for _, id := range sink.ids() {
		got[id] = true
	}
	if len(got) != n {
		t.Errorf("%d distinct events written, want %d", len(got), n)
	}
	sink.mu.Lock()
	overlaps, failed := sink.overlaps, sink.failed
	sink.mu.Unlock()
	if overlaps == 0 {
		t.Error("no two Sink writes overlapped: the batch was not written in parallel parts")
	}
	if !failed {
		t.Error("the failing part was never written: the batch was not cut where expected")
	}
	// The batch is written again whole: the half that was written the
	// first time arrives twice.
	twice := map[string]int{}
	for _, id := range sink.ids() {
		twice[id]++
	}
	if n := twice[events[0].ID]; n != 2 {
		t.Errorf("the first event of the batch arrived %d times, want 2 (its half was written, then the whole batch again)", n)
	}
	for _, size := range sink.sizes() {
		if size < MinPart || size > n/2+1 {
			t.Errorf("a part of %d events; want halves of the %d-event batch (sizes %v)", size, n, sink.sizes())
			break
		}
	}
}
