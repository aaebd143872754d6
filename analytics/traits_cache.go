package analytics

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// TraitReader loads unit activity from storage (the events table).
type TraitReader interface {
	// ChangedActivity returns the activity, as Activity does, of every unit
	// with an event stored since the mark since (every unit with an event in
	// the last TraitWindowDays when since is zero), and the mark to pass
	// next time. Marks are the storage's own clock, so a unit may be
	// returned twice but never missed. A unit whose events since the mark
	// are all exposures may come as Seen: first and last day only.
	ChangedActivity(ctx context.Context, since time.Time, today int32) ([]UnitActivity, time.Time, error)
	// Activity returns the activity of these units as of day today: human
	// events per day and channel over the last TraitWindowDays, and the
	// first day seen within FirstSeenHorizonDays. Units without any are left
	// out.
	Activity(ctx context.Context, units []string, today int32) ([]UnitActivity, error)
}

// TraitCacheConfig configures a TraitCache. Zero values take the defaults
// named on the fields.
type TraitCacheConfig struct {
	Reader TraitReader // required
	// Interval is how often Run refreshes (default 5s).
	Interval time.Duration
	// MaxUnits bounds the units held (default 1,000,000); over it, the
	// units least recently active are dropped and get DefaultTraits.
	MaxUnits int
	Now      func() time.Time // default time.Now
	Logger   *slog.Logger
}

// TraitCache serves every recently active unit's traits from memory, so that
// assignment never waits on storage. It is refreshed incrementally: each
// Refresh reads only the units with events stored since the previous one,
// and recomputes every unit from the activity it holds when the UTC day
// changes (counts over windows and days-since move with the calendar).
//
// Staleness: an event is reflected in Traits at most Interval (plus the
// refresh's own query time) after it is stored; stored means after the
// ingest flush interval. So the bound a unit's traits lag its events by is
// Interval + the ingest FlushInterval + one refresh query: 5s + 1s + well
// under a second with the defaults. While storage is down, traits stay as
// they were and Stats says since when.
//
// Memory: the cache holds the units with an event in the last
// TraitWindowDays, at most MaxUnits of them; a unit costs its id, two map
// entries, about 70 bytes of activity and 40 more per day and channel it
// engaged on. Units with equal traits share one value (about 400 bytes),
// so a unit that was only exposed costs about 140 bytes in all (measured
// with /debug/pprof/heap?gc=1 after 1.5M units were exposed once each:
// 211 MB in use; one UnitTraits per unit took about 800 MB for 1M).
// Units not held get DefaultTraits.
type TraitCache struct {
	cfg      TraitCacheConfig
	snap     atomic.Pointer[traitSnapshot]
	defaults *UnitTraits

	mu       sync.Mutex // serialises Refresh; guards the fields below
	activity map[string]*UnitActivity
	since    time.Time
	lastErr  error
	// dropped is set once units were dropped over MaxUnits: from then on a
	// unit not held may have history, so one seen again is read whole.
	dropped bool
	// shared holds one UnitTraits per distinct value, for units to share:
	// most units have the same few (every unit exposed today and never
	// engaged has the same traits), and a UnitTraits is about 400 bytes.
	shared map[unitTraitsKey]*UnitTraits
}

// unitTraitsKey is what makes two units' UnitTraits equal.
type unitTraitsKey struct {
	Traits
	Day, LastSeen int32
}

// maxWholeRead is the most units one Activity call names.
const maxWholeRead = 10_000

// maxShared bounds the distinct values TraitCache.shared keeps; past it
// the map starts again (values already handed out stay valid).
const maxShared = 1 << 16

// traitSnapshot is what readers see: base, with changed overlaid on it (a
// nil value: the unit is no longer held); both maps are never written once
// published. A refresh copies only changed, and folds it into a new base
// once it has grown past sqrt(2 × base × units changed per refresh), the
// size that makes copies of changed and amortised folds cost the least:
// copying a million-unit map on every refresh cost more CPU, and garbage,
// than the assignments it served.
type traitSnapshot struct {
	base    map[string]*UnitTraits
	changed map[string]*UnitTraits
	held    int       // units with traits
	day     int32     // the day the traits were computed for
	at      time.Time // when the snapshot was built; zero before the first
}

func (s *traitSnapshot) get(unit string) (*UnitTraits, bool) {
	if len(s.changed) > 0 {
		if t, ok := s.changed[unit]; ok {
			return t, t != nil
		}
	}
	t, ok := s.base[unit]
	return t, ok
}

// each calls fn for every unit held.
func (s *traitSnapshot) each(fn func(unit string, t *UnitTraits)) {
	for u, t := range s.changed {
		if t != nil {
			fn(u, t)
		}
	}
	for u, t := range s.base {
		if _, ok := s.changed[u]; !ok {
			fn(u, t)
		}
	}
}

