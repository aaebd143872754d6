package tracking

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/splitcast/splitcast/experiment"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// MustKeyring returns a keyring signing with id and holding keys 1..n.
func MustKeyring(tb testing.TB, signing uint8, ids ...uint8) *Keyring {
	tb.Helper()
	keys := map[uint8][]byte{}
	for _, id := range ids {
		keys[id] = key(id)
	}
	k, err := NewKeyring(signing, keys)
	if err != nil {
		tb.Fatalf("NewKeyring: %v", err)
	}
	return k
}

var sent = time.Date(2025, 6, 1, 9, 30, 0, 0, time.UTC)

func claims() Claims {
	return Claims{
		Experiment: "welcome-subject",
		Version:    3,
		Segment:    "dormant",
		Variant:    "b",
		Unit:       "user-8f3a2c91",
		SendID:     "snd_01HZX3Q9K2",
		IssuedAt:   sent,
	}
}

const dest = "https://shop.example.com/sale?utm_source=email&utm_campaign=june"

// tokenCases seed both the table tests and the fuzzers.
func tokenCases(tb testing.TB, k *Keyring) []string {
	tb.Helper()
	open, err := k.Open(claims())
	if err != nil {
		tb.Fatal(err)
	}
	click, err := k.Click(claims(), 4, dest)
	if err != nil {
		tb.Fatal(err)
	}
	c := claims()
	c.Segment, c.SendID, c.Version = "", "", 0
	minimal, err := k.Open(c)
	if err != nil {
		tb.Fatal(err)
	}
	// v3: a category, with and without a channel.
	shoes, err := k.ClickIn(claims(), 2, dest, "shoes")
	if err != nil {
		tb.Fatal(err)
	}
	c = claims()
	c.Channel = experiment.ChannelPush
	shoesPush, err := k.ClickIn(c, 3, dest, "chaussures d'été")
	if err != nil {
		tb.Fatal(err)
	}
	return []string{open, click, minimal, shoes, shoesPush}
}

