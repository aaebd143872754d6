package traits

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Stored profiles: attributes a caller stored for a unit (POST
// /v1/units/{unit}/attributes), which assignment reads like the caller's
// own when the call does not carry them: the call's attributes win, stored
// ones come next. The cache holds them as it holds computed traits, in a
// layout the collector does not scan: each unit a span of (name id, value
// id) pairs in one flat array, names and values interned once.

// Profile is a unit's stored attributes, as JSON decodes them. Deleted
// marks a unit whose data was deleted on request: the cache forgets all it
// holds of it.
type Profile struct {
	Unit    string
	Attrs   map[string]any
	Deleted bool
}

// ProfileReader loads stored profiles.
type ProfileReader interface {
	// ChangedProfiles returns the whole profile of every unit with a
	// profile row stored since the mark since (every unit when zero), and
	// the next mark; a unit may come twice but is never missed.
	ChangedProfiles(ctx context.Context, since time.Time) ([]Profile, time.Time, error)
}

// profileRows maps units to their spans of pairs; immutable once published.
type profileRows struct {
	index quietTable // unit key -> span index
	spans []uint64   // offset<<16 | count, into pairs
	pairs []uint64   // name id<<32 | value id
}

func (r *profileRows) set(k unitKey, pairs []uint64) {
	span := uint64(len(r.pairs))<<16 | uint64(len(pairs))
	r.pairs = append(r.pairs, pairs...)
	if i, ok := r.index.find(k); ok {
		r.spans[i] = span
		return
	}
	r.index.put(k, uint32(len(r.spans)))
	r.spans = append(r.spans, span)
}

func (r *profileRows) of(i uint32) []uint64 {
	s := r.spans[i]
	return r.pairs[s>>16:][:s&0xffff]
}

func (r *profileRows) clone(more int) *profileRows {
	return &profileRows{index: r.index.clone(),
		spans: append(make([]uint64, 0, len(r.spans)+more), r.spans...),
		pairs: append(make([]uint64, 0, len(r.pairs)+8*more), r.pairs...)}
}

// profileSnapshot is what readers see of stored profiles.
type profileSnapshot struct {
	base, changed *profileRows
	names         map[string]uint32 // a copy, never written once published
	boxed         []any
}

func (s *profileSnapshot) span(k unitKey) []uint64 {
	if s.changed != nil {
		if i, ok := s.changed.index.find(k); ok {
			return s.changed.of(i)
		}
	}
	if s.base != nil {
		if i, ok := s.base.index.find(k); ok {
			return s.base.of(i)
		}
	}
	return nil
}

// lookup returns the stored attribute name of the unit whose span is pairs.
func (s *profileSnapshot) lookup(pairs []uint64, name string) (any, bool) {
	if len(pairs) == 0 {
		return nil, false
	}
	id, ok := s.names[name]
	if !ok {
		return nil, false
	}
	for _, p := range pairs {
		if uint32(p>>32) == id {
			return s.boxed[uint32(p)], true
		}
	}
	return nil, false
}

// profileState builds profile snapshots; guarded by Cache.mu.
type profileState struct {
	names  map[string]uint32
	values *interner
	since  time.Time
	fresh  bool // names changed since the last publication
}

// valueKey is the interning key of a stored value.
func valueKey(v any) (any, string) {
	switch v := v.(type) {
	case string:
		return v, "s" + v
	case float64:
		return v, "n" + strconv.FormatUint(math.Float64bits(v), 16)
	case bool:
		return v, "b" + strconv.FormatBool(v)
	case []any:
		l := make([]string, 0, len(v))
		key := "l"
		for _, x := range v {
			s, _ := x.(string)
			l = append(l, s)
			key += s + "\x00"
		}
		return l, key
	}
	return nil, ""
}

func (st *profileState) pairs(attrs map[string]any) []uint64 {
	out := make([]uint64, 0, len(attrs))
	for name, v := range attrs {
		id, ok := st.names[name]
		if !ok {
			id = uint32(len(st.names))
			st.names[name] = id
			st.fresh = true
		}
		boxed, key := valueKey(v)
		if key == "" {
			continue
		}
		vid, ok := st.values.ids[key]
		if !ok {
			vid = uint32(len(st.values.boxed))
			st.values.ids[key] = vid
			st.values.boxed = append(st.values.boxed, boxed)
		}
		out = append(out, uint64(id)<<32|uint64(vid))
	}
	return out
}

// refreshProfiles reads the changed profiles and publishes them; it
// returns the units deleted, for the rest of the cache to forget.
func (c *Cache) refreshProfiles(ctx context.Context) ([]unitKey, error) {
	if c.cfg.ProfileReader == nil {
		return nil, nil
	}
	st := c.profileState
	profiles, next, err := c.cfg.ProfileReader.ChangedProfiles(ctx, st.since)
	if err != nil {
		return nil, fmt.Errorf("changed profiles: %w", err)
	}
	st.since = next
	if len(profiles) == 0 {
		return nil, nil
	}
	old := c.profiles.Load()
	nx := *old
	var into *profileRows
	if old.changed == nil {
		into = &profileRows{}
	} else {
		into = old.changed.clone(len(profiles))
	}
	var deleted []unitKey
	for i := range profiles {
		k := c.keys.of(profiles[i].Unit)
		into.set(k, st.pairs(profiles[i].Attrs))
		if profiles[i].Deleted {
			deleted = append(deleted, k)
		}
	}
	nx.changed = into
	if n := float64(len(into.spans)); n > 1024 && (nx.base == nil || n > math.Sqrt(2*float64(len(nx.base.spans))*float64(len(profiles)))) {
		nx.base, nx.changed = foldProfiles(nx.base, into), nil
	}
	if st.fresh {
		nx.names = make(map[string]uint32, len(st.names))
		for k, v := range st.names {
			nx.names[k] = v
		}
		st.fresh = false
	}
	nx.boxed = st.values.boxed
	c.profiles.Store(&nx)
	return deleted, nil
}

func foldProfiles(base, changed *profileRows) *profileRows {
	if base == nil {
		return changed
	}
	out := base.clone(len(changed.spans))
	changed.index.eachKey(func(k unitKey, i uint32) { out.set(k, changed.of(i)) })
	return out
}
