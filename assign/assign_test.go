package assign_test

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/splitcast/splitcast/assign"
	"github.com/splitcast/splitcast/experiment"
)

var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

// mustExperiment decodes a definition and runs it (version 2).
func mustExperiment(tb testing.TB, def string) experiment.Experiment {
	tb.Helper()
	var e experiment.Experiment
	if err := json.Unmarshal([]byte(def), &e); err != nil {
		tb.Fatalf("decode: %v", err)
	}
	v, err := experiment.Create(e, "test", "", t0)
	if err != nil {
		tb.Fatalf("Create: %v", err)
	}
	v, err = experiment.Start(v.Definition, "test", "", t0)
	if err != nil {
		tb.Fatalf("Start: %v", err)
	}
	return v.Definition
}

func mustSnapshot(tb testing.TB, exps ...experiment.Experiment) *assign.Snapshot {
	tb.Helper()
	s, err := assign.NewSnapshot(exps)
	if err != nil {
		tb.Fatalf("NewSnapshot: %v", err)
	}
	return s
}

func mustAssign(tb testing.TB, s *assign.Snapshot, key, unit string, attrs assign.Lookup) assign.Assignment {
	tb.Helper()
	a, err := s.Assign(key, unit, attrs)
	if err != nil {
		tb.Fatalf("Assign(%q, %q) = %v", key, unit, err)
	}
	return a
}

// bench3x4 is the benchmark's shape: three segments with two-condition
// rules (the last a catch-all), four variants each.
const bench3x4 = `{
  "key": "bench", "channel": "email", "primary_metric": "click_rate", "holdout": 5,
  "segments": [
    {"key": "pro-eu", "rule": {"all": [{"attr": "plan", "op": "equals", "value": "pro"},
                                       {"attr": "country", "op": "in", "values": ["FR", "DE", "ES", "IT"]}]},
     "variants": [{"key": "a", "weight": 1, "control": true, "payload": {"subject": "A"}},
                  {"key": "b", "weight": 1, "payload": {"subject": "B"}},
                  {"key": "c", "weight": 1, "payload": {"subject": "C"}},
                  {"key": "d", "weight": 1, "payload": {"subject": "D"}}]},
    {"key": "engaged", "rule": {"any": [{"attr": "opens_30d", "op": "gte", "value": 3},
                                        {"attr": "last_open", "op": "after", "value": "2025-01-01"}]},
     "variants": [{"key": "a", "weight": 4, "control": true}, {"key": "b", "weight": 3},
                  {"key": "c", "weight": 2}, {"key": "d", "weight": 1}]},
    {"key": "rest",
     "variants": [{"key": "a", "weight": 1, "control": true}, {"key": "b", "weight": 1},
                  {"key": "c", "weight": 1}, {"key": "d", "weight": 1}]}
  ]
}`

// assignCases are BenchmarkAssign's units, the segment bench3x4 puts each
// in, and the attributes that choose it.
var assignCases = []struct {
	name, unit, segment string
	attrs               assign.Attributes
}{
	{"short/first-segment", "u-12345", "pro-eu", assign.Attributes{"plan": "pro", "country": "DE"}},
	{"short/last-segment", "u-12345", "rest", assign.Attributes{"plan": "free", "country": "US", "opens_30d": 1.0, "last_open": "2024-11-02T10:00:00Z"}},
	{"long/last-segment", "2f1c9a4e-8b7d-4e21-9f3a-6c5d4b3a2918:customer.name+tag@example.com", "rest", assign.Attributes{"plan": "free", "country": "US", "opens_30d": 1.0, "last_open": "2024-11-02T10:00:00Z"}},
}

