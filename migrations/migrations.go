// Package migrations holds Splitcast's ClickHouse schema as numbered SQL
// files embedded in the binary, and the runner that applies them in order.
//
// ClickHouse DDL is not transactional, so every file is idempotent
// (CREATE ... IF NOT EXISTS) and a file interrupted half way is simply run
// again. Applied files are recorded with a checksum; a file whose content
// changed after it was applied stops the runner, naming the file, because the
// database no longer matches what the code believes it is.
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
		sum := sha256.Sum256(b)
		out = append(out, File{Name: name, SQL: string(b), Checksum: hex.EncodeToString(sum[:])})
	}
	return out, nil
}

// Runner applies migrations to one database.
type Runner struct {
	Conn Conn
	// Files defaults to the embedded migrations.
	Files []File
	// Now stamps the applied_at column; defaults to time.Now.
	Now func() time.Time
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
// checksum differs from the embedded one.
func (r *Runner) Up(ctx context.Context) ([]string, error) {
	all := r.Files
	if all == nil {
		var err error
		if all, err = Files(); err != nil {
			return nil, fmt.Errorf("load migrations: %w", err)
		}
	}
	now := r.Now
	if now == nil {
		now = time.Now
	}
	if err := r.Conn.Exec(ctx, createLog); err != nil {
		return nil, fmt.Errorf("create schema_migrations: %w", err)
	}
	var rows []applied
	if err := r.Conn.Select(ctx, &rows, `SELECT name, any(checksum) AS checksum FROM schema_migrations GROUP BY name`); err != nil {
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
	var ran []string
	for _, f := range all {
		if _, ok := done[f.Name]; ok {
			continue
		}
		for i, stmt := range Statements(f.SQL) {
			if err := r.Conn.Exec(ctx, stmt); err != nil {
				return ran, fmt.Errorf("migration %s, statement %d: %w", f.Name, i+1, err)
			}
		}
		if err := r.Conn.Exec(ctx,
			// INSERT ... SELECT, not VALUES: 18.16 waits for a data block after
			// an INSERT ... VALUES sent by clickhouse-go's Exec.
			`INSERT INTO schema_migrations (name, checksum, applied_at) SELECT ?, ?, ?`,
			f.Name, f.Checksum, now().UTC().Truncate(time.Second)); err != nil {
			return ran, fmt.Errorf("record migration %s: %w", f.Name, err)
		}
		ran = append(ran, f.Name)
	}
	return ran, nil
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
