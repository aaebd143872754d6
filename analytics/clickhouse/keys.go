package clickhouse

import (
	"context"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/splitcast/splitcast/experiment"
	"github.com/splitcast/splitcast/experiment/apikey"
)

// KeyStore is the apikey.Store on the api_keys table: one row per key,
// inserted again with revoked_at set when it is revoked (a higher version,
// so a ReplacingMergeTree merge keeps the revoked row). Reads group by id
// and take the latest revocation, so they never depend on merges.
type KeyStore struct {
	conn driver.Conn
	mu   sync.Mutex // serializes Create and Revoke in this process
}

var _ apikey.Store = (*KeyStore)(nil)

// NewKeyStore returns a store on conn's database, which must be migrated.
func NewKeyStore(conn driver.Conn) *KeyStore { return &KeyStore{conn: conn} }

type keyRow struct {
	ID        string    `ch:"id"`
	Name      string    `ch:"name"`
	Hash      string    `ch:"hash"`
	Scopes    []string  `ch:"scopes"`
	CreatedAt time.Time `ch:"created_at"`
	RevokedAt time.Time `ch:"revoked_at"`
}

const (
	keyVersionCreated = 1
	keyVersionRevoked = 2
)

// selectKeys reads every key's latest state; revoked_at only ever goes
// from 0 to a time, so its max is the latest.
const selectKeys = `SELECT id, any(name) AS name, any(hash) AS hash, any(scopes) AS scopes,
	min(created_at) AS created_at, max(revoked_at) AS revoked_at FROM api_keys`

func (r keyRow) record() (apikey.Record, error) {
	out := apikey.Record{ID: r.ID, Name: r.Name, CreatedAt: r.CreatedAt.UTC()}
	b, err := hex.DecodeString(r.Hash)
	if err != nil || len(b) != len(out.Hash) {
		return apikey.Record{}, fmt.Errorf("api key %s: malformed hash", r.ID)
	}
	copy(out.Hash[:], b)
	for _, s := range r.Scopes {
		out.Scopes = append(out.Scopes, apikey.Scope(s))
	}
	if r.RevokedAt.Unix() > 0 {
		out.RevokedAt = r.RevokedAt.UTC()
	}
	return out, nil
}

// CreateKey implements apikey.Store.
func (s *KeyStore) CreateKey(ctx context.Context, r apikey.Record) error {
	if r.ID == "" {
		return experiment.Invalid("id", "required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.get(ctx, r.ID); err == nil {
		return &experiment.Error{Code: experiment.ECONFLICT, Field: "id", Message: "api key " + r.ID + " exists"}
	} else if experiment.ErrorCode(err) != experiment.ENOTFOUND {
		return err
	}
	return s.insert(ctx, r, keyVersionCreated)
}

// ListKeys implements apikey.Store.
func (s *KeyStore) ListKeys(ctx context.Context) ([]apikey.Record, error) {
	return s.query(ctx, selectKeys+" GROUP BY id ORDER BY created_at, id")
}

// RevokeKey implements apikey.Store.
func (s *KeyStore) RevokeKey(ctx context.Context, id string, at time.Time) (apikey.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(ctx, id)
	if err != nil || r.Revoked() {
		return r, err
	}
	r.RevokedAt = at.UTC().Truncate(time.Second)
	if err := s.insert(ctx, r, keyVersionRevoked); err != nil {
		return apikey.Record{}, err
	}
	return r, nil
}

func (s *KeyStore) get(ctx context.Context, id string) (apikey.Record, error) {
	recs, err := s.query(ctx, selectKeys+" WHERE id = ? GROUP BY id", id)
	if err != nil {
		return apikey.Record{}, err
	}
	if len(recs) == 0 {
		return apikey.Record{}, &experiment.Error{Code: experiment.ENOTFOUND, Field: "id", Message: "no api key " + id}
	}
	return recs[0], nil
}

func (s *KeyStore) query(ctx context.Context, q string, args ...any) ([]apikey.Record, error) {
	var rows []keyRow
	if err := s.conn.Select(ctx, &rows, q, args...); err != nil {
		return nil, fmt.Errorf("read api keys: %w", translate(err))
	}
	out := make([]apikey.Record, 0, len(rows))
	for _, row := range rows {
		r, err := row.record()
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func (s *KeyStore) insert(ctx context.Context, r apikey.Record, version uint32) error {
	batch, err := s.conn.PrepareBatch(ctx, "INSERT INTO api_keys (id, name, hash, scopes, created_at, revoked_at, version)")
	if err != nil {
		return fmt.Errorf("write api key: %w", translate(err))
	}
	scopes := make([]string, len(r.Scopes))
	for i, sc := range r.Scopes {
		scopes[i] = string(sc)
	}
	revoked := time.Unix(0, 0) // DateTime has no NULL here: 0 means valid
	if r.Revoked() {
		revoked = r.RevokedAt
	}
	if err := batch.Append(r.ID, r.Name, hex.EncodeToString(r.Hash[:]), scopes, r.CreatedAt, revoked, version); err != nil {
		return fmt.Errorf("write api key: %w", err)
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("write api key: %w", translate(err))
	}
	return nil
}
