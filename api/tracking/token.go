package tracking

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"hash"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/splitcast/splitcast/experiment"
)

// Kind says what a token tracks: an open (the pixel) or a click (the redirect).
type Kind uint8

// The token kinds. Zero is not a kind, so a forgotten Kind is refused.
const (
	KindOpen  Kind = 1
	KindClick Kind = 2
)

// String returns "open", "click" or "unknown".
func (k Kind) String() string {
	switch k {
	case KindOpen:
		return "open"
	case KindClick:
		return "click"
	}
	return "unknown"
}

// Limits on token contents. They keep a token inside what mail clients and
// browsers accept in a URL, and bound the work of decoding one.
const (
	MaxFieldLen = experiment.MaxIDLen // bytes of each of experiment, segment, variant, unit, send id
	MaxURLLen   = 2048                // bytes of a click destination
	MaxLinks    = 1 << 16
	// MaxCategoryLen bounds a click link's category (see Token.Category).
	MaxCategoryLen = 64
)

// maxRawToken is the most bytes a v1 token decodes to: the header, issue
// time and version, five fields, link, URL and tag, each at its limit.
const maxRawToken = headerLen + 2*binary.MaxVarintLen64 + 5*(binary.MaxVarintLen64+MaxFieldLen) +
	binary.MaxVarintLen64 + binary.MaxVarintLen64 + MaxURLLen + tagLen + 1 + maxChannelLen +
	binary.MaxVarintLen64 + MaxCategoryLen

// maxChannelLen is the longest channel name a v2 token carries ("in_app").
const maxChannelLen = 8

// MaxTokenLen is the longest token Open or Click can sign, in characters
// (unpadded base64url of maxRawToken bytes): a server reading tracked URLs
// must take a request line this long (plus its base URL) beside the
// browser's headers.
const MaxTokenLen = (maxRawToken*8 + 5) / 6

const (
	formatV1 = 0x01
	// formatV2 is v1 with the channel after the send id: signed for every
	// claim with a channel, while v1 tokens (no channel) still verify.
	formatV2 = 0x02
	// formatV3 is a click token with a category: v2's fields (the channel
	// possibly empty), then the category after the URL, never empty.
	formatV3 = 0x03
	tagLen   = 16
	// headerLen is version, key id and kind: what is read before the MAC
	// is checked.
	headerLen = 3
	// minTokenLen is the smallest well-formed v1 token: header, issued at
	// and version of one byte each, five empty strings, and the tag.
	minTokenLen = headerLen + 2 + 5 + tagLen
)

// b64 is strict so that one token has one spelling; Verify also refuses the
// CR and LF that even a strict decoder skips.
var b64 = base64.RawURLEncoding.Strict()

// Claims is what a message's tracking tokens say about its send: which arm
// of which experiment version this unit got, and when it was sent.
type Claims struct {
	Experiment string
	Version    uint32
	Segment    string
	Variant    string
	Unit       string
	SendID     string
	// Channel is the channel the message went out on; "" signs a v1
	// token, which carries none.
	Channel experiment.Channel
	// IssuedAt is the send time, kept to the second. It is required: the
	// machine-traffic rules need the time between send and open or click.
	IssuedAt time.Time
}

// Token is a verified token: the claims, what kind of event it tracks, and
// for a click, which link of the message it is and where it goes.
type Token struct {
	Kind  Kind
	KeyID uint8
	Claims
	Link int    // click only: the 0-based index of the link in its message
	URL  string // click only: the destination, covered by the MAC
	// Category is, for a click only, what the link is about ("shoes"),
	// when its sender said: a human click on it counts toward the unit's
	// interests. "" for none.
	Category string
}

// Keyring holds the keys that verify tokens, by id, and names the one that
// signs new ones. Rotation: add the new key, make it the signing key, and
// keep the old one for verification as long as old messages should still
// redirect; removing a key makes every token signed under it fail.
//
// A Keyring is immutable once built and safe for concurrent use; to rotate,
// build a new one and swap it in.
type Keyring struct {
	signing uint8
	keys    [256]*macKey
	bufs    sync.Pool // of *[]byte: scratch for payloads, so signing and verifying do not allocate per call
}

// macKey computes tags under one key. HMAC states are pooled: keying one
// costs two SHA-256 blocks and an allocation, Reset after that is cheap.
type macKey struct {
	pool sync.Pool // of *macState
}

type macState struct {
	h   hash.Hash
	sum [sha256.Size]byte
}

