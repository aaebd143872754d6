package clickhouse

import (
	"context"

	"github.com/splitcast/splitcast/analytics/results"
)

// SetBeforeInsert makes s call f between its version check and its insert,
// where a rival process could write the same version.
func (s *ExperimentStore) SetBeforeInsert(f func()) { s.beforeInsert = f }

// RawAggregates reads the aggregates from the raw events, the query the
// rollup is checked against.
func (r *AggregateReader) RawAggregates(ctx context.Context, key string) (results.Aggregates, error) {
	return r.rawAggregates(ctx, key)
}
