package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/splitcast/splitcast/api/client"
	"github.com/splitcast/splitcast/assign"
	"github.com/splitcast/splitcast/assign/assigntest"
	"github.com/splitcast/splitcast/experiment"
	"github.com/splitcast/splitcast/experiment/experimenttest"
)

// segmented has a segment per kind of rule, no catch-all (so some units
// match nothing), a layer, partial allocation and a holdout; the test then
// retires variants so that reroutes and a concluded segment occur too.
const segmented = `{
  "key": "segmented", "channel": "email", "allocation": 85, "holdout": 5,
  "layer": {"name": "newsletters", "slot_start": 500, "slot_end": 9700},
  "segments": [
    {"key": "vip", "rule": {"all": [
        {"attr": "plan", "op": "in", "values": ["pro", "enterprise"]},
        {"attr": "ltv", "op": "gte", "value": 500}]},
     "variants": [
        {"key": "control", "weight": 2, "control": true, "payload": {"subject": "Thanks"}},
        {"key": "gift", "weight": 1, "payload": {"subject": "A gift"}},
        {"key": "upsell", "weight": 1, "payload": {"subject": "More seats?"}}]},
    {"key": "eu-trial", "rule": {"all": [
        {"attr": "plan", "op": "equals", "value": "pro_trial"},
        {"attr": "country", "op": "in", "values": ["FR", "DE", "ES"]}]},
     "variants": [
        {"key": "control", "weight": 1, "control": true, "payload": {"subject": "Bienvenue"}},
        {"key": "urgent", "weight": 1, "payload": {"subject": "3 days left"}}]},
    {"key": "dormant", "rule": {"any": [
        {"attr": "days_since_open", "op": "gt", "value": 30},
        {"not": {"attr": "email_verified", "op": "exists"}}]},
     "variants": [
        {"key": "control", "weight": 1, "control": true, "payload": {"subject": "We miss you"}},
        {"key": "discount", "weight": 1, "payload": {"subject": "20% off"}},
        {"key": "news", "weight": 1, "payload": {"subject": "What's new"}}]},
    {"key": "recent", "rule": {"attr": "signup", "op": "after", "value": "2024-06-01"},
     "variants": [
        {"key": "control", "weight": 1, "control": true, "payload": {"subject": "Tips"}},
        {"key": "video", "weight": 3, "payload": {"subject": "Watch this"}}]},
    {"key": "young-mobile", "rule": {"all": [
        {"attr": "age", "op": "lt", "value": 25},
        {"attr": "device", "op": "not_equals", "value": "desktop"},
        {"attr": "channel_pref", "op": "not_in", "values": ["sms"]}]},
     "variants": [
        {"key": "control", "weight": 1, "control": true, "payload": {"subject": "Hey"}},
        {"key": "emoji", "weight": 1, "payload": {"subject": "Hey 👋"}}]}
  ],
  "primary_metric": "click_rate"
}`

// randomAttrs draws attributes that reach every segment, with values in
// the Go types a caller uses (ints, floats, numeric strings, dates as
// strings) and some that match nothing (a date that is not one).
func randomAttrs(r *rand.Rand) assign.Attributes {
	a := assign.Attributes{}
	pick := func(vs ...any) any { return vs[r.IntN(len(vs))] }
	if r.IntN(10) > 0 {
		a["plan"] = pick("free", "pro", "enterprise", "pro_trial", "pro_trial", "PRO")
	}
	switch r.IntN(4) {
	case 0:
		a["ltv"] = r.IntN(1000)
	case 1:
		a["ltv"] = float64(r.IntN(100000)) / 100
	case 2:
		a["ltv"] = fmt.Sprint(r.IntN(1000))
	}
	if r.IntN(5) > 0 {
		a["country"] = pick("FR", "DE", "ES", "US", "GB", "fr")
	}
	if r.IntN(3) > 0 {
		a["days_since_open"] = r.IntN(60)
	}
	if r.IntN(4) > 0 {
		a["email_verified"] = pick(true, false, "yes", 0)
	}
	switch r.IntN(4) {
	case 0:
		a["signup"] = fmt.Sprintf("2024-%02d-%02d", 1+r.IntN(12), 1+r.IntN(28))
	case 1:
		a["signup"] = fmt.Sprintf("2024-%02d-%02dT%02d:00:00+02:00", 1+r.IntN(12), 1+r.IntN(28), r.IntN(24))
	case 2:
		a["signup"] = pick("2024-02-30", "yesterday", 20240601)
	}
	if r.IntN(3) > 0 {
		a["age"] = pick(r.IntN(60), float64(r.IntN(600))/10, "19")
	}
	if r.IntN(2) > 0 {
		a["device"] = pick("desktop", "ios", "android")
	}
	if r.IntN(3) == 0 {
		a["channel_pref"] = pick("sms", "email", "push")
	}
	return a
}

