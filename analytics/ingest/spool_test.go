package ingest

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/experiment"
)

// crash abandons s as a killed process would: no fsync, no final writes,
// and the directory lock released as the kernel would release it.
func (s *Spool) crash() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.syncTime != nil {
		s.syncTime.Stop()
	}
	if s.w != nil {
		s.w.Close()
	}
	for _, f := range []*os.File{s.r, s.ack} {
		if f != nil {
			f.Close()
		}
	}
	s.lock.Close()
}

// crash stops the journal's committer as a SIGKILL would: what is
// pending is never written, nothing is deleted.
func (j *journal) crash() {
	j.mu.Lock()
	j.pending, j.closed = nil, true
	j.mu.Unlock()
	select {
	case j.wake <- struct{}{}:
	default:
	}
	<-j.done
	for _, f := range j.files {
		f.Close()
	}
}

func MustOpenSpool(tb testing.TB, cfg SpoolConfig) *Spool {
	tb.Helper()
	s, err := OpenSpool(cfg)
	if err != nil {
		tb.Fatalf("OpenSpool: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// testEvents returns n events with IDs prefix-0 .. prefix-(n-1) and every
// field set.
func testEvents(prefix string, n int) []analytics.Event {
	events := make([]analytics.Event, n)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	for i := range events {
		events[i] = analytics.Event{
			ID:            fmt.Sprintf("%s-%d", prefix, i),
			Kind:          analytics.KindClick,
			Time:          t0.Add(time.Duration(i) * time.Nanosecond),
			Experiment:    "exp-1",
			Version:       uint32(i),
			Segment:       "eu",
			Variant:       "B",
			Unit:          fmt.Sprintf("user-%d", i),
			SendID:        "send-9",
			Channel:       "email",
			Name:          "purchase",
			Value:         float64(i) + 0.25,
			URL:           "https://example.com/x?y=z",
			Machine:       i%2 == 0,
			MachineReason: "prefetch",
		}
	}
	return events
}

// drainSpool peeks and acks until the spool is empty.
func drainSpool(tb testing.TB, s *Spool) [][]analytics.Event {
	tb.Helper()
	var out [][]analytics.Event
	for {
		b, err := s.Peek(1)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			tb.Fatalf("Peek: %v", err)
		}
		out = append(out, b)
		if err := s.Ack(); err != nil {
			tb.Fatalf("Ack: %v", err)
		}
	}
}

func segFiles(tb testing.TB, dir string) []string {
	tb.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segExt))
	if err != nil {
		tb.Fatal(err)
	}
	slices.Sort(m)
	return m
}

func sameEvents(a, b []analytics.Event) bool {
	return slices.EqualFunc(a, b, func(x, y analytics.Event) bool {
		// == on Value would equate 0 and -0 and fail on NaN; bits are exact.
		xv, yv := x.Value, y.Value
		x.Value, y.Value = 0, 0
		return x == y && math.Float64bits(xv) == math.Float64bits(yv)
	})
}

func TestBatchRoundTrip(t *testing.T) {
	nyc, err := time.LoadLocation("America/New_York")
	if err != nil {
		nyc = time.FixedZone("EST", -5*3600)
	}
	in := []analytics.Event{
		{}, // every zero value, including the zero Time
		testEvents("a", 1)[0],
		{
			ID: "ü\x00\xff", Kind: analytics.KindCustom,
			Time:    time.Date(1850, 1, 2, 3, 4, 5, 999999999, nyc), // before 1970 and outside int64 nanoseconds
			Version: math.MaxUint32, Value: math.Copysign(0, -1),
		},
		{ID: "nan", Time: time.Date(9999, 12, 31, 23, 59, 59, 1, time.UTC), Value: math.NaN()},
		{ID: "inf", Value: math.Inf(-1), Machine: true},
		{ID: "t:1", Kind: analytics.KindTrack, Unit: "u", Name: "order_completed",
			Props: analytics.EncodeProps([]analytics.Prop{{Key: "total", Type: analytics.PropNumber, Num: 3}})},
	}
	got, err := decodeBatch(appendBatch(nil, in))
	if err != nil {
		t.Fatalf("decodeBatch: %v", err)
	}
	want := slices.Clone(in)
	for i := range want {
		want[i].Time = want[i].Time.UTC()
	}
	if !sameEvents(got, want) {
		t.Errorf("decodeBatch(appendBatch(%+v)) = %+v", want, got)
	}
	if got[2].Time.Location() != time.UTC {
		t.Errorf("decoded Time location = %v, want UTC", got[2].Time.Location())
	}
}

