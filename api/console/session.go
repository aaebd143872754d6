package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// Session is who is signed in: the API key's name and what it may do. It
// travels in the session cookie, signed, so that any server holding the
// same key reads it: the console keeps no state of its own.
type Session struct {
	Name   string `json:"n"`
	Admin  bool   `json:"a"`
	Expiry int64  `json:"e"` // unix seconds
	// Nonce makes two sign-ins of one key two sessions, each with its own
	// CSRF token.
	Nonce string `json:"r"`
}

// sessions signs and checks session cookies and CSRF tokens under one key.
type sessions struct {
	key []byte
}

// b64 is strict: a cookie has one spelling, so no changed byte passes.
var b64 = base64.RawURLEncoding.Strict()

func (s sessions) mac(purpose string, data []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write(data)
	return m.Sum(nil)
}

// encode returns the cookie value of sess: payload "." MAC.
func (s sessions) encode(sess Session) string {
	data, _ := json.Marshal(sess) // a struct of strings, bools and ints
	return b64.EncodeToString(data) + "." + b64.EncodeToString(s.mac("session", data))
}

// decode checks a cookie value's MAC and expiry.
func (s sessions) decode(v string, now time.Time) (Session, bool) {
	p, m, ok := strings.Cut(v, ".")
	if !ok {
		return Session{}, false
	}
	data, err1 := b64.DecodeString(p)
	mac, err2 := b64.DecodeString(m)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, s.mac("session", data)) {
		return Session{}, false
	}
	var sess Session
	if json.Unmarshal(data, &sess) != nil || now.Unix() >= sess.Expiry {
		return Session{}, false
	}
	return sess, true
}

// csrf is the CSRF token of a session cookie (or of the sign-in page's
// nonce): derived, so nothing is stored, and useless with any other
// cookie.
func (s sessions) csrf(cookie string) string {
	return b64.EncodeToString(s.mac("csrf", []byte(cookie)))
}

// checkCSRF reports whether token is cookie's CSRF token.
func (s sessions) checkCSRF(cookie, token string) bool {
	if cookie == "" || token == "" {
		return false
	}
	return hmac.Equal([]byte(token), []byte(s.csrf(cookie)))
}

func nonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return b64.EncodeToString(b)
}
