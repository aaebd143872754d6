// Package clickhouse implements Splitcast's storage on ClickHouse: the event
// sink, the aggregate queries behind reports, and the experiment store. It is
// the only package besides migrations that imports clickhouse-go, and it
// translates the driver's errors into experiment.Error codes.
package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/splitcast/splitcast/experiment"
)

// Options locate a ClickHouse database.
type Options struct {
	Addr     string // host:port of the native protocol
	User     string // default "default"
	Password string
	Database string // default "splitcast"
	// DialTimeout bounds connecting; a down server must fail fast so that
	// readiness and the ingest writer notice quickly (default 2s).
	DialTimeout time.Duration
	// Settings are server settings for every query of the connection: a
	// cluster needs insert_distributed_sync=1 (see migrations).
	Settings map[string]any
}

// Open connects to ClickHouse, creating the database if it is missing. It
// does not wait for the server: a down server is reported by Ping and by
// every call, and the connection recovers by itself when it returns.
func Open(ctx context.Context, o Options) (driver.Conn, error) {
	o = o.withDefaults()
	if err := CreateDatabase(ctx, o); err != nil {
		return nil, err
	}
	return open(o, o.Database)
}

// Dial returns a connection to o's database without touching the server:
// it connects on first use. A server that is down at start is then an
// outage the caller rides out (see CreateDatabase), not a failure to start.
func Dial(o Options) (driver.Conn, error) {
	o = o.withDefaults()
	return open(o, o.Database)
}

// CreateDatabase creates o's database if it is missing. A server that
// cannot be reached is EUNAVAILABLE.
func CreateDatabase(ctx context.Context, o Options) error {
	o = o.withDefaults()
	boot, err := open(o, "default")
	if err != nil {
		return err
	}
	defer boot.Close()
	if err := boot.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+quoteIdent(o.Database)); err != nil {
		return fmt.Errorf("create database %s: %w", o.Database, translate(err))
	}
	return nil
}

func (o Options) withDefaults() Options {
	if o.User == "" {
		o.User = "default"
	}
	if o.Database == "" {
		o.Database = "splitcast"
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = 2 * time.Second
	}
	return o
}

func open(o Options, database string) (driver.Conn, error) {
	conn, err := ch.Open(&ch.Options{
		Addr:             []string{o.Addr},
		Auth:             ch.Auth{Database: database, Username: o.User, Password: o.Password},
		DialTimeout:      o.DialTimeout,
		ReadTimeout:      5 * time.Minute,
		MaxOpenConns:     16,
		MaxIdleConns:     8,
		ConnMaxLifetime:  time.Hour,
		ConnOpenStrategy: ch.ConnOpenInOrder,
		Settings:         o.Settings,
	})
	if err != nil {
		return nil, fmt.Errorf("open clickhouse %s: %w", o.Addr, err)
	}
	return conn, nil
}

// quoteIdent quotes a database or table name for DDL, where server-side
// parameters cannot be used.
func quoteIdent(s string) string {
	out := []byte{'`'}
	for i := 0; i < len(s); i++ {
		if s[i] == '`' || s[i] == '\\' {
			out = append(out, '\\')
		}
		out = append(out, s[i])
	}
	return string(append(out, '`'))
}

// translate turns driver errors into the domain's vocabulary: a server that
// cannot be reached is EUNAVAILABLE; anything else stays internal.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var opErr *net.OpError
	var exc *ch.Exception
	switch {
	case errors.As(err, &opErr), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, ch.ErrAcquireConnTimeout), errors.Is(err, context.DeadlineExceeded):
		return &unavailable{err}
	case errors.As(err, &exc) && (exc.Code == 210 || exc.Code == 279):
		// NETWORK_ERROR, ALL_CONNECTION_TRIES_FAILED: a shard behind a
		// Distributed table is down, which is an outage, not a bug.
		return &unavailable{err}
	case errors.As(err, &exc):
		return fmt.Errorf("clickhouse exception %d: %w", exc.Code, err)
	}
	return err
}

// unavailable wraps a connection failure so that it carries EUNAVAILABLE and
// still unwraps to the driver's error.
type unavailable struct{ err error }

func (u *unavailable) Error() string { return "clickhouse unavailable: " + u.err.Error() }
func (u *unavailable) Unwrap() []error {
	return []error{u.err, &experiment.Error{Code: experiment.EUNAVAILABLE, Message: "clickhouse is unavailable"}}
}

// LookupBlockBytes is the min_compress_block_size the rollups want of
// the server: a fold and a report look up the rows of the units with
// news a granule at a time, and each lookup decompresses the whole
// compressed block its granule falls in. At ClickHouse's default of
// 65,536 bytes, looking up 1,000 units' states in unit_rollup at 10M
// events (18.16) decompressed 330 MB and took 240 ms; at 4,096, 43 ms,
// with the table 3% larger and a scan of it 3% slower. 1,024 read no
// faster than 4,096 and stored 8% more again.
const LookupBlockBytes = 4096

// CompressBlockBytes returns the min_compress_block_size of the
// connection's profile. ClickHouse 18.16 writes merged parts with the
// value of the server's default profile as it was at start, so a value
// changed by a reload of users.xml, or for one query, reaches new inserts
// at most.
func CompressBlockBytes(ctx context.Context, conn driver.Conn) (uint64, error) {
	var v string
	if err := conn.QueryRow(ctx, "SELECT value FROM system.settings WHERE name = 'min_compress_block_size'").Scan(&v); err != nil {
		return 0, fmt.Errorf("read min_compress_block_size: %w", translate(err))
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read min_compress_block_size: %q: %w", v, err)
	}
	return n, nil
}
