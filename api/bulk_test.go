package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"unicode/utf8"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/api/jsonwire"
	"github.com/splitcast/splitcast/api/tracking"
	"github.com/splitcast/splitcast/assign"
	"github.com/splitcast/splitcast/experiment/apikey"
	"github.com/splitcast/splitcast/experiment/experimenttest"
)

func TestAppendAssignResponse(t *testing.T) {
	cases := []assignResponse{
		{},
		{Assignment: assign.Assignment{Experiment: "e", Version: 3, Reason: assign.ReasonNoSegment,
			Buckets: assign.Buckets{Layer: -1, Allocation: -1, Holdout: -1, Variant: -1, Reroute: -1}}},
		{Assignment: assign.Assignment{Experiment: "welcome", Version: 7, Segment: "seg <a&b>", Variant: "v\"1\\\n\t\x01",
			InExperiment: true, Reason: assign.ReasonReroute, Buckets: assign.Buckets{Layer: 12, Allocation: 9999, Holdout: 0, Variant: 5, Reroute: 77, Reroutes: 2},
			Payload: json.RawMessage(`{"subject":"Hi é \u2028","n":[1,2]}`)},
			SendID: "s-1", Token: "AQEB_-x", pixelBase: "http://h"},
		{Assignment: assign.Assignment{Experiment: "x", Holdout: true, InExperiment: true, Reason: assign.ReasonHoldout, Variant: "bad \xff utf8 \u2029"}},
	}
	cases = append(cases, assignResponse{Assignment: assign.Assignment{Experiment: "e", InExperiment: true, Variant: "a"},
		Token: "AQ_-", pixelBase: "http://h/<&>\u2028"})
	for _, r := range cases {
		got := appendAssignResponse(nil, &r)
		// pixelBase stands for the PixelURL it makes.
		if r.pixelBase != "" {
			r.PixelURL = r.pixelBase + "/o/" + r.Token + ".gif"
		}
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var g, w any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("appendAssignResponse(%+v) = %s: not JSON: %v", r, got, err)
		}
		_ = json.Unmarshal(want, &w)
		if !reflect.DeepEqual(g, w) {
			t.Errorf("appendAssignResponse = %s\nwant (encoding/json) %s", got, want)
		}
	}
}

func BenchmarkAppendAssignResponse(b *testing.B) {
	r := assignResponse{Assignment: assign.Assignment{Experiment: "welcome", Version: 7, Segment: "everyone", Variant: "personal",
		InExperiment: true, Reason: assign.ReasonVariant, Payload: json.RawMessage(`{"subject":"Hello","body":"Welcome aboard"}`)},
		SendID: "0123456789abcdef0123456789abcdef", Token: "AQEBxb-s2AYCDXdlbGNvbWUtZW1haWwIZXZlcnlvbmUI", pixelBase: "http://127.0.0.1:8080"}
	b.ReportAllocs()
	buf := make([]byte, 0, 1024)
	for b.Loop() {
		buf = appendAssignResponse(buf[:0], &r)
	}
}

// TestAppendString holds appendString byte for byte equal to its plain
// byte-by-byte form (refAppendString, the form bulk answers had before the
// word-at-a-time scan) and, as a JSON value, to encoding/json, on every
// byte value and on runes that need a look, at every position of an 8-byte
// word and across the words' boundaries.
func TestAppendString(t *testing.T) {
	var specials []string
	for c := range 256 {
		specials = append(specials, string([]byte{byte(c)}))
	}
	specials = append(specials, "é", "\u2028", "\u2029", "€", "😀", "\xe2\x80", "\xf0\x9f\x98", "\xed\xa0\x80")
	plain := "abcdefghijklmnopqrstuvwx"
	for _, sp := range specials {
		for before := range 17 {
			for _, after := range []int{0, 1, 7, 8, 9} {
				s := plain[:before] + sp + plain[:after] + sp
				got := jsonwire.AppendString(nil, s)
				if want := refAppendString(nil, s); string(got) != string(want) {
					t.Fatalf("jsonwire.AppendString(%q) = %s, want %s", s, got, want)
				}
				var g, w string
				want, _ := json.Marshal(s)
				_ = json.Unmarshal(want, &w)
				if err := json.Unmarshal(got, &g); err != nil || g != w {
					t.Fatalf("jsonwire.AppendString(%q) = %s, decodes as %q (%v), want %q as from %s", s, got, g, err, w, want)
				}
			}
		}
	}
}

