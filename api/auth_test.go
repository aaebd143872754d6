package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/splitcast/splitcast/api"
	"github.com/splitcast/splitcast/api/tracking"
	"github.com/splitcast/splitcast/assign"
	"github.com/splitcast/splitcast/experiment"
	"github.com/splitcast/splitcast/experiment/apikey"
	"github.com/splitcast/splitcast/experiment/experimenttest"
)

// Keys of the auth tests: each holds exactly one scope.
const (
	authAdmin = "auth-admin-key"
	authSDK   = "auth-sdk-key"
	authRead  = "auth-read-key"
)

// keyFor returns a key that has scope, and one that lacks it.
func keyFor(scope string) (has, lacks string) {
	switch scope {
	case "admin":
		return authAdmin, authRead
	case "sdk":
		return authSDK, authAdmin
	default:
		return authRead, authSDK
	}
}

// memKeys is an in-memory apikey.Store.
type memKeys struct {
	mu   sync.Mutex
	recs []apikey.Record
}

func (m *memKeys) CreateKey(_ context.Context, r apikey.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs = append(m.recs, r)
	return nil
}

func (m *memKeys) ListKeys(context.Context) ([]apikey.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]apikey.Record(nil), m.recs...), nil
}

func (m *memKeys) RevokeKey(_ context.Context, id string, at time.Time) (apikey.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.recs {
		if m.recs[i].ID == id {
			m.recs[i].RevokedAt = at
			return m.recs[i], nil
		}
	}
	return apikey.Record{}, errors.New("not found")
}

