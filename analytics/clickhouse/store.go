package clickhouse

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/splitcast/splitcast/experiment"
)

// ExperimentStore is the experiment.Store on the experiment_versions table:
// one immutable row per version, the definition stored as JSON, the current
// definition being the row with the highest version. It is safe for
// concurrent use.
//
// ClickHouse has no transactions and no compare-and-set, so Create and Save
// check the current version, insert, then read back every row of the version
// they wrote:
//
//   - Within one process a mutex serializes writes, so the check and the
//     insert are atomic and only one of two racing writers ever inserts.
//   - Across processes both may insert. A version then has more than one
//     distinct row, and the winner is the row that sorts first by
//     (created_at, author, SHA-256 of the definition, action, reason). Every
//     read resolves duplicates by the same order, so Get, History and List
//     agree with the writers: the writer whose row lost gets ECONFLICT.
//   - ReplacingMergeTree folds duplicate (experiment, version) rows when it
//     merges parts, keeping the last inserted one, which may be the loser.
//     So a writer that sees duplicates inserts the winning row once more,
//     making it the last and the one a merge keeps.
//
// What this cannot close: a writer that read back only its own row has
// already reported success, yet a rival whose check came before that insert
// may land its row afterwards and win the tie-break; and a merge between a
// rival's insert and its re-insert of the winner keeps the rival's row. Both
// windows are a few milliseconds wide and need two processes saving the same
// experiment at once; closing them needs a store with compare-and-set.
type ExperimentStore struct {
	conn driver.Conn
	mu   sync.Mutex // serializes Create and Save in this process

	// beforeInsert, when set (by tests), runs between the version check
	// and the insert: where a rival process can slip in.
	beforeInsert func()
}

var _ experiment.Store = (*ExperimentStore)(nil)

// NewExperimentStore returns a store on conn's database, which must be
// migrated.
func NewExperimentStore(conn driver.Conn) *ExperimentStore {
	return &ExperimentStore{conn: conn}
}

// versionRow is a row of experiment_versions.
type versionRow struct {
	Experiment string    `ch:"experiment"`
	Version    uint32    `ch:"version"`
	CreatedAt  time.Time `ch:"created_at"`
	Author     string    `ch:"author"`
	Action     string    `ch:"action"`
	Reason     string    `ch:"reason"`
	Status     string    `ch:"status"`
	Definition string    `ch:"definition"`
}

const versionColumns = "experiment, version, created_at, author, action, reason, status, definition"

// winnerOrder sorts the rows of one version so that the first is the winner
// of a cross-process race (see ExperimentStore). Every read uses it.
const winnerOrder = "created_at, author, SHA256(definition), action, reason"

// Create implements experiment.Store.
func (s *ExperimentStore) Create(ctx context.Context, v experiment.Version) error {
	if v.Version != 1 || v.Definition.Version != 1 {
		return experiment.Invalid("version", "a new experiment starts at version 1")
	}
	if v.Experiment != v.Definition.Key {
		return experiment.Invalid("key", "version record and definition disagree on the key")
	}
	row, err := newVersionRow(v)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var n uint64
	if err := s.conn.QueryRow(ctx, "SELECT count() FROM experiment_versions WHERE experiment = ?", v.Experiment).Scan(&n); err != nil {
		return fmt.Errorf("create experiment %s: %w", v.Experiment, translate(err))
	}
	if n > 0 {
		return experiment.Errorf(experiment.ECONFLICT, "experiment %s already exists", v.Experiment)
	}
	return s.append(ctx, row)
}