// refAppendString is appendString one byte at a time.
func refAppendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == '&' || c == '<' || c == '>':
				b = append(b, '\\', 'u', '0', '0', refHex[c>>4], refHex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', refHex[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

func BenchmarkAppendString(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 1024)
	for b.Loop() {
		buf = buf[:0]
		for _, s := range []string{"welcome-email", "pro-trial", "personal", "variant", "0123456789abcdef0123456789abcdef", "https://splitcast.example.com"} {
			buf = jsonwire.AppendString(buf, s)
		}
	}
}

// exposureSet records which units were exposed under which send ids, and
// keeps nothing else of the events.
type exposureSet struct {
	mu    sync.Mutex
	sends map[string]string // send id -> unit
	n     atomic.Int64
	keep  bool
}

func (e *exposureSet) Log(_ context.Context, evs ...analytics.Event) error {
	e.n.Add(int64(len(evs)))
	if !e.keep {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range evs {
		e.sends[ev.SendID] = ev.Unit
	}
	return nil
}

// Append logs at once: there is nothing to commit.
func (e *exposureSet) Append(evs ...analytics.Event) (analytics.Ticket, error) {
	return 0, e.Log(context.Background(), evs...)
}

func (*exposureSet) Commit(context.Context, analytics.Ticket) error { return nil }

// bulkServer is a Server running the example experiment, which logs its
// exposures to events.
func bulkServer(t testing.TB, events analytics.Logger) *Server {
	t.Helper()
	store := experimenttest.NewStore()
	ref := assign.NewRefresher(store, nil)
	tokens, err := tracking.NewKeyring(1, map[uint8][]byte{1: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{
		Store: store, Snapshots: ref, Refresh: ref.Refresh, Events: events, Tokens: tokens,
		BaseURL: "https://sc.example", Keys: KeyList{NewKey("admin", "admin-key", apikey.ScopeAdmin)},
	})
	def, err := os.ReadFile("../docs/examples/experiment.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct{ target, body string }{
		{"/v1/experiments", string(def)},
		{"/v1/experiments/welcome-email/start", ""},
	} {
		req := httptest.NewRequest("POST", r.target, strings.NewReader(r.body))
		req.Header.Set("Authorization", "Bearer admin-key")
		req.Header.Set("Content-Type", "application/json")
		resp, err := s.App().Test(req, -1)
		if err != nil || resp.StatusCode >= 300 {
			t.Fatalf("POST %s: %v %v", r.target, resp, err)
		}
		resp.Body.Close()
	}
	return s
}

// raggedReader hands out its input in pieces of varying size, as a
// network does, so that chunks end at every kind of place.
type raggedReader struct {
	r io.Reader
	n int
}

func (r *raggedReader) Read(p []byte) (int, error) {
	r.n = (r.n*7 + 3) % 5000
	return r.r.Read(p[:min(len(p), r.n+1)])
}

// TestStreamBulkOrder: over many chunks, of lines short and long, read in
// pieces, every line is answered once and in order; an error line names its
// line number, blank lines are counted but not answered, and each answer's
// exposure is the unit's own.
func TestStreamBulkOrder(t *testing.T) {
	events := &exposureSet{sends: map[string]string{}, keep: true}
	s := bulkServer(t, events)
	const lines = 5000
	var in bytes.Buffer
	var want []string // "s-<line>" for an answer, "error <line>" for an error
	for i := 1; i <= lines; i++ {
		switch {
		case i%89 == 0:
			in.WriteString("  \n")
		case i%97 == 0:
			fmt.Fprintf(&in, `{"unit_id":"u-%d","color":"red"}`+"\n", i)
			want = append(want, fmt.Sprintf("error %d", i))
		case i%501 == 0:
			// Long lines: chunks end on their byte bound too.
			fmt.Fprintf(&in, `{"unit_id":"u-%d","send_id":"s-%d","attributes":{"note":"%s"}}`+"\n", i, i, strings.Repeat("n", 60_000))
			want = append(want, fmt.Sprintf("s-%d", i))
		default:
			fmt.Fprintf(&in, `{"unit_id":"u-%d","send_id":"s-%d","attributes":{"plan":"pro_trial","country":"IT"}}`+"\n", i, i)
			want = append(want, fmt.Sprintf("s-%d", i))
		}
	}
	in.Truncate(in.Len() - 1) // the last line without its newline
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	if !s.streamBulk(context.Background(), s.cfg.Snapshots.Snapshot(), "welcome-email", &raggedReader{r: &in}, w) || w.Flush() != nil {
		t.Fatal("streamBulk failed writing to a buffer")
	}
	sc := bufio.NewScanner(&out)
	var got []string
	inExp := 0
	for sc.Scan() {
		var a struct {
			SendID       string `json:"send_id"`
			Token        string `json:"token"`
			InExperiment bool   `json:"in_experiment"`
			Line         int    `json:"line"`
		}
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("answer %d %q: %v", len(got)+1, sc.Bytes(), err)
		}
		if a.Line != 0 {
			got = append(got, fmt.Sprintf("error %d", a.Line))
			continue
		}
		got = append(got, a.SendID)
		if a.InExperiment {
			inExp++
			if unit := events.sends[a.SendID]; unit != "u-"+a.SendID[2:] {
				t.Fatalf("answer for %s was logged as unit %q's exposure", a.SendID, unit)
			}
		}
	}
	if !slices.Equal(got, want) {
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Fatalf("answer %d = %s, want %s (%d answers, want %d)", i+1, got[i], want[i], len(got), len(want))
			}
		}
		t.Fatalf("%d answers, want %d", len(got), len(want))
	}
	if inExp == 0 || events.n.Load() != int64(inExp) {
		t.Errorf("%d exposures logged for %d answers in the experiment", events.n.Load(), inExp)
	}
}

