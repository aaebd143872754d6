package tracking

import (
	"strings"
	"testing"

	"github.com/splitcast/splitcast/experiment"
)

// TestChannelTokens: claims with a channel sign a v2 token that carries
// it, for opens and clicks; claims without one sign the v1 token of
// before, which still verifies; a v2 token resigned with an empty or
// unknown channel, or with its channel bytes tampered, is refused.
func TestChannelTokens(t *testing.T) {
	k := MustKeyring(t, 1, 1)
	c := claims()
	c.Channel = experiment.ChannelPush
	open, err := k.Open(c)
	if err != nil {
		t.Fatal(err)
	}
	click, err := k.Click(c, 2, dest)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{open, click} {
		got, err := k.Verify(tok)
		if err != nil || got.Channel != experiment.ChannelPush || got.Claims != c {
			t.Fatalf("Verify(v2) = %+v, %v; want the claims with channel push", got.Claims, err)
		}
		raw, _ := b64.DecodeString(tok)
		if raw[0] != formatV2 {
			t.Errorf("a token with a channel has format %d, want %d", raw[0], formatV2)
		}
	}
	old, err := k.Open(claims())
	if err != nil {
		t.Fatal(err)
	}
	if raw, _ := b64.DecodeString(old); raw[0] != formatV1 {
		t.Fatalf("a token without a channel has format %d, want v1", raw[0])
	}
	if got, err := k.Verify(old); err != nil || got.Channel != "" || got.Claims != claims() {
		t.Fatalf("Verify(v1) = %+v, %v", got.Claims, err)
	}
	// A correctly signed v2 payload with an empty channel has a second
	// spelling of a v1 token: refused.
	tk := Token{Kind: KindOpen, Claims: claims()}
	p := appendPayload(nil, 1, &tk)
	p[0] = formatV2
	p = appendStr(p, "")
	p = k.keys[1].tag(p, p)
	if _, err := k.Verify(b64.EncodeToString(p)); err == nil {
		t.Error("a v2 token with an empty channel verified")
	}
	bad := claims()
	bad.Channel = "fax"
	if _, err := k.Open(bad); experiment.ErrorField(err) != "channel" {
		t.Errorf("Open with channel fax = %v, want an error on channel", err)
	}
	if len(open) > MaxTokenLen || strings.ContainsAny(open, "+/=") {
		t.Errorf("v2 token %q is not compact base64url within MaxTokenLen", open)
	}
}
