// Package apikey holds Splitcast's API keys as data: scopes, the record a
// store keeps (the SHA-256 of the key, never the key), and issuing. It has
// no HTTP and no database in it, so that both the api package and the
// ClickHouse store can use it without depending on each other.
package apikey

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/splitcast/splitcast/experiment"
)

// Scope is what an API key may do.
type Scope string

// The scopes of DESIGN.md: sdk (assign, events), admin (experiments), read
// (reports).
const (
	ScopeSDK   Scope = "sdk"
	ScopeAdmin Scope = "admin"
	ScopeRead  Scope = "read"
)

// Record is an API key issued at run time, as a KeyStore keeps it: the
// SHA-256 of the secret, never the secret. ID is not secret: it is the
// visible prefix of the key (sc_<id>_...), shown in lists and used to revoke.
type Record struct {
	ID        string
	Name      string
	Hash      [32]byte
	Scopes    []Scope
	CreatedAt time.Time
	// RevokedAt is zero while the key is valid.
	RevokedAt time.Time
}

// Revoked reports whether the key was revoked.
func (r Record) Revoked() bool { return !r.RevokedAt.IsZero() }

// Store keeps the API keys issued at run time (splitcast keys create).
// The server reads it through a KeyCache; the CLI writes it.
type Store interface {
	// CreateKey stores a new key; an existing ID is ECONFLICT.
	CreateKey(ctx context.Context, r Record) error
	// ListKeys returns every key, revoked ones included, oldest first.
	ListKeys(ctx context.Context) ([]Record, error)
	// RevokeKey marks a key revoked at at and returns it; an unknown ID is
	// ENOTFOUND. Revoking a revoked key changes nothing.
	RevokeKey(ctx context.Context, id string, at time.Time) (Record, error)
}

// keyPrefix starts every issued key, so that a leaked key is recognisable
// (secret scanners) and its ID can be read from it.
const keyPrefix = "sc_"

// New issues a key: an ID of 8 random bytes and a secret of 32
// random bytes, returned once as "sc_<id>_<secret>", and the record to store.
//
// The record keeps SHA-256 of the whole key rather than a slow password
// hash: the secret is 256 bits from crypto/rand, so a leaked table cannot be
// brute-forced whatever the hash's speed, and a fast hash lets every request
// be checked without a costly KDF on the hot path.
func New(name string, scopes []Scope, now time.Time) (string, Record, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return "", Record{}, experiment.Invalid("name", "want 1 to 100 characters")
	}
	if len(scopes) == 0 {
		return "", Record{}, experiment.Invalid("scopes", "want at least one of sdk, admin, read")
	}
	var id [8]byte
	var secret [32]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", Record{}, fmt.Errorf("key id: %w", err)
	}
	if _, err := rand.Read(secret[:]); err != nil {
		return "", Record{}, fmt.Errorf("key secret: %w", err)
	}
	r := Record{ID: hex.EncodeToString(id[:]), Name: name, Scopes: scopes, CreatedAt: now.UTC().Truncate(time.Second)}
	key := keyPrefix + r.ID + "_" + base64.RawURLEncoding.EncodeToString(secret[:])
	r.Hash = sha256.Sum256([]byte(key))
	return key, r, nil
}

// ID returns the ID part of an issued key.
func ID(secret string) (string, bool) {
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
