package traits_test

import (
	"context"
	"fmt"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/analytics/traits"
	"github.com/splitcast/splitcast/assign"
	"github.com/splitcast/splitcast/experiment"
)

// noActivity is a Reader of no message events.
type noActivity struct{}

func (noActivity) ChangedActivity(context.Context, time.Time, int32) ([]traits.UnitActivity, time.Time, error) {
	return nil, time.Now(), nil
}
func (noActivity) Activity(context.Context, []string, int32) ([]traits.UnitActivity, error) {
	return nil, nil
}

// synthetic gives n units each an order, a ticket and a page view, and a
// stored profile of three attributes, once (later reads: nothing new).
type synthetic struct {
	n          int
	today      int32
	users, pro bool
}

func (s *synthetic) changedUsers(context.Context, time.Time, int32) ([]traits.UnitEvents, time.Time, error) {
	if s.users {
		return nil, time.Now(), nil
	}
	s.users = true
	out := make([]traits.UnitEvents, s.n)
	at := int64(s.today) * 86400
	for i := range out {
		out[i] = traits.UnitEvents{Unit: "unit-" + strconv.Itoa(i), Events: []traits.UserEvent{
			{Time: at - 86400*int64(i%20), Name: "order_completed", Props: []analytics.Prop{{Key: "total", Type: analytics.PropNumber, Num: float64(i % 100)}}},
			{Time: at - 3600, Name: "ticket_opened", Props: []analytics.Prop{{Key: "urgency", Type: analytics.PropString, Str: []string{"low", "high"}[i%2]}}},
			{Time: at, Name: "page_viewed", Props: []analytics.Prop{{Key: "category", Type: analytics.PropString, Str: "c" + strconv.Itoa(i%20)}}},
		}}
	}
	return out, time.Now(), nil
}

func (s *synthetic) ChangedProfiles(context.Context, time.Time) ([]traits.Profile, time.Time, error) {
	if s.pro {
		return nil, time.Now(), nil
	}
	s.pro = true
	out := make([]traits.Profile, s.n)
	for i := range out {
		out[i] = traits.Profile{Unit: "unit-" + strconv.Itoa(i), Attrs: map[string]any{
			"plan": []string{"free", "pro"}[i%2], "country": []string{"FR", "DE", "US"}[i%3], "age": float64(20 + i%50)}}
	}
	return out, time.Now(), nil
}

