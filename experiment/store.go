package experiment

import "context"

// Store keeps experiments as their history of versions. Implementations:
// analytics/clickhouse (production) and experimenttest (memory, for tests).
//
// A Store checks concurrency, not meaning: the functions of this package
// (Create, Start, Retire, ...) build versions that are valid, and the Store
// appends them only if no one else got there first.
type Store interface {
	// Create stores v, version 1 of a new experiment (made by Create).
	// ECONFLICT if the key exists; EINVALID if v.Version is not 1.
	Create(ctx context.Context, v Version) error

	// Get returns the current version's definition. ENOTFOUND if no such key.
	Get(ctx context.Context, key string) (Experiment, error)

	// List returns the current definitions matching f, ordered by key.
	List(ctx context.Context, f Filter) ([]Experiment, error)

	// History returns every version of the experiment, oldest first.
	// ENOTFOUND if no such key.
	History(ctx context.Context, key string) ([]Version, error)

	// Save appends v, the next version, with optimistic concurrency: it
	// succeeds only if the stored current version is v.Version-1, and
	// returns ECONFLICT otherwise (someone else saved first: reload and
	// retry the action). ENOTFOUND if no such key.
	Save(ctx context.Context, v Version) error

	// ListRunning returns the current definitions of every running
	// experiment, ordered by key: what an assignment snapshot is built from.
	ListRunning(ctx context.Context) ([]Experiment, error)
}

// Filter selects experiments for Store.List. Zero fields select everything;
// Limit 0 means no limit.
type Filter struct {
	Status  Status
	Channel Channel
	Layer   string
	Offset  int
	Limit   int
}

// Match reports whether e passes the filter's field conditions (not Offset
// and Limit), so that every Store implements the same selection.
func (f Filter) Match(e Experiment) bool {
	if f.Status != "" && e.Status != f.Status {
		return false
	}
	if f.Channel != "" && e.Channel != f.Channel {
		return false
	}
	if f.Layer != "" && (e.Layer == nil || e.Layer.Name != f.Layer) {
		return false
	}
	return true
}
