package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/api"
	"github.com/splitcast/splitcast/api/tracking"
	"github.com/splitcast/splitcast/assign"
	"github.com/splitcast/splitcast/experiment"
	"github.com/splitcast/splitcast/experiment/apikey"
	"github.com/splitcast/splitcast/experiment/experimenttest"
)

// The keys of the handler tests.
const (
	hAdmin = "harness-admin-key"
	hSDK   = "harness-sdk-key"
	hRead  = "harness-read-key"
)

// eventLog records what a server under test logged: exposures, opens,
// clicks and conversions, for every handler test of the package.
type eventLog struct {
	mu     sync.Mutex
	events []analytics.Event
}

func (e *eventLog) Log(_ context.Context, evs ...analytics.Event) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.events = append(e.events, evs...)
	return nil
}

// Append logs at once: there is nothing to commit.
func (e *eventLog) Append(evs ...analytics.Event) (analytics.Ticket, error) {
	return 0, e.Log(context.Background(), evs...)
}

func (*eventLog) Commit(context.Context, analytics.Ticket) error { return nil }

func (e *eventLog) len() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.events)
}

// harness is an api.Server over an in-memory store, called through Fiber's
// app.Test: the handlers, middleware and error handler as served, without a
// listener.
type harness struct {
	srv    *api.Server
	store  experiment.Store
	events *eventLog
	now    time.Time
}

// newHarness builds the server; edit adjusts its Config (may be nil).
func newHarness(tb testing.TB, store experiment.Store, edit func(*api.Config)) *harness {
	tb.Helper()
	if store == nil {
		store = experimenttest.NewStore()
	}
	tokens, err := tracking.NewKeyring(1, map[uint8][]byte{1: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		tb.Fatal(err)
	}
	ref := assign.NewRefresher(store, nil)
	if err := ref.Refresh(context.Background()); err != nil {
		tb.Fatal(err)
	}
	h := &harness{store: store, events: &eventLog{}, now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	cfg := api.Config{
		Store: store, Snapshots: ref, Refresh: ref.Refresh, Events: h.events, Tokens: tokens,
		BaseURL: "https://sc.example",
		Keys: api.KeyList{
			api.NewKey("admin", hAdmin, apikey.ScopeAdmin, apikey.ScopeRead),
			api.NewKey("sdk", hSDK, apikey.ScopeSDK),
			api.NewKey("read", hRead, apikey.ScopeRead),
		},
		Now: func() time.Time { return h.now },
	}
	if edit != nil {
		edit(&cfg)
	}
	h.srv = api.New(cfg)
	return h
}

// answer is a response read whole.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// errBody is the error JSON of an answer.
func (a answer) err() (code, field, message string) {
	var b struct {
		Error struct{ Code, Field, Message string } `json:"error"`
	}
	_ = json.Unmarshal(a.body, &b)
	return b.Error.Code, b.Error.Field, b.Error.Message
}

// request sends req through app.Test.
func (h *harness) request(tb testing.TB, req *http.Request) answer {
	tb.Helper()
	resp, err := h.srv.App().Test(req, -1)
	if err != nil {
		tb.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: read body: %v", req.Method, req.URL, err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: body}
}

// call sends a request with key as the bearer token ("" for none).
func (h *harness) call(tb testing.TB, method, target, key, body string) answer {
	tb.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return h.request(tb, req)
}

// must sends the request and fails unless the status is want.
func (h *harness) must(tb testing.TB, want int, method, target, key, body string) answer {
	tb.Helper()
	a := h.call(tb, method, target, key, body)
	if a.status != want {
		tb.Fatalf("%s %s = %d %s, want %d", method, target, a.status, a.body, want)
	}
	return a
}

// exampleDef is docs/examples/experiment.json with its key replaced by key.
func exampleDef(tb testing.TB, key string) string {
	tb.Helper()
	data, err := os.ReadFile("../docs/examples/experiment.json")
	if err != nil {
		tb.Fatal(err)
	}
	s := string(data)
	if !strings.Contains(s, `"key": "welcome-email"`) {
		tb.Fatal("docs/examples/experiment.json no longer has key welcome-email")
	}
	return strings.Replace(s, `"key": "welcome-email"`, `"key": "`+key+`"`, 1)
}

// definition decodes an answer holding an experiment.
func definition(tb testing.TB, a answer) experiment.Experiment {
	tb.Helper()
	var e experiment.Experiment
	if err := json.Unmarshal(a.body, &e); err != nil {
		tb.Fatalf("decode experiment %s: %v", a.body, err)
	}
	return e
}

// listen serves the harness on a loopback listener until the test ends, for
// requests that app.Test cannot carry: those whose body the server stops
// reading early (app.Test then parses the rest as a second request).
func (h *harness) listen(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- h.srv.Serve(ln) }()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.srv.Shutdown(ctx)
		<-done
	})
	return "http://" + ln.Addr().String()
}

// send makes a real HTTP request to a listening harness.
func send(tb testing.TB, req *http.Request) answer {
	tb.Helper()
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: read body: %v", req.Method, req.URL, err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: body}
}