// TestCategoryRoundTrip: a click token keeps its link's category, with or
// without a channel; a token without one is the v1 or v2 token it was.
func TestCategoryRoundTrip(t *testing.T) {
	k := MustKeyring(t, 1, 1)
	for _, ch := range []experiment.Channel{"", experiment.ChannelPush} {
		c := claims()
		c.Channel = ch
		tok, err := k.ClickIn(c, 5, dest, "shoes")
		if err != nil {
			t.Fatal(err)
		}
		got, err := k.Verify(tok)
		want := Token{Kind: KindClick, KeyID: 1, Claims: c, Link: 5, URL: dest, Category: "shoes"}
		if err != nil || got != want {
			t.Errorf("Verify(click in shoes, channel %q) = %+v, %v, want %+v", ch, got, err, want)
		}
		plain, _ := k.Click(c, 5, dest)
		same, _ := k.ClickIn(c, 5, dest, "")
		if plain != same {
			t.Errorf("ClickIn with no category = %q, want Click's %q", same, plain)
		}
	}
	for _, bad := range []string{strings.Repeat("c", MaxCategoryLen+1), "a\nb", "\xff"} {
		if _, err := k.ClickIn(claims(), 0, dest, bad); experiment.ErrorField(err) != "category" {
			t.Errorf("ClickIn(category %q) = %v, want EINVALID on category", bad, err)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	k := MustKeyring(t, 2, 1, 2)
	c := claims()
	c.IssuedAt = sent.Add(700 * time.Millisecond).In(time.FixedZone("X", 3600))

	tok, err := k.Open(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := k.Verify(tok)
	if err != nil {
		t.Fatalf("Verify(open) = %v", err)
	}
	want := Token{Kind: KindOpen, KeyID: 2, Claims: claims()}
	if got != want {
		t.Errorf("Verify(open) = %+v, want %+v", got, want)
	}

	tok, err = k.Click(c, 7, dest)
	if err != nil {
		t.Fatal(err)
	}
	got, err = k.Verify(tok)
	if err != nil {
		t.Fatalf("Verify(click) = %v", err)
	}
	want = Token{Kind: KindClick, KeyID: 2, Claims: claims(), Link: 7, URL: dest}
	if got != want {
		t.Errorf("Verify(click) = %+v, want %+v", got, want)
	}
	t.Logf("open token %d chars, click token %d chars (URL %d bytes)", len(mustOpen(t, k)), len(tok), len(dest))
}

func mustOpen(tb testing.TB, k *Keyring) string {
	tb.Helper()
	s, err := k.Open(claims())
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestTokenSize(t *testing.T) {
	k := MustKeyring(t, 1, 1)
	// 3 header + 5 issued + 1 version + 5*1 lengths + 15+7+1+13+14 strings + 16 tag = 80 bytes.
	if got, want := len(mustOpen(t, k)), base64.RawURLEncoding.EncodedLen(80); got != want {
		t.Errorf("len(open token) = %d, want %d", got, want)
	}
}

func TestTamperEveryByte(t *testing.T) {
	k := MustKeyring(t, 1, 1)
	for _, tok := range tokenCases(t, k) {
		raw, _ := base64.RawURLEncoding.DecodeString(tok)
		for i := range raw {
			for _, flip := range []byte{0x01, 0x80, 0xff} {
				b := bytes.Clone(raw)
				b[i] ^= flip
				if _, err := k.Verify(base64.RawURLEncoding.EncodeToString(b)); err == nil {
					t.Fatalf("Verify accepted token with byte %d ^ %#x", i, flip)
				}
			}
		}
	}
}

func TestTruncatedAndExtended(t *testing.T) {
	k := MustKeyring(t, 1, 1)
	for _, tok := range tokenCases(t, k) {
		raw, _ := base64.RawURLEncoding.DecodeString(tok)
		for n := 0; n < len(raw); n++ {
			if _, err := k.Verify(base64.RawURLEncoding.EncodeToString(raw[:n])); err == nil {
				t.Fatalf("Verify accepted token truncated to %d of %d bytes", n, len(raw))
			}
		}
		for n := 0; n < len(tok); n++ {
			if _, err := k.Verify(tok[:n]); err == nil {
				t.Fatalf("Verify accepted token string truncated to %d of %d chars", n, len(tok))
			}
		}
		for _, extra := range []string{"A", "AA", "AAAA", "\n", "=", "==", " "} {
			if _, err := k.Verify(tok + extra); err == nil {
				t.Fatalf("Verify accepted token + %q", extra)
			}
		}
	}
}

// TestTrailingBytesSigned checks that the decoder itself refuses trailing
// bytes: a signer bug that appended junk must not yield a token.
func TestTrailingBytesSigned(t *testing.T) {
	k := MustKeyring(t, 1, 1)
	tk := Token{Kind: KindOpen, Claims: claims()}
	p := appendPayload(nil, 1, &tk)
	if _, ok := decodePayload(string(p)); !ok {
		t.Fatal("decodePayload(valid) failed")
	}
	for _, junk := range [][]byte{{0}, {1, 2, 3}} {
		bad := append(bytes.Clone(p), junk...)
		signed := k.keys[1].tag(bad, bad)
		_, err := k.Verify(base64.RawURLEncoding.EncodeToString(signed))
		if experiment.ErrorCode(err) != experiment.EINVALID {
			t.Errorf("Verify(signed payload + %v) = %v, want EINVALID", junk, err)
		}
	}
	// A non-minimal varint for the version, correctly signed.
	nonMin := []byte{formatV1, 1, byte(KindOpen)}
	nonMin = append(nonMin, p[3:8]...) // issued at, 5 bytes
	nonMin = append(nonMin, 0x83, 0x00)
	nonMin = append(nonMin, p[9:]...)
	if _, ok := decodePayload(string(nonMin)); ok {
		t.Error("decodePayload accepted a non-minimal varint")
	}
	// An unknown format version, correctly signed.
	v2 := bytes.Clone(p)
	v2[0] = 2
	if _, err := k.Verify(base64.RawURLEncoding.EncodeToString(k.keys[1].tag(v2, v2))); err == nil {
		t.Error("Verify accepted format version 2")
	}
}

func TestOtherKeyRefused(t *testing.T) {
	mine := MustKeyring(t, 1, 1)
	theirs, err := NewKeyring(1, map[uint8][]byte{1: key(99)})
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := theirs.Click(claims(), 0, "https://evil.example/")
	if _, err := mine.Verify(tok); experiment.ErrorCode(err) != experiment.EINVALID {
		t.Errorf("Verify(token signed with another key under the same id) = %v, want EINVALID", err)
	}
}

func TestRotation(t *testing.T) {
	old := MustKeyring(t, 1, 1)
	oldTok, _ := old.Click(claims(), 0, dest)

	// Key 2 signs; key 1 still verifies.
	rotated := MustKeyring(t, 2, 1, 2)
	newTok, _ := rotated.Click(claims(), 0, dest)
	for _, tok := range []string{oldTok, newTok} {
		if _, err := rotated.Verify(tok); err != nil {
			t.Errorf("rotated.Verify = %v", err)
		}
	}
	if got, _ := rotated.Verify(newTok); got.KeyID != 2 {
		t.Errorf("new token KeyID = %d, want 2", got.KeyID)
	}
	if _, err := old.Verify(newTok); experiment.ErrorCode(err) != experiment.ENOTFOUND {
		t.Errorf("old.Verify(new token) = %v, want ENOTFOUND", err)
	}

	// Key 1 removed: its tokens fail.
	retired := MustKeyring(t, 2, 2)
	_, err := retired.Verify(oldTok)
	if experiment.ErrorCode(err) != experiment.ENOTFOUND || experiment.ErrorField(err) != "token" {
		t.Errorf("retired.Verify(old token) = %v, want ENOTFOUND on token", err)
	}

	// Relabelling an old token with the surviving key id breaks the MAC.
	raw, _ := base64.RawURLEncoding.DecodeString(oldTok)
	raw[1] = 2
	if _, err := retired.Verify(base64.RawURLEncoding.EncodeToString(raw)); experiment.ErrorCode(err) != experiment.EINVALID {
		t.Errorf("Verify(old token relabelled to key 2) = %v, want EINVALID", err)
	}
}

func TestURLSwapRefused(t *testing.T) {
	k := MustKeyring(t, 1, 1)
	tok, _ := k.Click(claims(), 0, "https://a.example/x")
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	swapped := bytes.Replace(raw, []byte("a.example"), []byte("e.example"), 1)
	if bytes.Equal(swapped, raw) {
		t.Fatal("URL not found in token")
	}
	if _, err := k.Verify(base64.RawURLEncoding.EncodeToString(swapped)); err == nil {
		t.Error("Verify accepted a token whose URL was swapped")
	}
	// Nor can an open token be turned into a click token.
	open, _ := base64.RawURLEncoding.DecodeString(mustOpen(t, k))
	open[2] = byte(KindClick)
	if _, err := k.Verify(base64.RawURLEncoding.EncodeToString(open)); err == nil {
		t.Error("Verify accepted an open token relabelled as a click")
	}
}

func TestOldTokenStillValid(t *testing.T) {
	k := MustKeyring(t, 1, 1)
	c := claims()
	c.IssuedAt = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	tok, _ := k.Click(c, 0, dest)
	got, err := k.Verify(tok)
	if err != nil || !got.IssuedAt.Equal(c.IssuedAt) {
		t.Errorf("Verify(2001 token) = %v, %v; want valid with IssuedAt %v", got.IssuedAt, err, c.IssuedAt)
	}
}

func TestSignRefuses(t *testing.T) {
	k := MustKeyring(t, 1, 1)
	long := strings.Repeat("x", MaxFieldLen+1)
	for _, tc := range []struct {
		name  string
		edit  func(*Claims)
		link  int
		dest  string
		field string
	}{
		{"no experiment", func(c *Claims) { c.Experiment = "" }, 0, dest, "experiment"},
		{"no variant", func(c *Claims) { c.Variant = "" }, 0, dest, "variant"},
		{"no unit", func(c *Claims) { c.Unit = "" }, 0, dest, "unit"},
		{"no time", func(c *Claims) { c.IssuedAt = time.Time{} }, 0, dest, "issued_at"},
		{"long unit", func(c *Claims) { c.Unit = long }, 0, dest, "unit"},
		{"bad utf8", func(c *Claims) { c.Segment = "\xff" }, 0, dest, "segment"},
		{"negative link", func(c *Claims) {}, -1, dest, "link"},
		{"huge link", func(c *Claims) {}, MaxLinks, dest, "link"},
		{"javascript", func(c *Claims) {}, 0, "javascript:alert(1)", "url"},
		{"long url", func(c *Claims) {}, 0, "https://x.example/" + strings.Repeat("a", MaxURLLen), "url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := claims()
			tc.edit(&c)
			_, err := k.Click(c, tc.link, tc.dest)
			if experiment.ErrorCode(err) != experiment.EINVALID || experiment.ErrorField(err) != tc.field {
				t.Errorf("Click = %v, want EINVALID on %q", err, tc.field)
			}
		})
	}
}

func TestNewKeyringRefuses(t *testing.T) {
	for _, tc := range []struct {
		name    string
		signing uint8
		keys    map[uint8][]byte
	}{
		{"empty", 1, nil},
		{"id zero", 0, map[uint8][]byte{0: key(0)}},
		{"short key", 1, map[uint8][]byte{1: make([]byte, 31)}},
		{"signing missing", 2, map[uint8][]byte{1: key(1)}},
	} {
		if _, err := NewKeyring(tc.signing, tc.keys); experiment.ErrorCode(err) != experiment.EINVALID {
			t.Errorf("NewKeyring(%s) = %v, want EINVALID", tc.name, err)
		}
	}
	// The keyring copies its keys: a caller zeroing its buffer changes nothing.
	b := key(5)
	k, _ := NewKeyring(5, map[uint8][]byte{5: b})
	tok, _ := k.Open(claims())
	clear(b)
	if _, err := k.Verify(tok); err != nil {
		t.Errorf("Verify after caller cleared its key buffer = %v", err)
	}
}

func TestVerifyConcurrent(t *testing.T) {
	k := MustKeyring(t, 1, 1)
	toks := tokenCases(t, k)
	done := make(chan struct{})
	for g := 0; g < 8; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 200; i++ {
				if _, err := k.Verify(toks[i%len(toks)]); err != nil {
					t.Error(err)
					return
				}
				if _, err := k.Click(claims(), i, dest); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for g := 0; g < 8; g++ {
		<-done
	}
}

func FuzzDecode(f *testing.F) {
	k := MustKeyring(f, 1, 1)
	for _, tok := range tokenCases(f, k) {
		f.Add(tok)
		raw, _ := base64.RawURLEncoding.DecodeString(tok)
		f.Add(string(raw[:len(raw)-tagLen])) // bare payloads exercise decodePayload
	}
	f.Add("")
	f.Add("AQEB")
	f.Fuzz(func(t *testing.T, s string) {
		// The decoder must never panic, and anything it accepts must
		// re-encode to exactly the same bytes (one spelling per token).
		if tk, ok := decodePayload(s); ok {
			if got := string(appendPayload(nil, tk.KeyID, &tk)); got != s {
				t.Fatalf("decodePayload(%q) re-encodes to %q", s, got)
			}
		}
		if tk, err := k.Verify(s); err == nil {
			again, err := k.sign(tk)
			if err != nil || again != s {
				t.Fatalf("Verify(%q) ok but re-signs to %q, %v", s, again, err)
			}
		}
	})
}

func BenchmarkToken(b *testing.B) {
	k := MustKeyring(b, 1, 1)
	c := claims()
	b.Run("EncodeOpen", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := k.Open(c); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("EncodeClick", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := k.Click(c, 3, dest); err != nil {
				b.Fatal(err)
			}
		}
	})
	open, _ := k.Open(c)
	click, _ := k.Click(c, 3, dest)
	b.Run("VerifyOpen", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := k.Verify(open); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("VerifyClick", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := k.Verify(click); err != nil {
				b.Fatal(err)
			}
		}
	})
	raw, _ := base64.RawURLEncoding.DecodeString(open)
	raw[len(raw)-1] ^= 1 // a wrong tag: the full MAC is computed, then refused
	bad := base64.RawURLEncoding.EncodeToString(raw)
	b.Run("VerifyForged", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := k.Verify(bad); err == nil {
				b.Fatal("accepted")
			}
		}
	})
}