// Save implements experiment.Store.
func (s *ExperimentStore) Save(ctx context.Context, v experiment.Version) error {
	if v.Version != v.Definition.Version || v.Experiment != v.Definition.Key {
		return experiment.Invalid("version", "version record and definition disagree")
	}
	row, err := newVersionRow(v)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var cur struct {
		Version uint32 `ch:"version"`
		Rows    uint64 `ch:"rows"`
	}
	if err := s.conn.QueryRow(ctx, "SELECT max(version) AS version, count() AS rows FROM experiment_versions WHERE experiment = ?",
		v.Experiment).ScanStruct(&cur); err != nil {
		return fmt.Errorf("save experiment %s: %w", v.Experiment, translate(err))
	}
	if cur.Rows == 0 {
		return notFound(v.Experiment)
	}
	if cur.Version+1 != v.Version {
		return experiment.Errorf(experiment.ECONFLICT,
			"experiment %s is at version %d, not %d: reload and retry", v.Experiment, cur.Version, v.Version-1)
	}
	return s.append(ctx, row)
}

// append inserts row, then reads back its version to find out whether a
// rival process wrote the same version meanwhile. The caller holds s.mu.
func (s *ExperimentStore) append(ctx context.Context, row versionRow) error {
	if s.beforeInsert != nil {
		s.beforeInsert()
	}
	if err := s.insert(ctx, row); err != nil {
		return fmt.Errorf("save experiment %s version %d: %w", row.Experiment, row.Version, err)
	}
	var rows []versionRow
	if err := s.conn.Select(ctx, &rows, "SELECT "+versionColumns+" FROM experiment_versions WHERE experiment = ? AND version = ? ORDER BY "+winnerOrder,
		row.Experiment, row.Version); err != nil {
		return fmt.Errorf("read back experiment %s version %d: %w", row.Experiment, row.Version, translate(err))
	}
	if len(rows) == 0 {
		return fmt.Errorf("read back experiment %s version %d: the inserted row is missing", row.Experiment, row.Version)
	}
	winner := rows[0]
	for _, r := range rows[1:] {
		if !r.same(winner) {
			// Duplicates: make the winner the last row inserted, the one
			// a ReplacingMergeTree merge keeps. Best effort: the reads
			// pick the winner whatever the merges do until then.
			_ = s.insert(ctx, winner)
			break
		}
	}
	if !winner.same(row) {
		return experiment.Errorf(experiment.ECONFLICT,
			"experiment %s version %d was saved at the same time by %s: reload and retry", row.Experiment, row.Version, winner.Author)
	}
	return nil
}

// insert writes one row. A one-row batch rather than INSERT ... VALUES with
// arguments, which hangs on ClickHouse 18.16.
func (s *ExperimentStore) insert(ctx context.Context, r versionRow) error {
	batch, err := s.conn.PrepareBatch(ctx, "INSERT INTO experiment_versions ("+versionColumns+")")
	if err != nil {
		return translate(err)
	}
	if err := batch.Append(r.Experiment, r.Version, r.CreatedAt, r.Author, r.Action, r.Reason, r.Status, r.Definition); err != nil {
		batch.Abort()
		return translate(err)
	}
	return translate(batch.Send())
}

// Get implements experiment.Store.
func (s *ExperimentStore) Get(ctx context.Context, key string) (experiment.Experiment, error) {
	var rows []versionRow
	if err := s.conn.Select(ctx, &rows, "SELECT "+versionColumns+" FROM experiment_versions WHERE experiment = ? ORDER BY version DESC, "+winnerOrder+" LIMIT 1",
		key); err != nil {
		return experiment.Experiment{}, fmt.Errorf("get experiment %s: %w", key, translate(err))
	}
	if len(rows) == 0 {
		return experiment.Experiment{}, notFound(key)
	}
	return rows[0].definition()
}

// History implements experiment.Store.
func (s *ExperimentStore) History(ctx context.Context, key string) ([]experiment.Version, error) {
	var rows []versionRow
	if err := s.conn.Select(ctx, &rows, "SELECT "+versionColumns+" FROM experiment_versions WHERE experiment = ? ORDER BY version, "+winnerOrder+" LIMIT 1 BY version",
		key); err != nil {
		return nil, fmt.Errorf("history of experiment %s: %w", key, translate(err))
	}
	if len(rows) == 0 {
		return nil, notFound(key)
	}
	out := make([]experiment.Version, len(rows))
	for i, r := range rows {
		d, err := r.definition()
		if err != nil {
			return nil, err
		}
		out[i] = experiment.Version{Experiment: r.Experiment, Version: r.Version, Action: experiment.Action(r.Action),
			Author: r.Author, Reason: r.Reason, CreatedAt: r.CreatedAt.UTC(), Definition: d}
	}
	return out, nil
}

