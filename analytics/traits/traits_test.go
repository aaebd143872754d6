package traits_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/analytics/traits"
)

func TestLifecycle(t *testing.T) {
	for _, tc := range []struct {
		age, since, gap int
		want            string
	}{
		{0, -1, -1, traits.StageNew},
		{6, -1, -1, traits.StageNew},
		{6, 2, -1, traits.StageOnboarding}, // engaged in its first week
		{7, -1, -1, traits.StageOnboarding},
		{29, 20, -1, traits.StageOnboarding},
		{30, 3, -1, traits.StageReengaged}, // first engagement after a month of nothing
		{60, 6, 30, traits.StageReengaged},
		{60, 6, 29, traits.StageActive},
		{60, 7, -1, traits.StageActive},
		{60, 13, 2, traits.StageActive},
		{60, 14, 2, traits.StageAtRisk},
		{60, 29, 2, traits.StageAtRisk},
		{60, 30, 2, traits.StageDormant},
		{60, -1, -1, traits.StageDormant},
	} {
		if got := traits.Lifecycle(tc.age, tc.since, tc.gap); got != tc.want {
			t.Errorf("Lifecycle(age %d, since %d, gap %d) = %q, want %q", tc.age, tc.since, tc.gap, got, tc.want)
		}
	}
}

func TestEngagementLevel(t *testing.T) {
	for _, tc := range []struct {
		opens, clicks, convs int
		want                 string
	}{
		{0, 0, 0, "none"}, {1, 0, 0, "low"}, {0, 1, 0, "low"}, {3, 0, 0, "low"}, {1, 1, 0, "medium"},
		{0, 0, 1, "medium"}, {9, 0, 0, "medium"}, {4, 2, 0, "high"}, {0, 0, 2, "high"},
	} {
		s := traits.EngagementScore(tc.opens, tc.clicks, tc.convs)
		if got := traits.EngagementLevel(s); got != tc.want {
			t.Errorf("EngagementLevel(score %v of %d opens, %d clicks, %d conversions) = %q, want %q",
				s, tc.opens, tc.clicks, tc.convs, got, tc.want)
		}
	}
}

func TestComputeTraitsWindows(t *testing.T) {
	const today = 20000
	a := &traits.UnitActivity{Unit: "u", FirstSeen: today - 100, Days: []traits.DayActivity{
		{Day: today - 95, Channel: "email", Opens: 50}, // outside every window
		{Day: today - 89, Channel: "push", Opens: 1},
		{Day: today - 30, Channel: "push", Opens: 1, Clicks: 1},
		{Day: today - 29, Channel: "email", Opens: 1},
		{Day: today - 7, Channel: "email", Clicks: 1},
		{Day: today - 6, Channel: "sms", Conversions: 1},
		{Day: today, Channel: "", Exposures: 3},
	}}
	got := traits.ComputeTraits(a, today)
	want := traits.Traits{Known: true, Opens7d: 0, Opens30d: 1, Opens90d: 3, Clicks7d: 0, Clicks30d: 1, Clicks90d: 2,
		Conversions7d: 1, Conversions30d: 1, Conversions90d: 1, DaysSinceOpen: 29, DaysSinceClick: 7,
		EngagementScore: 1 + 3 + 5, EngagementLevel: "medium",
		// engaged 6 days ago, and 7 days ago before that: active.
		LifecycleStage: "active",
		// push 3, email 2, sms 1 (the 50 opens are outside the window)
		PreferredChannel: "push"}
	if got != want {
		t.Errorf("ComputeTraits:\n got %+v\nwant %+v", got, want)
	}
	if got := traits.ComputeTraits(nil, today); got != traits.DefaultTraits() {
		t.Errorf("ComputeTraits(nil) = %+v, want defaults", got)
	}
	// A tie between channels goes to the first in email, push, sms, in_app.
	tie := &traits.UnitActivity{FirstSeen: today - 40, Days: []traits.DayActivity{
		{Day: today - 1, Channel: "in_app", Opens: 2}, {Day: today - 1, Channel: "sms", Opens: 2}}}
	if got := traits.ComputeTraits(tie, today).PreferredChannel; got != "sms" {
		t.Errorf("preferred channel of a tie = %q, want sms", got)
	}
}