// TestLocalEqualsServer is the acceptance test of local evaluation: for
// 100,000 random units the SDK's Local answers exactly what the server
// answers through bulk assignment, variant, reason, buckets and payload.
func TestLocalEqualsServer(t *testing.T) {
	ts := startServer(t, nil)
	ts.mustAdmin(t, "POST", "/v1/experiments", segmented)
	ts.mustAdmin(t, "POST", "/v1/experiments/segmented/start", "")
	// Reroutes in vip; eu-trial concluded with its control as the winner.
	ts.mustAdmin(t, "POST", "/v1/experiments/segmented/segments/vip/variants/gift/retire", `{"reason":"test"}`)
	ts.mustAdmin(t, "POST", "/v1/experiments/segmented/segments/eu-trial/variants/urgent/retire", "")

	c, err := client.New(client.Config{BaseURL: ts.URL, Key: sdkKey})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	local, err := c.NewLocal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	if v, ok := local.Snapshot().Version("segmented"); !ok || v != 4 {
		t.Fatalf("local snapshot has segmented at version %d (%v), want 4", v, ok)
	}

	const n = 100_000
	r := rand.New(rand.NewPCG(3, 2024))
	units := make([]client.BulkUnit, n)
	for i := range units {
		units[i] = client.BulkUnit{UnitID: fmt.Sprintf("u-%d-%x", i, r.Uint32()), Attributes: randomAttrs(r)}
	}
	seen := map[string]int{}
	inExperiment, mismatches := 0, 0
	check := func(u client.BulkUnit, res client.BulkResult) error {
		if res.Err != nil {
			return fmt.Errorf("unit %s refused: %w", u.UnitID, res.Err)
		}
		want := res.Assignment.Assignment
		got, err := local.Assign("segmented", u.UnitID, u.Attributes)
		if err != nil {
			return fmt.Errorf("Local.Assign(%q) = %w", u.UnitID, err)
		}
		if !reflect.DeepEqual(got, want) && !(sameButPayload(got, want) && jsonEqual(got.Payload, want.Payload)) {
			if mismatches++; mismatches <= 5 {
				t.Errorf("unit %s %v:\nlocal  %+v\nserver %+v", u.UnitID, u.Attributes, got, want)
			}
		}
		seen["segment:"+want.Segment]++
		seen["reason:"+string(want.Reason)]++
		if want.InExperiment {
			inExperiment++
			if res.Assignment.SendID == "" || (!want.Holdout && res.Assignment.Token == "") {
				return fmt.Errorf("unit %s in the experiment without send id or token: %+v", u.UnitID, res.Assignment)
			}
		}
		return nil
	}
	// Several requests rather than one, each well within the server's
	// request read timeout even under the race detector on a loaded machine.
	const chunk = 20_000
	for start := 0; start < n; start += chunk {
		part := units[start:min(start+chunk, n)]
		err := c.AssignBulk(ctx, "segmented", slices.Values(part), func(res client.BulkResult) error {
			return check(part[res.N-1], res)
		})
		if err != nil {
			t.Fatalf("AssignBulk(units %d..) = %v", start, err)
		}
	}
	if mismatches > 0 {
		t.Errorf("%d of %d units differ between Local and the server", mismatches, n)
	}
	total := 0
	for k, v := range seen {
		if len(k) > 7 && k[:7] == "reason:" {
			total += v
		}
	}
	if total != n {
		t.Errorf("the server answered %d units, want %d", total, n)
	}
	for _, k := range []string{"segment:vip", "segment:eu-trial", "segment:dormant", "segment:recent", "segment:young-mobile", "segment:",
		"reason:no_segment", "reason:layer", "reason:allocation", "reason:holdout", "reason:concluded", "reason:variant", "reason:reroute"} {
		if seen[k] == 0 {
			t.Errorf("no unit got %s; counts %v", k, seen)
		}
	}
	if got := ts.Events.total(); got != inExperiment {
		t.Errorf("server logged %d exposures, want one per unit in the experiment: %d", got, inExperiment)
	}
	t.Logf("counts: %v", seen)
}

func sameButPayload(a, b assign.Assignment) bool {
	a.Payload, b.Payload = nil, nil
	return reflect.DeepEqual(a, b)
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	if bytes.Equal(a, b) {
		return true
	}
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// runningStore serves fixed definitions as the running experiments, so
// that the vectors' experiments, at whatever version they were written,
// reach the SDK through GET /v1/snapshot exactly as given.
type runningStore struct {
	*experimenttest.Store
	running []experiment.Experiment
}

func (s runningStore) ListRunning(context.Context) ([]experiment.Experiment, error) {
	return s.running, nil
}

// TestLocalVectors runs the language-neutral vectors through the SDK: the
// definitions travel as JSON through the server's snapshot endpoint, and
// Local must still reproduce every case.
func TestLocalVectors(t *testing.T) {
	v := assigntest.Load(t, "../../testdata/assignment/vectors.json")
	ts := startServer(t, runningStore{experimenttest.NewStore(), v.Experiments})
	c, err := client.New(client.Config{BaseURL: ts.URL, Key: sdkKey})
	if err != nil {
		t.Fatal(err)
	}
	local, err := c.NewLocal(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	if got := local.Snapshot().Len(); got != len(v.Experiments) {
		t.Fatalf("Local holds %d experiments, want the %d of the vectors", got, len(v.Experiments))
	}
	assigntest.Run(t, v, func(key, unit string, attrs assign.Attributes) (assign.Assignment, error) {
		return local.Assign(key, unit, attrs)
	})
}

// TestLocalReweightVectors runs the weight-change vectors (a bandit
// segment's versions, docs/assignment.md section 6) through the SDK, as
// TestLocalVectors runs the main ones: the
// definitions travel as JSON through the server's snapshot endpoint, and
// Local must still reproduce every case.
func TestLocalReweightVectors(t *testing.T) {
	v := assigntest.Load(t, "../../testdata/assignment/reweight.json")
	ts := startServer(t, runningStore{experimenttest.NewStore(), v.Experiments})
	c, err := client.New(client.Config{BaseURL: ts.URL, Key: sdkKey})
	if err != nil {
		t.Fatal(err)
	}
	local, err := c.NewLocal(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	if got := local.Snapshot().Len(); got != len(v.Experiments) {
		t.Fatalf("Local holds %d experiments, want the %d of the vectors", got, len(v.Experiments))
	}
	assigntest.Run(t, v, func(key, unit string, attrs assign.Attributes) (assign.Assignment, error) {
		return local.Assign(key, unit, attrs)
	})
}