func BenchmarkAssign(b *testing.B) {
	s := mustSnapshot(b, mustExperiment(b, bench3x4))
	for _, bc := range assignCases {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := s.Assign("bench", bc.unit, bc.attrs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestAssignAllocatesNothing(t *testing.T) {
	s := mustSnapshot(t, mustExperiment(t, bench3x4))
	attrs := assign.Attributes{"plan": "free", "country": "US", "opens_30d": "2", "last_open": "2025-02-01T10:00:00+01:00"}
	n := testing.AllocsPerRun(1000, func() {
		if _, err := s.Assign("bench", "u-98765", attrs); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Errorf("Assign allocates %v times per call, want 0", n)
	}
}

// counts assigns units 0..n-1 and counts them per segment and arm.
func counts(tb testing.TB, s *assign.Snapshot, key string, n int, attrs func(i int) assign.Attributes) map[string]map[string]int {
	tb.Helper()
	out := map[string]map[string]int{}
	for i := 0; i < n; i++ {
		a := mustAssign(tb, s, key, "unit-"+strconv.Itoa(i), attrs(i))
		if out[a.Segment] == nil {
			out[a.Segment] = map[string]int{}
		}
		arm := a.Arm()
		if !a.InExperiment {
			arm = "out:" + string(a.Reason)
		}
		out[a.Segment][arm]++
	}
	return out
}

func TestUniformity(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	e := mustExperiment(t, bench3x4)
	e.Holdout = 0
	s := mustSnapshot(t, e)
	pro := assign.Attributes{"plan": "pro", "country": "FR"}
	engaged := assign.Attributes{"opens_30d": 7.0}
	none := assign.Attributes{}
	got := counts(t, s, "bench", n, func(i int) assign.Attributes {
		switch i % 3 {
		case 0:
			return pro
		case 1:
			return engaged
		}
		return none
	})
	for _, seg := range e.Segments {
		var obs, weights []float64
		for _, v := range seg.Variants {
			obs = append(obs, float64(got[seg.Key][v.Key]))
			weights = append(weights, float64(v.Weight))
		}
		stat, p := chiSquare(obs, weights)
		t.Logf("segment %s: counts %v, chi2 %.2f, p %.3f", seg.Key, obs, stat, p)
		if p <= 0.001 {
			t.Errorf("segment %s: counts %v against weights %v: chi-square p = %g, want > 0.001", seg.Key, obs, weights, p)
		}
	}
}

func TestRaisingAllocationMovesNobody(t *testing.T) {
	e := mustExperiment(t, bench3x4)
	v, err := experiment.SetAllocation(e, 1000, "test", "", t0)
	if err != nil {
		t.Fatal(err)
	}
	low := mustSnapshot(t, v.Definition)
	v, err = experiment.SetAllocation(v.Definition, 5000, "test", "ramp", t0)
	if err != nil {
		t.Fatal(err)
	}
	high := mustSnapshot(t, v.Definition)
	attrs := assign.Attributes{"plan": "pro", "country": "IT"}
	in, added := 0, 0
	for i := 0; i < 100_000; i++ {
		u := "unit-" + strconv.Itoa(i)
		a, b := mustAssign(t, low, "bench", u, attrs), mustAssign(t, high, "bench", u, attrs)
		if b.InExperiment && !a.InExperiment {
			added++
		}
		if !a.InExperiment {
			continue
		}
		in++
		if !b.InExperiment || b.Arm() != a.Arm() {
			t.Fatalf("unit %s: %q at 10%%, %q (in %v) at 50%%", u, a.Arm(), b.Arm(), b.InExperiment)
		}
	}
	if math.Abs(float64(in)/1e5-0.10) > 0.005 || math.Abs(float64(in+added)/1e5-0.50) > 0.01 {
		t.Errorf("in at 10%%: %d, at 50%%: %d of 100000", in, in+added)
	}
}

const threeWay = `{
  "key": "retire", "channel": "push", "primary_metric": "open_rate",
  "segments": [{"key": "all", "variants": [
    {"key": "a", "weight": 2, "control": true}, {"key": "b", "weight": 1}, {"key": "c", "weight": 1}, {"key": "d", "weight": 2}]}]
}`

func TestRetiringMovesOnlyItsUnits(t *testing.T) {
	e := mustExperiment(t, threeWay)
	before := mustSnapshot(t, e)
	v, err := experiment.Retire(e, "all", "b", "loop", "worse", t0)
	if err != nil {
		t.Fatal(err)
	}
	once := mustSnapshot(t, v.Definition)
	v, err = experiment.Retire(v.Definition, "all", "c", "loop", "worse", t0)
	if err != nil {
		t.Fatal(err)
	}
	twice := mustSnapshot(t, v.Definition)

	const n = 200_000
	moved := map[string]map[string]int{"b": {}, "c": {}}
	for i := 0; i < n; i++ {
		u := "unit-" + strconv.Itoa(i)
		a0, a1, a2 := mustAssign(t, before, "retire", u, nil), mustAssign(t, once, "retire", u, nil), mustAssign(t, twice, "retire", u, nil)
		if a0.Variant != "b" && a1.Variant != a0.Variant {
			t.Fatalf("unit %s moved from %s to %s when b was retired", u, a0.Variant, a1.Variant)
		}
		if a1.Variant != "c" && a2.Variant != a1.Variant {
			t.Fatalf("unit %s moved from %s to %s when c was retired", u, a1.Variant, a2.Variant)
		}
		if a0.Variant == "b" {
			moved["b"][a1.Variant]++
			if a1.Reason != assign.ReasonReroute || a1.Buckets.Reroutes < 1 {
				t.Fatalf("unit %s rerouted with reason %s, %d reroutes", u, a1.Reason, a1.Buckets.Reroutes)
			}
		}
		if a1.Variant == "c" {
			moved["c"][a2.Variant]++
		}
	}
	// b's units split over a, c, d as 2:1:2; then c's units over a, d as 2:2.
	for _, tc := range []struct {
		from    string
		to      []string
		weights []float64
	}{
		{"b", []string{"a", "c", "d"}, []float64{2, 1, 2}},
		{"c", []string{"a", "d"}, []float64{2, 2}},
	} {
		var obs []float64
		total := 0
		for _, k := range tc.to {
			obs = append(obs, float64(moved[tc.from][k]))
			total += moved[tc.from][k]
		}
		if total != len(moved[tc.from]) && len(moved[tc.from]) > len(tc.to) {
			t.Errorf("%s's units went to %v", tc.from, moved[tc.from])
		}
		if _, p := chiSquare(obs, tc.weights); p <= 0.001 {
			t.Errorf("%s's units split %v, want proportional to %v (p = %g)", tc.from, obs, tc.weights, p)
		}
		t.Logf("retiring %s moved %v", tc.from, moved[tc.from])
	}
}

func TestConcludedSegment(t *testing.T) {
	e := mustExperiment(t, threeWay)
	v, err := experiment.Conclude(e, "all", "d", "ana", "d wins", t0)
	if err != nil {
		t.Fatal(err)
	}
	s := mustSnapshot(t, v.Definition)
	for i := 0; i < 1000; i++ {
		a := mustAssign(t, s, "retire", strconv.Itoa(i), nil)
		if a.Variant != "d" || a.Reason != assign.ReasonConcluded {
			t.Fatalf("Assign(%d) = %s (%s), want d (concluded)", i, a.Variant, a.Reason)
		}
	}
}

func TestHoldout(t *testing.T) {
	e := mustExperiment(t, threeWay)
	e.Holdout = 1000
	s := mustSnapshot(t, e)
	got := counts(t, s, "retire", 100_000, func(int) assign.Attributes { return nil })["all"]
	if h := float64(got["holdout"]) / 1e5; math.Abs(h-0.10) > 0.006 {
		t.Errorf("holdout share %.4f, want 0.10", h)
	}
	a := mustAssign(t, s, "retire", "someone", nil)
	for i := 0; !a.Holdout; i++ {
		a = mustAssign(t, s, "retire", "someone-"+strconv.Itoa(i), nil)
	}
	if !a.InExperiment || a.Variant != "" || a.Payload != nil || a.Arm() != "holdout" || a.Buckets.Variant != -1 {
		t.Errorf("held-out assignment = %+v", a)
	}
}

func TestLayerExclusive(t *testing.T) {
	def := func(key string, lo, hi int) experiment.Experiment {
		return mustExperiment(t, fmt.Sprintf(`{"key": %q, "channel": "email", "primary_metric": "open_rate",
			"layer": {"name": "homepage", "slot_start": %d, "slot_end": %d},
			"segments": [{"key": "all", "variants": [{"key": "a", "weight": 1, "control": true}, {"key": "b", "weight": 1}]}]}`, key, lo, hi))
	}
	s := mustSnapshot(t, def("left", 0, 3000), def("right", 3000, 10000), def("other-salt", 2000, 4000))
	var left, right, both int
	for i := 0; i < 100_000; i++ {
		u := "unit-" + strconv.Itoa(i)
		l, r, o := mustAssign(t, s, "left", u, nil), mustAssign(t, s, "right", u, nil), mustAssign(t, s, "other-salt", u, nil)
		if l.Buckets.Layer != r.Buckets.Layer || l.Buckets.Layer != o.Buckets.Layer {
			t.Fatalf("unit %s has slots %d, %d, %d in one layer", u, l.Buckets.Layer, r.Buckets.Layer, o.Buckets.Layer)
		}
		if l.InExperiment && r.InExperiment {
			both++
		}
		if l.InExperiment {
			left++
		} else if l.Reason != assign.ReasonLayer {
			t.Fatalf("unit %s out of left for %s", u, l.Reason)
		}
		if r.InExperiment {
			right++
		}
	}
	if both != 0 || left+right != 100_000 || math.Abs(float64(left)/1e5-0.3) > 0.006 {
		t.Errorf("left %d, right %d, both %d of 100000; want 30%%, 70%%, none", left, right, both)
	}
}

func TestChannelDoesNotMatter(t *testing.T) {
	email := mustExperiment(t, bench3x4)
	push := email.Clone()
	push.Channel = experiment.ChannelPush
	se, sp := mustSnapshot(t, email), mustSnapshot(t, push)
	for i := 0; i < 2000; i++ {
		u := strconv.Itoa(i)
		if a, b := mustAssign(t, se, "bench", u, nil), mustAssign(t, sp, "bench", u, nil); a.Arm() != b.Arm() {
			t.Fatalf("unit %s: %q on email, %q on push", u, a.Arm(), b.Arm())
		}
	}
}

// TestConcurrentAndOrderFree checks that answers depend neither on request
// order nor on concurrency (run it with -race).
func TestConcurrentAndOrderFree(t *testing.T) {
	s := mustSnapshot(t, mustExperiment(t, bench3x4), mustExperiment(t, threeWay))
	attrs := []assign.Attributes{{"plan": "pro", "country": "ES"}, {"opens_30d": 4.0}, nil}
	const n = 3000
	want := make([]assign.Assignment, n)
	for i := range want {
		want[i] = mustAssign(t, s, "bench", "u"+strconv.Itoa(i), attrs[i%3])
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < n; k++ {
				i := (k*7919 + g*131) % n // a different order per goroutine
				if g%2 == 0 {
					_, _ = s.Assign("retire", "u"+strconv.Itoa(i), nil)
				}
				got, err := s.Assign("bench", "u"+strconv.Itoa(i), attrs[i%3])
				if err != nil || got.Arm() != want[i].Arm() || got.Buckets != want[i].Buckets {
					t.Errorf("goroutine %d: Assign(u%d) = %+v, %v; want %+v", g, i, got, err, want[i])
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestAssignErrors(t *testing.T) {
	s := mustSnapshot(t, mustExperiment(t, threeWay))
	if _, err := s.Assign("nope", "u", nil); experiment.ErrorCode(err) != experiment.ENOTFOUND {
		t.Errorf("Assign(unknown) = %v, want ENOTFOUND", err)
	}
	if _, err := s.Assign("retire", "", nil); experiment.ErrorField(err) != "unit_id" {
		t.Errorf("Assign(empty unit) = %v, want EINVALID unit_id", err)
	}
	var nilSnap *assign.Snapshot
	if _, err := nilSnap.Assign("retire", "u", nil); experiment.ErrorCode(err) != experiment.ENOTFOUND {
		t.Errorf("nil Snapshot Assign = %v, want ENOTFOUND", err)
	}
	paused, err := experiment.Pause(mustExperiment(t, bench3x4), "t", "", t0)
	if err != nil {
		t.Fatal(err)
	}
	bad := mustExperiment(t, threeWay)
	bad.Key = "bad"
	bad.Segments[0].Variants[0].Weight = 0
	s2, err := assign.NewSnapshot([]experiment.Experiment{paused.Definition, bad, mustExperiment(t, threeWay)})
	if err == nil || s2.Len() != 1 {
		t.Errorf("NewSnapshot(paused, invalid, ok) = %d experiments, %v; want 1 and an error", s2.Len(), err)
	}
}

func TestWithTraits(t *testing.T) {
	r, err := assign.CompileRule(&experiment.Rule{All: []experiment.Rule{
		{Attr: "trait.opens_30d", Op: experiment.OpGTE, Value: 3.0},
		{Attr: "plan", Op: experiment.OpEquals, Value: "pro"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	traits := assign.Attributes{"trait.opens_30d": 5.0, "plan": "pro"}
	// The source answers every name the caller did not send: trait.<name>
	// and stored profile attributes alike.
	if !r.Match(&assign.WithTraits{Attrs: assign.Attributes{}, Traits: traits}) {
		t.Errorf("a stored attribute of the source was not read")
	}
	if r.Match(&assign.WithTraits{Attrs: assign.Attributes{"plan": "free"}, Traits: traits}) {
		t.Errorf("the source's plan won over the caller's")
	}
	if !r.Match(&assign.WithTraits{Attrs: assign.Attributes{"plan": "pro"}, Traits: traits}) {
		t.Errorf("trait not merged")
	}
	if r.Match(&assign.WithTraits{Attrs: assign.Attributes{"plan": "pro", "trait.opens_30d": 1.0}, Traits: traits}) {
		t.Errorf("caller's value did not win over the trait")
	}
}

// chiSquare returns Pearson's statistic of observed counts against
// expected proportions, and its p-value with len-1 degrees of freedom.
func chiSquare(obs, weights []float64) (stat, p float64) {
	var n, w float64
	for i := range obs {
		n += obs[i]
		w += weights[i]
	}
	for i := range obs {
		e := n * weights[i] / w
		stat += (obs[i] - e) * (obs[i] - e) / e
	}
	return stat, gammaQ(float64(len(obs)-1)/2, stat/2)
}

// gammaQ is the regularized upper incomplete gamma function Q(a, x), by the
// series for x < a+1 and Lentz's continued fraction otherwise.
func gammaQ(a, x float64) float64 {
	if x <= 0 {
		return 1
	}
	lg, _ := math.Lgamma(a)
	if x < a+1 {
		sum, term := 1/a, 1/a
		for n := 1; n < 1000; n++ {
			term *= x / (a + float64(n))
			sum += term
			if math.Abs(term) < math.Abs(sum)*1e-15 {
				break
			}
		}
		return 1 - sum*math.Exp(-x+a*math.Log(x)-lg)
	}
	const tiny = 1e-300
	b := x + 1 - a
	c := 1 / tiny
	d := 1 / b
	h := d
	for i := 1; i < 1000; i++ {
		an := -float64(i) * (float64(i) - a)
		b += 2
		d = an*d + b
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = b + an/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		del := d * c
		h *= del
		if math.Abs(del-1) < 1e-15 {
			break
		}
	}
	return math.Exp(-x+a*math.Log(x)-lg) * h
}

func TestGammaQ(t *testing.T) {
	// Chi-square survival values: df 1 at 3.841 is 0.05, df 3 at 16.266 is
	// 0.001, df 2 at 2 is e^-1.
	for _, tc := range []struct{ df, x, want float64 }{
		{1, 3.841458820694124, 0.05}, {3, 16.26623619623813, 0.001}, {2, 2, math.Exp(-1)}, {4, 0.5, 0.9735009788392561},
	} {
		if got := gammaQ(tc.df/2, tc.x/2); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("chi2 sf(%v, df %v) = %v, want %v", tc.x, tc.df, got, tc.want)
		}
	}
}

// TestExampleAssignsEveryone checks docs/examples/experiment.json: its last
// segment is a catch-all, so a unit without attributes is assigned.
func TestExampleAssignsEveryone(t *testing.T) {
	data, err := os.ReadFile("../docs/examples/experiment.json")
	if err != nil {
		t.Fatal(err)
	}
	e := mustExperiment(t, string(data))
	s := mustSnapshot(t, e)
	for i := 0; i < 200; i++ {
		a := mustAssign(t, s, e.Key, "new-user-"+strconv.Itoa(i), nil)
		if !a.InExperiment || a.Segment != "everyone" || (a.Variant == "") != a.Holdout {
			t.Fatalf("Assign(no attributes) = %+v", a)
		}
		if !a.Holdout && !json.Valid(a.Payload) {
			t.Fatalf("payload %q", a.Payload)
		}
	}
	a := mustAssign(t, s, e.Key, "u1", assign.Attributes{"plan": "pro_trial", "country": "FR"})
	if a.Segment != "pro-trial" {
		t.Errorf("Assign(pro_trial, FR) segment = %q, want pro-trial", a.Segment)
	}
}

// countingTraits is a TraitSource that counts how often it is asked.
type countingTraits struct {
	traits assign.Attributes
	asked  int
}

func (c *countingTraits) UnitTraits(string) assign.Lookup {
	c.asked++
	return c.traits
}

func TestAssignWithTraits(t *testing.T) {
	def := strings.ReplaceAll(bench3x4, `"attr": "opens_30d"`, `"attr": "trait.opens_30d"`)
	s := mustSnapshot(t, mustExperiment(t, def), mustExperiment(t, threeWay))
	src := &countingTraits{traits: assign.Attributes{"trait.opens_30d": 5.0, "plan": "pro", "country": "DE"}}
	for _, tc := range []struct {
		name  string
		attrs assign.Attributes
		want  string
		asked int
	}{
		{"trait read once", assign.Attributes{"plan": "free"}, "engaged", 1},
		// The caller's trait wins; last_open, which it does not send, is
		// asked of the source (a stored profile may have it).
		{"caller wins", assign.Attributes{"plan": "free", "trait.opens_30d": 1.0}, "rest", 1},
		{"every name sent", assign.Attributes{"plan": "pro", "country": "FR"}, "pro-eu", 0},
		// Stored attributes answer what the call does not carry.
		{"stored profile", assign.Attributes{}, "pro-eu", 1},
		{"the call wins over the stored profile", assign.Attributes{"plan": "free", "country": "DE", "last_open": "2020-01-01"}, "engaged", 1},
	} {
		src.asked = 0
		a, err := s.AssignWithTraits("bench", "u-1", tc.attrs, src)
		if err != nil || a.Segment != tc.want || src.asked != tc.asked {
			t.Errorf("%s: AssignWithTraits = %q, %v, traits asked %d times; want %q, asked %d", tc.name, a.Segment, err, src.asked, tc.want, tc.asked)
		}
		want := mustAssign(t, s, "bench", "u-1", &assign.WithTraits{Attrs: tc.attrs, Traits: src.traits})
		if !reflect.DeepEqual(a, want) {
			t.Errorf("%s: AssignWithTraits = %+v, Assign with WithTraits = %+v", tc.name, a, want)
		}
	}
	src.asked = 0
	if a, err := s.AssignWithTraits("retire", "u-1", nil, src); err != nil || src.asked != 0 {
		t.Errorf("AssignWithTraits(rules without traits) = %v, %v; traits asked %d times, want 0", a, err, src.asked)
	}
	if a, err := s.AssignWithTraits("bench", "u-1", assign.Attributes{}, nil); err != nil || a.Segment != "rest" {
		t.Errorf("AssignWithTraits(nil source) = %q, %v; want rest", a.Segment, err)
	}
	if _, err := s.AssignWithTraits("nope", "u-1", nil, src); experiment.ErrorCode(err) != experiment.ENOTFOUND {
		t.Errorf("AssignWithTraits(unknown) = %v, want ENOTFOUND", err)
	}
	attrs := assign.Attributes{"plan": "free"}
	if n := testing.AllocsPerRun(100, func() {
		if _, err := s.AssignWithTraits("bench", "u-98765", attrs, src); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("AssignWithTraits allocates %v times, want 0", n)
	}
}
