package client_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/splitcast/splitcast/api"
	"github.com/splitcast/splitcast/api/client"
	"github.com/splitcast/splitcast/assign"
	"github.com/splitcast/splitcast/experiment"
)

// startExample serves the example experiment, running, and returns a
// client with the sdk key.
func startExample(t *testing.T) (*testServer, *client.Client) {
	t.Helper()
	ts := startServer(t, nil)
	def, err := os.ReadFile("../../docs/examples/experiment.json")
	if err != nil {
		t.Fatal(err)
	}
	ts.mustAdmin(t, "POST", "/v1/experiments", string(def))
	ts.mustAdmin(t, "POST", "/v1/experiments/welcome-email/start", "")
	return ts, mustClient(t, ts.URL, sdkKey)
}

func mustClient(t *testing.T, url, key string) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{BaseURL: url, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wantError checks that err is an *experiment.Error with code and field.
func wantError(t *testing.T, what string, err error, code, field string) {
	t.Helper()
	var e *experiment.Error
	if !errors.As(err, &e) {
		t.Fatalf("%s = %v (%T), want an *experiment.Error %s", what, err, err, code)
	}
	if e.Code != code || e.Field != field {
		t.Errorf("%s = %q field %q (%s), want %q field %q", what, e.Code, e.Field, e.Message, code, field)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg   client.Config
		field string
	}{
		{client.Config{Key: "k"}, "BaseURL"},
		{client.Config{BaseURL: "localhost:8080", Key: "k"}, "BaseURL"},
		{client.Config{BaseURL: "ftp://x", Key: "k"}, "BaseURL"},
		{client.Config{BaseURL: "http://x"}, "Key"},
		{client.Config{BaseURL: "http://x", Key: "k", RefreshInterval: -time.Second}, "RefreshInterval"},
	} {
		_, err := client.New(tc.cfg)
		wantError(t, fmt.Sprintf("New(%+v)", tc.cfg), err, experiment.EINVALID, tc.field)
	}
	if _, err := client.New(client.Config{BaseURL: "https://splitcast.example.com/", Key: "k"}); err != nil {
		t.Errorf("New(valid) = %v", err)
	}
}

func TestAssign(t *testing.T) {
	ts, c := startExample(t)
	ctx := context.Background()
	req := client.AssignRequest{Experiment: "welcome-email", UnitID: "user-7", SendID: "send-1", Channel: "push",
		Attributes: assign.Attributes{"plan": "pro_trial", "country": "DE"}}
	a, err := c.Assign(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if a.Experiment != "welcome-email" || a.Version != 2 || a.Segment != "pro-trial" || !a.InExperiment {
		t.Errorf("Assign = %+v, want welcome-email v2 in segment pro-trial", a)
	}
	if a.Variant == "" || len(a.Payload) == 0 || a.SendID != "send-1" || a.Token == "" ||
		a.PixelURL != ts.URL+"/o/"+a.Token+".gif" {
		t.Errorf("Assign = %+v, want a variant, its payload, send id send-1, a token and its pixel URL", a)
	}
	// The same send again is the same exposure.
	if _, err := c.Assign(ctx, req); err != nil {
		t.Fatal(err)
	}
	if n, ids := ts.Events.total(), len(ts.Events.ids); n != 2 || ids != 1 {
		t.Errorf("two assignments of one send logged %d exposures with %d ids, want 2 with 1", n, ids)
	}
}

func TestErrors(t *testing.T) {
	ts, c := startExample(t)
	ctx := context.Background()
	_, err := c.Assign(ctx, client.AssignRequest{Experiment: "nope", UnitID: "u"})
	wantError(t, "Assign(unknown experiment)", err, experiment.ENOTFOUND, "experiment")
	_, err = c.Assign(ctx, client.AssignRequest{Experiment: "welcome-email", UnitID: "u", Channel: "fax"})
	wantError(t, "Assign(channel fax)", err, experiment.EINVALID, "channel")
	_, err = c.Assign(ctx, client.AssignRequest{Experiment: "welcome-email"})
	wantError(t, "Assign(no unit)", err, experiment.EINVALID, "unit_id")
	_, err = mustClient(t, ts.URL, "wrong-key-123").Assign(ctx, client.AssignRequest{Experiment: "welcome-email", UnitID: "u"})
	wantError(t, "Assign(wrong key)", err, experiment.EUNAUTHORIZED, "Authorization")
	_, err = mustClient(t, ts.URL, adminKey).NewLocal(ctx)
	wantError(t, "NewLocal(admin key)", err, experiment.EFORBIDDEN, "Authorization")
	err = c.AssignBulk(ctx, "nope", oneUnit("u"), func(client.BulkResult) error { return nil })
	wantError(t, "AssignBulk(unknown experiment)", err, experiment.ENOTFOUND, "experiment")

	// A proxy in front of the server answers without a JSON body.
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream down", http.StatusBadGateway)
	}))
	defer proxy.Close()
	_, err = mustClient(t, proxy.URL, sdkKey).Assign(ctx, client.AssignRequest{Experiment: "x", UnitID: "u"})
	wantError(t, "Assign(through a failing proxy)", err, experiment.EUNAVAILABLE, "")

	// Nothing listens: a transport error, not an *experiment.Error.
	_, err = mustClient(t, "http://127.0.0.1:1", sdkKey).Assign(ctx, client.AssignRequest{Experiment: "x", UnitID: "u"})
	var e *experiment.Error
	if err == nil || errors.As(err, &e) {
		t.Errorf("Assign(no server) = %v, want a transport error", err)
	}
}

