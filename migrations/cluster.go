package migrations

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
)

// directivePrefix starts a directive line: a comment that tells the runner
// how to apply the file on a cluster.
const directivePrefix = "-- splitcast:"

// clusterMark is the schema_migrations row, on every node of a cluster, that
// records the cluster the database was migrated for (in its checksum).
const clusterMark = "@cluster"

// localSuffix names a sharded table's MergeTree on each node; the table's
// own name is the Distributed table over them.
const localSuffix = "_local"

// shardKeys returns, from the directives of all files, each sharded table's
// sharding key: `-- splitcast:shard TABLE EXPR`.
func shardKeys(all []File) (map[string]string, error) {
	keys := map[string]string{}
	for _, f := range all {
		for _, line := range strings.Split(f.SQL, "\n") {
			line = strings.TrimSpace(line)
			if !strings.HasPrefix(line, directivePrefix) {
				continue
			}
			verb, args, _ := strings.Cut(strings.TrimPrefix(line, directivePrefix), " ")
			table, key, _ := strings.Cut(strings.TrimSpace(args), " ")
			key = strings.TrimSpace(key)
			switch {
			case verb != "shard":
				return nil, fmt.Errorf("migration %s: unknown directive %q (want %sshard TABLE KEY)", f.Name, line, directivePrefix)
			case table == "" || key == "":
				return nil, fmt.Errorf("migration %s: %q names no table or no key", f.Name, line)
			case keys[table] != "" && keys[table] != key:
				return nil, fmt.Errorf("migration %s: table %s already shards by %s", f.Name, table, keys[table])
			}
			keys[table] = key
		}
	}
	return keys, nil
}

// step is one statement of a migration as applied on a cluster: on every
// node, or once, on the first node, through the Distributed tables.
type step struct {
	SQL  string
	Once bool
}

var (
	reCreateTable = regexp.MustCompile("(?is)^CREATE\\s+TABLE\\s+(?:IF\\s+NOT\\s+EXISTS\\s+)?([`\"]?\\w+[`\"]?)")
	reCreateView  = regexp.MustCompile(`(?is)^CREATE\s+VIEW\s`)
	reAlterTable  = regexp.MustCompile("(?is)^ALTER\\s+TABLE\\s+([`\"]?\\w+[`\"]?)\\s+(.*)$")
	reColumnAlter = regexp.MustCompile(`(?is)^(ADD|DROP|MODIFY|COMMENT)\s+COLUMN\s`)
	reDropTable   = regexp.MustCompile("(?is)^DROP\\s+TABLE\\s+(?:IF\\s+EXISTS\\s+)?([`\"]?\\w+[`\"]?)")
	reInsert      = regexp.MustCompile(`(?is)^INSERT\s`)
)

// clusterSteps turns one statement into what applies it on cluster, whose
// nodes hold database db; keys are the sharded tables' keys.
func clusterSteps(stmt, cluster, db string, keys map[string]string) ([]step, error) {
	stmt = strings.TrimSpace(stmt)
	unquote := func(s string) string { return strings.Trim(s, "`\"") }
	if m := reCreateTable.FindStringSubmatch(stmt); m != nil {
		table := unquote(m[1])
		key, ok := keys[table]
		if !ok {
			return nil, fmt.Errorf("table %s has no sharding key: add a line `%sshard %s EXPR` (e.g. cityHash64(unit)) to its file", table, directivePrefix, table)
		}
		dist := fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s AS %s ENGINE = Distributed(%s, %s, %s, %s)",
			quoteIdent(table), quoteIdent(table+localSuffix), quoteString(cluster), quoteString(db), quoteString(table+localSuffix), key)
		return []step{{SQL: localize(stmt, keys)}, {SQL: dist}}, nil
	}
	if reCreateView.MatchString(stmt) {
		// A plain view is a stored query: it must read every shard.
		return []step{{SQL: stmt}}, nil
	}
	if m := reAlterTable.FindStringSubmatch(stmt); m != nil {
		if _, ok := keys[unquote(m[1])]; !ok {
			return []step{{SQL: stmt}}, nil
		}
		steps := []step{{SQL: localize(stmt, keys)}}
		if reColumnAlter.MatchString(m[2]) {
			// The Distributed table has the columns too; it takes no
			// other ALTER.
			steps = append(steps, step{SQL: stmt})
		}
		return steps, nil
	}
	if m := reDropTable.FindStringSubmatch(stmt); m != nil {
		if _, ok := keys[unquote(m[1])]; ok {
			return []step{{SQL: stmt}, {SQL: localize(stmt, keys)}}, nil
		}
		return []step{{SQL: stmt}}, nil
	}
	if reInsert.MatchString(stmt) {
		// Once, through the Distributed tables, so that rows land on the
		// shard of their key and not on every node.
		return []step{{SQL: stmt, Once: true}}, nil
	}
	// Anything else (materialized views, OPTIMIZE, ...) runs on each node
	// against its local tables: a materialized view on events_local sees
	// the inserts of its own shard.
	return []step{{SQL: localize(stmt, keys)}}, nil
}