func TestUnitTraitsLookup(t *testing.T) {
	u := traits.NewUnitTraits(traits.Traits{Known: true, Opens30d: 4, DaysSinceOpen: 3, DaysSinceClick: -1,
		EngagementScore: 4, EngagementLevel: "medium", LifecycleStage: "active", PreferredChannel: "push"}, 1)
	for _, tc := range []struct {
		name string
		want any
		ok   bool
	}{
		{"trait.opens_30d", 4.0, true},
		{"trait.opens_7d", 0.0, true},
		{"trait.days_since_open", 3.0, true},
		{"trait.days_since_click", nil, false},
		{"trait.engagement_level", "medium", true},
		{"trait.lifecycle_stage", "active", true},
		{"trait.preferred_channel", "push", true},
		{"trait.known", true, true},
		{"trait.nope", nil, false},
		{"opens_30d", nil, false},
		{"trait.", nil, false},
	} {
		got, ok := u.Lookup(tc.name)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Lookup(%q) = %v, %v, want %v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
	if n := testing.AllocsPerRun(100, func() { u.Lookup("trait.preferred_channel") }); n != 0 {
		t.Errorf("Lookup allocates %v times, want 0", n)
	}
	d := traits.NewUnitTraits(traits.DefaultTraits(), 1)
	if _, ok := d.Lookup("trait.preferred_channel"); ok {
		t.Errorf("default traits have a preferred channel")
	}
	if v, _ := d.Lookup("trait.lifecycle_stage"); v != "new" {
		t.Errorf("default lifecycle = %v, want new", v)
	}
	attrs := u.Attributes()
	if attrs["trait.opens_30d"] != 4.0 || len(attrs) != 15 {
		t.Errorf("Attributes() = %v, want 15 traits (days_since_click absent)", attrs)
	}
}

// fakeReader is an in-memory TraitReader: activity per unit, with a
// version per unit standing in for the storage's received_at.
type fakeReader struct {
	mu     sync.Mutex
	clock  int64
	acts   map[string]traits.UnitActivity
	stored map[string]int64
	fail   error
	reads  [][]string
}

func newFakeReader() *fakeReader {
	return &fakeReader{acts: map[string]traits.UnitActivity{}, stored: map[string]int64{}}
}

func (f *fakeReader) put(a traits.UnitActivity) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clock++
	f.acts[a.Unit] = a
	f.stored[a.Unit] = f.clock
}

func (f *fakeReader) ChangedActivity(_ context.Context, since time.Time, today int32) ([]traits.UnitActivity, time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, since, f.fail
	}
	var units []string
	for u, at := range f.stored {
		a := f.acts[u]
		if at > since.Unix() && a.LastDay() > today-traits.WindowDays {
			units = append(units, u)
		}
	}
	slices.Sort(units)
	f.reads = append(f.reads, units)
	var out []traits.UnitActivity
	for _, u := range units {
		out = append(out, f.acts[u])
	}
	return out, time.Unix(f.clock, 0), nil
}

func (f *fakeReader) Activity(_ context.Context, units []string, _ int32) ([]traits.UnitActivity, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []traits.UnitActivity
	for _, u := range units {
		if a, ok := f.acts[u]; ok {
			out = append(out, a)
		}
	}
	return out, nil
}

