package tracking

import (
	"testing"
	"unicode/utf8"
)

// plainURLCases are URLs around the edges of plainHTTPURL's shape: each is
// either outside it or accepted by url.Parse.
var plainURLCases = []string{
	"http://example.com", "https://example.com/", "https://shop.example/spring-sale?utm_source=email",
	"https://example.com/a/b?c=d&e=f#g", "https://EXAMPLE.com/A", "HTTPS://example.com/", "Http://example.com",
	"https://a", "https://-.", "https://../..", "https://1.2.3.4/x", "https://example.com:443/", "https://example.com:/",
	"https://example.com:x/", "https://[::1]/", "https://[1.2.3.4]/", "https://u@example.com/", "https://@example.com",
	"https:///x", "https://?q", "https://#f", "https://example.com?", "https://example.com??", "https://example.com#",
	"https://example.com/%20", "https://example.com/%zz", "https://example.com/%", "https://example.com/?q=%zz",
	"https://example.com/?q=%", "https://example.com/#%zz", "https://example.com/?q#%", "https://example.com/a?b%#c",
	"https://ex_ample.com/", "https://ex~ample.com/", "https://ex!ample.com/", "https://ex%41mple.com/",
	"https://例え.jp/パス", "https://example.com/パス?ク#エ", "https://example.com/a:b", "https://example.com//x",
	"https://example.com/?a=b?c#d#e", "https:example.com", "https:/example.com", "https://example.com{}/",
	"https://ex|ample.com/", "https://ex^ample.com/", "https://example.com/{}|^`\"<>",
}

// TestPlainHTTPURL: whatever plainHTTPURL accepts, url.Parse accepts too,
// and the common tracked link is in its shape.
func TestPlainHTTPURL(t *testing.T) {
	for _, s := range plainURLCases {
		checkPlainAgreesWithParser(t, s)
	}
	for _, s := range []string{"https://shop.example/spring-sale?utm_source=email&utm_campaign=a%20b", "http://a.b/c#d"} {
		if !plainHTTPURL(s) {
			t.Errorf("plainHTTPURL(%q) = false, want true", s)
		}
	}
	for _, s := range []string{"HTTPS://example.com/", "https://example.com:443/", "https://u@example.com/", "https://[::1]/", "https://example.com/%20"} {
		if plainHTTPURL(s) {
			t.Errorf("plainHTTPURL(%q) = true, want false: the parser decides", s)
		}
	}
}

func checkPlainAgreesWithParser(t *testing.T, s string) {
	t.Helper()
	if !plainHTTPURL(s) {
		return
	}
	if err := checkParsedURL("url", s); err != nil {
		t.Fatalf("plainHTTPURL(%q) = true, but url.Parse's check says %v", s, err)
	}
}

// FuzzPlainHTTPURL: plainHTTPURL never accepts what the parser refuses,
// for strings that pass CheckURL's character checks (the only ones it is
// asked about).
func FuzzPlainHTTPURL(f *testing.F) {
	for _, s := range plainURLCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if s == "" || len(s) > MaxURLLen || !validURLChars(s) {
			return
		}
		// Most fuzzed strings miss the scheme: try them as the host and
		// the rest of an http(s) URL too.
		for _, u := range []string{s, "https://" + s, "http://a.example/" + s, "https://a.example" + s} {
			if len(u) <= MaxURLLen {
				checkPlainAgreesWithParser(t, u)
			}
		}
	})
}

// validURLChars is the check CheckURL makes before either path.
func validURLChars(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == '\\' {
			return false
		}
	}
	return true
}
