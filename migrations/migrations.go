// Package migrations holds Splitcast's ClickHouse schema as numbered SQL
// files embedded in the binary, and the runner that applies them in order.
//
// ClickHouse DDL is not transactional, so every file is idempotent
// (CREATE ... IF NOT EXISTS) and a file interrupted half way is simply run
// again. ALTER TABLE ... ADD COLUMN, which has no IF NOT EXISTS on 18.16,
// is made so by the runner: it adds only the columns that system.columns
// does not list. Applied files are recorded with a checksum; a file whose content
// changed after it was applied stops the runner, naming the file, because the
// database no longer matches what the code believes it is.
//
// # Cluster mode
//
// With Runner.Cluster set to a cluster of the servers' remote_servers
// config, every table is sharded: a table T becomes T_local, the MergeTree of
// the file, on every node, and T, a Distributed table over the T_local of
// every shard, on every node too. The code reads and writes T alone and
// never knows whether it talks to one server or to a cluster, so every node
// can serve the API. Each file names the sharding key of each table it
// creates in a directive line (directives are not part of the checksum):
//
//	-- splitcast:shard events cityHash64(unit)
//
// A file that creates a table without one fails in cluster mode, and a test
// checks the embedded files. The keys keep together the rows a query must
// see together: a unit's events on one shard (its duplicates, its first
// exposure, its later events), an experiment's versions on one shard. Small
// tables are sharded like big ones rather than copied to every node: without
// ZooKeeper nothing would keep copies in step, while a Distributed table
// reads every shard and so gives every node the same answer. Queries need
// no change for correctness, because a query on a Distributed table merges
// the shards' partial results as if the rows were on one server; outer
// levels of nested queries run on the server asked, over the merged result.
//
// Writes through a Distributed table are asynchronous by default (queued on
// the receiving node's disk): connections to a cluster set
// insert_distributed_sync=1, so that a write returns once every shard has
// its rows, a store reads its own writes, and a shard that is down fails the
// write, which the ingest spool then keeps and retries.
//
// The runner applies each file on every node itself, connecting to the
// nodes listed in system.clusters of the server it is given, and each node
// records what it applied, so a run interrupted on one node resumes there.
// ON CLUSTER DDL would do the same in one statement, but it needs ZooKeeper
// (18.16 without it answers "DDL background thread is not initialized").
// Statements other than CREATE TABLE are applied so: ALTER, DROP, OPTIMIZE
// and materialized views go to the local tables on every node (ALTER ...
// COLUMN and DROP to the Distributed table too), plain views read the
// Distributed tables, and INSERT runs once, through the Distributed tables.
// A database is migrated either as a single node or for one cluster, for
// good: schema_migrations records the cluster, and the runner refuses the
// other mode.
package migrations

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"time"
)

//go:embed *.sql
var files embed.FS

// Conn is the part of a ClickHouse connection the runner needs;
// clickhouse-go's driver.Conn satisfies it.
type Conn interface {
	Exec(ctx context.Context, query string, args ...any) error
	Select(ctx context.Context, dest any, query string, args ...any) error
}

// File is one migration: its name (which orders it) and its SQL.
type File struct {
	Name     string
	SQL      string
	Checksum string
}

// Files returns the embedded migrations in the order they apply.
func Files() ([]File, error) { return load(files) }

func load(fsys fs.FS) ([]File, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := make([]File, 0, len(names))
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		out = append(out, File{Name: name, SQL: string(b), Checksum: checksum(string(b))})
	}
	return out, nil
}

// checksum identifies a file's schema: the SHA-256 of its text without the
// directive lines, which say how to apply the file on a cluster, not what it
// creates. So a directive added to an applied file does not stop the runner.
func checksum(sql string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(sql, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), directivePrefix) {
			b.WriteString(line)
		}
	}
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}

// Runner applies migrations to one database, or, with Cluster, to the
// database of that name on every node of a cluster.
type Runner struct {
	Conn Conn
	// Files defaults to the embedded migrations.
	Files []File
	// Now stamps the applied_at column; defaults to time.Now.
	Now func() time.Time

	// Cluster names a cluster of the servers' remote_servers config. Empty
	// means a single node. Conn's server must be a node of the cluster.
	Cluster string
	// Dial connects to Conn's database on another node of Cluster, at
	// addr (host:port of the native protocol). Required with Cluster; the
	// runner closes what it opens.
	Dial func(ctx context.Context, addr string) (NodeConn, error)
}

