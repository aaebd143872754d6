// Package tracking signs and verifies the tokens carried by open pixels and
// click redirects, and rewrites a message's HTML so that its links and its
// open pixel carry them. It is pure: no HTTP server, no clock, no storage.
//
// Invariants:
//
//   - A token is verified before any of its claims are parsed: bytes that do
//     not carry a valid MAC under a key of the Keyring are never interpreted.
//   - A click token carries its destination URL inside the signed payload, so
//     the only place a redirect can go is a URL that the holder of a signing
//     key put there. A tampered token or URL fails verification; there is no
//     second, unsigned URL to swap.
//   - Decoding is strict and canonical: every length is checked, trailing
//     bytes, non-minimal varints, unknown format versions and unknown kinds
//     are refused, and the decoder never panics (FuzzDecode).
//   - A token's age is never a reason to refuse it: a message read a year
//     late still redirects. IssuedAt is exposed so the caller can compute the
//     time since the send for machine-traffic classification.
//
// # Token format, version 1
//
// The token is base64url without padding of payload || tag, where
//
//	payload = 0x01                      format version
//	          key id                    1 byte, 1..255
//	          kind                      1 byte: 1 open, 2 click
//	          issued at                 uvarint, unix seconds
//	          experiment version        uvarint
//	          experiment key            str
//	          segment                   str
//	          variant                   str
//	          unit id                   str
//	          send id                   str
//	          link index                uvarint   (click only)
//	          destination URL           str       (click only)
//	tag     = HMAC-SHA256(key[key id], payload)[:16]
//	str     = uvarint byte length, then that many bytes of UTF-8
//
// The tag is truncated to 128 bits. Forging a token means guessing a tag
// online, one request per guess, with a 2^-128 chance each: far beyond reach,
// and within what NIST SP 800-107 allows for truncated HMAC (at least 64
// bits). The full 256 bits would add 22 characters to every link of every
// message for no practical gain.
//
// The format version leads the MAC'd bytes so that a future format can never
// be confused with this one; the key id is MAC'd too, so moving a token to
// another key id fails.
package tracking