// TestBatchFormat1Decodes: records written before Props (format 1) and
// before Dims (format 2) still decode after an upgrade, with none.
func TestBatchFormat1Decodes(t *testing.T) {
	in := testEvents("v1", 1)
	v3 := appendBatch(nil, in)
	// Format 2 is format 1 with the Props string after each event, and
	// format 3 format 2 with the Dims string after it: for one event with
	// neither, one zero byte at the end each.
	v2 := append([]byte{batchFormatV2}, v3[1:len(v3)-1]...)
	v1 := append([]byte{batchFormatV1}, v3[1:len(v3)-2]...)
	for f, b := range map[int][]byte{1: v1, 2: v2} {
		got, err := decodeBatch(b)
		if err != nil || !sameEvents(got, in) {
			t.Fatalf("decodeBatch(format %d) = %+v, %v; want %+v", f, got, err, in)
		}
	}
}

func FuzzDecodeBatch(f *testing.F) {
	f.Add(appendBatch(nil, testEvents("f", 3)))
	f.Add(appendBatch(nil, nil))
	f.Add([]byte{batchFormat, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		events, err := decodeBatch(b) // must never panic
		if err != nil {
			return
		}
		// Whatever decodes must encode back to the same events.
		again, err := decodeBatch(appendBatch(nil, events))
		if err != nil || !sameEvents(events, again) {
			t.Fatalf("re-encoding %d decoded events: %v", len(events), err)
		}
	})
}

func TestSpoolFIFOAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	s := MustOpenSpool(t, SpoolConfig{Dir: dir, SegmentBytes: 2000})
	var want [][]analytics.Event
	for i := range 10 {
		b := testEvents(fmt.Sprint("b", i), 5)
		want = append(want, b)
		if err := s.Append(b); err != nil {
			t.Fatalf("Append: %v", err)
		}
	}
	if n := len(segFiles(t, dir)); n < 3 {
		t.Fatalf("%d segment files, want several with SegmentBytes 2000", n)
	}
	// Consume three, then restart: the ack must hold.
	for range 3 {
		if _, err := s.Peek(1); err != nil {
			t.Fatal(err)
		}
		if err := s.Ack(); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = MustOpenSpool(t, SpoolConfig{Dir: dir, SegmentBytes: 2000})
	if got := s.Stats().Batches; got != 7 {
		t.Errorf("Batches after reopen = %d, want 7", got)
	}
	got := drainSpool(t, s)
	if len(got) != 7 {
		t.Fatalf("replayed %d batches, want 7", len(got))
	}
	for i, b := range got {
		if !sameEvents(b, want[i+3]) {
			t.Errorf("batch %d = %v, want %v", i, b[0].ID, want[i+3][0].ID)
		}
	}
	if st := s.Stats(); st.Batches != 0 || st.Bytes != 0 {
		t.Errorf("Stats after drain = %+v, want empty", st)
	}
	if f := segFiles(t, dir); len(f) != 0 {
		t.Errorf("segment files left after drain: %v", f)
	}
	// Appends after draining start a fresh segment and still work.
	if err := s.Append(want[0]); err != nil {
		t.Fatal(err)
	}
	if got := drainSpool(t, s); len(got) != 1 || !sameEvents(got[0], want[0]) {
		t.Errorf("after refill got %d batches, want 1", len(got))
	}
}

func TestSpoolPeekIsStable(t *testing.T) {
	s := MustOpenSpool(t, SpoolConfig{Dir: t.TempDir()})
	s.Append(testEvents("x", 2))
	s.Append(testEvents("y", 2))
	a, _ := s.Peek(1)
	b, _ := s.Peek(1)
	if a[0].ID != "x-0" || b[0].ID != "x-0" {
		t.Errorf("Peek twice = %s, %s; want x-0 both times", a[0].ID, b[0].ID)
	}
}