// NodeConn is a connection that Runner.Dial opened for the runner.
type NodeConn interface {
	Conn
	Close() error
}

const createLog = `CREATE TABLE IF NOT EXISTS schema_migrations (
    name String,
    checksum String,
    applied_at DateTime
) ENGINE = MergeTree PARTITION BY tuple() ORDER BY name`

type applied struct {
	Name     string `ch:"name"`
	Checksum string `ch:"checksum"`
}

// Up applies every file not yet applied, in order, and returns the names of
// those it applied. It refuses to apply anything when an applied file's
// checksum differs from the embedded one, or when the database was migrated
// for a cluster and r has none, or the other way round.
func (r *Runner) Up(ctx context.Context) ([]string, error) {
	all := r.Files
	if all == nil {
		var err error
		if all, err = Files(); err != nil {
			return nil, fmt.Errorf("load migrations: %w", err)
		}
	}
	if r.Cluster != "" {
		return r.upCluster(ctx, all)
	}
	done, err := readLog(ctx, r.Conn, all)
	if err != nil {
		return nil, err
	}
	if cluster, ok := done[clusterMark]; ok {
		return nil, fmt.Errorf("the database was migrated for cluster %q: migrate it with that cluster name", cluster)
	}
	var ran []string
	for _, f := range all {
		if _, ok := done[f.Name]; ok {
			continue
		}
		for i, stmt := range Statements(f.SQL) {
			if err := execIdempotent(ctx, r.Conn, stmt); err != nil {
				return ran, fmt.Errorf("migration %s, statement %d: %w", f.Name, i+1, err)
			}
		}
		if err := r.record(ctx, r.Conn, f.Name, f.Checksum); err != nil {
			return ran, err
		}
		ran = append(ran, f.Name)
	}
	return ran, nil
}

// readLog creates schema_migrations if needed and returns the applied
// files' checksums by name, after checking them against all.
func readLog(ctx context.Context, conn Conn, all []File) (map[string]string, error) {
	if err := conn.Exec(ctx, createLog); err != nil {
		return nil, fmt.Errorf("create schema_migrations: %w", err)
	}
	var rows []applied
	if err := conn.Select(ctx, &rows, `SELECT name, any(checksum) AS checksum FROM schema_migrations GROUP BY name`); err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	done := make(map[string]string, len(rows))
	for _, row := range rows {
		done[row.Name] = row.Checksum
	}
	for _, f := range all {
		if sum, ok := done[f.Name]; ok && sum != f.Checksum {
			return nil, fmt.Errorf("migration %s changed after it was applied (checksum %.12s, now %.12s): add a new migration instead of editing it", f.Name, sum, f.Checksum)
		}
	}
	return done, nil
}

func (r *Runner) now() time.Time {
	if r.Now == nil {
		return time.Now()
	}
	return r.Now()
}

// record writes one row of schema_migrations.
func (r *Runner) record(ctx context.Context, conn Conn, name, sum string) error {
	if err := conn.Exec(ctx,
		// INSERT ... SELECT, not VALUES: 18.16 waits for a data block after
		// an INSERT ... VALUES sent by clickhouse-go's Exec.
		`INSERT INTO schema_migrations (name, checksum, applied_at) SELECT ?, ?, ?`,
		name, sum, r.now().UTC().Truncate(time.Second)); err != nil {
		return fmt.Errorf("record migration %s: %w", name, err)
	}
	return nil
}

// execIdempotent runs stmt on conn, but for the columns of an ADD COLUMN
// that the table has already (see pendingColumns), and not a RENAME that
// has run (see pendingRename).
func execIdempotent(ctx context.Context, conn Conn, stmt string) error {
	stmt, run, err := pendingColumns(ctx, conn, stmt)
	if err != nil || !run {
		return err
	}
	if run, err = pendingRename(ctx, conn, stmt); err != nil || !run {
		return err
	}
	return conn.Exec(ctx, stmt)
}

// Statements splits a migration file into statements: ClickHouse runs one
// statement per query. Statements end with a semicolon at the end of a
// line; comment lines are dropped.
func Statements(sql string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(sql, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(trimmed, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}
