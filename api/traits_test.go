package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/analytics/clickhouse"
	"github.com/splitcast/splitcast/analytics/clickhouse/chtest"
	"github.com/splitcast/splitcast/analytics/ingest"
	"github.com/splitcast/splitcast/analytics/traits"
	"github.com/splitcast/splitcast/api"
	"github.com/splitcast/splitcast/api/tracking"
	"github.com/splitcast/splitcast/assign"
	"github.com/splitcast/splitcast/experiment"
	"github.com/splitcast/splitcast/experiment/apikey"
)

const (
	trAdmin = "traits-admin-key"
	trSDK   = "traits-sdk-key"
	trRead  = "traits-read-key"
)

// traitsExperiment sends dormant units one message and re-engaged units
// another; everyone else falls through to "rest".
const traitsExperiment = `{
  "key": "winback", "channel": "email", "allocation": 100, "holdout": 0,
  "segments": [
    {"key": "dormant", "rule": {"attr": "trait.lifecycle_stage", "op": "equals", "value": "dormant"},
     "variants": [{"key": "a", "weight": 1, "control": true}, {"key": "b", "weight": 1}]},
    {"key": "back", "rule": {"all": [{"attr": "trait.lifecycle_stage", "op": "equals", "value": "re_engaged"},
                                     {"attr": "trait.opens_7d", "op": "gte", "value": 1}]},
     "variants": [{"key": "a", "weight": 1, "control": true}, {"key": "b", "weight": 1}]},
    {"key": "rest", "variants": [{"key": "a", "weight": 1, "control": true}, {"key": "b", "weight": 1}]}
  ],
  "primary_metric": "open_rate"
}`

// trServer is a whole serving stack on a real ClickHouse and a loopback
// listener: ClickHouse store, ingest with its spool, the trait cache's
// refresh loop, the snapshot refresher.
type trServer struct {
	base   string
	cache  *traits.Cache
	ingest *ingest.Ingester
	count  func(kind string) uint64
}

func trStart(t *testing.T) *trServer {
	t.Helper()
	ctx := context.Background()
	env, err := chtest.Start()
	if err != nil {
		t.Fatalf("start clickhouse: %v", err)
	}
	t.Cleanup(env.Close)
	conn, _ := env.NewDatabase(t)

	ingest, err := ingest.Open(ingest.Config{
		Sink: clickhouse.NewEventSink(conn), Dir: t.TempDir(), FlushInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ingest.Close(context.Background()) })
	reader := clickhouse.NewTraitReader(conn)
	cache := traits.NewCache(traits.CacheConfig{Reader: reader, UserReader: reader, Catalogue: traits.DefaultCatalogue(),
		Interval: 200 * time.Millisecond})
	store := clickhouse.NewExperimentStore(conn)
	refresher := assign.NewRefresher(store, nil)
	tokens, err := tracking.NewKeyring(1, map[uint8][]byte{1: []byte("traits-test-token-key-0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := api.New(api.Config{
		BaseURL: "http://" + ln.Addr().String(),
		Store:   store, Snapshots: refresher, Refresh: refresher.Refresh, Events: ingest, Tokens: tokens,
		Keys: api.KeyList{
			api.NewKey("admin", trAdmin, apikey.ScopeAdmin, apikey.ScopeRead),
			api.NewKey("sdk", trSDK, apikey.ScopeSDK),
			api.NewKey("read", trRead, apikey.ScopeRead),
		},
		Traits: cache,
	})
	go s.Serve(ln)
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	bg, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	go cache.Run(bg)

	srv := &trServer{base: "http://" + ln.Addr().String(), cache: cache, ingest: ingest}
	srv.count = func(kind string) uint64 {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM events WHERE kind = ?", kind).Scan(&n); err != nil {
			t.Fatalf("count %s: %v", kind, err)
		}
		return n
	}
	return srv
}

func (s *trServer) do(t *testing.T, method, path, key, body string, out any) int {
	t.Helper()
	return trDo(t, method, s.base+path, key, body, "", out)
}

func trDo(t *testing.T, method, url, key, body, ua string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if ua != "" {
		req.Header.Set("User-Agent", ua)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, b)
		}
	}
	if resp.StatusCode >= 300 && resp.StatusCode != http.StatusFound {
		t.Logf("%s %s: %d %s", method, url, resp.StatusCode, b)
	}
	return resp.StatusCode
}

type trAssignment struct {
	Segment  string `json:"segment"`
	PixelURL string `json:"pixel_url"`
}

func (s *trServer) assign(t *testing.T, exp, unit, attrs string) trAssignment {
	t.Helper()
	var a trAssignment
	body := fmt.Sprintf(`{"experiment": %q, "unit_id": %q, "channel": "email", "attributes": %s}`, exp, unit, attrs)
	if code := s.do(t, "POST", "/v1/assign", trSDK, body, &a); code != 200 {
		t.Fatalf("assign %s: status %d", unit, code)
	}
	return a
}

