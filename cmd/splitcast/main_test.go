package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics/clickhouse/chtest"
)

// env is the ClickHouse shared by this package's end-to-end tests; each test
// gets its own database in it.
var env *chtest.Env

func TestMain(m *testing.M) { os.Exit(chtest.Main(m, &env)) }

// testGetenv is the environment of a program run against database db of
// the test ClickHouse.
func testGetenv(db string) func(string) string {
	return func(name string) string {
		return map[string]string{
			"SPLITCAST_CLICKHOUSE_ADDR":     env.Addr,
			"SPLITCAST_CLICKHOUSE_USER":     env.User,
			"SPLITCAST_CLICKHOUSE_PASSWORD": env.Password,
			"SPLITCAST_CLICKHOUSE_DATABASE": db,
		}[name]
	}
}

// MustMain boots the whole program in this process, as `splitcast serve`
// would, on a loopback port picked by the kernel, against database db of
// the test ClickHouse. It returns the Main and its Close, which the test
// may call (Main.Close must be called once) and which runs when the test
// ends otherwise.
func MustMain(tb testing.TB, db string, args ...string) (*Main, func() error) {
	tb.Helper()
	getenv := testGetenv(db)
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	args = append([]string{"-addr", "127.0.0.1:0", "-data-dir", tb.TempDir(), "-log-level", "warn"}, args...)
	cfg, err := ParseConfig(fs, args, getenv)
	if err != nil {
		tb.Fatalf("ParseConfig(%q) = %v", args, err)
	}
	m := NewMain(cfg, io.Discard, testLog{tb})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := m.Run(ctx); err != nil {
		m.Close()
		tb.Fatalf("Main.Run = %v", err)
	}
	closeOnce := sync.OnceValue(m.Close)
	tb.Cleanup(func() { closeOnce() })
	return m, closeOnce
}

// testLog sends the program's log lines to the test log, where they show
// only for a failing test.
type testLog struct{ tb testing.TB }

func (l testLog) Write(p []byte) (int, error) {
	l.tb.Logf("%s", bytes.TrimRight(p, "\n"))
	return len(p), nil
}

// apiClient calls a Splitcast server over HTTP with an API key.
type apiClient struct {
	base string
	http *http.Client
}

// call sends body (JSON-encoded unless it is []byte) and returns the status
// and the answer's bytes.
func (c apiClient) call(tb testing.TB, method, path, key string, body any) (int, []byte) {
	tb.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			tb.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: read: %v", method, path, err)
	}
	return resp.StatusCode, data
}

// mustCall is call that fails the test unless the status is want.
func (c apiClient) mustCall(tb testing.TB, want int, method, path, key string, body any, out any) {
	tb.Helper()
	status, data := c.call(tb, method, path, key, body)
	if status != want {
		tb.Fatalf("%s %s = %d %s, want %d", method, path, status, data, want)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			tb.Fatalf("%s %s: decode %s: %v", method, path, data, err)
		}
	}
}

// exampleExperiment returns docs/examples/experiment.json: the experiment
// the README creates, two segments of three variants and a 5% holdout.
func exampleExperiment(tb testing.TB) []byte {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "examples", "experiment.json"))
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// assignment is the part of a /v1/assign answer the tests use.
type assignment struct {
	Experiment   string `json:"experiment"`
	Version      uint32 `json:"version"`
	Segment      string `json:"segment"`
	Variant      string `json:"variant"`
	InExperiment bool   `json:"in_experiment"`
	Holdout      bool   `json:"holdout"`
	SendID       string `json:"send_id"`
	Token        string `json:"token"`
	PixelURL     string `json:"pixel_url"`
}

// startExample creates and starts the example experiment and returns its key.
func startExample(tb testing.TB, c apiClient) string {
	tb.Helper()
	var exp struct {
		Key string `json:"key"`
	}
	c.mustCall(tb, http.StatusCreated, "POST", "/v1/experiments", devAdminKey, exampleExperiment(tb), &exp)
	c.mustCall(tb, http.StatusOK, "POST", "/v1/experiments/"+exp.Key+"/start", devAdminKey, []byte(`{"reason":"e2e test"}`), nil)
	return exp.Key
}
