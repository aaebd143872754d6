package migrations

// ClusterSteps exposes clusterSteps as pairs of SQL and whether it runs once.
func ClusterSteps(stmt, cluster, db string, keys map[string]string) ([][2]any, error) {
	steps, err := clusterSteps(stmt, cluster, db, keys)
	out := make([][2]any, len(steps))
	for i, s := range steps {
		out[i] = [2]any{s.SQL, s.Once}
	}
	return out, err
}

// ShardKeys exposes shardKeys.
var ShardKeys = shardKeys

// Load exposes load, for files that are not the embedded ones.
var Load = load

// SplitClauses exposes splitClauses.
var SplitClauses = splitClauses
