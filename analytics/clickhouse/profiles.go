package clickhouse

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/analytics/traits"
)

// ProfileStore keeps stored profiles in unit_profiles, and deletes a
// unit's data on request. It is safe for concurrent use.
type ProfileStore struct {
	conn driver.Conn
	now  func() time.Time
	// Nodes, when set (cluster mode: every table a Distributed one over
	// TABLE_local on each shard), runs fn on a connection to each node of
	// the cluster: DeleteUnit deletes from each node's local tables, as
	// ClickHouse refuses a mutation of a Distributed table.
	Nodes func(ctx context.Context, fn func(Execer) error) error
}

// Execer runs a statement on one ClickHouse server.
type Execer interface {
	Exec(ctx context.Context, query string, args ...any) error
}

// NewProfileStore returns a store on conn's database, which must be
// migrated.
func NewProfileStore(conn driver.Conn) *ProfileStore {
	return &ProfileStore{conn: conn, now: time.Now}
}

// Write stores profile writes, in their order: one row each, stamped with
// the nanoseconds of now (plus its index, so that a batch keeps its order).
// A write that fails is not stored (EUNAVAILABLE when ClickHouse cannot be
// reached): nothing is acknowledged that is not in ClickHouse.
func (s *ProfileStore) Write(ctx context.Context, ws []analytics.ProfileWrite) error {
	batch, err := s.conn.PrepareBatch(ctx, "INSERT INTO unit_profiles (unit, at, attrs)")
	if err != nil {
		return fmt.Errorf("store profiles: %w", translate(err))
	}
	at := uint64(s.now().UnixNano())
	for i, w := range ws {
		if err := batch.Append(w.Unit, at+uint64(i), w.Attrs); err != nil {
			batch.Abort()
			return fmt.Errorf("store profiles: %w", translate(err))
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("store profiles: %w", translate(err))
	}
	return nil
}

// deleteUnit are the mutations that delete a unit's rows: its message
// events, its user events, its profile, its report rollup rows (keyed by
// the hash of its id) and its trait rollup rows.
var deleteUnit = []struct{ table, where string }{
	{"events", "unit = ?"},
	{"user_events", "unit = ?"},
	{"unit_profiles", "unit = ?"},
	{"unit_rollup", "uh = cityHash64(?)"},
	{"unit_activity", "unit = ?"},
}

// localSuffix names a Distributed table's local table on each node (see
// package migrations).
const localSuffix = "_local"

// DeleteUnit deletes every row of unit: events, user events, profile and
// rollup rows. ClickHouse runs each ALTER ... DELETE as a mutation, in the
// background: rows stop counting once it is done (seconds on a small
// table; it rewrites every part holding the unit). Then it stores an empty
// profile row, a tombstone: the unit id and nothing else, which tells
// every server's trait cache, within its refresh interval, to forget the
// unit's profile and computed traits. Events still in an ingest queue
// when the mutation starts are not deleted: delete after the sender has
// stopped sending for the unit. On a cluster (Nodes set) the mutations
// run on every node's local tables, a node that cannot be reached failing
// the deletion (run it again: mutations are idempotent).
func (s *ProfileStore) DeleteUnit(ctx context.Context, unit string) error {
	mutate := func(conn Execer, suffix string) error {
		for _, d := range deleteUnit {
			if err := conn.Exec(ctx, "ALTER TABLE "+d.table+suffix+" DELETE WHERE "+d.where, unit); err != nil {
				return err
			}
		}
		return nil
	}
	var err error
	if s.Nodes != nil {
		err = s.Nodes(ctx, func(conn Execer) error { return mutate(conn, localSuffix) })
	} else {
		err = mutate(s.conn, "")
	}
	if err != nil {
		return fmt.Errorf("delete unit: %w", translate(err))
	}
	return s.Write(ctx, []analytics.ProfileWrite{{Unit: unit}})
}

var _ traits.ProfileReader = (*TraitReader)(nil)

// profilesQuery reads the profile rows of the units %s selects, in order.
const profilesQuery = `SELECT unit, at, attrs FROM unit_profiles %s ORDER BY unit, at`

const changedProfiles = `WHERE unit GLOBAL IN (SELECT DISTINCT unit FROM unit_profiles WHERE received_at >= toDateTime(?))`

// ChangedProfiles implements traits.ProfileReader: a unit's rows folded
// in order of writing, an empty row (a deletion) clearing what came before.
func (r *TraitReader) ChangedProfiles(ctx context.Context, since time.Time) ([]traits.Profile, time.Time, error) {
	mark, err := r.markOf(ctx, "unit_profiles")
	if err != nil {
		return nil, since, err
	}
	q, args := fmt.Sprintf(profilesQuery, ""), []any(nil)
	if !since.IsZero() {
		q, args = fmt.Sprintf(profilesQuery, changedProfiles), []any{uint32(since.Unix())}
	}
	rows, err := r.conn.Query(ctx, q, args...)
	if err != nil {
		return nil, since, fmt.Errorf("profiles: %w", translate(err))
	}
	defer rows.Close()
	var out []traits.Profile
	for rows.Next() {
		var unit, attrs string
		var at uint64
		if err := rows.Scan(&unit, &at, &attrs); err != nil {
			return nil, since, fmt.Errorf("profiles: %w", translate(err))
		}
		if len(out) == 0 || out[len(out)-1].Unit != unit {
			out = append(out, traits.Profile{Unit: unit, Attrs: map[string]any{}})
		}
		p := &out[len(out)-1]
		if attrs == "" {
			p.Attrs, p.Deleted = map[string]any{}, true
			continue
		}
		p.Deleted = false
		var set map[string]any
		if err := json.Unmarshal([]byte(attrs), &set); err != nil {
			return nil, since, fmt.Errorf("profile of %s: %w", unit, err)
		}
		for k, v := range set {
			if v == nil {
				delete(p.Attrs, k)
			} else {
				p.Attrs[k] = v
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, since, fmt.Errorf("profiles: %w", translate(err))
	}
	return out, mark, nil
}