// tableKeywords are the words after which a name is a table's.
var tableKeywords = map[string]bool{"FROM": true, "JOIN": true, "INTO": true, "TO": true, "TABLE": true, "EXISTS": true}

// localize renames the sharded tables that stmt names after FROM, JOIN,
// INTO, TO, TABLE or EXISTS to their local tables. It skips string literals,
// and names elsewhere (columns and aliases may share a table's name).
func localize(stmt string, keys map[string]string) string {
	var out strings.Builder
	prev := ""
	for i := 0; i < len(stmt); {
		c := stmt[i]
		switch {
		case c == '\'':
			j := i + 1
			for j < len(stmt) && stmt[j] != '\'' {
				if stmt[j] == '\\' {
					j++
				}
				j++
			}
			j = min(j+1, len(stmt))
			out.WriteString(stmt[i:j])
			i, prev = j, ""
		case c == '`' || c == '"':
			j := strings.IndexByte(stmt[i+1:], c)
			if j < 0 {
				out.WriteString(stmt[i:])
				return out.String()
			}
			name := stmt[i+1 : i+1+j]
			if _, ok := keys[name]; ok && tableKeywords[prev] {
				name += localSuffix
			}
			out.WriteByte(c)
			out.WriteString(name)
			out.WriteByte(c)
			i, prev = i+j+2, ""
		case isWordByte(c):
			j := i
			for j < len(stmt) && isWordByte(stmt[j]) {
				j++
			}
			word := stmt[i:j]
			_, sharded := keys[word]
			qualified := i > 0 && stmt[i-1] == '.'
			out.WriteString(word)
			if sharded && tableKeywords[prev] && !qualified {
				out.WriteString(localSuffix)
			}
			i, prev = j, strings.ToUpper(word)
		default:
			if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
				prev = ""
			}
			out.WriteByte(c)
			i++
		}
	}
	return out.String()
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func quoteIdent(s string) string {
	return "`" + strings.NewReplacer("\\", "\\\\", "`", "\\`").Replace(s) + "`"
}

func quoteString(s string) string {
	return "'" + strings.NewReplacer("\\", "\\\\", "'", "\\'").Replace(s) + "'"
}

// node is one server of a cluster, with the migrations it has applied.
type node struct {
	addr string
	conn Conn
	done map[string]string
}

type clusterHost struct {
	Shard   uint32 `ch:"shard_num"`
	Replica uint32 `ch:"replica_num"`
	Host    string `ch:"host_address"`
	Port    uint16 `ch:"port"`
	Local   uint8  `ch:"is_local"`
}

// upCluster applies the pending files on every node of r.Cluster, each node
// recording what it applied. A file counts as applied, in the returned
// names, when it was pending on any node.
func (r *Runner) upCluster(ctx context.Context, all []File) ([]string, error) {
	if r.Dial == nil {
		return nil, fmt.Errorf("cluster %s: Runner.Dial is required", r.Cluster)
	}
	// Plan every file before touching any node: a file that cannot run on
	// a cluster must not leave half a schema behind.
	plans, err := r.planCluster(ctx, all)
	if err != nil {
		return nil, err
	}
	nodes, closeNodes, err := r.connectNodes(ctx)
	defer closeNodes()
	if err != nil {
		return nil, err
	}
	if err := readNodeLogs(ctx, nodes, all, r.Cluster); err != nil {
		return nil, err
	}
	if err := r.markCluster(ctx, nodes); err != nil {
		return nil, err
	}
	var ran []string
	for i, f := range all {
		applied, err := r.applyOnCluster(ctx, nodes, f, plans[i])
		if err != nil {
			return ran, err
		}
		if applied {
			ran = append(ran, f.Name)
		}
	}
	return ran, nil
}

// planCluster returns the steps that apply each file of all on r.Cluster,
// by the files' index.
func (r *Runner) planCluster(ctx context.Context, all []File) ([][]step, error) {
	keys, err := shardKeys(all)
	if err != nil {
		return nil, err
	}
	var dbs []struct {
		DB string `ch:"db"`
	}
	if err := r.Conn.Select(ctx, &dbs, "SELECT currentDatabase() AS db"); err != nil || len(dbs) != 1 {
		return nil, fmt.Errorf("read the current database: %v", err)
	}
	db := dbs[0].DB
	plans := make([][]step, len(all))
	for i, f := range all {
		for _, stmt := range Statements(f.SQL) {
			steps, err := clusterSteps(stmt, r.Cluster, db, keys)
			if err != nil {
				return nil, fmt.Errorf("migration %s: %w", f.Name, err)
			}
			plans[i] = append(plans[i], steps...)
		}
	}
	return plans, nil
}

