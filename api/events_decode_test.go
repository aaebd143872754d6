package api

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/splitcast/splitcast/assign"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/api/tracking"
	"github.com/splitcast/splitcast/experiment"
)

// eventBodies are POST /v1/events bodies, ordinary and not: the
// differential test's table and the fuzzer's seeds. The first ones are
// shapes the fast path must take.
var eventBodies = []string{
	`{"events":[{"id":"c-1","kind":"conversion","experiment":"welcome","unit_id":"u-1","value":49.95}]}`,
	`{"events":[{"idempotency_key":"k-1","kind":"conversion","experiment":"welcome","unit_id":"u-1","name":"purchase","value":-0.5e+3,"time":"2025-03-01T11:59:00Z"},` +
		`{"id":"c-2","kind":"unsubscribe","experiment":"welcome","unit_id":"u-2","time":"2025-03-01T12:00:00.123456789+02:00"}]}`,
	" { \"events\" : [ { \"kind\" : \"custom\" , \"experiment\" : \"welcome\" , \"unit_id\" : \"u-ü ✓\" , \"value\" : 0 } ] } \n",
	"\t{\r\n\"events\":[{\"kind\":\"complaint\",\"experiment\":\"welcome\",\"unit_id\":\"u\",\"value\":null,\"time\":null,\"name\":null}]}\n",
	`{"events":[{"id":"c-1","id":"c-2","kind":"conversion","experiment":"welcome","unit_id":"u-1","value":1,"value":null,"time":"2025-03-01T11:00:00Z","time":null}]}`,
	`{"events":[{"id":"a","kind":"conversion","experiment":"welcome","unit_id":"u-1","value":1E2},{"id":"b","kind":"conversion","experiment":"welcome","unit_id":"u-2","value":-0}]}`,
	`{"events":[{"kind":"conversion","experiment":"welcome","unit_id":"u-1","token":"not-a-token"}]}`,
	`{"events":[]}`,
	`{"events":[{}]}`,
	`{"events":[{"kind":"refund","experiment":"welcome","unit_id":"u-1"}]}`,
	`{"events":[{"kind":"conversion","experiment":"Welcome!","unit_id":"u-1"}]}`,
	`{"events":[{"kind":"conversion","experiment":"welcome","unit_id":"u-1","value":2e12}]}`,
	`{"events":[{"kind":"conversion","experiment":"welcome","unit_id":"u-1","time":"1999-12-31T23:59:59Z"}]}`,
	`{"events":[{"kind":"conversion","experiment":"welcome","unit_id":"u-1","time":"2030-01-01T00:00:00Z"}]}`,
	`{"events":[{"id":"a","idempotency_key":"b","kind":"conversion","experiment":"welcome","unit_id":"u-1"}]}`,
	`{"events":[{"id":"` + strings.Repeat("i", 257) + `","kind":"conversion","experiment":"welcome","unit_id":"u-1"}]}`,
	`{"events":[{"kind":"conversion","experiment":"welcome","unit_id":"` + strings.Repeat("u", 257) + `"}]}`,
	`{"events":[{"kind":"conversion","experiment":"welcome","unit_id":"u-1"},{"kind":"conversion","experiment":"welcome"}]}`,
	// Everything below goes to experiment.DecodeStrict, valid or not.
	``,
	`   `,
	`null`,
	`[]`,
	`{}`,
	`{"events":null}`,
	`{"events":{}}`,
	`{"events":[null]}`,
	`{"events":[1]}`,
	`{"events":[{"kind":"conversion"}],"extra":1}`,
	`{"events":[{"kind":"conversion"}],"events":[]}`,
	`{"Events":[{"kind":"conversion","experiment":"welcome","unit_id":"u-1"}]}`,
	`{"events":[{"Kind":"conversion","experiment":"welcome","unit_id":"u-1"}]}`,
	`{"events":[{"kind":"conversion","experiment":"welcome","unit_id":"u-1","colour":"red"}]}`,
	`{"events":[{"kind":"conversion","experiment":"welcome","unit_id":7}]}`,
	`{"events":[{"kind":"conversion","experiment":"welcome","unit_id":"u-1","value":"7"}]}`,
	`{"events":[{"kind":"conversion","experiment":"welcome","unit_id":"u-1","value":true}]}`,
	`{"events":[{"kind":"conversion","experiment":"welcome","unit_id":"u-1","value":1e400}]}`,
	`{"events":[{"kind":"conversion","experiment":"welcome","unit_id":"u-1","value":01}]}`,
	`{"events":[{"kind":"conversion","experiment":"welcome","unit_id":"u-1","value":1.}]}`,
	`{"events":[{"kind":"conversion","experiment":"welcome","unit_id":"u-1","value":.5}]}`,
	`{"events":[{"kind":"conversion","experiment":"welcome","unit_id":"u-1","value":-}]}`,
	`{"events":[{"kind":"conversion","experiment":"welcome","unit_id":"u-1","value":nul}]}`,
	`{"events":[{"kind":"conversion","experiment":"welcome","unit_id":"u-1","time":"yesterday"}]}`,
	`{"events":[{"kind":"conversion","experiment":"welcome","unit_id":"u-1","time":"2025-03-01 11:00:00Z"}]}`,
	`{"events":[{"kind":"conversion","experiment":"welcome","unit_id":"u-1","time":"2025-03-01T11:00:00\u005a"}]}`,
	`{"events":[{"kind":"conversion","experiment":"welcome","unit_id":"u-1","time":1740826800}]}`,
	`{"events":[{"kind":"conversion","experiment":"welcome","unit_id":"u\"1"}]}`,
	`{"events":[{"kind":"conversion","experiment":"welcome","unit_id":"u\u00e9"}]}`,
	`{"events":[{"kind":"conversion","experiment":"welcome","unit_\u0069d":"u-1"}]}`,
	"{\"events\":[{\"kind\":\"conversion\",\"experiment\":\"welcome\",\"unit_id\":\"u\x01\"}]}",
	"{\"events\":[{\"kind\":\"conversion\",\"experiment\":\"welcome\",\"unit_id\":\"u\xff\"}]}",
	`{"events":[{"kind":"conversion","experiment":"welcome","unit_id":"u-1",}]}`,
	`{"events":[{"kind":"conversion","experiment":"welcome","unit_id":"u-1"},]}`,
	`{"events":[{"kind":"conversion","experiment":"welcome" "unit_id":"u-1"}]}`,
	`{"events":[{"kind":"conversion","experiment":"welcome","unit_id":"u-1"}]} {}`,
	`{"events":[{"kind":"conversion","experiment":"welcome","unit_id":"u-1"}]}x`,
	`{"events":[{"kind":"conversion","experiment":"welcome","unit_id":"u-1"}]`,
	`{"events":[{"kind":"conversion","experiment":"welcome","unit_id":"u-1"`,
	`{"events":[{"kind`,
	"\ufeff{\"events\":[]}",
}

