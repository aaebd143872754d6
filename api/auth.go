package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/splitcast/splitcast/experiment"
	"github.com/splitcast/splitcast/experiment/apikey"
)

// Key is one API key: its ID (empty for keys from the configuration), its
// name (recorded as the author of the changes it makes), the SHA-256 of its
// secret, and its scopes. Secrets are never kept in clear.
type Key struct {
	ID     string
	Name   string
	Hash   [32]byte
	Scopes []apikey.Scope
}

// NewKey returns the Key for a secret.
func NewKey(name, secret string, scopes ...apikey.Scope) Key {
	return Key{Name: name, Hash: sha256.Sum256([]byte(secret)), Scopes: scopes}
}

func (k Key) has(s apikey.Scope) bool {
	for _, have := range k.Scopes {
		if have == s {
			return true
		}
	}
	return false
}

// Keyring looks API keys up: KeyList for fixed keys, KeyCache for those of
// an apikey.Store as well.
type Keyring interface {
	Lookup(secret string) (Key, bool)
}

// KeyList is a fixed list of keys.
type KeyList []Key

// Lookup compares the secret's hash with every key in constant time, so
// that timing tells nothing about how much of a key was right.
func (l KeyList) Lookup(secret string) (Key, bool) {
	h := sha256.Sum256([]byte(secret))
	var found Key
	ok := 0
	for _, k := range l {
		if subtle.ConstantTimeCompare(h[:], k.Hash[:]) == 1 {
			found, ok = k, 1
		}
	}
	return found, ok == 1
}

const localKey = "splitcast.key"

// require admits requests whose bearer key has scope s: 401 without a known
// key, 403 with a key that lacks the scope.
func (s *Server) require(scope apikey.Scope) fiber.Handler {
	return func(c *fiber.Ctx) error {
		auth := c.Get(fiber.HeaderAuthorization)
		secret, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok || secret == "" {
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="splitcast"`)
			return &experiment.Error{Code: experiment.EUNAUTHORIZED, Field: "Authorization", Message: "an API key is required: Authorization: Bearer <key>"}
		}
		key, ok := s.cfg.Keys.Lookup(secret)
		if !ok {
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="splitcast", error="invalid_token"`)
			return &experiment.Error{Code: experiment.EUNAUTHORIZED, Field: "Authorization", Message: "unknown or revoked API key"}
		}
		if !key.has(scope) {
			return &experiment.Error{Code: experiment.EFORBIDDEN, Field: "Authorization", Message: "this key lacks the " + string(scope) + " scope"}
		}
		c.Locals(localKey, key)
		if ok, wait := s.perKey.allow(key.limitKey()); !ok {
			return tooManyRequests(c, wait, "this API key")
		}
		return c.Next()
	}
}

// limitKey names the key in the per-key rate limiter.
func (k Key) limitKey() string {
	if k.ID != "" {
		return "id:" + k.ID
	}
	return "name:" + k.Name
}

// author names who made a change: the key's name, or the X-Splitcast-Author
// header when the key's holder says on whose behalf it acts.
func author(c *fiber.Ctx) string {
	if a := strings.TrimSpace(c.Get("X-Splitcast-Author")); a != "" {
		return a
	}
	if k, ok := c.Locals(localKey).(Key); ok {
		return "key:" + k.Name
	}
	return "unknown"
}

// keyOf is the key require admitted the request with (the zero Key on a
// route without one).
func keyOf(c *fiber.Ctx) Key {
	k, _ := c.Locals(localKey).(Key)
	return k
}
