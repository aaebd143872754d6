package traits

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/splitcast/splitcast/analytics"
)

// UserReader loads units' user events (the user_events table) for computed
// traits.
type UserReader interface {
	// EachChangedUser calls fn with the user events on or after day from
	// of every unit with a user event stored since the mark since (every
	// unit with one on or after from, when since is zero), each event
	// once, a unit at a time, and returns the mark to pass next time; like
	// Reader.ChangedActivity, a unit may come twice but is never missed.
	// The UnitEvents, and the events and properties in it, are fn's only
	// until it returns: a reader reuses their memory for the next unit, so
	// that a read holds one unit's events, not every changed unit's year
	// (the new day's read: every unit's), whose heap had been what the
	// collector spent 40% of a read's CPU on.
	EachChangedUser(ctx context.Context, since time.Time, from int32, fn func(*UnitEvents)) (time.Time, error)
}

// userState is the part of a Cache that holds computed traits; its fields
// are guarded by Cache.mu.
type userState struct {
	layout   layout
	interner *interner
	since    time.Time
}

func (c *Cache) initUser() {
	if c.cfg.ProfileReader != nil {
		c.profileState = &profileState{names: map[string]uint32{}, values: newInterner()}
		c.profiles.Store(&profileSnapshot{names: map[string]uint32{}})
	}
	if c.cfg.Catalogue == nil {
		return
	}
	c.userState = &userState{layout: newLayout(c.cfg.Catalogue), interner: newInterner()}
	c.user.Store(&userSnapshot{cat: c.cfg.Catalogue, layout: &c.userState.layout, defaults: c.cfg.Catalogue.DefaultValues()})
}

// refreshUser reads the units with new user events and publishes their
// computed traits; on a new day it reads every unit again (windows moved
// for all), with a fresh interner, so that values no unit has any more are
// dropped. On error what was published stays.
func (c *Cache) refreshUser(ctx context.Context, now time.Time) error {
	if c.userState == nil || c.cfg.UserReader == nil {
		return nil
	}
	today := analytics.Day(now)
	old := c.user.Load()
	newDay := old.day != today
	since := c.userState.since
	if newDay {
		since = time.Time{}
	}
	interner := c.userState.interner
	if newDay {
		interner = newInterner()
	}
	next, mark, err := c.nextUser(old, today, newDay, interner, func(fn func(*UnitEvents)) (time.Time, error) {
		return c.cfg.UserReader.EachChangedUser(ctx, since, today-(MaxUserDays-1), fn)
	})
	if err != nil {
		return fmt.Errorf("changed user events: %w", err)
	}
	c.userState.since, c.userState.interner = mark, interner
	c.user.Store(next)
	return nil
}

// nextUser returns the snapshot after old with the rows of the units that
// read hands over recomputed (every row anew when whole), and read's
// mark. Nothing is published when read fails: the rows are written into
// a copy.
func (c *Cache) nextUser(old *userSnapshot, today int32, whole bool, interner *interner,
	read func(fn func(*UnitEvents)) (time.Time, error)) (*userSnapshot, time.Time, error) {
	st := c.userState
	l := &st.layout
	next := *old
	next.day = today
	var into *userRows
	switch {
	case whole:
		into = &userRows{}
		next.base, next.changed = into, nil
	case old.changed == nil:
		into = &userRows{}
		next.changed = into
	default:
		into = old.changed.clone(0, l)
		next.changed = into
	}
	nums, ids := make([]float64, l.nNums), make([]uint32, l.nIDs)
	units := 0
	mark, err := read(func(u *UnitEvents) {
		vals := c.cfg.Catalogue.Compute(u.Events, today)
		encodeRow(l, interner, vals, nums, ids)
		into.set(l, c.keys.of(u.Unit), nums, ids)
		units++
	})
	if err != nil {
		return nil, time.Time{}, err
	}
	if !whole && next.base != nil && next.changed != nil {
		n := float64(next.changed.rows(l))
		if n > 1024 && n > math.Sqrt(2*float64(next.base.rows(l))*float64(units)) {
			next.base, next.changed = fold(l, next.base, next.changed), nil
		}
	} else if !whole && next.base == nil && next.changed != nil && next.changed.rows(l) > 1024 {
		next.base, next.changed = next.changed, nil
	}
	next.boxed = interner.boxed
	return &next, mark, nil
}

// fold returns base with changed's rows put in.
func fold(l *layout, base, changed *userRows) *userRows {
	out := base.clone(changed.rows(l), l)
	changed.index.eachKey(func(k unitKey, r uint32) {
		out.set(l, k, changed.nums[int(r)*l.nNums:][:l.nNums], changed.ids[int(r)*l.nIDs:][:l.nIDs])
	})
	return out
}

// view returns what rules read of the unit of key k: its computed traits
// and stored profile, and its behavioural traits, found only when a rule
// reads one.
func (c *Cache) view(k unitKey) *unitView {
	us, ps := c.user.Load(), c.profiles.Load()
	v := &unitView{cache: c, key: k, snap: us, profiles: ps}
	if us != nil {
		v.rows, v.row, _ = us.row(k)
	}
	if ps != nil {
		v.profile = ps.span(k)
	}
	return v
}

// forget drops what the cache holds of units deleted on request: their
// behavioural activity and their computed traits (the profiles were
// cleared by their tombstones already).
func (c *Cache) forget(keys []unitKey) {
	if len(keys) == 0 {
		return
	}
	quiet := false
	for _, k := range keys {
		delete(c.activity, k)
		quiet = c.quiet.remove(k) || quiet
	}
	snap := c.snap.Load().withEngaged(keys, func(unitKey) *UnitTraits { return nil })
	if quiet {
		snap.quiet = c.quiet.clone()
	}
	c.snap.Store(snap)
	us := c.user.Load()
	if us == nil {
		return
	}
	l, st := &c.userState.layout, c.userState
	next := *us
	into := &userRows{}
	if us.changed != nil {
		into = us.changed.clone(len(keys), l)
	}
	nums, ids := make([]float64, l.nNums), make([]uint32, l.nIDs)
	encodeRow(l, st.interner, us.defaults, nums, ids)
	for _, k := range keys {
		into.set(l, k, nums, ids)
	}
	next.changed, next.boxed = into, st.interner.boxed
	c.user.Store(&next)
}

// Profile returns unit's stored profile as this server holds it; nil
// without profiles.
func (c *Cache) Profile(unit string) map[string]any {
	ps := c.profiles.Load()
	if ps == nil {
		return nil
	}
	pairs := ps.span(c.keys.of(unit))
	out := make(map[string]any, len(pairs))
	for name := range ps.names {
		if v, ok := ps.lookup(pairs, name); ok {
			out[name] = v
		}
	}
	return out
}

// Computed returns unit's computed traits by full name ("trait.x.y"),
// absent ones left out; nil without a catalogue.
func (c *Cache) Computed(unit string) map[string]any {
	s := c.user.Load()
	if s == nil {
		return nil
	}
	rows, r, _ := s.row(c.keys.of(unit))
	out := make(map[string]any, len(s.cat.Traits))
	for i, d := range s.cat.Traits {
		if v := s.value(rows, r, i); v != nil {
			out["trait."+d.Name] = v
		}
	}
	return out
}

// Catalogue is the catalogue the cache computes, nil if none.
func (c *Cache) Catalogue() *Catalogue { return c.cfg.Catalogue }
