package api_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/splitcast/splitcast/api"
	"github.com/splitcast/splitcast/api/tracking"
	"github.com/splitcast/splitcast/assign"
	"github.com/splitcast/splitcast/experiment/apikey"
	"github.com/splitcast/splitcast/experiment/experimenttest"
)

// Keys of the security tests' keyrings. The server verifies with secKeyOld
// (id 3, kept for old messages) and signs with secKeyNew (id 2); key id 1
// was removed, so tokens signed under it must no longer redirect.
var (
	secKeyRemoved = []byte("removed-key-removed-key-removed-key-0001")
	secKeyOld     = []byte("old-key-kept-for-old-messages-0000000003")
	secKeyNew     = []byte("current-signing-key-current-signing-0002")
	secKeyOther   = []byte("an-attackers-key-under-a-real-key-id-0002")
)

const (
	secSDKKey  = "sdk-secret-for-security-tests"
	secBase    = "https://t.splitcast.example"
	secDest    = "https://shop.example/sale?id=42"
	secBodyMax = 128 << 10
)

type secSnapshot struct{ s *assign.Snapshot }

func (f secSnapshot) Snapshot() *assign.Snapshot { return f.s }

// secServer is an API whose tracking keyring holds keys 2 and 3.
func secServer(tb testing.TB) (*api.Server, *eventLog) {
	tb.Helper()
	tokens := secKeyring(tb, 2, map[uint8][]byte{2: secKeyNew, 3: secKeyOld})
	snap, err := assign.NewSnapshot(nil)
	if err != nil {
		tb.Fatal(err)
	}
	events := &eventLog{}
	s := api.New(api.Config{
		Store:     experimenttest.NewStore(),
		Snapshots: secSnapshot{snap},
		Events:    events,
		Tokens:    tokens,
		BaseURL:   secBase,
		Keys:      api.KeyList{api.NewKey("sdk", secSDKKey, apikey.ScopeSDK)},
		BodyLimit: secBodyMax,
	})
	return s, events
}

func secKeyring(tb testing.TB, signing uint8, keys map[uint8][]byte) *tracking.Keyring {
	tb.Helper()
	k, err := tracking.NewKeyring(signing, keys)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// secClaims are a send of 2021: tokens do not expire.
func secClaims() tracking.Claims {
	return tracking.Claims{Experiment: "welcome", Version: 3, Segment: "everyone", Variant: "short",
		Unit: "user-1", SendID: "send-1", IssuedAt: time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)}
}

func secClick(tb testing.TB, k *tracking.Keyring, dest string) string {
	tb.Helper()
	tok, err := k.Click(secClaims(), 0, dest)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// secCraft builds a v1 click token by hand, MAC'd under key: what a signer
// bug or a leaked key could produce, with a destination that Keyring.Click
// would refuse to sign.
func secCraft(keyID uint8, key []byte, dest string) string {
	c := secClaims()
	b := []byte{0x01, keyID, byte(tracking.KindClick)}
	b = binary.AppendUvarint(b, uint64(c.IssuedAt.Unix()))
	b = binary.AppendUvarint(b, uint64(c.Version))
	for _, s := range []string{c.Experiment, c.Segment, c.Variant, c.Unit, c.SendID} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendUvarint(b, 0)
	b = binary.AppendUvarint(b, uint64(len(dest)))
	b = append(b, dest...)
	m := hmac.New(sha256.New, key)
	m.Write(b)
	return base64.RawURLEncoding.EncodeToString(append(b, m.Sum(nil)[:16]...))
}

// secSwapURL replaces the destination from inside a signed token with to,
// keeping the tag and fixing the length prefix, so that only the MAC can
// catch it.
func secSwapURL(tb testing.TB, tok, from, to string) string {
	tb.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		tb.Fatal(err)
	}
	i := strings.Index(string(raw), from)
	if i < 1 || int(raw[i-1]) != len(from) || len(to) > 127 {
		tb.Fatalf("cannot find %q with its one-byte length in the token", from)
	}
	out := append([]byte(nil), raw[:i-1]...)
	out = append(out, byte(len(to)))
	out = append(out, to...)
	out = append(out, raw[i+len(from):]...)
	return base64.RawURLEncoding.EncodeToString(out)
}

// secGet sends a GET with a raw request target, so that paths like
// "//evil.example" reach the router as they are.
func secGet(tb testing.TB, s *api.Server, target string) *http.Response {
	tb.Helper()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.URL.Path, req.URL.RawPath, req.URL.RawQuery = "", "", ""
	req.URL.Opaque = target // written verbatim as the request target
	req.RequestURI = target
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36")
	resp, err := s.App().Test(req, -1)
	if err != nil {
		tb.Fatalf("GET %s: %v", target, err)
	}
	return resp
}