// newAuthServer is an API with one key per scope, issued keys from an
// in-memory KeyStore, a running experiment "welcome", and cfg's other
// settings.
func newAuthServer(tb testing.TB, cfg api.Config) (*api.Server, *api.KeyCache, *memKeys) {
	tb.Helper()
	mk := &memKeys{}
	store := experimenttest.NewStore()
	now := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	v := experimenttest.MustCreate(tb, store, experimenttest.NewExperiment("welcome", experiment.ChannelEmail))
	started, err := experiment.Start(v.Definition, "test", "", now)
	if err != nil {
		tb.Fatal(err)
	}
	if err := store.Save(context.Background(), started); err != nil {
		tb.Fatal(err)
	}
	refresher := assign.NewRefresher(store, nil)
	if err := refresher.Refresh(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tokens, err := tracking.NewKeyring(1, map[uint8][]byte{1: []byte("auth-tests-token-key-auth-tests-token-key")})
	if err != nil {
		tb.Fatal(err)
	}
	keys := api.NewKeyCache(api.KeyList{
		api.NewKey("admin", authAdmin, apikey.ScopeAdmin),
		api.NewKey("sdk", authSDK, apikey.ScopeSDK),
		api.NewKey("read", authRead, apikey.ScopeRead),
	}, mk, nil)
	cfg.Store, cfg.Snapshots, cfg.Refresh, cfg.Tokens, cfg.Keys = store, refresher, refresher.Refresh, tokens, keys
	if cfg.Events == nil {
		cfg.Events = &eventLog{}
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = "https://t.example"
	}
	return api.New(cfg), keys, mk
}

// do sends one request through app.Test and returns the response with its
// body read.
func do(tb testing.TB, s *api.Server, method, target, key string, body string, header ...string) (*http.Response, string) {
	tb.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := s.App().Test(req, 10_000)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, target, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// errorCode is the code of an error body, or "" when the body is not one.
func errorCode(body string) string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal([]byte(body), &e)
	return e.Error.Code
}

func TestAuthCases(t *testing.T) {
	s, keys, store := newAuthServer(t, api.Config{})
	issued, rec, err := apikey.New("ci", []apikey.Scope{apikey.ScopeSDK, apikey.ScopeRead}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_ = store.CreateKey(context.Background(), rec)
	if err := keys.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	revoked, rec2, err := apikey.New("old", []apikey.Scope{apikey.ScopeAdmin, apikey.ScopeSDK, apikey.ScopeRead}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_ = store.CreateKey(context.Background(), rec2)
	if err := keys.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if resp, _ := do(t, s, "GET", "/v1/experiments", revoked, ""); resp.StatusCode != 200 {
		t.Fatalf("key before revocation: %d, want 200", resp.StatusCode)
	}
	if _, err := store.RevokeKey(context.Background(), rec2.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := keys.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A forged key with a known id but another secret.
	forged := issued[:len("sc_")+16+1] + strings.Repeat("A", 43)

	groups := []struct {
		group, method, target, body, scope string
	}{
		{"admin", "POST", "/v1/experiments/welcome/allocation", `{"allocation": 50}`, "admin"},
		{"read", "GET", "/v1/experiments/welcome", "", "read"},
		{"sdk", "POST", "/v1/assign", `{"experiment":"welcome","unit_id":"u1"}`, "sdk"},
		{"pprof", "GET", "/debug/pprof/", "", "admin"},
	}
	for _, g := range groups {
		has, lacks := keyFor(g.scope)
		cases := []struct {
			name, key string
			want      int
			code      string
		}{
			{"no key", "", 401, "unauthorized"},
			{"bad key", "not-a-key-at-all", 401, "unauthorized"},
			{"forged issued key", forged, 401, "unauthorized"},
			{"revoked key", revoked, 401, "unauthorized"},
			{"wrong scope", lacks, 403, "forbidden"},
			{"right scope", has, 200, ""},
		}
		for _, c := range cases {
			t.Run(g.group+"/"+c.name, func(t *testing.T) {
				resp, body := do(t, s, g.method, g.target, c.key, g.body)
				if resp.StatusCode != c.want {
					t.Fatalf("%s %s with %s = %d %s, want %d", g.method, g.target, c.name, resp.StatusCode, body, c.want)
				}
				if c.code != "" && errorCode(body) != c.code {
					t.Errorf("error body %s, want code %q", body, c.code)
				}
				if c.want == 401 && resp.Header.Get("WWW-Authenticate") == "" {
					t.Errorf("401 without WWW-Authenticate")
				}
			})
		}
	}
	// The issued key works with its scopes only.
	if resp, _ := do(t, s, "GET", "/v1/snapshot", issued, ""); resp.StatusCode != 200 {
		t.Errorf("issued sdk,read key on /v1/snapshot: %d, want 200", resp.StatusCode)
	}
	if resp, _ := do(t, s, "POST", "/v1/experiments/welcome/pause", issued, `{}`); resp.StatusCode != 403 {
		t.Errorf("issued sdk,read key on an admin route: %d, want 403", resp.StatusCode)
	}
}

func TestNewSecretKey(t *testing.T) {
	now := time.Now()
	a, ra, err := apikey.New("x", []apikey.Scope{apikey.ScopeSDK}, now)
	if err != nil {
		t.Fatal(err)
	}
	b, rb, _ := apikey.New("x", []apikey.Scope{apikey.ScopeSDK}, now)
	if a == b || ra.ID == rb.ID || ra.Hash == rb.Hash {
		t.Errorf("two keys share a secret, id or hash: %s %s", a, b)
	}
	if !strings.HasPrefix(a, "sc_"+ra.ID+"_") || len(a) != len("sc_")+16+1+43 {
		t.Errorf("key %q: want sc_<16 hex id>_<43 base64url chars>", a)
	}
	if strings.Contains(string(ra.Hash[:]), a) {
		t.Errorf("record holds the secret")
	}
	for _, bad := range []struct {
		name   string
		scopes string
	}{{"", "sdk"}, {"x", ""}, {"x", "sdk,root"}} {
		scopes, err := apikey.ParseScopes(bad.scopes)
		if err == nil {
			_, _, err = apikey.New(bad.name, scopes, now)
		}
		if experiment.ErrorCode(err) != experiment.EINVALID {
			t.Errorf("name %q scopes %q: err %v, want %s", bad.name, bad.scopes, err, experiment.EINVALID)
		}
	}
	if got, err := apikey.ParseScopes(" sdk , read,sdk"); err != nil || len(got) != 2 || got[0] != apikey.ScopeSDK || got[1] != apikey.ScopeRead {
		t.Errorf("ParseScopes = %v, %v; want [sdk read]", got, err)
	}
}

// clock is a settable time for the rate limiter.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestRateLimits(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)}
	s, _, _ := newAuthServer(t, api.Config{Now: clk.Now, RateLimits: api.RateLimits{
		PerKey: api.Rate{PerSecond: 0.5, Burst: 2},
		PerIP:  api.Rate{PerSecond: 1, Burst: 5},
	}})
	t.Run("per key", func(t *testing.T) {
		for i := 0; i < 2; i++ {
			if resp, body := do(t, s, "GET", "/v1/experiments", authRead, ""); resp.StatusCode != 200 {
				t.Fatalf("request %d: %d %s, want 200", i+1, resp.StatusCode, body)
			}
		}
		resp, body := do(t, s, "GET", "/v1/experiments", authRead, "")
		if resp.StatusCode != 429 || errorCode(body) != "rate_limited" {
			t.Fatalf("third request in a burst of 2: %d %s, want 429 rate_limited", resp.StatusCode, body)
		}
		// One token comes back every 2 s.
		if ra := resp.Header.Get("Retry-After"); ra != "2" {
			t.Errorf("Retry-After = %q, want 2", ra)
		}
		// Another key has its own bucket.
		if resp, _ := do(t, s, "GET", "/v1/snapshot", authSDK, ""); resp.StatusCode != 200 {
			t.Errorf("another key: %d, want 200", resp.StatusCode)
		}
		clk.Add(2 * time.Second)
		if resp, _ := do(t, s, "GET", "/v1/experiments", authRead, ""); resp.StatusCode != 200 {
			t.Errorf("after Retry-After: %d, want 200", resp.StatusCode)
		}
	})
	t.Run("per ip before auth", func(t *testing.T) {
		clk.Add(time.Minute) // every bucket full again
		got := map[int]int{}
		var last *http.Response
		for i := 0; i < 7; i++ {
			last, _ = do(t, s, "GET", "/v1/experiments", "guess-"+string(rune('a'+i)), "")
			got[last.StatusCode]++
		}
		if got[401] != 5 || got[429] != 2 {
			t.Errorf("7 key guesses from one address with a burst of 5: %v, want 5×401 then 2×429", got)
		}
		if last.Header.Get("Retry-After") != "1" {
			t.Errorf("Retry-After = %q, want 1", last.Header.Get("Retry-After"))
		}
		// The pixel is never limited: a refused pixel is a broken image.
		for i := 0; i < 10; i++ {
			if resp, _ := do(t, s, "GET", "/o/whatever.gif", "", ""); resp.StatusCode != 200 {
				t.Fatalf("pixel %d: %d, want 200", i, resp.StatusCode)
			}
		}
	})
}

func TestCORSPreflight(t *testing.T) {
	s, _, _ := newAuthServer(t, api.Config{CORSOrigins: []string{"https://app.example"}})
	preflight := func(path, origin string) *http.Response {
		resp, _ := do(t, s, "OPTIONS", path, "", "", "Origin", origin,
			"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization,content-type")
		return resp
	}
	resp := preflight("/v1/assign", "https://app.example")
	if resp.StatusCode != 204 {
		t.Fatalf("preflight: %d, want 204", resp.StatusCode)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "https://app.example" {
		t.Errorf("Allow-Origin = %q, want https://app.example", got)
	}
	if got := resp.Header.Get("Access-Control-Allow-Headers"); !strings.Contains(got, "Authorization") {
		t.Errorf("Allow-Headers = %q, want Authorization in it", got)
	}
	if got := preflight("/v1/assign", "https://evil.example").Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("other origin: Allow-Origin = %q, want none", got)
	}
	if got := preflight("/v1/experiments", "https://app.example").Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("admin route: Allow-Origin = %q, want none (CORS is for the SDK routes)", got)
	}
	// The actual call carries the header too.
	resp, _ = do(t, s, "POST", "/v1/assign", authSDK, `{"experiment":"welcome","unit_id":"u1"}`, "Origin", "https://app.example")
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Errorf("cross-origin assign: %d, Allow-Origin %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	// Without configured origins, no CORS at all.
	plain, _, _ := newAuthServer(t, api.Config{})
	resp, _ = do(t, plain, "OPTIONS", "/v1/assign", "", "", "Origin", "https://app.example", "Access-Control-Request-Method", "POST")
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("no origins configured: Allow-Origin = %q", resp.Header.Get("Access-Control-Allow-Origin"))
	}
}

func TestMetricsAndRequestIDs(t *testing.T) {
	reg := prometheus.NewRegistry()
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, _, _ := newAuthServer(t, api.Config{Registry: reg, Logger: logger})

	do(t, s, "GET", "/v1/experiments/welcome", authRead, "")
	do(t, s, "GET", "/v1/experiments/nope", authRead, "")
	do(t, s, "GET", "/v1/experiments/welcome", "", "")
	do(t, s, "GET", "/no/such/route/abc123", "", "")
	for i := 0; i < 3; i++ {
		do(t, s, "POST", "/v1/assign", authSDK, `{"experiment":"welcome","unit_id":"u`+string(rune('0'+i))+`"}`)
	}
	resp, _ := do(t, s, "GET", "/healthz", "", "", "X-Request-ID", "trace-42.a:b")
	if got := resp.Header.Get("X-Request-ID"); got != "trace-42.a:b" {
		t.Errorf("sane incoming X-Request-ID answered as %q", got)
	}
	resp, _ = do(t, s, "GET", "/healthz", "", "", "X-Request-ID", "evil\"}\n{\"level\":\"ERROR")
	if got := resp.Header.Get("X-Request-ID"); len(got) != 32 || strings.ContainsAny(got, "\"{} ") {
		t.Errorf("insane incoming X-Request-ID answered as %q, want a fresh 32-hex id", got)
	}

	_, scrape := do(t, s, "GET", "/metrics", "", "")
	for _, want := range []string{
		`splitcast_http_request_duration_seconds_count{method="GET",route="/v1/experiments/:key",status="2xx"} 1`,
		`splitcast_http_request_duration_seconds_count{method="GET",route="/v1/experiments/:key",status="4xx"} 2`,
		`splitcast_http_request_duration_seconds_count{method="GET",route="unmatched",status="4xx"} 1`,
		`splitcast_http_request_duration_seconds_count{method="POST",route="/v1/assign",status="2xx"} 3`,
		`splitcast_assignments_total{experiment="welcome"} 3`,
	} {
		if !strings.Contains(scrape, want) {
			t.Errorf("/metrics lacks %s; has:\n%s", want, grepLines(scrape, "splitcast_"))
		}
	}
	if strings.Contains(scrape, "abc123") || strings.Contains(scrape, `route="/v1/experiments/welcome"`) {
		t.Errorf("/metrics labels a raw path")
	}

	// Every request logged its id; the id answered is the id logged.
	resp, _ = do(t, s, "GET", "/v1/experiments/welcome", authRead, "")
	id := resp.Header.Get("X-Request-ID")
	found := false
	for _, line := range strings.Split(logs.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["request_id"] == id && rec["route"] == "/v1/experiments/:key" {
			found = true
		}
	}
	if id == "" || !found {
		t.Errorf("no JSON log line with request_id %q and the route; logs:\n%s", id, logs.String())
	}
}

// grepLines returns the lines of s that start with prefix, for messages.
func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) && !strings.Contains(l, "_bucket") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