func TestSpoolPeekCoalesces(t *testing.T) {
	dir := t.TempDir()
	s := MustOpenSpool(t, SpoolConfig{Dir: dir})
	var want []analytics.Event
	for b := range 10 {
		batch := testEvents(fmt.Sprint("c", b), 3)
		want = append(want, batch...)
		if err := s.Append(batch); err != nil {
			t.Fatal(err)
		}
	}
	// 10 events fit three whole records; a record is never split.
	var sizes []int
	var got []analytics.Event
	for {
		b, err := s.Peek(10)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(b))
		got = append(got, b...)
		if err := s.Ack(); err != nil {
			t.Fatal(err)
		}
		if len(sizes) == 1 {
			if n := s.Stats().Batches; n != 7 {
				t.Errorf("Batches after acknowledging 3 records = %d, want 7", n)
			}
		}
	}
	if !slices.Equal(sizes, []int{9, 9, 9, 3}) {
		t.Errorf("Peek(10) sizes = %v, want [9 9 9 3]", sizes)
	}
	if !sameEvents(got, want) {
		t.Errorf("coalesced events differ from those appended")
	}
}

// spoolWithThree writes three batches and crashes, returning the directory
// and the path of the one segment.
func spoolWithThree(t *testing.T) (dir, seg string) {
	t.Helper()
	dir = t.TempDir()
	s, err := OpenSpool(SpoolConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"a", "b", "c"} {
		if err := s.Append(testEvents(p, 4)); err != nil {
			t.Fatal(err)
		}
	}
	s.crash()
	files := segFiles(t, dir)
	if len(files) != 1 {
		t.Fatalf("segment files = %v, want one", files)
	}
	return dir, files[0]
}

func firstIDs(batches [][]analytics.Event) []string {
	var ids []string
	for _, b := range batches {
		ids = append(ids, b[0].ID)
	}
	return ids
}

func TestSpoolTornTail(t *testing.T) {
	dir, seg := spoolWithThree(t)
	fi, err := os.Stat(seg)
	if err != nil {
		t.Fatal(err)
	}
	// A crash in the middle of writing the last record.
	if err := os.Truncate(seg, fi.Size()-7); err != nil {
		t.Fatal(err)
	}
	s := MustOpenSpool(t, SpoolConfig{Dir: dir})
	got := drainSpool(t, s)
	if ids := firstIDs(got); !slices.Equal(ids, []string{"a-0", "b-0"}) {
		t.Errorf("replayed %v, want [a-0 b-0]", ids)
	}
	if st := s.Stats(); st.TornRecords != 1 || st.CorruptRecords != 0 {
		t.Errorf("TornRecords, CorruptRecords = %d, %d; want 1, 0", st.TornRecords, st.CorruptRecords)
	}
}