// TestClickRefusesBadTokens: whatever is wrong with a click token, the
// answer is 400 or 404 with a JSON error, no Location header, no event.
func TestClickRefusesBadTokens(t *testing.T) {
	s, events := secServer(t)
	signer := secKeyring(t, 2, map[uint8][]byte{2: secKeyNew})
	valid := secClick(t, signer, secDest)
	raw, _ := base64.RawURLEncoding.DecodeString(valid)
	flipped := append([]byte(nil), raw...)
	flipped[len(flipped)-1] ^= 1
	open, err := signer.Open(secClaims())
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name, target string
		want         int
	}{
		{"forged", "/c/" + base64.RawURLEncoding.EncodeToString(make([]byte, 80)), 400},
		{"forged random text", "/c/" + strings.Repeat("AbCd", 30), 404}, // decodes to version 1, key id 0xb7,
		{"empty", "/c/", 404},
		{"truncated by one char", "/c/" + valid[:len(valid)-1], 400},
		{"tag cut off", "/c/" + base64.RawURLEncoding.EncodeToString(raw[:len(raw)-16]), 400},
		{"tag half cut", "/c/" + base64.RawURLEncoding.EncodeToString(raw[:len(raw)-8]), 400},
		{"header only", "/c/" + valid[:6], 400},
		{"flipped tag bit", "/c/" + base64.RawURLEncoding.EncodeToString(flipped), 400},
		{"padded", "/c/" + valid + "==", 400},
		{"standard base64", "/c/" + strings.NewReplacer("-", "+", "_", "/").Replace(valid) + "x", 400},
		{"trailing dot", "/c/" + valid + ".", 400},
		{"re-signed with another key under a real id", "/c/" + secClick(t, secKeyring(t, 2, map[uint8][]byte{2: secKeyOther}), secDest), 400},
		{"unknown key id", "/c/" + secClick(t, secKeyring(t, 9, map[uint8][]byte{9: secKeyNew}), secDest), 404},
		{"old key after removal", "/c/" + secClick(t, secKeyring(t, 1, map[uint8][]byte{1: secKeyRemoved}), secDest), 404},
		{"URL swapped, same length", "/c/" + secSwapURL(t, valid, secDest, strings.Replace(secDest, "shop", "evil", 1)), 400},
		{"URL swapped, other length", "/c/" + secSwapURL(t, valid, secDest, "https://evil.example/"), 400},
		{"open token at the click route", "/c/" + open, 400},
		{"signed javascript: URL", "/c/" + secCraft(2, secKeyNew, "javascript:alert(document.cookie)"), 400},
		{"signed protocol-relative URL", "/c/" + secCraft(2, secKeyNew, "//evil.example/"), 400},
		{"signed user info", "/c/" + secCraft(2, secKeyNew, "https://shop.example@evil.example/"), 400},
		{"signed backslash", "/c/" + secCraft(2, secKeyNew, `https://evil.example\@shop.example/`), 400},
		{"signed data: URL", "/c/" + secCraft(2, secKeyNew, "data:text/html,<script>alert(1)</script>"), 400},
		{"forged with ?url=", "/c/" + valid[:len(valid)-2] + "?url=https://evil.example/", 400},
		{"forged with ?redirect=", "/c/xyz?redirect=https%3A%2F%2Fevil.example%2F", 400},
		{"double slash after /c/", "/c//evil.example/", 404},
		{"double slash path", "//evil.example/c/" + valid[:20], 404},
		{"URL as the token", "/c/https://evil.example/", 404},
		{"escaped slashes as the token", "/c/%2F%2Fevil.example", 400},
		{"escaped URL as the token", "/c/https:%2F%2Fevil.example", 400},
		{"valid token then a URL segment", "/c/" + valid + "/https://evil.example/", 404},
		{"valid token with escaped suffix", "/c/" + valid + "%2F%2Fevil.example", 400},
		{"CRLF header injection", "/c/x%0d%0aLocation:%20https://evil.example/", 404},
		{"backslash", `/c/\evil.example`, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := events.len()
			resp := secGet(t, s, tc.target)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want {
				t.Errorf("GET %s = %d %s, want %d", tc.target, resp.StatusCode, body, tc.want)
			}
			if loc := resp.Header.Get("Location"); loc != "" {
				t.Errorf("GET %s: Location %q, want none", tc.target, loc)
			}
			var e struct {
				Error struct{ Code string } `json:"error"`
			}
			if err := json.Unmarshal(body, &e); err != nil || e.Error.Code == "" {
				t.Errorf("GET %s: body %q is not a JSON error", tc.target, body)
			}
			if n := events.len() - before; n != 0 {
				t.Errorf("GET %s logged %d events, want none", tc.target, n)
			}
		})
	}
}

