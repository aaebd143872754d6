package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/splitcast/splitcast/experiment"
)

// KeyRecord is an API key issued at run time, as a KeyStore keeps it: the
// SHA-256 of the secret, never the secret. ID is not secret: it is the
// visible prefix of the key (sc_<id>_...), shown in lists and used to revoke.
type KeyRecord struct {
	ID        string
	Name      string
	Hash      [32]byte
	Scopes    []Scope
	CreatedAt time.Time
	// RevokedAt is zero while the key is valid.
	RevokedAt time.Time
}

// Revoked reports whether the key was revoked.
func (r KeyRecord) Revoked() bool { return !r.RevokedAt.IsZero() }

// KeyStore keeps the API keys issued at run time (splitcast keys create).
// The server reads it through a KeyCache; the CLI writes it.
type KeyStore interface {
	// CreateKey stores a new key; an existing ID is ECONFLICT.
	CreateKey(ctx context.Context, r KeyRecord) error
	// ListKeys returns every key, revoked ones included, oldest first.
	ListKeys(ctx context.Context) ([]KeyRecord, error)
	// RevokeKey marks a key revoked at at and returns it; an unknown ID is
	// ENOTFOUND. Revoking a revoked key changes nothing.
	RevokeKey(ctx context.Context, id string, at time.Time) (KeyRecord, error)
}

// keyPrefix starts every issued key, so that a leaked key is recognisable
// (secret scanners) and its ID can be read from it.
const keyPrefix = "sc_"

// NewSecretKey issues a key: an ID of 8 random bytes and a secret of 32
// random bytes, returned once as "sc_<id>_<secret>", and the record to store.
//
// The record keeps SHA-256 of the whole key rather than a slow password
// hash: the secret is 256 bits from crypto/rand, so a leaked table cannot be
// brute-forced whatever the hash's speed, and a fast hash lets every request
// be checked without a costly KDF on the hot path.
func NewSecretKey(name string, scopes []Scope, now time.Time) (string, KeyRecord, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return "", KeyRecord{}, experiment.Invalid("name", "want 1 to 100 characters")
	}
	if len(scopes) == 0 {
		return "", KeyRecord{}, experiment.Invalid("scopes", "want at least one of sdk, admin, read")
	}
	var id [8]byte
	var secret [32]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", KeyRecord{}, fmt.Errorf("key id: %w", err)
	}
	if _, err := rand.Read(secret[:]); err != nil {
		return "", KeyRecord{}, fmt.Errorf("key secret: %w", err)
	}
	r := KeyRecord{ID: hex.EncodeToString(id[:]), Name: name, Scopes: scopes, CreatedAt: now.UTC().Truncate(time.Second)}
	key := keyPrefix + r.ID + "_" + base64.RawURLEncoding.EncodeToString(secret[:])
	r.Hash = sha256.Sum256([]byte(key))
	return key, r, nil
}

// keyID returns the ID part of an issued key.
func keyID(secret string) (string, bool) {
	rest, ok := strings.CutPrefix(secret, keyPrefix)
	if !ok {
		return "", false
	}
	id, _, ok := strings.Cut(rest, "_")
	return id, ok && len(id) == 16
}

// ParseScopes reads a comma-separated scope list such as "sdk,read".
func ParseScopes(s string) ([]Scope, error) {
	var out []Scope
	seen := map[Scope]bool{}
	for _, part := range strings.Split(s, ",") {
		sc := Scope(strings.TrimSpace(part))
		switch sc {
		case ScopeSDK, ScopeAdmin, ScopeRead:
		case "":
			continue
		default:
			return nil, experiment.Invalid("scopes", "unknown scope %q: want sdk, admin or read", sc)
		}
		if !seen[sc] {
			seen[sc] = true
			out = append(out, sc)
		}
	}
	if len(out) == 0 {
		return nil, experiment.Invalid("scopes", "want at least one of sdk, admin, read")
	}
	return out, nil
}

// KeyCache is the Keyring of a server: fixed keys from the configuration
// (SPLITCAST_ADMIN_KEY and friends) plus the valid keys of a KeyStore, held
// in memory and reloaded by Run. A revoked key therefore stops working
// within one refresh interval. While the store cannot be read the cache
// keeps the last set it loaded: a ClickHouse outage must not lock every
// client out, at the price of revocations waiting for the store to return.
type KeyCache struct {
	static KeyList
	store  KeyStore
	logger *slog.Logger
	cur    atomic.Pointer[map[string]Key] // valid stored keys by ID
	// OnRefresh, when set, is told the outcome of each refresh (metrics).
	OnRefresh func(keys int, err error)
}

// NewKeyCache returns a cache of static and of store's keys; it holds only
// the static ones until the first Refresh. A nil store is allowed.
func NewKeyCache(static KeyList, store KeyStore, logger *slog.Logger) *KeyCache {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &KeyCache{static: static, store: store, logger: logger}
	c.cur.Store(&map[string]Key{})
	return c
}

// Refresh reloads the store's keys; on error it keeps the previous set.
func (c *KeyCache) Refresh(ctx context.Context) error {
	if c.store == nil {
		return nil
	}
	recs, err := c.store.ListKeys(ctx)
	if err == nil {
		m := make(map[string]Key, len(recs))
		for _, r := range recs {
			if !r.Revoked() {
				m[r.ID] = Key{ID: r.ID, Name: r.Name, Hash: r.Hash, Scopes: r.Scopes}
			}
		}
		c.cur.Store(&m)
	}
	if c.OnRefresh != nil {
		c.OnRefresh(len(*c.cur.Load()), err)
	}
	if err != nil {
		return fmt.Errorf("load api keys: %w", err)
	}
	return nil
}

// Run refreshes every interval until ctx ends.
func (c *KeyCache) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := c.Refresh(ctx); err != nil && ctx.Err() == nil {
				c.logger.Warn("api keys not refreshed; keeping the previous set", "err", err)
			}
		}
	}
}

// Lookup implements Keyring. An issued key is found by its ID, which is
// not secret, and its hash compared in constant time; anything else is
// compared with every static key in constant time.
func (c *KeyCache) Lookup(secret string) (Key, bool) {
	if id, ok := keyID(secret); ok {
		if k, ok := (*c.cur.Load())[id]; ok {
			h := sha256.Sum256([]byte(secret))
			if subtle.ConstantTimeCompare(h[:], k.Hash[:]) == 1 {
				return k, true
			}
			return Key{}, false
		}
	}
	return c.static.Lookup(secret)
}