func TestSpoolCorruptMiddle(t *testing.T) {
	dir, seg := spoolWithThree(t)
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	// Flip a payload byte of the second record.
	first := int(headerLen) + recHeaderLen + int(uint32(b[headerLen])|uint32(b[headerLen+1])<<8|uint32(b[headerLen+2])<<16)
	b[first+recHeaderLen+5] ^= 0x40
	if err := os.WriteFile(seg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	s := MustOpenSpool(t, SpoolConfig{Dir: dir})
	got := drainSpool(t, s)
	if ids := firstIDs(got); !slices.Equal(ids, []string{"a-0", "c-0"}) {
		t.Errorf("replayed %v, want [a-0 c-0]", ids)
	}
	if st := s.Stats(); st.CorruptRecords != 1 || st.TornRecords != 0 {
		t.Errorf("CorruptRecords, TornRecords = %d, %d; want 1, 0", st.CorruptRecords, st.TornRecords)
	}
}

func TestSpoolEmptySegmentFromCrash(t *testing.T) {
	dir, _ := spoolWithThree(t)
	// A crash between creating a segment and writing its magic.
	if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%020d%s", 99, segExt)), []byte("SCS"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := MustOpenSpool(t, SpoolConfig{Dir: dir})
	if got := drainSpool(t, s); len(got) != 3 {
		t.Errorf("replayed %d batches, want 3", len(got))
	}
	if st := s.Stats(); st.CorruptRecords+st.TornRecords != 0 {
		t.Errorf("Stats = %+v, want no corruption", st)
	}
	// New segments must be numbered after the abandoned one.
	if err := s.Append(testEvents("d", 1)); err != nil {
		t.Fatal(err)
	}
	if f := segFiles(t, dir); len(f) != 1 || filepath.Base(f[0]) != fmt.Sprintf("%020d%s", 100, segExt) {
		t.Errorf("segments = %v, want only 100", f)
	}
}

func TestSpoolFull(t *testing.T) {
	dir := t.TempDir()
	s := MustOpenSpool(t, SpoolConfig{Dir: dir, MaxBytes: 4096})
	var n int
	var err error
	for n = 0; n < 100; n++ {
		if err = s.Append(testEvents("f", 5)); err != nil {
			break
		}
	}
	if code := experiment.ErrorCode(err); code != experiment.EUNAVAILABLE {
		t.Fatalf("Append to a full spool: %v (code %q), want %s", err, code, experiment.EUNAVAILABLE)
	}
	if st := s.Stats(); st.Bytes > 4096 || st.Batches != int64(n) {
		t.Errorf("Stats = %+v, want Bytes <= 4096 and Batches %d", st, n)
	}
	if got := drainSpool(t, s); len(got) != n {
		t.Errorf("drained %d batches, want the %d accepted", len(got), n)
	}
}

func TestSpoolLocked(t *testing.T) {
	dir := t.TempDir()
	MustOpenSpool(t, SpoolConfig{Dir: dir})
	if s, err := OpenSpool(SpoolConfig{Dir: dir}); err == nil {
		s.Close()
		t.Errorf("second OpenSpool on %s succeeded, want an error", dir)
	}
}

func TestSpoolBadAckFile(t *testing.T) {
	dir, _ := spoolWithThree(t)
	if err := os.WriteFile(filepath.Join(dir, ackName), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := MustOpenSpool(t, SpoolConfig{Dir: dir})
	if got := drainSpool(t, s); len(got) != 3 {
		t.Errorf("with a damaged ack file replayed %d batches, want all 3", len(got))
	}
}

func BenchmarkSpoolAppend(b *testing.B) {
	s := MustOpenSpool(b, SpoolConfig{Dir: b.TempDir(), MaxBytes: 1 << 40})
	batch := testEvents("bench", 1000)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Append(batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "events/s")
}

func TestSpoolSyncsOnInterval(t *testing.T) {
	s := MustOpenSpool(t, SpoolConfig{Dir: t.TempDir(), SyncInterval: 5 * time.Millisecond})
	if err := s.Append(testEvents("s", 1)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the interval fsync", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return !s.dirty
	})
}

func TestSpoolSetsAsideForeignSegment(t *testing.T) {
	dir, _ := spoolWithThree(t)
	foreign := filepath.Join(dir, fmt.Sprintf("%020d%s", 0, segExt))
	if err := os.WriteFile(foreign, []byte("SCSPOOL9 a later format"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := MustOpenSpool(t, SpoolConfig{Dir: dir})
	if got := drainSpool(t, s); len(got) != 3 {
		t.Errorf("replayed %d batches, want 3", len(got))
	}
	if st := s.Stats(); st.CorruptRecords != 1 {
		t.Errorf("CorruptRecords = %d, want 1 for the foreign segment", st.CorruptRecords)
	}
	if _, err := os.Stat(foreign + ".corrupt"); err != nil {
		t.Errorf("foreign segment not kept aside: %v", err)
	}
}

// TestBatchDims: an exposure's dims survive the spool, and a batch of the
// format before them (2) still decodes.
func TestBatchDims(t *testing.T) {
	in := testEvents("d", 1)
	in[0].Dims = analytics.EncodeDims([]string{"country"}, []string{"FR"})
	got, err := decodeBatch(appendBatch(nil, in))
	if err != nil || len(got) != 1 || got[0].Dims != in[0].Dims {
		t.Fatalf("decodeBatch(appendBatch(dims)) = %+v, %v", got, err)
	}
	in[0].Dims = ""
	v2 := appendBatch(nil, in)
	v2 = v2[:len(v2)-1] // format 2 had no Dims: drop its empty string
	v2[0] = batchFormatV2
	got, err = decodeBatch(v2)
	if err != nil || len(got) != 1 || got[0] != in[0] {
		t.Errorf("decodeBatch(format 2) = %+v, %v; want %+v", got, err, in[0])
	}
}