// with returns the snapshot with the traits of units replaced by update's
// (nil: no longer held), as of day at now.
func (s *traitSnapshot) with(units []string, update func(unit string) *UnitTraits, day int32, now time.Time) *traitSnapshot {
	if len(units) == 0 {
		return &traitSnapshot{base: s.base, changed: s.changed, held: s.held, day: day, at: now}
	}
	changed := make(map[string]*UnitTraits, len(s.changed)+len(units))
	for u, t := range s.changed {
		changed[u] = t
	}
	held := s.held
	for _, u := range units {
		// Held before, as of the changes so far: units may repeat.
		prev, ok := changed[u]
		was := ok && prev != nil
		if !ok {
			_, was = s.base[u]
		}
		t := update(u)
		changed[u] = t
		switch {
		case was && t == nil:
			held--
		case !was && t != nil:
			held++
		}
	}
	next := &traitSnapshot{base: s.base, changed: changed, held: held, day: day, at: now}
	if limit := math.Sqrt(2 * float64(len(s.base)) * float64(len(units))); len(changed) <= 1024 || float64(len(changed)) < limit {
		return next
	}
	base := make(map[string]*UnitTraits, held)
	next.each(func(u string, t *UnitTraits) { base[u] = t })
	return &traitSnapshot{base: base, held: held, day: day, at: now}
}

// NewTraitCache returns an empty cache: every unit has DefaultTraits until
// the first Refresh.
func NewTraitCache(cfg TraitCacheConfig) *TraitCache {
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.MaxUnits <= 0 {
		cfg.MaxUnits = 1_000_000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &TraitCache{cfg: cfg, defaults: NewUnitTraits(DefaultTraits(), 0), activity: map[string]*UnitActivity{}}
	c.snap.Store(&traitSnapshot{base: map[string]*UnitTraits{}})
	return c
}

// Traits returns a unit's traits, DefaultTraits when the cache holds none.
// It never blocks and allocates nothing; the result is never nil and must
// not be modified.
func (c *TraitCache) Traits(unit string) *UnitTraits {
	if t, ok := c.snap.Load().get(unit); ok {
		return t
	}
	return c.defaults
}

// Held reports whether the cache holds traits for unit (false: defaults).
func (c *TraitCache) Held(unit string) bool {
	_, ok := c.snap.Load().get(unit)
	return ok
}

// Staleness is the documented bound, not counting the ingest flush
// interval: how long after an event is stored its unit's traits may still
// ignore it.
func (c *TraitCache) Staleness() time.Duration { return c.cfg.Interval }

// TraitCacheStats describe the cache for operators.
type TraitCacheStats struct {
	Units       int       `json:"units"`
	RefreshedAt time.Time `json:"refreshed_at"` // zero before the first refresh
	Day         time.Time `json:"day"`          // the UTC day traits are computed for
	LastError   string    `json:"last_error,omitempty"`
}

// Stats returns the cache's size and freshness.
func (c *TraitCache) Stats() TraitCacheStats {
	s := c.snap.Load()
	st := TraitCacheStats{Units: s.held, RefreshedAt: s.at}
	if s.day != 0 {
		st.Day = DayTime(s.day)
	}
	c.mu.Lock()
	if c.lastErr != nil {
		st.LastError = c.lastErr.Error()
	}
	c.mu.Unlock()
	return st
}

// Fetch reads one unit's traits from storage now, bypassing the cache, for
// debugging.
func (c *TraitCache) Fetch(ctx context.Context, unit string) (*UnitTraits, error) {
	today := Day(c.cfg.Now())
	acts, err := c.cfg.Reader.Activity(ctx, []string{unit}, today)
	if err != nil {
		return nil, err
	}
	for i := range acts {
		if acts[i].Unit == unit {
			return unitTraits(&acts[i], today), nil
		}
	}
	return NewUnitTraits(DefaultTraits(), today), nil
}

// Run refreshes every Interval until ctx ends. Errors are logged and leave
// the previous traits in place.
func (c *TraitCache) Run(ctx context.Context) {
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := c.Refresh(ctx); err != nil && ctx.Err() == nil {
				c.cfg.Logger.Warn("refresh traits", "err", err)
			}
		}
	}
}

// Refresh reads the units with new events and publishes a new snapshot. On
// error the previous snapshot stays and the next Refresh reads the same
// units again.
func (c *TraitCache) Refresh(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.refresh(ctx)
	c.lastErr = err
	return err
}

