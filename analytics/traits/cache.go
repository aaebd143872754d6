package traits

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/experiment"
)

// Reader loads unit activity from storage (the events table).
type Reader interface {
	// ChangedActivity returns the activity, as Activity does, of every unit
	// with an event stored since the mark since (every unit with an event in
	// the last WindowDays when since is zero), and the mark to pass
	// next time. Marks are the storage's own clock, so a unit may be
	// returned twice but never missed. A unit whose events since the mark
	// are all exposures may come as Seen: first and last day only, where
	// the first day is the earliest of those events and of the unit's
	// events before the window (so, exact for a unit with no other event
	// in the window).
	ChangedActivity(ctx context.Context, since time.Time, today int32) ([]UnitActivity, time.Time, error)
	// Activity returns the activity of these units as of day today: human
	// events per day and channel over the last WindowDays, and the
	// first day seen within FirstSeenHorizonDays. Units without any are left
	// out.
	Activity(ctx context.Context, units []string, today int32) ([]UnitActivity, error)
}

// CacheConfig configures a Cache. Zero values take the defaults
// named on the fields.
type CacheConfig struct {
	Reader Reader // required
	// Interval is how often Run refreshes (default 5s).
	Interval time.Duration
	// MaxUnits bounds the units held (default DefaultMaxUnits); over
	// it, the units least recently active are dropped and get
	// DefaultTraits.
	MaxUnits int
	Now      func() time.Time // default time.Now
	Logger   *slog.Logger
	// Catalogue, when set, defines the computed traits, read from user
	// events through UserReader (both needed).
	Catalogue  *Catalogue
	UserReader UserReader
	// ProfileReader, when set, gives the stored profiles that the units'
	// Lookup answers for names other than trait.<name>.
	ProfileReader ProfileReader
}

// Cache serves every recently active unit's traits from memory, so that
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
// WindowDays, at most MaxUnits of them, by a 128-bit key of their id
// (see unitKey), not the id. A quiet unit, one that never opened, clicked
// or converted in the window (most units: every unit of a send until it
// engages), costs one slot of a pointer-free table, 24 bytes at most 3/4
// full, twice (the cache's copy and the published one): 64 to 128 bytes
// (84 measured for 300,000 units), and a refresh that changes any quiet
// unit leaves one more copy as garbage, so the peak is up to half as much
// again: at 4M quiet units, 200 MB per copy.
// An engaged unit costs its activity (about 70 bytes, and 40 more per day
// and channel it engaged on) and two map entries. Units with equal traits
// share one UnitTraits (about 400 bytes). Units not held get DefaultTraits.
type Cache struct {
	cfg      CacheConfig
	keys     unitKeys
	snap     atomic.Pointer[traitSnapshot]
	defaults *UnitTraits

	mu sync.Mutex // serialises Refresh; guards the fields below
	// activity holds the engaged units; quiet the others, by the index of
	// their dayPair in pairs. A unit is in one or the other, never both.
	activity map[unitKey]*UnitActivity
	quiet    quietTable
	pairs    []dayPair
	pairOf   map[dayPair]uint32
	since    time.Time
	// lastErr is the last refresh's error message, nil after a success:
	// atomic, so that Stats (and /metrics) never wait for a refresh.
	lastErr atomic.Pointer[string]
	// dropped is set once units were dropped over MaxUnits: from then on a
	// unit not held may have history, so one seen again is read whole.
	dropped bool
	// shared holds one UnitTraits per distinct value, for units to share:
	// most units have the same few (every unit exposed today and never
	// engaged has the same traits), and a UnitTraits is about 400 bytes.
	shared map[unitTraitsKey]*UnitTraits

	// user is the computed traits' snapshot (nil without a catalogue);
	// userState what builds it, guarded by mu.
	user      atomic.Pointer[userSnapshot]
	userState *userState
	// profiles are the stored profiles (nil without a ProfileReader);
	// profileState builds them, guarded by mu.
	profiles     atomic.Pointer[profileSnapshot]
	profileState *profileState
}

// unitTraitsKey is what makes two units' UnitTraits equal.
type unitTraitsKey struct {
	Traits
	Day, LastSeen int32
}

// maxWholeRead is the most units one Activity call names.
const maxWholeRead = 10_000

// maxShared bounds the distinct values Cache.shared keeps; past it
// the map starts again (values already handed out stay valid).
const maxShared = 1 << 16