// TestClickRedirectsOnlyToTheBoundURL: a valid token redirects to its own
// destination whatever the query says, under the signing key and under an
// old key still in the ring, years after the send.
func TestClickRedirectsOnlyToTheBoundURL(t *testing.T) {
	s, events := secServer(t)
	for _, tc := range []struct{ name, tok string }{
		{"signing key", secClick(t, secKeyring(t, 2, map[uint8][]byte{2: secKeyNew}), secDest)},
		{"old key still in the ring", secClick(t, secKeyring(t, 3, map[uint8][]byte{3: secKeyOld}), secDest)},
	} {
		for _, q := range []string{"", "?url=https://evil.example/", "?next=%2F%2Fevil.example", "?redirect_uri=javascript:alert(1)"} {
			target := "/c/" + tc.tok + q
			before := events.len()
			resp := secGet(t, s, target)
			if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != secDest {
				t.Errorf("%s: GET %s = %d Location %q, want 302 to %s", tc.name, target, resp.StatusCode, resp.Header.Get("Location"), secDest)
			}
			if n := events.len() - before; n != 1 {
				t.Errorf("%s: GET %s logged %d events, want one click", tc.name, target, n)
			}
		}
	}
}

// TestPixelIgnoresBadTokens: the pixel answers every request with the GIF,
// and logs an open only for a valid open token.
func TestPixelIgnoresBadTokens(t *testing.T) {
	s, events := secServer(t)
	signer := secKeyring(t, 2, map[uint8][]byte{2: secKeyNew})
	open, err := signer.Open(secClaims())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		target string
		opens  int
	}{
		{"/o/" + open + ".gif", 1},
		{"/o/" + open[:len(open)-1] + ".gif", 0},
		{"/o/" + secClick(t, signer, secDest) + ".gif", 0},
		{"/o/" + secClick(t, secKeyring(t, 1, map[uint8][]byte{1: secKeyRemoved}), secDest) + ".gif", 0},
		{"/o/" + open, 0},
		{"/o/%2F%2Fevil.example.gif", 0},
	} {
		before := events.len()
		resp := secGet(t, s, tc.target)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/gif" || !strings.HasPrefix(string(body), "GIF89a") {
			t.Errorf("GET %s = %d %s %q, want 200 with the GIF", tc.target, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		if n := events.len() - before; n != tc.opens {
			t.Errorf("GET %s logged %d events, want %d", tc.target, n, tc.opens)
		}
	}
}

// secPost sends body to path with the SDK key through app.Test.
func secPost(tb testing.TB, s *api.Server, path string, body []byte) (int, string, string) {
	tb.Helper()
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+secSDKKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.App().Test(req, -1)
	if err != nil {
		tb.Fatalf("POST %s: %v", path, err)
	}
	return secAnswer(tb, resp)
}

// secAnswer returns a response's status, error field and body.
func secAnswer(tb testing.TB, resp *http.Response) (int, string, string) {
	tb.Helper()
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var e struct {
		Error struct{ Field string } `json:"error"`
	}
	_ = json.Unmarshal(data, &e)
	return resp.StatusCode, e.Error.Field, string(data)
}

// secListen serves s on a loopback port until the test ends. Oversized
// bodies go through a real connection: the server answers before reading
// them whole, which app.Test's in-memory connection cannot represent.
func secListen(tb testing.TB, s *api.Server) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	tb.Cleanup(func() {
		s.Shutdown(context.Background())
		<-done
	})
	return "http://" + ln.Addr().String()
}