// MinKeyLen is the shortest key accepted: HMAC-SHA256 wants at least its
// output size of real entropy.
const MinKeyLen = 32

// NewKeyring returns a Keyring that signs with keys[signing] and verifies
// with every key in keys. Key ids are 1..255; each key is at least MinKeyLen
// bytes and is copied.
func NewKeyring(signing uint8, keys map[uint8][]byte) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, experiment.Invalid("keys", "at least one key is required")
	}
	k := &Keyring{signing: signing}
	for id, key := range keys {
		if id == 0 {
			return nil, experiment.Invalid("keys", "key id 0 is reserved; use 1..255")
		}
		if len(key) < MinKeyLen {
			return nil, experiment.Invalid("keys", "key %d is %d bytes, want at least %d", id, len(key), MinKeyLen)
		}
		key := append([]byte(nil), key...)
		k.keys[id] = &macKey{pool: sync.Pool{New: func() any { return &macState{h: hmac.New(sha256.New, key)} }}}
	}
	if k.keys[signing] == nil {
		return nil, experiment.Invalid("signing", "signing key %d is not in the keyring", signing)
	}
	k.bufs.New = func() any { b := make([]byte, 0, 512); return &b }
	return k, nil
}

// getBuf returns an empty scratch buffer; putBuf gives it back unless it
// grew past what a common token needs, to keep the pool small.
func (k *Keyring) getBuf() *[]byte { return k.bufs.Get().(*[]byte) }

func (k *Keyring) putBuf(b *[]byte) {
	if cap(*b) <= 4096 {
		*b = (*b)[:0]
		k.bufs.Put(b)
	}
}

// SigningKeyID returns the id of the key that signs new tokens.
func (k *Keyring) SigningKeyID() uint8 { return k.signing }

// tag appends the truncated MAC of payload under key to dst.
func (m *macKey) tag(dst, payload []byte) []byte {
	st := m.pool.Get().(*macState)
	st.h.Reset()
	st.h.Write(payload)
	dst = append(dst, st.h.Sum(st.sum[:0])[:tagLen]...)
	m.pool.Put(st)
	return dst
}

// Derive returns a 32-byte key for another purpose of this server (the
// console's session cookies), the HMAC of purpose under the signing key:
// servers that share token keys derive the same key, and no token's MAC
// can be one, as purpose never starts with a token's format byte. Rotating
// the signing key changes it.
func (k *Keyring) Derive(purpose string) []byte {
	if purpose == "" || purpose[0] >= formatV1 && purpose[0] <= formatV3 {
		panic("tracking: Derive with an empty purpose or one starting with a token format byte")
	}
	m := k.keys[k.signing]
	st := m.pool.Get().(*macState)
	defer m.pool.Put(st)
	st.h.Reset()
	st.h.Write([]byte(purpose))
	return st.h.Sum(nil)
}

// Open returns a signed open-pixel token for c.
func (k *Keyring) Open(c Claims) (string, error) {
	return k.sign(Token{Kind: KindOpen, Claims: c})
}

// Click returns a signed click token for c, binding the destination dest and
// the link's index in its message. dest must be an absolute http(s) URL (see
// CheckURL).
func (k *Keyring) Click(c Claims, link int, dest string) (string, error) {
	return k.ClickIn(c, link, dest, "")
}

// ClickIn is Click for a link of a category ("" for none; see
// CheckCategory).
func (k *Keyring) ClickIn(c Claims, link int, dest, category string) (string, error) {
	if err := CheckURL("url", dest); err != nil {
		return "", err
	}
	dest, err := NormalizeURL(dest)
	if err != nil {
		return "", err
	}
	return k.sign(Token{Kind: KindClick, Claims: c, Link: link, URL: dest, Category: category})
}

// CheckCategory checks a link's category: empty (none), or at most
// MaxCategoryLen bytes of UTF-8 without control characters. Errors name
// field.
func CheckCategory(field, category string) error {
	if len(category) > MaxCategoryLen {
		return experiment.Invalid(field, "is %d bytes, at most %d allowed", len(category), MaxCategoryLen)
	}
	if !utf8.ValidString(category) {
		return experiment.Invalid(field, "is not valid UTF-8")
	}
	for _, r := range category {
		if r < ' ' || r == 0x7f {
			return experiment.Invalid(field, "holds a control character")
		}
	}
	return nil
}

