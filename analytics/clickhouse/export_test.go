package clickhouse

// SetBeforeInsert makes s call f between its version check and its insert,
// where a rival process could write the same version.
func (s *ExperimentStore) SetBeforeInsert(f func()) { s.beforeInsert = f }