// DefaultMaxUnits is CacheConfig.MaxUnits's default: 4M units,
// 400 to 600 MB if all were quiet (see Cache), more if many engaged.
const DefaultMaxUnits = 4_000_000

// traitSnapshot is what readers see; nothing in it is written once it is
// published. Quiet units are looked up in quiet, whose pair indexes select
// their traits in quietTraits. Engaged units are in base, with changed
// overlaid on it (a nil value: the unit is not engaged, or no longer
// held). A refresh copies only changed, and folds it into a new base once
// it has grown past sqrt(2 × base × units changed per refresh), the size
// that makes copies of changed and amortised folds cost the least.
type traitSnapshot struct {
	base, changed map[unitKey]*UnitTraits
	engaged       int // units with traits in base and changed
	quiet         quietTable
	quietTraits   []*UnitTraits // by pair index
	day           int32         // the day the traits were computed for
	at            time.Time     // when the snapshot was built; zero before the first
}

func (s *traitSnapshot) held() int { return s.engaged + s.quiet.len() }

func (s *traitSnapshot) get(k unitKey) (*UnitTraits, bool) {
	if t, ok := s.getEngaged(k); ok {
		return t, true
	}
	if p, ok := s.quiet.find(k); ok {
		return s.quietTraits[p], true
	}
	return nil, false
}

func (s *traitSnapshot) getEngaged(k unitKey) (*UnitTraits, bool) {
	if len(s.changed) > 0 {
		if t, ok := s.changed[k]; ok {
			return t, t != nil
		}
	}
	if len(s.base) == 0 {
		return nil, false
	}
	t, ok := s.base[k]
	return t, ok
}

// eachEngaged calls fn for every engaged unit.
func (s *traitSnapshot) eachEngaged(fn func(k unitKey, t *UnitTraits)) {
	for k, t := range s.changed {
		if t != nil {
			fn(k, t)
		}
	}
	for k, t := range s.base {
		if _, ok := s.changed[k]; !ok {
			fn(k, t)
		}
	}
}

// withEngaged returns the snapshot's engaged units with those of keys
// replaced by update's (nil: not engaged), and the rest of s as it is.
func (s *traitSnapshot) withEngaged(keys []unitKey, update func(k unitKey) *UnitTraits) *traitSnapshot {
	next := *s
	if len(keys) == 0 {
		return &next
	}
	changed := make(map[unitKey]*UnitTraits, len(s.changed)+len(keys))
	for k, t := range s.changed {
		changed[k] = t
	}
	engaged := s.engaged
	for _, k := range keys {
		// Engaged before, as of the changes so far: keys may repeat.
		prev, ok := changed[k]
		was := ok && prev != nil
		if !ok {
			_, was = s.base[k]
		}
		t := update(k)
		changed[k] = t
		switch {
		case was && t == nil:
			engaged--
		case !was && t != nil:
			engaged++
		}
	}
	next.changed, next.engaged = changed, engaged
	if limit := math.Sqrt(2 * float64(len(s.base)) * float64(len(keys))); len(changed) <= 1024 || float64(len(changed)) < limit {
		return &next
	}
	base := make(map[unitKey]*UnitTraits, engaged)
	next.eachEngaged(func(k unitKey, t *UnitTraits) { base[k] = t })
	next.base, next.changed = base, nil
	return &next
}