func (k *Keyring) sign(t Token) (string, error) {
	if err := t.validate(); err != nil {
		return "", err
	}
	bp := k.getBuf()
	buf := appendPayload(*bp, k.signing, &t)
	buf = k.keys[k.signing].tag(buf, buf)
	enc := b64.AppendEncode(buf[len(buf):], buf) // text after the bytes, in the same scratch
	s := string(enc)
	*bp = buf[:0]
	k.putBuf(bp)
	return s, nil
}

func (t *Token) validate() error {
	for _, f := range [...]struct{ name, v string }{
		{"experiment", t.Experiment}, {"segment", t.Segment}, {"variant", t.Variant},
		{"unit", t.Unit}, {"send_id", t.SendID},
	} {
		if len(f.v) > MaxFieldLen {
			return experiment.Invalid(f.name, "is %d bytes, at most %d allowed", len(f.v), MaxFieldLen)
		}
		if !utf8.ValidString(f.v) {
			return experiment.Invalid(f.name, "is not valid UTF-8")
		}
	}
	switch {
	case t.Experiment == "":
		return experiment.Invalid("experiment", "is required")
	case t.Variant == "":
		return experiment.Invalid("variant", "is required")
	case t.Unit == "":
		return experiment.Invalid("unit", "is required")
	case t.IssuedAt.IsZero() || t.IssuedAt.Unix() < 0:
		return experiment.Invalid("issued_at", "is required and must be after 1970")
	case t.Channel != "" && !t.Channel.Valid():
		return experiment.Invalid("channel", "unknown channel %q", t.Channel)
	}
	switch t.Kind {
	case KindOpen:
		if t.URL != "" || t.Link != 0 || t.Category != "" {
			return experiment.Invalid("url", "an open token carries no link")
		}
	case KindClick:
		if t.Link < 0 || t.Link >= MaxLinks {
			return experiment.Invalid("link", "index %d out of range [0, %d)", t.Link, MaxLinks)
		}
		if len(t.URL) > MaxURLLen {
			return experiment.Invalid("url", "is %d bytes, at most %d allowed", len(t.URL), MaxURLLen)
		}
		if err := CheckCategory("category", t.Category); err != nil {
			return err
		}
	default:
		return experiment.Invalid("kind", "unknown token kind %d", t.Kind)
	}
	return nil
}

