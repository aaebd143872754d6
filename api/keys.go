package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/splitcast/splitcast/experiment"
	"github.com/splitcast/splitcast/experiment/apikey"
)

// KeyCache is the Keyring of a server: fixed keys from the configuration
// (SPLITCAST_ADMIN_KEY and friends) plus the valid keys of an apikey.Store, held
// in memory and reloaded by Run. A revoked key therefore stops working
// within one refresh interval. While the store cannot be read the cache
// keeps the last set it loaded: a ClickHouse outage must not lock every
// client out, at the price of revocations waiting for the store to return.
type KeyCache struct {
	static KeyList
	store  apikey.Store
	logger *slog.Logger
	cur    atomic.Pointer[map[string]Key] // valid stored keys by ID
	// OnRefresh, when set, is told the outcome of each refresh (metrics).
	OnRefresh func(keys int, err error)
}

// NewKeyCache returns a cache of static and of store's keys; it holds only
// the static ones until the first Refresh. A nil store is allowed.
func NewKeyCache(static KeyList, store apikey.Store, logger *slog.Logger) *KeyCache {
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
	experiment.Every(ctx, interval, c.Refresh, func(err error) {
		c.logger.Warn("api keys not refreshed; keeping the previous set", "err", err)
	})
}

// Lookup implements Keyring. An issued key is found by its ID, which is
// not secret, and its hash compared in constant time; anything else is
// compared with every static key in constant time.
func (c *KeyCache) Lookup(secret string) (Key, bool) {
	if id, ok := apikey.ID(secret); ok {
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
