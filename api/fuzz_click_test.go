package api_test

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"testing"

	"github.com/splitcast/splitcast/api/tracking"
)

// FuzzClick: GET /c/<anything> redirects only when the path segment is a
// click token that the server's keyring verifies, and then only to the URL
// the token binds. Anything else answers 400 or 404 without a Location.
func FuzzClick(f *testing.F) {
	s, events := secServer(f)
	server := secKeyring(f, 2, map[uint8][]byte{2: secKeyNew, 3: secKeyOld})
	valid := secClick(f, secKeyring(f, 2, map[uint8][]byte{2: secKeyNew}), secDest)
	old := secClick(f, secKeyring(f, 3, map[uint8][]byte{3: secKeyOld}), "http://a.example/")
	raw, _ := base64.RawURLEncoding.DecodeString(valid)
	open, _ := server.Open(secClaims())
	for _, seed := range []string{
		valid, old, open, valid[:len(valid)-1], valid + "A", base64.RawURLEncoding.EncodeToString(raw[:len(raw)-16]),
		secClick(f, secKeyring(f, 1, map[uint8][]byte{1: secKeyRemoved}), secDest),
		secCraft(2, secKeyNew, "javascript:alert(1)"), secCraft(2, secKeyNew, "//evil.example/"),
		"", "/", "//evil.example", "https://evil.example/", "%2F%2Fevil.example", "..", "?url=https://evil.example",
		"\x00", "\r\nLocation: https://evil.example/", "AQID",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		// The oracle: the server verifies the path segment as the router
		// hands it over; PathEscape keeps base64url as it is, and anything
		// it escapes gains a '%', which no token contains.
		want, err := server.Verify(tok)
		redirects := err == nil && want.Kind == tracking.KindClick
		target := "/c/" + url.PathEscape(tok)
		before := events.len()
		resp := secGet(t, s, target)
		io.Copy(io.Discard, resp.Body)
		loc := resp.Header.Get("Location")
		switch {
		case redirects:
			if resp.StatusCode != http.StatusFound || loc != want.URL {
				t.Fatalf("GET %s = %d Location %q, want 302 to %q", target, resp.StatusCode, loc, want.URL)
			}
			if n := events.len() - before; n != 1 {
				t.Fatalf("GET %s logged %d events, want one click", target, n)
			}
		case resp.StatusCode/100 == 3 || loc != "":
			t.Fatalf("GET %s = %d Location %q for a token that does not verify (%v)", target, resp.StatusCode, loc, err)
		case resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusNotFound:
			t.Fatalf("GET %s = %d, want 400 or 404", target, resp.StatusCode)
		case events.len() != before:
			t.Fatalf("GET %s logged an event for a token that does not verify", target)
		}
	})
}