// testEventServer is a Server with what parseEvents uses: a clock, a
// batch limit and the keys of tokens.
func testEventServer(tb testing.TB) (*Server, *tracking.Keyring) {
	tb.Helper()
	tokens, err := tracking.NewKeyring(1, map[uint8][]byte{1: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	return &Server{cfg: Config{Tokens: tokens, MaxEventsPerRequest: 1000, Now: func() time.Time { return now },
		Snapshots: emptySnapshots{}, Store: everyExperiment{}}, ids: analytics.NewIDs()}, tokens
}

// emptySnapshots has no running experiment.
type emptySnapshots struct{}

func (emptySnapshots) Snapshot() *assign.Snapshot { return nil }

// everyExperiment is a store in which every key is an experiment; it
// answers nothing else.
type everyExperiment struct{ experiment.Store }

func (everyExperiment) Get(context.Context, string) (experiment.Experiment, error) {
	return experiment.Experiment{}, nil
}

// TestDecodeEventsDifferential holds the fast decoder to experiment.DecodeStrict: both
// must decode the same request, or refuse with the same error, and the
// batch must give the same events or the same validation error.
func TestDecodeEventsDifferential(t *testing.T) {
	s, tokens := testEventServer(t)
	tok, err := tokens.Open(tracking.Claims{Experiment: "welcome", Version: 2, Segment: "pro", Variant: "short",
		Unit: "u-1", SendID: "s-1", IssuedAt: time.Date(2025, 3, 1, 11, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	bodies := append([]string{
		`{"events":[{"id":"t-1","kind":"conversion","token":"` + tok + `","value":3}]}`,
		`{"events":[{"id":"t-1","kind":"conversion","token":"` + tok + `","experiment":"other"}]}`,
		`{"events":[{"id":"t-1","kind":"conversion","token":"` + tok + `","unit_id":"u-2"}]}`,
	}, eventBodies...)
	fast := 0
	for _, body := range bodies {
		if checkDecodeEvents(t, s, []byte(body)) {
			fast++
		}
	}
	// The ordinary shapes must take the fast path, or it helps nobody.
	if want := 3 + 18; fast != want {
		t.Errorf("the fast path took %d of the inputs, want %d: the first %d", fast, want, want)
	}
}

// checkDecodeEvents compares decodeEvents with experiment.DecodeStrict on one body, and
// the batches they give, and reports whether the fast path took it.
func checkDecodeEvents(t *testing.T, s *Server, body []byte) bool {
	t.Helper()
	var got, want eventsRequest
	gotErr := decodeEvents(body, &got)
	wantErr := experiment.DecodeStrict(body, &want)
	sameError(t, fmt.Sprintf("decodeEvents(%q)", body), gotErr, wantErr)
	if gotErr != nil {
		return false
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decodeEvents(%q) = %#v, experiment.DecodeStrict = %#v", body, got, want)
	}
	gotEvents, gotErr := s.parseEvents(context.Background(), body)
	wantEvents, wantErr := s.checkEvents(context.Background(), want.Events)
	sameError(t, fmt.Sprintf("parseEvents(%q)", body), gotErr, wantErr)
	if len(gotEvents) != len(wantEvents) {
		t.Fatalf("parseEvents(%q) = %d events, want %d", body, len(gotEvents), len(wantEvents))
	}
	for i := range gotEvents {
		g, w := gotEvents[i], wantEvents[i]
		if in := want.Events[i]; in.ID == "" && in.IdempotencyKey == "" {
			g.ID, w.ID = "", "" // random: a retry without a key counts twice
		}
		if g != w {
			t.Fatalf("parseEvents(%q) event %d = %+v, want %+v", body, i, g, w)
		}
	}
	var scratch eventsRequest
	return fastDecodeEvents(body, &scratch)
}

// FuzzDecodeEvents: whatever the body, the fast decoder never panics and
// agrees with experiment.DecodeStrict, and the batch it gives with the one experiment.DecodeStrict's
// gives.
func FuzzDecodeEvents(f *testing.F) {
	for _, body := range eventBodies {
		f.Add([]byte(body))
	}
	s, _ := testEventServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		checkDecodeEvents(t, s, body)
	})
}

// benchEventsBody is a batch as scripts/bench-events.lua sends it.
func benchEventsBody(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"events":[`)
	for j := range n {
		if j > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"r1-1-%d-%d","kind":"conversion","experiment":"welcome-email","unit_id":"u%d","value":%d}`, 7, j, (7*n+j)%50000, j%100)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// BenchmarkParseEvents measures POST /v1/events' decoding and checks of a
// batch of 100 conversions, per event: experiment.DecodeStrict alone, decodeEvents
// alone, and the handler's work before the ingest queue (decode, check,
// make the events) with each: experiment.DecodeStrict+checkEvents and parseEvents.
func BenchmarkParseEvents(b *testing.B) {
	const n = 100
	body := benchEventsBody(n)
	s, _ := testEventServer(b)
	perEvent := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
	}
	b.Run("experiment.DecodeStrict", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var req eventsRequest
			if err := experiment.DecodeStrict(body, &req); err != nil || len(req.Events) != n {
				b.Fatal(err)
			}
		}
		perEvent(b)
	})
	b.Run("decodeEvents", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var req eventsRequest
			if err := decodeEvents(body, &req); err != nil || len(req.Events) != n {
				b.Fatal(err)
			}
		}
		perEvent(b)
	})
	b.Run("experiment.DecodeStrict+checkEvents", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var req eventsRequest
			if err := experiment.DecodeStrict(body, &req); err != nil {
				b.Fatal(err)
			}
			out, err := s.checkEvents(context.Background(), req.Events)
			if err != nil || len(out) != n || out[0].Kind != analytics.KindConversion {
				b.Fatal(err)
			}
		}
		perEvent(b)
	})
	b.Run("parseEvents", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			out, err := s.parseEvents(context.Background(), body)
			if err != nil || len(out) != n || out[0].Kind != analytics.KindConversion {
				b.Fatal(err)
			}
		}
		perEvent(b)
	})
}