// waitRefreshAfter waits until stored() holds, then until a trait refresh
// that started after that has finished: the order the staleness bound
// promises, checked without asserting any duration.
func (s *trServer) waitRefreshAfter(t *testing.T, what string, stored func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(30 * time.Second)
	for !stored() {
		if time.Now().After(deadline) {
			t.Fatalf("%s never reached ClickHouse", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	at := time.Now()
	for !s.cache.Stats().RefreshedAt.After(at) {
		if time.Now().After(deadline) {
			t.Fatalf("no trait refresh after %s was stored: %+v", what, s.cache.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// RefreshedAt is set when a refresh publishes; the one that started
	// after `at` may still be the one publishing now. Wait for the next.
	next := s.cache.Stats().RefreshedAt
	for !s.cache.Stats().RefreshedAt.After(next) {
		if time.Now().After(deadline) {
			t.Fatalf("trait refresh stopped: %+v", s.cache.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// TestSegmentFollowsEngagement: a dormant unit gets the dormant message; a
// machine open (Apple Mail Privacy Protection) changes nothing; a human open
// through the real pixel moves it to the re-engaged segment within the
// staleness bound. A unit with no history gets the defaults.
func TestSegmentFollowsEngagement(t *testing.T) {
	s := trStart(t)
	ctx := context.Background()
	// History: u-dormant opened 45 days ago, and was sent a message since.
	day := analytics.Day(time.Now())
	old := analytics.DayTime(day - 45).Add(10 * time.Hour)
	recent := analytics.DayTime(day - 5).Add(10 * time.Hour)
	err := s.ingest.Log(ctx,
		analytics.Event{ID: "h1", Kind: analytics.KindExposure, Time: old.Add(-time.Hour), Experiment: "older", Segment: "s",
			Variant: "a", Unit: "u-dormant", SendID: "s1", Channel: "email"},
		analytics.Event{ID: "h2", Kind: analytics.KindOpen, Time: old, Experiment: "older", Segment: "s", Variant: "a",
			Unit: "u-dormant", SendID: "s1"},
		analytics.Event{ID: "h3", Kind: analytics.KindExposure, Time: recent, Experiment: "older", Segment: "s",
			Variant: "a", Unit: "u-dormant", SendID: "s2", Channel: "email"},
	)
	if err != nil {
		t.Fatal(err)
	}
	if code := s.do(t, "POST", "/v1/experiments", trAdmin, traitsExperiment, nil); code != 201 {
		t.Fatalf("create: %d", code)
	}
	if code := s.do(t, "POST", "/v1/experiments/winback/start", trAdmin, "", nil); code != 200 {
		t.Fatalf("start: %d", code)
	}
	s.waitRefreshAfter(t, "the history", func() bool { return s.count("open") == 1 })

	type traitsAnswer struct {
		Held       bool           `json:"held"`
		Traits     traits.Traits  `json:"traits"`
		Attributes map[string]any `json:"attributes"`
		Cache      struct {
			StalenessBound string `json:"staleness_bound"`
		} `json:"cache"`
		Fresh *struct {
			Traits traits.Traits `json:"traits"`
		} `json:"fresh"`
	}
	var tr traitsAnswer
	if code := s.do(t, "GET", "/v1/units/u-dormant/traits?fresh=true", trRead, "", &tr); code != 200 {
		t.Fatalf("traits: %d", code)
	}
	if !tr.Held || tr.Traits.LifecycleStage != "dormant" || tr.Traits.DaysSinceOpen != 45 || tr.Traits.PreferredChannel != "email" ||
		tr.Attributes["trait.lifecycle_stage"] != "dormant" || tr.Fresh == nil || tr.Fresh.Traits != tr.Traits {
		t.Errorf("GET traits of u-dormant = %+v, want held, dormant, 45 days since open, email", tr)
	}
	if code := s.do(t, "GET", "/v1/units/u-dormant/traits", trSDK, "", nil); code != 403 {
		t.Errorf("GET traits with an sdk key: %d, want 403", code)
	}

	// No history: the defaults, so the catch-all.
	tr = traitsAnswer{}
	if code := s.do(t, "GET", "/v1/units/nobody%2Fhere/traits", trRead, "", &tr); code != 200 {
		t.Fatalf("traits: %d", code)
	}
	if tr.Held || tr.Traits != traits.DefaultTraits() {
		t.Errorf("traits of a unit without history = %+v, want defaults", tr)
	}
	if a := s.assign(t, "winback", "nobody/here", `{}`); a.Segment != "rest" {
		t.Errorf("a unit without history is in %q, want rest", a.Segment)
	}

	a := s.assign(t, "winback", "u-dormant", `{}`)
	if a.Segment != "dormant" {
		t.Fatalf("u-dormant is in %q, want dormant", a.Segment)
	}
	// A caller attribute of the same name wins over the trait.
	if b := s.assign(t, "winback", "u-dormant", `{"trait.lifecycle_stage": "active"}`); b.Segment != "rest" {
		t.Errorf("with the caller's trait.lifecycle_stage=active, u-dormant is in %q, want rest", b.Segment)
	}

	// A privacy-proxy prefetch is a machine open: the unit stays dormant.
	if code := trDo(t, "GET", a.PixelURL, "", "", "Mozilla/5.0", nil); code != 200 {
		t.Fatalf("pixel: %d", code)
	}
	s.waitRefreshAfter(t, "the machine open", func() bool { return s.count("open") == 2 })
	if got := s.assign(t, "winback", "u-dormant", `{}`); got.Segment != "dormant" {
		t.Errorf("after a machine open, u-dormant is in %q, want dormant", got.Segment)
	}

	// The person opens: re-engaged after 45 days.
	const browser = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
	if code := trDo(t, "GET", a.PixelURL, "", "", browser, nil); code != 200 {
		t.Fatalf("pixel: %d", code)
	}
	took := s.waitRefreshAfter(t, "the human open", func() bool { return s.count("open") == 3 })
	if got := s.assign(t, "winback", "u-dormant", `{}`); got.Segment != "back" {
		t.Errorf("after a human open and a refresh, u-dormant is in %q, want back", got.Segment)
	}
	t.Logf("pixel to segment change: %v (bound: flush 100ms + refresh interval %s + a refresh query)",
		took, tr.Cache.StalenessBound)
}

// TestHealthEndpoint sizes the docs example's segments from the traits of
// recent traffic: dormant units are plenty, at-risk ones too few.
func TestHealthEndpoint(t *testing.T) {
	s := trStart(t)
	ctx := context.Background()
	day := analytics.Day(time.Now())
	var evs []analytics.Event
	add := func(unit string, ago int32, kind analytics.Kind, send string) {
		evs = append(evs, analytics.Event{ID: fmt.Sprintf("%s-%s-%d", unit, kind, len(evs)), Kind: kind,
			Time: analytics.DayTime(day - ago).Add(9 * time.Hour), Experiment: "older", Segment: "s", Variant: "a",
			Unit: unit, SendID: send, Channel: map[bool]string{true: "email"}[kind == analytics.KindExposure]})
	}
	// 700 dormant units (100 a day over the last 7 days), 7 at risk.
	for i := range 700 {
		u := fmt.Sprintf("d%d", i)
		add(u, 60, analytics.KindExposure, u+"a")
		add(u, 60, analytics.KindOpen, u+"a")
		add(u, 2, analytics.KindExposure, u+"b")
	}
	for i := range 7 {
		u := fmt.Sprintf("r%d", i)
		add(u, 60, analytics.KindExposure, u+"a")
		add(u, 20, analytics.KindOpen, u+"a")
		add(u, 3, analytics.KindExposure, u+"b")
	}
	if err := s.ingest.Log(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile("../docs/examples/reengagement.json")
	if err != nil {
		t.Fatal(err)
	}
	if code := s.do(t, "POST", "/v1/experiments", trAdmin, string(body), nil); code != 201 {
		t.Fatalf("create the example: %d", code)
	}
	s.waitRefreshAfter(t, "the traffic", func() bool { return s.count("exposure") == 2*707 })

	var h struct {
		Segments []struct {
			Segment      string  `json:"segment"`
			UnitsPerDay  float64 `json:"units_per_day"`
			SamplePerArm int     `json:"sample_size_per_arm"`
			Reachable    bool    `json:"reachable"`
			Warning      string  `json:"warning"`
			Suggestion   string  `json:"suggestion"`
		} `json:"segments"`
		Warnings []string `json:"warnings"`
	}
	// A 50% lift on a 2% click rate needs ~3,800 per arm: dormant's 30 per
	// arm per day (100 × 90% × 1/3) take ~130 days, over a 200-day plan
	// fine; at-risk's 0.3 a day never make it.
	if code := s.do(t, "GET", "/v1/experiments/lifecycle-reengagement/health?mde=0.5&runtime_days=200", trRead, "", &h); code != 200 {
		t.Fatalf("health: %d", code)
	}
	if len(h.Segments) != 2 {
		t.Fatalf("health segments = %+v", h.Segments)
	}
	d, r := h.Segments[0], h.Segments[1]
	if d.Segment != "dormant" || d.UnitsPerDay != 100 || !d.Reachable || d.Warning != "" {
		t.Errorf("dormant = %+v, want 100 units a day, reachable, no warning", d)
	}
	if r.Segment != "at-risk" || r.UnitsPerDay != 1 || r.Reachable || !strings.Contains(r.Warning, "over-segmentation") ||
		!strings.Contains(r.Suggestion, `merge "at-risk" with "dormant"`) {
		t.Errorf("at-risk = %+v, want 1 unit a day, unreachable, an over-segmentation warning and a merge with dormant", r)
	}
	if len(h.Warnings) != 1 {
		t.Errorf("warnings = %q, want one", h.Warnings)
	}
	if code := trDo(t, "GET", s.base+"/v1/experiments/lifecycle-reengagement/health?mde=zero", trRead, "", "", nil); code != 400 {
		t.Errorf("health?mde=zero: %d, want 400", code)
	}
}

// trBench is assign's benchmark experiment with the behavioural rule on
// either caller attributes (prefix "") or traits (prefix "trait.").
func trBench(tb testing.TB, prefix string) *assign.Snapshot {
	tb.Helper()
	e, err := experiment.Decode([]byte(fmt.Sprintf(`{
  "key": "bench", "channel": "email", "allocation": 100, "holdout": 5, "status": "running",
  "segments": [
    {"key": "pro-eu", "rule": {"all": [{"attr": "plan", "op": "equals", "value": "pro"},
                                       {"attr": "country", "op": "in", "values": ["FR", "DE", "ES", "IT"]}]},
     "variants": [{"key": "a", "weight": 1, "control": true}, {"key": "b", "weight": 1}, {"key": "c", "weight": 1}]},
    {"key": "engaged", "rule": {"any": [{"attr": "%[1]sopens_30d", "op": "gte", "value": 3},
                                        {"attr": "%[1]sengagement_level", "op": "equals", "value": "high"}]},
     "variants": [{"key": "a", "weight": 4, "control": true}, {"key": "b", "weight": 3}, {"key": "c", "weight": 2}]},
    {"key": "rest", "variants": [{"key": "a", "weight": 1, "control": true}, {"key": "b", "weight": 1}, {"key": "c", "weight": 1}]}
  ],
  "primary_metric": "click_rate"
}`, prefix)))
	if err != nil {
		tb.Fatal(err)
	}
	e.Status = experiment.StatusRunning
	snap, err := assign.NewSnapshot([]experiment.Experiment{e})
	if err != nil {
		tb.Fatal(err)
	}
	return snap
}

// trBenchReader holds one unit's activity: 2 opens in 30 days, medium.
type trBenchReader struct{}

func (r trBenchReader) ChangedActivity(ctx context.Context, _ time.Time, today int32) ([]traits.UnitActivity, time.Time, error) {
	acts, err := r.Activity(ctx, nil, today)
	return acts, time.Now(), err
}

func (trBenchReader) Activity(_ context.Context, units []string, today int32) ([]traits.UnitActivity, error) {
	return []traits.UnitActivity{{Unit: "u-12345", FirstSeen: today - 50,
		Days: []traits.DayActivity{{Day: today - 3, Channel: "email", Exposures: 2, Opens: 2}}}}, nil
}

// BenchmarkAssignTraits compares assignment of a unit that ends in the last
// segment, as the /v1/assign handler does it: with its engagement sent by
// the caller to a server without traits ("attributes"), the same to a
// server with traits whose rules read none ("attributes-traits-on"), and
// read from the trait cache by trait rules ("traits").
func BenchmarkAssignTraits(b *testing.B) {
	attrsSnap, traitsSnap := trBench(b, ""), trBench(b, "trait.")
	cache := traits.NewCache(traits.CacheConfig{Reader: trBenchReader{}})
	if err := cache.Refresh(context.Background()); err != nil {
		b.Fatal(err)
	}
	plain := api.New(api.Config{})
	withTraits := api.New(api.Config{Traits: cache})
	b.Run("attributes", func(b *testing.B) {
		attrs := assign.Attributes{"plan": "free", "country": "US", "opens_30d": 2.0, "engagement_level": "medium"}
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if a, err := plain.AssignWithTraits(attrsSnap, "bench", "u-12345", attrs); err != nil || a.Segment != "rest" {
				b.Fatal(a, err)
			}
		}
	})
	b.Run("attributes-traits-on", func(b *testing.B) {
		attrs := assign.Attributes{"plan": "free", "country": "US", "opens_30d": 2.0, "engagement_level": "medium"}
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if a, err := withTraits.AssignWithTraits(attrsSnap, "bench", "u-12345", attrs); err != nil || a.Segment != "rest" {
				b.Fatal(a, err)
			}
		}
	})
	b.Run("traits", func(b *testing.B) {
		attrs := assign.Attributes{"plan": "free", "country": "US"}
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if a, err := withTraits.AssignWithTraits(traitsSnap, "bench", "u-12345", attrs); err != nil || a.Segment != "rest" {
				b.Fatal(a, err)
			}
		}
	})
}
