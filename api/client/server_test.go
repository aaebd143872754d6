package client_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
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

const (
	adminKey = "test-admin-key"
	sdkKey   = "test-sdk-key"
)

// exposures is an analytics.Logger that counts the exposures it is given
// per arm, so that tests can check what the server logged. The ClickHouse
// path behind the real Ingester is tested in analytics/clickhouse.
type exposures struct {
	mu    sync.Mutex
	byArm map[string]int
	ids   map[string]bool
}

func (e *exposures) Log(_ context.Context, evs ...analytics.Event) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.byArm == nil {
		e.byArm, e.ids = map[string]int{}, map[string]bool{}
	}
	for _, ev := range evs {
		if ev.Kind == analytics.KindExposure {
			e.byArm[ev.Segment+"/"+ev.Variant]++
			e.ids[ev.ID] = true
		}
	}
	return nil
}

// Append logs at once: there is nothing to commit.
func (e *exposures) Append(evs ...analytics.Event) (analytics.Ticket, error) {
	return 0, e.Log(context.Background(), evs...)
}

func (*exposures) Commit(context.Context, analytics.Ticket) error { return nil }

func (e *exposures) total() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, c := range e.byArm {
		n += c
	}
	return n
}

// testServer is a real api.Server on a loopback listener, over an in-memory
// store.
type testServer struct {
	URL    string
	Store  experiment.Store
	Events *exposures
}

// startServer serves the API on 127.0.0.1 until the test ends. store may be
// nil (a fresh experimenttest.Store).
func startServer(tb testing.TB, store experiment.Store) *testServer {
	tb.Helper()
	ts, stop, err := serve(store)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(stop)
	return ts
}

// serve starts the server; examples, which have no testing.TB, use it too.
func serve(store experiment.Store) (*testServer, func(), error) {
	if store == nil {
		store = experimenttest.NewStore()
	}
	ref := assign.NewRefresher(store, nil)
	tokens, err := tracking.NewKeyring(1, map[uint8][]byte{1: bytes.Repeat([]byte("k"), 32)})
	if err != nil {
		return nil, nil, err
	}
	if err := ref.Refresh(context.Background()); err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	ts := &testServer{URL: "http://" + ln.Addr().String(), Store: store, Events: &exposures{}}
	srv := api.New(api.Config{
		Store: store, Snapshots: ref, Refresh: ref.Refresh, Events: ts.Events, Tokens: tokens,
		BaseURL: ts.URL,
		Keys: api.KeyList{
			api.NewKey("admin", adminKey, apikey.ScopeAdmin, apikey.ScopeRead),
			api.NewKey("sdk", sdkKey, apikey.ScopeSDK),
		},
	})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-served
	}
	return ts, stop, nil
}

// admin calls the admin API and returns the body of a 2xx answer.
func (ts *testServer) admin(method, path, body string) ([]byte, error) {
	req, err := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+adminKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, data)
	}
	return data, nil
}

// mustAdmin is admin for tests.
func (ts *testServer) mustAdmin(tb testing.TB, method, path, body string) []byte {
	tb.Helper()
	data, err := ts.admin(method, path, body)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}