// EachNode calls fn with a connection to Conn's database on every node of
// r.Cluster, in shard and replica order (with Conn alone when there is no
// cluster), and closes the connections it opened: for statements that a
// Distributed table refuses, such as mutations, run on each node's local
// tables. It stops at fn's first error.
func (r *Runner) EachNode(ctx context.Context, fn func(Conn) error) error {
	if r.Cluster == "" {
		return fn(r.Conn)
	}
	if r.Dial == nil {
		return fmt.Errorf("cluster %s: Runner.Dial is required", r.Cluster)
	}
	nodes, closeAll, err := r.connectNodes(ctx)
	defer closeAll()
	if err != nil {
		return err
	}
	for _, n := range nodes {
		if err := fn(n.conn); err != nil {
			return fmt.Errorf("node %s: %w", n.addr, err)
		}
	}
	return nil
}

// connectNodes returns the nodes of r.Cluster in shard and replica order,
// dialling all but the server r.Conn is on, which must be one of them. The
// returned func closes the connections dialled; call it even on error.
func (r *Runner) connectNodes(ctx context.Context) ([]*node, func(), error) {
	var dialled []NodeConn
	closeAll := func() {
		for i := len(dialled) - 1; i >= 0; i-- {
			dialled[i].Close()
		}
	}
	var hosts []clusterHost
	if err := r.Conn.Select(ctx, &hosts, `SELECT shard_num, replica_num, host_address, port, is_local
FROM system.clusters WHERE cluster = ? ORDER BY shard_num, replica_num`, r.Cluster); err != nil {
		return nil, closeAll, fmt.Errorf("read cluster %s: %w", r.Cluster, err)
	}
	if len(hosts) == 0 {
		return nil, closeAll, fmt.Errorf("cluster %s is not in the server's remote_servers config", r.Cluster)
	}
	nodes := make([]*node, len(hosts))
	member := false
	for i, h := range hosts {
		n := &node{addr: net.JoinHostPort(h.Host, strconv.Itoa(int(h.Port))), conn: r.Conn}
		if h.Local == 0 {
			c, err := r.Dial(ctx, n.addr)
			if err != nil {
				return nil, closeAll, fmt.Errorf("cluster %s: connect to %s: %w", r.Cluster, n.addr, err)
			}
			dialled = append(dialled, c)
			n.conn = c
		}
		member = member || h.Local != 0
		nodes[i] = n
	}
	if !member {
		return nil, closeAll, fmt.Errorf("cluster %s: the server migrating is not one of its nodes", r.Cluster)
	}
	return nodes, closeAll, nil
}

// readNodeLogs reads into each node what it applied of all, and checks that
// every node is new or was migrated for this cluster.
func readNodeLogs(ctx context.Context, nodes []*node, all []File, cluster string) error {
	for _, n := range nodes {
		var err error
		if n.done, err = readLog(ctx, n.conn, all); err != nil {
			return fmt.Errorf("node %s: %w", n.addr, err)
		}
		mark, marked := n.done[clusterMark]
		switch {
		case marked && mark != cluster:
			return fmt.Errorf("node %s: the database was migrated for cluster %q, not %q", n.addr, mark, cluster)
		case !marked && len(n.done) > 0:
			return fmt.Errorf("node %s: the database was migrated as a single node; cluster mode needs a new database", n.addr)
		}
	}
	return nil
}

// markCluster records r.Cluster on each node that has not recorded it yet.
func (r *Runner) markCluster(ctx context.Context, nodes []*node) error {
	for _, n := range nodes {
		if _, ok := n.done[clusterMark]; !ok {
			if err := r.record(ctx, n.conn, clusterMark, r.Cluster); err != nil {
				return fmt.Errorf("node %s: %w", n.addr, err)
			}
		}
	}
	return nil
}

// applyOnCluster runs plan, the steps of f, on the nodes where f is pending,
// and records it on them, the first node last. It reports whether f was
// pending anywhere.
func (r *Runner) applyOnCluster(ctx context.Context, nodes []*node, f File, plan []step) (bool, error) {
	var pending []*node
	for _, n := range nodes {
		if _, ok := n.done[f.Name]; !ok {
			pending = append(pending, n)
		}
	}
	if len(pending) == 0 {
		return false, nil
	}
	for j, s := range plan {
		on := pending
		if s.Once {
			// Once for the cluster: only if the first node, which
			// records last, has not recorded the file.
			on = nil
			if _, ok := nodes[0].done[f.Name]; !ok {
				on = nodes[:1]
			}
		}
		for _, n := range on {
			if err := execIdempotent(ctx, n.conn, s.SQL); err != nil {
				return false, fmt.Errorf("migration %s, step %d on %s: %w", f.Name, j+1, n.addr, err)
			}
		}
	}
	// The first node last: its record says the file is done everywhere.
	for k := len(pending) - 1; k >= 0; k-- {
		if err := r.record(ctx, pending[k].conn, f.Name, f.Checksum); err != nil {
			return false, fmt.Errorf("node %s: %w", pending[k].addr, err)
		}
	}
	return true, nil
}