func appendPayload(b []byte, keyID uint8, t *Token) []byte {
	format := byte(formatV1)
	switch {
	case t.Category != "":
		format = formatV3
	case t.Channel != "":
		format = formatV2
	}
	b = append(b, format, keyID, byte(t.Kind))
	b = binary.AppendUvarint(b, uint64(t.IssuedAt.Unix()))
	b = binary.AppendUvarint(b, uint64(t.Version))
	b = appendStr(b, t.Experiment)
	b = appendStr(b, t.Segment)
	b = appendStr(b, t.Variant)
	b = appendStr(b, t.Unit)
	b = appendStr(b, t.SendID)
	if format != formatV1 {
		b = appendStr(b, string(t.Channel))
	}
	if t.Kind == KindClick {
		b = binary.AppendUvarint(b, uint64(t.Link))
		b = appendStr(b, t.URL)
	}
	if format == formatV3 {
		b = appendStr(b, t.Category)
	}
	return b
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// verify reports whether got is the tag of payload, in constant time.
func (m *macKey) verify(payload, got []byte) bool {
	st := m.pool.Get().(*macState)
	st.h.Reset()
	st.h.Write(payload)
	ok := hmac.Equal(got, st.h.Sum(st.sum[:0])[:tagLen])
	m.pool.Put(st)
	return ok
}

// Verify decodes a token, checks its MAC under the key it names and returns
// its claims. An unknown key id (never issued, or removed) is ENOTFOUND;
// anything else wrong is EINVALID. Both name the field "token", and the
// caller must treat both alike: no redirect, no event.
func (k *Keyring) Verify(s string) (Token, error) {
	// Bound the work before decoding: a v1 token is never longer than this.
	if len(s) > MaxTokenLen {
		return Token{}, errToken("too long")
	}
	// The strict decoder refuses every byte outside the alphabet but skips
	// CR and LF, which would give a token a second spelling.
	if strings.IndexByte(s, '\n') >= 0 || strings.IndexByte(s, '\r') >= 0 {
		return Token{}, errToken("not base64url")
	}
	// The scratch buffer holds the text, then the bytes it decodes to.
	bp := k.getBuf()
	defer k.putBuf(bp)
	text := append(*bp, s...)
	raw, err := b64.AppendDecode(text[len(text):], text)
	*bp = text[:0]
	if err != nil {
		return Token{}, errToken("not base64url")
	}
	if len(raw) < minTokenLen {
		return Token{}, errToken("too short")
	}
	if raw[0] != formatV1 && raw[0] != formatV2 && raw[0] != formatV3 {
		return Token{}, errToken("unknown format version")
	}
	id := raw[1]
	key := k.keys[id]
	if key == nil {
		return Token{}, &experiment.Error{Code: experiment.ENOTFOUND, Field: "token", Message: "unknown signing key"}
	}
	payload, got := raw[:len(raw)-tagLen], raw[len(raw)-tagLen:]
	if !key.verify(payload, got) {
		return Token{}, errToken("bad signature")
	}
	t, ok := decodePayload(string(payload))
	if !ok {
		// A correctly signed but malformed payload means a signer bug or a
		// leaked key: refuse it all the same.
		return Token{}, errToken("malformed")
	}
	return t, nil
}

func errToken(msg string) error {
	return experiment.Invalid("token", "%s", msg)
}

// decodePayload parses a v1 payload (without its tag). It accepts exactly
// the bytes appendPayload produces for a valid Token and nothing else. It
// works on one string so that the claims share a single allocation.
func decodePayload(p string) (Token, bool) {
	d := decoder{s: p}
	var t Token
	format := d.byte()
	if format != formatV1 && format != formatV2 && format != formatV3 {
		return Token{}, false
	}
	t.KeyID = d.byte()
	t.Kind = Kind(d.byte())
	issued := d.uvarint()
	version := d.uvarint()
	if issued > 1<<62 || version > 1<<32-1 {
		return Token{}, false
	}
	t.IssuedAt = time.Unix(int64(issued), 0).UTC()
	t.Version = uint32(version)
	t.Experiment = d.str(MaxFieldLen)
	t.Segment = d.str(MaxFieldLen)
	t.Variant = d.str(MaxFieldLen)
	t.Unit = d.str(MaxFieldLen)
	t.SendID = d.str(MaxFieldLen)
	if format != formatV1 {
		// A v2 token's channel is never empty: one claim, one spelling.
		if t.Channel = experiment.Channel(d.str(maxChannelLen)); t.Channel == "" && format == formatV2 {
			return Token{}, false
		}
	}
	if t.Kind == KindClick {
		link := d.uvarint()
		if link >= MaxLinks {
			return Token{}, false
		}
		t.Link = int(link)
		t.URL = d.str(MaxURLLen)
	}
	if format == formatV3 {
		// Only a click has a category, and a v3 token's is never empty.
		if t.Category = d.str(MaxCategoryLen); t.Category == "" || t.Kind != KindClick {
			return Token{}, false
		}
	}
	if d.bad || len(d.s) != 0 || t.KeyID == 0 {
		return Token{}, false
	}
	if err := t.validate(); err != nil {
		return Token{}, false
	}
	if t.Kind == KindClick && CheckURL("url", t.URL) != nil {
		return Token{}, false
	}
	return t, true
}

// decoder reads from s; the first failure sets bad and every later read
// returns a zero value, so callers check once at the end.
type decoder struct {
	s   string
	bad bool
}

func (d *decoder) byte() byte {
	if d.bad || len(d.s) < 1 {
		d.bad = true
		return 0
	}
	c := d.s[0]
	d.s = d.s[1:]
	return c
}

// uvarint reads a minimally encoded uvarint of at most 64 bits: a longer
// encoding of the same number would let two tokens mean the same thing.
func (d *decoder) uvarint() uint64 {
	if d.bad {
		return 0
	}
	var v uint64
	for i := 0; i < len(d.s) && i < binary.MaxVarintLen64; i++ {
		c := d.s[i]
		if i == binary.MaxVarintLen64-1 && c > 1 {
			break // overflows 64 bits
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			if i > 0 && c == 0 {
				break // non-minimal
			}
			d.s = d.s[i+1:]
			return v
		}
	}
	d.bad = true
	return 0
}

func (d *decoder) str(max int) string {
	n := d.uvarint()
	if d.bad || n > uint64(max) || n > uint64(len(d.s)) {
		d.bad = true
		return ""
	}
	s := d.s[:n]
	d.s = d.s[n:]
	return s
}
