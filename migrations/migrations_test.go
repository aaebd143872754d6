package migrations_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/splitcast/splitcast/analytics/clickhouse/chtest"
	"github.com/splitcast/splitcast/migrations"
)

var env *chtest.Env

func TestMain(m *testing.M) { os.Exit(chtest.Main(m, &env)) }

func TestUpIsIdempotent(t *testing.T) {
	conn, _ := env.NewDatabase(t) // applies every file once
	ctx := context.Background()
	ran, err := (&migrations.Runner{Conn: conn}).Up(ctx)
	if err != nil {
		t.Fatalf("second Up: %v", err)
	}
	if len(ran) != 0 {
		t.Fatalf("second Up applied %v, want nothing", ran)
	}
	for _, table := range []string{"events", "experiment_versions"} {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = ?", table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("table %s: found %d, want 1", table, n)
		}
	}
}

func TestUpRefusesChangedFile(t *testing.T) {
	conn, _ := env.NewDatabase(t)
	files, err := migrations.Files()
	if err != nil {
		t.Fatal(err)
	}
	files[0].SQL += "\n-- edited\n"
	files[0].Checksum = "0000changed"
	_, err = (&migrations.Runner{Conn: conn, Files: files}).Up(context.Background())
	if err == nil || !strings.Contains(err.Error(), files[0].Name) {
		t.Fatalf("Up with a changed file = %v, want an error naming %s", err, files[0].Name)
	}
}

func TestUpAppliesNewFileOnly(t *testing.T) {
	conn, _ := env.NewDatabase(t)
	files, err := migrations.Files()
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, migrations.File{Name: "9999_extra.sql", SQL: "CREATE TABLE IF NOT EXISTS extra (x UInt8) ENGINE = Memory;", Checksum: "x"})
	ran, err := (&migrations.Runner{Conn: conn, Files: files}).Up(context.Background())
	if err != nil || len(ran) != 1 || ran[0] != "9999_extra.sql" {
		t.Fatalf("Up = %v, %v; want [9999_extra.sql]", ran, err)
	}
}

func TestStatements(t *testing.T) {
	got := migrations.Statements("-- c\nCREATE TABLE a (x UInt8)\nENGINE = Memory;\n\nCREATE TABLE b (y UInt8) ENGINE = Memory;\n")
	if len(got) != 2 || !strings.HasPrefix(got[0], "CREATE TABLE a") || strings.HasSuffix(got[1], ";") {
		t.Fatalf("Statements = %q", got)
	}
}

// TestUpTwiceWithoutTheLog runs every file a second time, as a run cut short
// between a file's statements and its record would: 0009's ADD COLUMN, which
// 18.16 cannot write IF NOT EXISTS, must not fail on the columns it added.
func TestUpTwiceWithoutTheLog(t *testing.T) {
	conn, _ := env.NewDatabase(t)
	ctx := context.Background()
	if err := conn.Exec(ctx, "DROP TABLE schema_migrations"); err != nil {
		t.Fatal(err)
	}
	files, err := migrations.Files()
	if err != nil {
		t.Fatal(err)
	}
	ran, err := (&migrations.Runner{Conn: conn}).Up(ctx)
	if err != nil {
		t.Fatalf("Up again without schema_migrations: %v", err)
	}
	if len(ran) != len(files) {
		t.Fatalf("Up again applied %v, want all %d files", ran, len(files))
	}
	for _, col := range []string{"dim_keys", "dim_values"} {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM system.columns WHERE database = currentDatabase() AND table = 'events' AND name = ?", col).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("events.%s: %d columns, want 1", col, n)
		}
	}
	if ran, err := (&migrations.Runner{Conn: conn}).Up(ctx); err != nil || len(ran) != 0 {
		t.Fatalf("third Up = %v, %v; want nothing applied", ran, err)
	}
}

// TestAddColumnAddsOnlyMissing: an ALTER that added one of its columns
// before it stopped adds the other when run again.
func TestAddColumnAddsOnlyMissing(t *testing.T) {
	conn, _ := env.NewDatabase(t)
	ctx := context.Background()
	files := []migrations.File{
		{Name: "9998_t.sql", SQL: "CREATE TABLE IF NOT EXISTS t (x UInt8) ENGINE = MergeTree ORDER BY x;", Checksum: "a"},
		{Name: "9999_cols.sql", SQL: "ALTER TABLE t ADD COLUMN a String, ADD COLUMN `b` Array(String) DEFAULT arrayMap(s -> concat(s, ','), ['x', 'y']);", Checksum: "b"},
	}
	if _, err := (&migrations.Runner{Conn: conn, Files: files[:1]}).Up(ctx); err != nil {
		t.Fatal(err)
	}
	if err := conn.Exec(ctx, "ALTER TABLE t ADD COLUMN a String"); err != nil {
		t.Fatal(err)
	}
	if ran, err := (&migrations.Runner{Conn: conn, Files: files}).Up(ctx); err != nil || len(ran) != 1 {
		t.Fatalf("Up with column a there = %v, %v; want 9999_cols.sql applied", ran, err)
	}
	var cols []struct {
		Name string `ch:"name"`
	}
	if err := conn.Select(ctx, &cols, "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = 't' ORDER BY name"); err != nil {
		t.Fatal(err)
	}
	if len(cols) != 3 || cols[0].Name != "a" || cols[1].Name != "b" || cols[2].Name != "x" {
		t.Fatalf("columns of t = %v, want x, a, b", cols)
	}
}

func TestSplitClauses(t *testing.T) {
	got := migrations.SplitClauses("ADD COLUMN a Array(String) DEFAULT f(1, 2), ADD COLUMN b String DEFAULT 'x, y', ADD COLUMN c Tuple(UInt8, String)")
	want := []string{"ADD COLUMN a Array(String) DEFAULT f(1, 2)", "ADD COLUMN b String DEFAULT 'x, y'", "ADD COLUMN c Tuple(UInt8, String)"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("SplitClauses = %q, want %q", got, want)
	}
}

// TestRenameRunsOnce: a RENAME whose target exists is skipped, so that a
// file run again after its rename goes on; a RENAME of two tables, whose
// halves the runner could not tell apart, is refused.
func TestRenameRunsOnce(t *testing.T) {
	conn, _ := env.NewDatabase(t)
	ctx := context.Background()
	file := migrations.File{Name: "9001_rename.sql", SQL: `CREATE TABLE IF NOT EXISTS moved_a (x UInt8) ENGINE = MergeTree ORDER BY x;
RENAME TABLE moved_a TO moved_b;
CREATE TABLE IF NOT EXISTS moved_a (x UInt8) ENGINE = MergeTree ORDER BY x;`}
	r := &migrations.Runner{Conn: conn, Files: []migrations.File{file}}
	for run := range 2 {
		if _, err := r.Up(ctx); err != nil {
			t.Fatalf("run %d: %v", run+1, err)
		}
		if err := conn.Exec(ctx, "TRUNCATE TABLE schema_migrations"); err != nil {
			t.Fatal(err)
		}
	}
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name IN ('moved_a', 'moved_b')").Scan(&n); err != nil || n != 2 {
		t.Fatalf("tables moved_a and moved_b: %d, %v; want both", n, err)
	}
	two := migrations.File{Name: "9002_rename_two.sql", SQL: "RENAME TABLE moved_a TO moved_c, moved_b TO moved_a;"}
	_, err := (&migrations.Runner{Conn: conn, Files: []migrations.File{two}}).Up(ctx)
	if err == nil || !strings.Contains(err.Error(), "RENAME TABLE of one table only") {
		t.Errorf("a RENAME of two tables: %v, want it refused", err)
	}
}
