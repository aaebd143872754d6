// Package chtest gives integration tests a real ClickHouse: the one named by
// SPLITCAST_CLICKHOUSE_ADDR, or else a server of its own started with
// chserver under the project's git-ignored .data folder. Each test gets a
// fresh, migrated database so tests never see each other's rows.
package chtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/splitcast/splitcast/analytics/clickhouse"
	"github.com/splitcast/splitcast/analytics/clickhouse/chserver"
	"github.com/splitcast/splitcast/migrations"
)

// Env is a ClickHouse for one test binary.
type Env struct {
	Server   *chserver.Server // nil when external
	Addr     string
	User     string
	Password string
	dir      string
}

// Start returns the external ClickHouse of SPLITCAST_CLICKHOUSE_ADDR, or
// starts one. It never skips: a machine without ClickHouse fails the tests
// with the install hint.
func Start() (*Env, error) {
	if addr := os.Getenv("SPLITCAST_CLICKHOUSE_ADDR"); addr != "" {
		return &Env{Addr: addr, User: os.Getenv("SPLITCAST_CLICKHOUSE_USER"), Password: os.Getenv("SPLITCAST_CLICKHOUSE_PASSWORD")}, nil
	}
	root, err := DataRoot()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(root, "test-")
	if err != nil {
		return nil, err
	}
	srv, err := chserver.Start(context.Background(), chserver.Config{Dir: dir})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &Env{Server: srv, Addr: srv.Addr(), dir: dir}, nil
}

// Main runs a test binary's tests with a ClickHouse started for them, and
// stops it afterwards. Use it from TestMain: os.Exit(chtest.Main(m, &env)).
func Main(m *testing.M, env **Env) int {
	e, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chtest:", err)
		return 1
	}
	*env = e
	defer e.Close()
	return m.Run()
}

// Close stops a server that Start started and removes its files.
func (e *Env) Close() {
	if e.Server != nil {
		e.Server.Stop()
		os.RemoveAll(e.dir)
	}
}

// Options returns connection options for database db.
func (e *Env) Options(db string) clickhouse.Options {
	return clickhouse.Options{Addr: e.Addr, User: e.User, Password: e.Password, Database: db}
}

// NewDatabase creates an empty database with a random name, applies the
// migrations to it, and drops it when the test ends.
func (e *Env) NewDatabase(tb testing.TB) (driver.Conn, string) {
	tb.Helper()
	var b [6]byte
	rand.Read(b[:])
	db := "test_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	conn, err := clickhouse.Open(ctx, e.Options(db))
	if err != nil {
		tb.Fatalf("open clickhouse: %v", err)
	}
	if _, err := (&migrations.Runner{Conn: conn}).Up(ctx); err != nil {
		tb.Fatalf("migrate %s: %v", db, err)
	}
	tb.Cleanup(func() {
		conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db)
		conn.Close()
	})
	return conn, db
}

// DataRoot returns the project's git-ignored .data/ folder, creating it.
func DataRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			root := filepath.Join(dir, ".data")
			return root, os.MkdirAll(root, 0o755)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("chtest: no go.mod above the working directory")
		}
		dir = parent
	}
}
