// Package experimenttest provides an in-memory experiment.Store for tests,
// as net/http/httptest provides servers: same contract, no database.
package experimenttest

import (
	"context"
	"sort"
	"sync"

	"github.com/splitcast/splitcast/experiment"
)

// Store is an in-memory experiment.Store, safe for concurrent use. The zero
// value is ready. It keeps deep copies, so callers may change what they
// passed in or got back.
type Store struct {
	mu      sync.Mutex
	history map[string][]experiment.Version
}

var _ experiment.Store = (*Store)(nil)

// NewStore returns an empty Store.
func NewStore() *Store { return &Store{} }

// Create implements experiment.Store.
func (s *Store) Create(ctx context.Context, v experiment.Version) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if v.Version != 1 || v.Definition.Version != 1 {
		return experiment.Invalid("version", "a new experiment starts at version 1")
	}
	if v.Experiment != v.Definition.Key {
		return experiment.Invalid("key", "version record and definition disagree on the key")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.history == nil {
		s.history = map[string][]experiment.Version{}
	}
	if _, ok := s.history[v.Experiment]; ok {
		return experiment.Errorf(experiment.ECONFLICT, "experiment %s already exists", v.Experiment)
	}
	s.history[v.Experiment] = []experiment.Version{clone(v)}
	return nil
}

// Get implements experiment.Store.
func (s *Store) Get(ctx context.Context, key string) (experiment.Experiment, error) {
	if err := ctx.Err(); err != nil {
		return experiment.Experiment{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.history[key]
	if !ok {
		return experiment.Experiment{}, notFound(key)
	}
	return h[len(h)-1].Definition.Clone(), nil
}

// List implements experiment.Store.
func (s *Store) List(ctx context.Context, f experiment.Filter) ([]experiment.Experiment, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []experiment.Experiment
	for _, h := range s.history {
		if e := h[len(h)-1].Definition; f.Match(e) {
			out = append(out, e.Clone())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	if f.Offset > 0 {
		if f.Offset >= len(out) {
			return nil, nil
		}
		out = out[f.Offset:]
	}
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

// History implements experiment.Store.
func (s *Store) History(ctx context.Context, key string) ([]experiment.Version, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.history[key]
	if !ok {
		return nil, notFound(key)
	}
	out := make([]experiment.Version, len(h))
	for i, v := range h {
		out[i] = clone(v)
	}
	return out, nil
}

// Save implements experiment.Store.
func (s *Store) Save(ctx context.Context, v experiment.Version) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if v.Version != v.Definition.Version || v.Experiment != v.Definition.Key {
		return experiment.Invalid("version", "version record and definition disagree")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.history[v.Experiment]
	if !ok {
		return notFound(v.Experiment)
	}
	if cur := h[len(h)-1].Version; cur+1 != v.Version {
		return experiment.Errorf(experiment.ECONFLICT,
			"experiment %s is at version %d, not %d: reload and retry", v.Experiment, cur, v.Version-1)
	}
	s.history[v.Experiment] = append(h, clone(v))
	return nil
}

// ListRunning implements experiment.Store.
func (s *Store) ListRunning(ctx context.Context) ([]experiment.Experiment, error) {
	return s.List(ctx, experiment.Filter{Status: experiment.StatusRunning})
}

func clone(v experiment.Version) experiment.Version {
	v.Definition = v.Definition.Clone()
	return v
}

func notFound(key string) error {
	return experiment.Errorf(experiment.ENOTFOUND, "no experiment %s", key)
}