func oneUnit(id string) iter.Seq[client.BulkUnit] {
	return func(yield func(client.BulkUnit) bool) { yield(client.BulkUnit{UnitID: id}) }
}

func countUnits(n int) iter.Seq[client.BulkUnit] {
	return func(yield func(client.BulkUnit) bool) {
		for i := range n {
			if !yield(client.BulkUnit{UnitID: fmt.Sprintf("unit-%d", i)}) {
				return
			}
		}
	}
}

// TestAssignBulkStreams checks that answers come back while the send list
// is still being sent: the iterator stops as soon as the first answer has
// arrived, long before the end of a list that would not fit in any buffer.
func TestAssignBulkStreams(t *testing.T) {
	_, c := startExample(t)
	const limit = 5_000_000
	var answered atomic.Bool
	yielded := 0
	answers := 0
	units := func(yield func(client.BulkUnit) bool) {
		for ; yielded < limit && !answered.Load(); yielded++ {
			if !yield(client.BulkUnit{UnitID: fmt.Sprintf("unit-%d", yielded)}) {
				return
			}
		}
	}
	err := c.AssignBulk(context.Background(), "welcome-email", units, func(r client.BulkResult) error {
		if r.Err != nil || r.N != answers+1 {
			return fmt.Errorf("answer %d: N=%d err=%v", answers+1, r.N, r.Err)
		}
		answers++
		answered.Store(true)
		return nil
	})
	if err != nil {
		t.Fatalf("AssignBulk = %v", err)
	}
	if yielded >= limit {
		t.Fatalf("the first answer came only after all %d units were sent: not streamed", limit)
	}
	if answers != yielded {
		t.Errorf("%d answers for %d units", answers, yielded)
	}
	t.Logf("first answer after %d units", yielded)
}

func TestAssignBulkStops(t *testing.T) {
	_, c := startExample(t)
	ctx := context.Background()

	t.Run("out fails", func(t *testing.T) {
		stop := errors.New("enough")
		n := 0
		err := c.AssignBulk(ctx, "welcome-email", countUnits(100_000), func(client.BulkResult) error {
			if n++; n == 10 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || n != 10 {
			t.Errorf("AssignBulk = %v after %d answers, want %v after 10", err, n, stop)
		}
	})
	t.Run("line too long", func(t *testing.T) {
		units := func(yield func(client.BulkUnit) bool) {
			_ = yield(client.BulkUnit{UnitID: "a"}) && yield(client.BulkUnit{UnitID: "b"}) &&
				yield(client.BulkUnit{UnitID: "c", Attributes: assign.Attributes{"big": strings.Repeat("x", client.MaxBulkLine)}}) &&
				yield(client.BulkUnit{UnitID: "d"})
		}
		var got []string
		err := c.AssignBulk(ctx, "welcome-email", units, func(r client.BulkResult) error {
			got = append(got, fmt.Sprint(r.N))
			return nil
		})
		wantError(t, "AssignBulk(an oversize unit)", err, experiment.EINVALID, "attributes")
		if strings.Join(got, ",") != "1,2" {
			t.Errorf("answers before the oversize unit: %v, want 1,2", got)
		}
	})
	t.Run("context canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctx)
		n := 0
		err := c.AssignBulk(ctx, "welcome-email", countUnits(1_000_000), func(client.BulkResult) error {
			if n++; n == 5 {
				cancel()
			}
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("AssignBulk after cancel = %v, want context.Canceled", err)
		}
	})
	t.Run("empty list", func(t *testing.T) {
		err := c.AssignBulk(ctx, "welcome-email", countUnits(0), func(r client.BulkResult) error {
			return fmt.Errorf("an answer for no unit: %+v", r)
		})
		if err != nil {
			t.Errorf("AssignBulk(no units) = %v", err)
		}
	})
}

func TestMaxBulkLineMatchesServer(t *testing.T) {
	if client.MaxBulkLine != api.MaxBulkLine {
		t.Errorf("client.MaxBulkLine = %d, api.MaxBulkLine = %d", client.MaxBulkLine, api.MaxBulkLine)
	}
}

func TestLocalRefresh(t *testing.T) {
	ts, _ := startExample(t)
	c, err := client.New(client.Config{BaseURL: ts.URL, Key: sdkKey, RefreshInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	local, err := c.NewLocal(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	if _, err := local.Assign("welcome-email", "", nil); experiment.ErrorCode(err) != experiment.EINVALID {
		t.Errorf("Local.Assign(empty unit) = %v, want invalid", err)
	}

	// Pausing stops assignment; the background refresh sees it.
	ts.mustAdmin(t, "POST", "/v1/experiments/welcome-email/pause", "")
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := local.Assign("welcome-email", "u", nil)
		if experiment.ErrorCode(err) == experiment.ENOTFOUND {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Local still assigns a paused experiment: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := local.Close(); err != nil {
		t.Fatal(err)
	}
	if err := local.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	// After Close the snapshot stays, but nothing refreshes it any more.
	ts.mustAdmin(t, "POST", "/v1/experiments/welcome-email/resume", "")
	if err := local.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := local.Assign("welcome-email", "u", nil); err != nil {
		t.Errorf("Local.Assign after an explicit Refresh = %v", err)
	}
}

func TestNewLocalFailsWithoutServer(t *testing.T) {
	if _, err := mustClient(t, "http://127.0.0.1:1", sdkKey).NewLocal(context.Background()); err == nil {
		t.Error("NewLocal(no server) = nil error, want the failed fetch")
	}
}