// List implements experiment.Store in one query. The status is a column and
// is filtered by ClickHouse, after the current row of each experiment is
// chosen. Channel and layer live only in the JSON definition, which 18.16
// cannot parse reliably (it has no JSONExtract, and visitParam functions
// match nested keys of payloads too), so they are filtered here with
// Filter.Match, and then so are Offset and Limit; without them, Offset and
// Limit go to ClickHouse.
func (s *ExperimentStore) List(ctx context.Context, f experiment.Filter) ([]experiment.Experiment, error) {
	q := "SELECT " + versionColumns + " FROM (SELECT " + versionColumns + " FROM experiment_versions ORDER BY experiment, version DESC, " +
		winnerOrder + " LIMIT 1 BY experiment)"
	var args []any
	if f.Status != "" {
		q += " WHERE status = ?"
		args = append(args, string(f.Status))
	}
	q += " ORDER BY experiment"
	inSQL := f.Channel == "" && f.Layer == "" && f.Limit > 0
	if inSQL {
		q += " LIMIT ?, ?"
		args = append(args, max(f.Offset, 0), f.Limit)
	}
	var rows []versionRow
	if err := s.conn.Select(ctx, &rows, q, args...); err != nil {
		return nil, fmt.Errorf("list experiments: %w", translate(err))
	}
	var out []experiment.Experiment
	for _, r := range rows {
		e, err := r.definition()
		if err != nil {
			return nil, err
		}
		if f.Match(e) {
			out = append(out, e)
		}
	}
	if !inSQL {
		if f.Offset > 0 {
			out = out[min(f.Offset, len(out)):]
		}
		if f.Limit > 0 && len(out) > f.Limit {
			out = out[:f.Limit]
		}
	}
	return out, nil
}

// ListRunning implements experiment.Store.
func (s *ExperimentStore) ListRunning(ctx context.Context) ([]experiment.Experiment, error) {
	return s.List(ctx, experiment.Filter{Status: experiment.StatusRunning})
}

func newVersionRow(v experiment.Version) (versionRow, error) {
	def, err := json.Marshal(v.Definition)
	if err != nil {
		return versionRow{}, fmt.Errorf("encode experiment %s: %w", v.Experiment, err)
	}
	return versionRow{
		Experiment: v.Experiment,
		Version:    v.Version,
		// created_at is a DateTime: whole seconds.
		CreatedAt:  v.CreatedAt.UTC().Truncate(time.Second),
		Author:     v.Author,
		Action:     string(v.Action),
		Reason:     v.Reason,
		Status:     string(v.Definition.Status),
		Definition: string(def),
	}, nil
}

// same reports whether r and o are copies of one row.
func (r versionRow) same(o versionRow) bool {
	return r.Experiment == o.Experiment && r.Version == o.Version && r.CreatedAt.Equal(o.CreatedAt) &&
		r.Author == o.Author && r.Action == o.Action && r.Reason == o.Reason && r.Status == o.Status &&
		r.Definition == o.Definition
}

func (r versionRow) definition() (experiment.Experiment, error) {
	var e experiment.Experiment
	if err := json.Unmarshal([]byte(r.Definition), &e); err != nil {
		return experiment.Experiment{}, fmt.Errorf("decode experiment %s version %d: %w", r.Experiment, r.Version, err)
	}
	return e, nil
}

func notFound(key string) error {
	return experiment.Errorf(experiment.ENOTFOUND, "no experiment %s", key)
}