func (c *TraitCache) refresh(ctx context.Context) error {
	now := c.cfg.Now()
	today := Day(now)
	from := today - (TraitWindowDays - 1)
	acts, next, err := c.cfg.Reader.ChangedActivity(ctx, c.since, today)
	if err != nil {
		return fmt.Errorf("changed units: %w", err)
	}
	// A unit seen again (only new exposures) keeps the activity held for
	// it. One not held had no event in the window before, so what the
	// reader saw is its whole activity; unless units were dropped over
	// MaxUnits, when it may have been one of them, and is read whole.
	var whole []string
	for i := range acts {
		if _, held := c.activity[acts[i].Unit]; acts[i].Seen && !held && c.dropped {
			whole = append(whole, acts[i].Unit)
		}
	}
	// In chunks: Activity names its units in the query's text, which
	// ClickHouse bounds (a bulk send can expose hundreds of thousands of
	// units between two refreshes).
	for len(whole) > 0 {
		n := min(len(whole), maxWholeRead)
		more, err := c.cfg.Reader.Activity(ctx, whole[:n], today)
		if err != nil {
			return fmt.Errorf("units seen again: %w", err)
		}
		acts = append(acts, more...)
		whole = whole[n:]
	}
	// Nothing above changed c: a failed read is retried whole next time.
	c.since = next
	units := make([]string, 0, len(acts))
	for i := range acts {
		a := &acts[i]
		held, ok := c.activity[a.Unit]
		if a.Seen {
			switch {
			case ok:
				units = append(units, a.Unit)
				seenAgain(held, a)
				continue
			case c.dropped:
				continue // read whole above
			}
		}
		// A copy of its own: a pointer into acts would keep the whole
		// array, and the units of every entry in it, for as long as this
		// one unit is held.
		kept := new(UnitActivity)
		*kept = *a
		units = append(units, a.Unit)
		c.activity[a.Unit] = kept
	}
	old := c.snap.Load()
	if old.day == today && !old.at.IsZero() && len(c.activity) <= c.cfg.MaxUnits {
		// Same day: only the changed units' traits change.
		c.snap.Store(old.with(units, func(u string) *UnitTraits {
			if a, ok := c.activity[u]; ok {
				return c.unitTraits(a, today)
			}
			return nil
		}, today, now))
		return nil
	}
	// A new day (or the first refresh, or too many units): windows moved
	// for every unit.
	c.evict(from)
	m := make(map[string]*UnitTraits, len(c.activity))
	for u, a := range c.activity {
		m[u] = c.unitTraits(a, today)
	}
	c.snap.Store(&traitSnapshot{base: m, held: len(m), day: today, at: now})
	return nil
}

// evict drops units with no activity since day from, then, over MaxUnits,
// the least recently active.
func (c *TraitCache) evict(from int32) {
	for u, a := range c.activity {
		if a.LastDay() < from {
			delete(c.activity, u)
		}
	}
	over := len(c.activity) - c.cfg.MaxUnits
	if over <= 0 {
		return
	}
	c.dropped = true
	type unitDay struct {
		unit string
		day  int32
	}
	all := make([]unitDay, 0, len(c.activity))
	for u, a := range c.activity {
		all = append(all, unitDay{u, a.LastDay()})
	}
	slices.SortFunc(all, func(a, b unitDay) int { return int(a.day - b.day) })
	for _, ud := range all[:over] {
		delete(c.activity, ud.unit)
	}
	c.cfg.Logger.Warn("trait cache full: least recently active units get default traits",
		"dropped", over, "max_units", c.cfg.MaxUnits)
}

// seenAgain gives held seen's first day and, if later, its last day:
// exposures move when a unit was last seen, and nothing else. held is
// changed in place: activity is only read under TraitCache.mu.
func seenAgain(held, seen *UnitActivity) {
	held.FirstSeen = seen.FirstSeen
	held.LastSeen = max(held.LastSeen, seen.LastDay())
}

// unitTraits returns a's traits on day today: the same *UnitTraits as
// every other unit's with equal values.
func (c *TraitCache) unitTraits(a *UnitActivity, today int32) *UnitTraits {
	k := unitTraitsKey{Traits: ComputeTraits(a, today), Day: today, LastSeen: a.LastDay()}
	if t, ok := c.shared[k]; ok {
		return t
	}
	if c.shared == nil || len(c.shared) >= maxShared {
		c.shared = make(map[unitTraitsKey]*UnitTraits)
	}
	t := NewUnitTraits(k.Traits, today)
	t.LastSeen = k.LastSeen
	c.shared[k] = t
	return t
}

func unitTraits(a *UnitActivity, today int32) *UnitTraits {
	u := NewUnitTraits(ComputeTraits(a, today), today)
	u.LastSeen = a.LastDay()
	return u
}

// Recent calls fn for every unit held that was seen (any event, exposures
// included) in the last days days, for traffic estimates. It reads one
// snapshot and never blocks a refresh.
func (c *TraitCache) Recent(days int, fn func(unit string, t *UnitTraits)) {
	s := c.snap.Load()
	from := s.day - int32(days) + 1
	s.each(func(u string, t *UnitTraits) {
		if t.LastSeen >= from {
			fn(u, t)
		}
	})
}