func TestTraitCache(t *testing.T) {
	ctx := context.Background()
	const today = 20000
	now := analytics.DayTime(today).Add(10 * time.Hour)
	f := newFakeReader()
	f.put(traits.UnitActivity{Unit: "a", FirstSeen: today - 60, Days: []traits.DayActivity{{Day: today - 1, Opens: 1}}})
	f.put(traits.UnitActivity{Unit: "b", FirstSeen: today - 60, Days: []traits.DayActivity{{Day: today - 20, Opens: 1}}})
	c := traits.NewCache(traits.CacheConfig{Reader: f, Now: func() time.Time { return now }})

	if got := c.Traits("a").LifecycleStage; got != "new" {
		t.Errorf("before any refresh, Traits(a) = %q, want the default new", got)
	}
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := c.Traits("a").LifecycleStage; got != "re_engaged" {
		t.Errorf("Traits(a) = %q, want re_engaged", got)
	}
	if got := c.Traits("b").LifecycleStage; got != "at_risk" {
		t.Errorf("Traits(b) = %q, want at_risk", got)
	}
	if !slices.Equal(slices.Concat(f.reads...), []string{"a", "b"}) {
		t.Errorf("first refresh read %v, want [a b]", f.reads)
	}

	// Only b changes: only b is read.
	f.reads = nil
	f.put(traits.UnitActivity{Unit: "b", FirstSeen: today - 60, Days: []traits.DayActivity{
		{Day: today - 20, Opens: 1}, {Day: today, Clicks: 1}}})
	before := c.Traits("a")
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(slices.Concat(f.reads...), []string{"b"}) {
		t.Errorf("incremental refresh read %v, want [b]", f.reads)
	}
	if got := c.Traits("b"); got.LifecycleStage != "active" || got.Clicks7d != 1 {
		t.Errorf("Traits(b) after a click = %+v, want active with a click", got.Traits)
	}
	if c.Traits("a") != before {
		t.Errorf("an unchanged unit's traits were rebuilt")
	}

	// Storage fails: traits stay, the error is reported.
	f.fail = errors.New("down")
	if err := c.Refresh(ctx); err == nil {
		t.Errorf("Refresh with storage down: nil error")
	}
	if c.Traits("b").Clicks7d != 1 || c.Stats().LastError == "" || c.Stats().Units != 2 {
		t.Errorf("after a failed refresh: traits %+v, stats %+v", c.Traits("b").Traits, c.Stats())
	}
	f.fail = nil

	// 100 days later both units are out of the window: defaults, evicted.
	now = now.Add(100 * 24 * time.Hour)
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if c.Held("a") || c.Held("b") || c.Traits("b").LifecycleStage != "new" {
		t.Errorf("100 days on: held a %v, b %v, want both evicted", c.Held("a"), c.Held("b"))
	}
}

func TestTraitCacheMaxUnits(t *testing.T) {
	const today = 20000
	f := newFakeReader()
	for i, u := range []string{"old", "mid", "new"} {
		f.put(traits.UnitActivity{Unit: u, FirstSeen: today - 50, Days: []traits.DayActivity{{Day: today - 10 + int32(i), Opens: 1}}})
	}
	c := traits.NewCache(traits.CacheConfig{Reader: f, MaxUnits: 2,
		Now: func() time.Time { return analytics.DayTime(today) }})
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c.Held("old") || !c.Held("mid") || !c.Held("new") {
		t.Errorf("over MaxUnits: held old %v mid %v new %v, want the least recently active dropped",
			c.Held("old"), c.Held("mid"), c.Held("new"))
	}
}

func TestTraitCacheConcurrent(t *testing.T) {
	const today = 20000
	f := newFakeReader()
	f.put(traits.UnitActivity{Unit: "a", FirstSeen: today - 50, Days: []traits.DayActivity{{Day: today - 1, Opens: 1}}})
	c := traits.NewCache(traits.CacheConfig{Reader: f, Now: func() time.Time { return analytics.DayTime(today) }})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range 50 {
			f.put(traits.UnitActivity{Unit: "a", FirstSeen: today - 50, Days: []traits.DayActivity{{Day: today - 1, Opens: uint32(i + 1)}}})
			_ = c.Refresh(context.Background())
		}
	}()
	go func() {
		defer wg.Done()
		for range 5000 {
			if c.Traits("a") == nil {
				t.Error("Traits returned nil")
				return
			}
		}
	}()
	wg.Wait()
	if got := c.Traits("a").Opens7d; got != 50 {
		t.Errorf("after the last refresh, opens_7d = %d, want 50", got)
	}
}

func BenchmarkTraitCacheTraits(b *testing.B) {
	f := newFakeReader()
	f.put(traits.UnitActivity{Unit: "u-12345", FirstSeen: 19990, Days: []traits.DayActivity{{Day: 19999, Opens: 1}}})
	c := traits.NewCache(traits.CacheConfig{Reader: f, Now: func() time.Time { return analytics.DayTime(20000) }})
	if err := c.Refresh(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, ok := c.Traits("u-12345").Lookup("trait.engagement_level"); !ok {
			b.Fatal("missing")
		}
	}
}

func TestTraitNamesResolve(t *testing.T) {
	u := traits.NewUnitTraits(traits.Traits{DaysSinceOpen: 1, DaysSinceClick: 1, PreferredChannel: "email"}, 1)
	for _, n := range traits.Names {
		if _, ok := u.Lookup("trait." + n); !ok {
			t.Errorf("Lookup(%q) is missing", "trait."+n)
		}
	}
}