// endlessList is a send list of n lines, made as it is read.
type endlessList struct {
	n, line int
	buf     []byte
}

func (l *endlessList) Read(p []byte) (int, error) {
	for len(l.buf) < len(p) && l.line < l.n {
		l.line++
		l.buf = fmt.Appendf(l.buf, `{"unit_id":"unit-%d","attributes":{"plan":"pro_trial","country":"IT"},"channel":"email"}`+"\n", l.line)
	}
	if len(l.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, l.buf)
	l.buf = l.buf[:copy(l.buf, l.buf[n:])]
	return n, nil
}

// heapWatch counts answer lines and takes the live heap after a GC at
// the given lines.
type heapWatch struct {
	lines int
	at    []int
	heap  []uint64
}

func (h *heapWatch) Write(p []byte) (int, error) {
	h.lines += bytes.Count(p, []byte{'\n'})
	if len(h.heap) < len(h.at) && h.lines >= h.at[len(h.heap)] {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		h.heap = append(h.heap, m.HeapAlloc)
	}
	return len(p), nil
}

// TestStreamBulkMemory: a stream's live memory does not grow with its
// length: what it holds after 8,000 lines it still holds, give or take,
// after 40,000.
func TestStreamBulkMemory(t *testing.T) {
	s := bulkServer(t, &exposureSet{})
	const lines = 40_000
	h := &heapWatch{at: []int{8_000, lines}}
	w := bufio.NewWriter(h)
	if !s.streamBulk(context.Background(), s.cfg.Snapshots.Snapshot(), "welcome-email", &endlessList{n: lines}, w) || w.Flush() != nil {
		t.Fatal("streamBulk failed")
	}
	if h.lines != lines || len(h.heap) != 2 {
		t.Fatalf("%d answers, want %d", h.lines, lines)
	}
	// 32,000 lines more: 32 bytes kept per line would be 1 MB.
	grown := int64(h.heap[1]) - int64(h.heap[0])
	t.Logf("live heap after %d lines %d bytes, after %d lines %d", h.at[0], h.heap[0], lines, h.heap[1])
	if grown > 1<<20 {
		t.Errorf("live heap grew by %d bytes over the last %d lines", grown, lines-h.at[0])
	}
}

// refHex is the reference escaper's hex digits.
const refHex = "0123456789abcdef"