// NewCache returns an empty cache: every unit has DefaultTraits until
// the first Refresh.
func NewCache(cfg CacheConfig) *Cache {
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.MaxUnits <= 0 {
		cfg.MaxUnits = DefaultMaxUnits
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Cache{cfg: cfg, keys: newUnitKeys(), defaults: NewUnitTraits(DefaultTraits(), 0),
		activity: map[unitKey]*UnitActivity{}, pairOf: map[dayPair]uint32{}}
	c.snap.Store(&traitSnapshot{})
	c.initUser()
	return c
}

// Traits returns a unit's traits, DefaultTraits when the cache holds none.
// It never blocks and allocates nothing; the result is never nil and must
// not be modified.
func (c *Cache) Traits(unit string) *UnitTraits {
	if t, ok := c.snap.Load().get(c.keys.of(unit)); ok {
		return t
	}
	return c.defaults
}

// Held reports whether the cache holds traits for unit (false: defaults).
func (c *Cache) Held(unit string) bool {
	_, ok := c.snap.Load().get(c.keys.of(unit))
	return ok
}

// Staleness is the documented bound, not counting the ingest flush
// interval: how long after an event is stored its unit's traits may still
// ignore it.
func (c *Cache) Staleness() time.Duration { return c.cfg.Interval }

// CacheStats describe the cache for operators.
type CacheStats struct {
	Units       int       `json:"units"`
	RefreshedAt time.Time `json:"refreshed_at"` // zero before the first refresh
	Day         time.Time `json:"day"`          // the UTC day traits are computed for
	LastError   string    `json:"last_error,omitempty"`
}

// Stats returns the cache's size and freshness.
func (c *Cache) Stats() CacheStats {
	s := c.snap.Load()
	st := CacheStats{Units: s.held(), RefreshedAt: s.at}
	if s.day != 0 {
		st.Day = analytics.DayTime(s.day)
	}
	if msg := c.lastErr.Load(); msg != nil {
		st.LastError = *msg
	}
	return st
}

// Fetch reads one unit's traits from storage now, bypassing the cache, for
// debugging.
func (c *Cache) Fetch(ctx context.Context, unit string) (*UnitTraits, error) {
	today := analytics.Day(c.cfg.Now())
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
func (c *Cache) Run(ctx context.Context) {
	experiment.Every(ctx, c.cfg.Interval, c.Refresh, func(err error) {
		c.cfg.Logger.Warn("refresh traits", "err", err)
	})
}

// Refresh reads the units with new events and publishes a new snapshot. On
// error the previous snapshot stays and the next Refresh reads the same
// units again.
func (c *Cache) Refresh(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	deleted, perr := c.refreshProfiles(ctx)
	err := errors.Join(c.refresh(ctx), c.refreshUser(ctx, c.cfg.Now()), perr)
	c.forget(deleted)
	if err != nil {
		msg := err.Error()
		c.lastErr.Store(&msg)
	} else {
		c.lastErr.Store(nil)
	}
	return err
}

// held reports whether the cache holds k, engaged or quiet.
func (c *Cache) held(k unitKey) bool {
	if _, ok := c.activity[k]; ok {
		return true
	}
	_, ok := c.quiet.find(k)
	return ok
}

// refresh reads the units with new events, folds them into what c holds and
// publishes the new traits; on error c is as it was.
func (c *Cache) refresh(ctx context.Context) error {
	now := c.cfg.Now()
	today := analytics.Day(now)
	acts, keys, next, err := c.readChanged(ctx, today)
	if err != nil {
		return err
	}
	// Nothing above changed c: a failed read is retried whole next time.
	c.since = next
	var engaged []unitKey // engaged units whose traits changed
	quietChanged := false
	for i := range acts {
		e, q := c.update(&acts[i], keys[i])
		if e {
			engaged = append(engaged, keys[i])
		}
		quietChanged = quietChanged || q
	}
	c.publish(engaged, quietChanged, today, now)
	return nil
}

// readChanged returns the activity of the units with events stored since
// c.since, their keys (keys[i] is acts[i]'s), and the mark to keep for next
// time. It changes nothing in c.
func (c *Cache) readChanged(ctx context.Context, today int32) (acts []UnitActivity, keys []unitKey, next time.Time, err error) {
	acts, next, err = c.cfg.Reader.ChangedActivity(ctx, c.since, today)
	if err != nil {
		return nil, nil, time.Time{}, fmt.Errorf("changed units: %w", err)
	}
	keys = make([]unitKey, len(acts))
	for i := range acts {
		keys[i] = c.keys.of(acts[i].Unit)
	}
	// A unit seen again (only new exposures) keeps the activity held for
	// it. One not held had no event in the window before, so what the
	// reader saw is its whole activity; unless units were dropped over
	// MaxUnits, when it may have been one of them, and is read whole.
	var whole []string
	if c.dropped {
		for i := range acts {
			if acts[i].Seen && !c.held(keys[i]) {
				whole = append(whole, acts[i].Unit)
			}
		}
	}
	// In chunks: Activity names its units in the query's text, which
	// ClickHouse bounds (a bulk send can expose hundreds of thousands of
	// units between two refreshes).
	for len(whole) > 0 {
		n := min(len(whole), maxWholeRead)
		more, err := c.cfg.Reader.Activity(ctx, whole[:n], today)
		if err != nil {
			return nil, nil, time.Time{}, fmt.Errorf("units seen again: %w", err)
		}
		for i := range more {
			keys = append(keys, c.keys.of(more[i].Unit))
		}
		acts = append(acts, more...)
		whole = whole[n:]
	}
	return acts, keys, next, nil
}

// update folds a, the activity read for unit k, into what c holds. It
// reports whether k is an engaged unit whose traits changed (or one that
// stopped being engaged) and whether the quiet table changed.
func (c *Cache) update(a *UnitActivity, k unitKey) (engaged, quietChanged bool) {
	if a.Seen {
		if handled, e, q := c.updateSeen(a, k); handled {
			return e, q
		}
	}
	if p, ok := quietForm(a); ok {
		if _, was := c.activity[k]; was {
			delete(c.activity, k)
			engaged = true
		}
		c.quiet.put(k, c.pairIndex(p))
		return engaged, true
	}
	quietChanged = c.quiet.remove(k)
	// A copy of its own: a pointer into acts would keep the whole
	// array, and the units of every entry in it, for as long as this
	// one unit is held.
	kept := new(UnitActivity)
	*kept = *a
	c.activity[k] = kept
	return true, quietChanged
}

// updateSeen folds the new exposures of a seen unit into the activity held
// for it. It reports handled false when k is not held and what the reader
// saw is its whole activity, for update to take as such; otherwise engaged
// and quietChanged as update does.
func (c *Cache) updateSeen(a *UnitActivity, k unitKey) (handled, engaged, quietChanged bool) {
	if held, ok := c.activity[k]; ok {
		return true, seenAgain(held, a), false
	}
	if p, ok := c.quiet.find(k); ok {
		// The held activity of a quiet unit is its two days.
		held := UnitActivity{FirstSeen: c.pairs[p].first, LastSeen: c.pairs[p].last}
		if seenAgain(&held, a) {
			if moved, _ := quietForm(&held); moved != c.pairs[p] {
				c.quiet.put(k, c.pairIndex(moved))
				quietChanged = true
			}
		}
		return true, false, quietChanged
	}
	// Once units were dropped, readChanged read this one whole: its whole
	// activity comes later in the same read.
	return c.dropped, false, false
}

// publish stores the snapshot of the traits after a refresh changed the
// engaged units named and, if quietChanged, the quiet table.
func (c *Cache) publish(engaged []unitKey, quietChanged bool, today int32, now time.Time) {
	old := c.snap.Load()
	if old.day != today || old.at.IsZero() {
		// A new day (or the first refresh): windows moved for every unit.
		c.evictBefore(today - (WindowDays - 1))
		c.evictOver()
		c.snap.Store(c.rebuild(today, now))
		return
	}
	// Same day: only the changed units' traits change.
	if gone, dropped := c.evictOver(); dropped {
		engaged = append(engaged, gone...)
		quietChanged = true
	}
	snap := old.withEngaged(engaged, func(k unitKey) *UnitTraits {
		if a, ok := c.activity[k]; ok {
			return c.unitTraits(a, today)
		}
		return nil
	})
	if quietChanged {
		snap.quiet = c.quiet.clone()
		snap.quietTraits = c.quietTraitsFrom(old.quietTraits, today)
	}
	snap.at = now
	c.snap.Store(snap)
}

// rebuild computes every unit's traits for today.
func (c *Cache) rebuild(today int32, now time.Time) *traitSnapshot {
	base := make(map[unitKey]*UnitTraits, len(c.activity))
	for k, a := range c.activity {
		base[k] = c.unitTraits(a, today)
	}
	return &traitSnapshot{base: base, engaged: len(base), quiet: c.quiet.clone(),
		quietTraits: c.quietTraitsFrom(nil, today), day: today, at: now}
}

// quietTraitsFrom returns the traits of every pair, reusing those of have
// (computed for today, for the first pairs).
func (c *Cache) quietTraitsFrom(have []*UnitTraits, today int32) []*UnitTraits {
	if len(have) == len(c.pairs) {
		return have
	}
	out := make([]*UnitTraits, len(c.pairs))
	copy(out, have)
	for i := len(have); i < len(c.pairs); i++ {
		p := c.pairs[i]
		out[i] = c.unitTraits(&UnitActivity{FirstSeen: p.first, LastSeen: p.last}, today)
	}
	return out
}

// pairIndex returns p's index in c.pairs, adding it if new. Pairs are only
// forgotten when evictBefore renumbers them.
func (c *Cache) pairIndex(p dayPair) uint32 {
	if i, ok := c.pairOf[p]; ok {
		return i
	}
	i := uint32(len(c.pairs))
	c.pairs = append(c.pairs, p)
	c.pairOf[p] = i
	return i
}

// evictBefore drops units with no activity since day from, and forgets the
// pairs no unit has any more.
func (c *Cache) evictBefore(from int32) {
	for k, a := range c.activity {
		if a.LastDay() < from {
			delete(c.activity, k)
		}
	}
	renumber := make([]int32, len(c.pairs))
	for i := range renumber {
		renumber[i] = -1
	}
	var pairs []dayPair
	c.quiet.filter(func(p uint32) (uint32, bool) {
		if c.pairs[p].last < from {
			return 0, false
		}
		if renumber[p] < 0 {
			renumber[p] = int32(len(pairs))
			pairs = append(pairs, c.pairs[p])
		}
		return uint32(renumber[p]), true
	})
	c.pairs = pairs
	c.pairOf = make(map[dayPair]uint32, len(pairs))
	for i, p := range pairs {
		c.pairOf[p] = uint32(i)
	}
}

// evictOver drops, when more than MaxUnits are held, the least recently
// active; it returns the engaged units dropped and whether any was.
func (c *Cache) evictOver() (engaged []unitKey, dropped bool) {
	over := len(c.activity) + c.quiet.len() - c.cfg.MaxUnits
	if over <= 0 {
		return nil, false
	}
	c.dropped = true
	// Units by last day, from the oldest: all those before the cut day go,
	// and as many as still needed of those on it.
	byDay := map[int32]int{}
	for _, a := range c.activity {
		byDay[a.LastDay()]++
	}
	for p, n := range c.quiet.perPair(len(c.pairs)) {
		byDay[c.pairs[p].last] += n
	}
	days := make([]int32, 0, len(byDay))
	for d := range byDay {
		days = append(days, d)
	}
	slices.Sort(days)
	cut, onCut := days[0], over
	for _, d := range days {
		cut = d
		if onCut <= byDay[d] {
			break
		}
		onCut -= byDay[d]
	}
	drop := func(last int32) bool {
		if last < cut {
			return true
		}
		if last == cut && onCut > 0 {
			onCut--
			return true
		}
		return false
	}
	// Quiet units go first on the cut day: default traits are nearly
	// theirs anyway.
	c.quiet.filter(func(p uint32) (uint32, bool) { return p, !drop(c.pairs[p].last) })
	for k, a := range c.activity {
		if drop(a.LastDay()) {
			delete(c.activity, k)
			engaged = append(engaged, k)
		}
	}
	c.cfg.Logger.Warn("trait cache full: least recently active units get default traits",
		"dropped", over, "max_units", c.cfg.MaxUnits)
	return engaged, true
}

// seenAgain gives held seen's first day, if earlier, and its last day, if
// later: exposures move when a unit was last seen, and nothing else (a
// seen unit's first day may be later than the one held: the reader looks
// for it only among the new events and those before the window). held is
// changed in place: activity is only read under Cache.mu. It reports
// whether anything changed.
func seenAgain(held, seen *UnitActivity) bool {
	first, last := earlier(held.FirstSeen, seen.FirstSeen), max(held.LastSeen, seen.LastDay())
	if held.FirstSeen == first && held.LastSeen == last {
		return false
	}
	held.FirstSeen, held.LastSeen = first, last
	return true
}

// earlier returns the earlier of two days, 0 standing for unknown.
func earlier(a, b int32) int32 {
	if a == 0 || b != 0 && b < a {
		return b
	}
	return a
}

// unitTraits returns a's traits on day today: the same *UnitTraits as
// every other unit's with equal values.
func (c *Cache) unitTraits(a *UnitActivity, today int32) *UnitTraits {
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

// Recent calls fn for the units held that were seen (any event, exposures
// included) in the last days days, for traffic estimates: once per
// distinct traits value with the number of units that have it (traits are
// shared, and quiet units, most of them, share a few hundred values). It
// reads one snapshot and never blocks a refresh.
func (c *Cache) Recent(days int, fn func(t *UnitTraits, units int)) {
	s := c.snap.Load()
	from := s.day - int32(days) + 1
	counts := map[*UnitTraits]int{}
	s.eachEngaged(func(_ unitKey, t *UnitTraits) {
		if t.LastSeen >= from {
			counts[t]++
		}
	})
	for p, n := range s.quiet.perPair(len(s.quietTraits)) {
		if t := s.quietTraits[p]; n > 0 && t.LastSeen >= from {
			counts[t] += n
		}
	}
	for t, n := range counts {
		fn(t, n)
	}
}