// TestLimits: bodies over the limit and batches over the event limit are
// 413, whether or not the client announces the length.
func TestLimits(t *testing.T) {
	s, events := secServer(t)
	base := secListen(t, s)
	big := []byte(`{"events":[{"kind":"conversion","experiment":"welcome","unit_id":"` + strings.Repeat("u", secBodyMax) + `"}]}`)
	var batch strings.Builder
	batch.WriteString(`{"events":[`)
	for i := range 1001 { // the default MaxEventsPerRequest, plus one
		if i > 0 {
			batch.WriteByte(',')
		}
		fmt.Fprintf(&batch, `{"id":"%d","kind":"conversion","experiment":"welcome","unit_id":"u%d"}`, i, i)
	}
	batch.WriteString(`]}`)
	if batch.Len() >= secBodyMax {
		t.Fatalf("the over-long batch is %d bytes: it must fit the body limit to test the batch limit", batch.Len())
	}
	for _, tc := range []struct {
		name, path string
		body       []byte
		chunked    bool
		field      string
	}{
		{"events body with Content-Length", "/v1/events", big, false, "body"},
		{"events body chunked", "/v1/events", big, true, "body"},
		{"render body", "/v1/render", big, false, "body"},
		{"links body chunked", "/v1/links", big, true, "body"},
		{"events batch too long", "/v1/events", []byte(batch.String()), false, "events"},
	} {
		var r io.Reader = bytes.NewReader(tc.body)
		if tc.chunked {
			r = io.MultiReader(r) // hides the length: sent chunked
		}
		req, err := http.NewRequest(http.MethodPost, base+tc.path, r)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+secSDKKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: POST %s: %v", tc.name, tc.path, err)
		}
		if tc.chunked != (req.ContentLength <= 0) {
			t.Fatalf("%s: request Content-Length %d, chunked %v", tc.name, req.ContentLength, tc.chunked)
		}
		status, field, body := secAnswer(t, resp)
		if status != http.StatusRequestEntityTooLarge || field != tc.field {
			t.Errorf("%s: POST %s = %d field %q (%.200s), want 413 field %q", tc.name, tc.path, status, field, body, tc.field)
		}
	}
	if n := events.len(); n != 0 {
		t.Errorf("refused requests logged %d events, want none", n)
	}
}

// TestLinksRefuseNonHTTP: /v1/links signs only absolute http(s) URLs, and
// names the offending one.
func TestLinksRefuseNonHTTP(t *testing.T) {
	s, _ := secServer(t)
	open, err := secKeyring(t, 2, map[uint8][]byte{2: secKeyNew}).Open(secClaims())
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		"javascript:alert(1)", "JavaScript:alert(1)", "data:text/html;base64,PHNjcmlwdD4=", "vbscript:msgbox(1)",
		"ftp://files.example/x", "mailto:a@example.com", "file:///etc/passwd", "/relative/path", "//evil.example/x",
		"https:evil.example", "https://user:pw@evil.example/", `https://evil.example\@shop.example/`, "https://",
		"https://shop.example/a b", "http://shop.example/\x00", "",
	} {
		body, _ := json.Marshal(map[string]any{"token": open, "urls": []string{"https://ok.example/", bad}})
		status, field, resp := secPost(t, s, "/v1/links", body)
		if status != http.StatusBadRequest || field != "urls[1]" {
			t.Errorf("POST /v1/links with %q = %d field %q (%s), want 400 field urls[1]", bad, status, field, resp)
		}
	}
	body, _ := json.Marshal(map[string]any{"token": open, "urls": []string{"https://ok.example/a?b=c#d"}})
	if status, _, resp := secPost(t, s, "/v1/links", body); status != http.StatusOK || !strings.Contains(resp, secBase+"/c/") {
		t.Errorf("POST /v1/links with a good URL = %d %s, want 200 with a click URL", status, resp)
	}
}

// TestOversizedBodyCannotSmuggle: a body refused for its size must not
// leave its bytes on the connection to be read as a second request. The
// body carries a valid click request; one 413 must be the only answer.
func TestOversizedBodyCannotSmuggle(t *testing.T) {
	s, events := secServer(t)
	base := secListen(t, s)
	click := "/c/" + secClick(t, secKeyring(t, 2, map[uint8][]byte{2: secKeyNew}), secDest)
	smuggled := "GET " + click + " HTTP/1.1\r\nHost: x\r\n\r\n"
	padding := strings.Repeat("u", secBodyMax+1)
	for _, framing := range []string{"length", "chunked"} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		var req strings.Builder
		req.WriteString("POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + secSDKKey + "\r\nContent-Type: application/json\r\n")
		if framing == "length" {
			// Unread, the body would start the next request.
			fmt.Fprintf(&req, "Content-Length: %d\r\n\r\n%s%s", len(smuggled)+len(padding), smuggled, padding)
		} else {
			// The smuggled request follows the last chunk, as if it were
			// the next request on the connection.
			fmt.Fprintf(&req, "Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n%s", len(padding), padding, smuggled)
		}
		go func() { _, _ = io.WriteString(conn, req.String()) }()
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		answer, _ := io.ReadAll(conn) // until the server closes, or the deadline
		conn.Close()
		got := string(answer)
		if n := strings.Count(got, "HTTP/1.1 "); n != 1 || !strings.HasPrefix(got, "HTTP/1.1 413") || strings.Contains(got, "Location:") {
			t.Errorf("%s: %d answers to an oversized body with a request after it, want one 413:\n%.600s", framing, n, got)
		}
	}
	if n := events.len(); n != 0 {
		t.Errorf("the smuggled click logged %d events, want none", n)
	}
}
