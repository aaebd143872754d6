package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"slices"
	"strings"
	"time"

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

// require admits requests whose bearer key has one of the scopes: 401
// without a known key, 403 with a key that lacks them.
func (s *Server) require(scopes ...apikey.Scope) fiber.Handler {
	return func(c *fiber.Ctx) error {
		auth := c.Get(fiber.HeaderAuthorization)
		secret, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok || secret == "" {
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="splitcast"`)
			return &experiment.Error{Code: experiment.EUNAUTHORIZED, Field: "Authorization", Message: "an API key is required: Authorization: Bearer <key>"}
		}
		key, ok, wait := s.lookupKey(c, secret)
		if wait > 0 {
			return tooManyRequests(c, wait, "this address's failed authentications")
		}
		if !ok {
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="splitcast", error="invalid_token"`)
			return &experiment.Error{Code: experiment.EUNAUTHORIZED, Field: "Authorization", Message: "unknown or revoked API key"}
		}
		if !slices.ContainsFunc(scopes, key.has) {
			return &experiment.Error{Code: experiment.EFORBIDDEN, Field: "Authorization", Message: "this key lacks the " + strings.ReplaceAll(strings.Trim(fmt.Sprint(scopes), "[]"), " ", " or ") + " scope"}
		}
		c.Locals(localKey, key)
		if ok, wait := s.perKey.allow(key.limitKey()); !ok {
			return tooManyRequests(c, wait, "this API key")
		}
		return c.Next()
	}
}

// lookupKey finds secret's key, unless the client's address has used up
// its failed authentications (wait > 0: not even looked at, so that the
// answer tells nothing); a failure uses one up.
func (s *Server) lookupKey(c *fiber.Ctx, secret string) (key Key, ok bool, wait time.Duration) {
	if s.authFail == nil {
		key, ok = s.cfg.Keys.Lookup(secret)
		return key, ok, 0
	}
	addr := clientNet(strings.Clone(c.IP()))
	if empty, wait := s.authFail.empty(addr); empty {
		return Key{}, false, wait
	}
	if key, ok = s.cfg.Keys.Lookup(secret); !ok {
		s.authFail.allow(addr)
	}
	return key, ok, 0
}

// limitKey names the key in the per-key rate limiter.
func (k Key) limitKey() string {
	if k.ID != "" {
		return "id:" + k.ID
	}
	return "name:" + k.Name
}

// author names who made a change: the key's name, and before it the
// X-Splitcast-Author header when the key's holder says on whose behalf it
// acts ("alice via key:admin"). The header is the caller's word; the key
// name beside it is what the server checked, so the history never shows a
// name no key vouched for alone.
func author(c *fiber.Ctx) string {
	by := "unknown"
	if k, ok := c.Locals(localKey).(Key); ok {
		by = "key:" + k.Name
	}
	if a := strings.TrimSpace(c.Get("X-Splitcast-Author")); a != "" {
		return a + " via " + by
	}
	return by
}

// keyOf is the key require admitted the request with (the zero Key on a
// route without one).
func keyOf(c *fiber.Ctx) Key {
	k, _ := c.Locals(localKey).(Key)
	return k
}