// TestFastDecodersDoNotPinPaddedBodies: the fast decoders' strings share
// one copy of the body, so a body padded far beyond what it carries is
// decoded again by experiment.DecodeStrict, whose strings are exactly sized, and gives
// the same request; ordinary bodies stay on the fast path.
func TestFastDecodersDoNotPinPaddedBodies(t *testing.T) {
	pad := strings.Repeat(" ", 64<<10)
	for _, tc := range []struct {
		body     string
		assign   bool
		wantPins bool
	}{
		{`{"events":[{"kind":"conversion","experiment":"welcome","unit_id":"u1","value":5}]}`, false, false},
		{`{"events":[{"kind":"conversion","experiment":"welcome","unit_id":"u1"` + pad + `}]}`, false, true},
		{`{"events":[{"kind":"conversion","name":"` + strings.Repeat("x", 60<<10) + `","name":"buy","experiment":"welcome","unit_id":"u1"}]}`, false, true},
		{`{"experiment":"welcome-email","unit_id":"u-1","attributes":{"plan":"pro","country":"DE"}}`, true, false},
		{`{"experiment":"welcome-email","unit_id":"u-1",` + pad + `"attributes":{"plan":"pro"}}`, true, true},
	} {
		var kept int
		if tc.assign {
			var req assignRequest
			if !fastDecodeAssign([]byte(tc.body), false, &req) {
				t.Fatalf("fast path refused %.80q", tc.body)
			}
			kept = keptAssign(&req)
			var got assignRequest
			if err := decodeAssign([]byte(tc.body), false, &got); err != nil || got.UnitID != "u-1" || got.Attributes["plan"] != "pro" {
				t.Errorf("decodeAssign(%.60q) = %+v, %v", tc.body, got, err)
			}
		} else {
			var req eventsRequest
			if !fastDecodeEvents([]byte(tc.body), &req) {
				t.Fatalf("fast path refused %.80q", tc.body)
			}
			kept = keptEvents(&req)
			var got eventsRequest
			if err := decodeEvents([]byte(tc.body), &got); err != nil || len(got.Events) != 1 || got.Events[0].UnitID != "u1" {
				t.Errorf("decodeEvents(%.60q) = %+v, %v", tc.body, got, err)
			}
		}
		if got := pins(len(tc.body), func() int { return kept }); got != tc.wantPins {
			t.Errorf("pins(%d bytes, %d kept) = %v, want %v for %.60q", len(tc.body), kept, got, tc.wantPins, tc.body)
		}
	}
}