func syntheticCache(tb testing.TB, n int, users, profiles bool) *traits.Cache {
	tb.Helper()
	now := time.Date(2025, 3, 20, 12, 0, 0, 0, time.UTC)
	s := &synthetic{n: n, today: analytics.Day(now), users: !users, pro: !profiles}
	cfg := traits.CacheConfig{Reader: noActivity{}, Now: func() time.Time { return now }}
	if users {
		cfg.Catalogue, cfg.UserReader = traits.DefaultCatalogue(), s
	}
	if profiles {
		cfg.ProfileReader = s
	}
	c := traits.NewCache(cfg)
	if err := c.Refresh(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return c
}

// traitRuleExperiment segments on a computed trait and a stored attribute,
// read with prefix p ("trait." for the cache, "" for attributes); unit
// "unit-7" ends in the last segment either way.
func traitRuleExperiment(tb testing.TB, p string) *assign.Snapshot {
	tb.Helper()
	e, err := experiment.Decode([]byte(fmt.Sprintf(`{
  "key": "bench", "channel": "email", "allocation": 100, "holdout": 0,
  "segments": [
    {"key": "urgent", "rule": {"all": [{"attr": "%[1]ssupport.open_tickets", "op": "gt", "value": 0},
                                      {"attr": "%[1]ssupport.last_ticket_urgency", "op": "equals", "value": "urgent"}]},
     "variants": [{"key": "a", "weight": 1, "control": true}, {"key": "b", "weight": 1}]},
    {"key": "big", "rule": {"attr": "%[1]spurchases.revenue_90d", "op": "gte", "value": 1000},
     "variants": [{"key": "a", "weight": 1, "control": true}, {"key": "b", "weight": 1}]},
    {"key": "rest", "variants": [{"key": "a", "weight": 1, "control": true}, {"key": "b", "weight": 1}]}
  ],
  "primary_metric": "click_rate"
}`, p)))
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

// BenchmarkComputedTraitRules compares, in one run, assignment with rules
// on computed traits read from a cache of 100,000 units against the same
// rules on the same values sent as attributes; it reports the ratio of the
// medians of seven alternating rounds of each (CPU ns/op of traits over
// attributes).
func BenchmarkComputedTraitRules(b *testing.B) {
	cache := syntheticCache(b, 100_000, true, false)
	withTraits, withAttrs := traitRuleExperiment(b, "trait."), traitRuleExperiment(b, "")
	vals := cache.Computed("unit-7")
	attrs := assign.Attributes{}
	for k, v := range vals {
		attrs[k[len("trait."):]] = v
	}
	run := func(snap *assign.Snapshot, a assign.Attributes, src assign.TraitSource) func(*testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if got, err := snap.AssignWithTraits("bench", "unit-7", a, src); err != nil || got.Segment != "rest" {
					b.Fatal(got, err)
				}
			}
		}
	}
	// Rounds of a fixed count, alternating, so that both see the same
	// machine: the ratio is what the benchmark is for.
	// Each round is timed in the CPU time of its thread: on a shared
	// machine, wall time counts the neighbours' turns too.
	round := func(snap *assign.Snapshot, a assign.Attributes, src assign.TraitSource) float64 {
		const n = 500_000
		start := threadCPU(b)
		for range n {
			if got, err := snap.AssignWithTraits("bench", "unit-7", a, src); err != nil || got.Segment != "rest" {
				b.Fatal(got, err)
			}
		}
		return float64(threadCPU(b)-start) / n
	}
	b.Run("ratio", func(b *testing.B) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var tr, at []float64
		for range 7 {
			at = append(at, round(withAttrs, attrs, nil))
			tr = append(tr, round(withTraits, assign.Attributes{}, cache))
		}
		slices.Sort(tr)
		slices.Sort(at)
		b.ReportMetric(at[3], "attrs-ns/op")
		b.ReportMetric(tr[3], "traits-ns/op")
		b.ReportMetric(tr[3]/at[3], "traits/attrs")
	})
	b.Run("traits", run(withTraits, assign.Attributes{}, cache))
	b.Run("attributes", run(withAttrs, attrs, nil))
}

// threadCPU returns the CPU time of the calling thread in nanoseconds
// (CLOCK_THREAD_CPUTIME_ID); the caller locks itself to its thread.
func threadCPU(tb testing.TB) int64 {
	var ts syscall.Timespec
	const clockThreadCPUTime = 3
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTime, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		tb.Fatal(errno)
	}
	return ts.Nano()
}

// BenchmarkTraitMemory reports the heap held per unit by computed traits
// (the default catalogue, three user events each) and by stored profiles
// (three attributes each), at 1M and 4M units, and the bytes of it the
// garbage collector has to scan.
func BenchmarkTraitMemory(b *testing.B) {
	for _, n := range []int{1_000_000, 4_000_000} {
		for _, kind := range []string{"traits", "profiles"} {
			b.Run(fmt.Sprintf("%s-%dM", kind, n/1_000_000), func(b *testing.B) {
				for range b.N {
					before := heap()
					c := syntheticCache(b, n, kind == "traits", kind == "profiles")
					after := heap()
					b.ReportMetric(float64(after.alloc-before.alloc)/float64(n), "bytes/unit")
					b.ReportMetric(float64(after.scan-before.scan)/float64(n), "scanned-bytes/unit")
					runtime.KeepAlive(c)
				}
			})
		}
	}
}

type heapStats struct{ alloc, scan int64 }

func heap() heapStats {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := []metrics.Sample{{Name: "/gc/scan/heap:bytes"}}
	metrics.Read(s)
	var scan int64
	if s[0].Value.Kind() == metrics.KindUint64 {
		scan = int64(s[0].Value.Uint64())
	}
	return heapStats{alloc: int64(ms.HeapAlloc), scan: scan}
}

// EachChangedUser hands over what changedUsers returns, a unit at a time.
func (s *synthetic) EachChangedUser(ctx context.Context, since time.Time, from int32, fn func(*traits.UnitEvents)) (time.Time, error) {
	units, mark, err := s.changedUsers(ctx, since, from)
	for i := range units {
		fn(&units[i])
	}
	return mark, err
}
