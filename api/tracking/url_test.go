package tracking

import (
	"strings"
	"testing"

	"github.com/splitcast/splitcast/experiment"
)

func TestCheckURL(t *testing.T) {
	for _, ok := range []string{
		"http://example.com",
		"https://example.com/a/b?c=d&e=f#g",
		"HTTPS://EXAMPLE.COM/",
		"https://例え.jp/パス",
		"https://[2001:db8::1]:8443/x",
		"https://example.com/%20encoded",
	} {
		if err := CheckURL("url", ok); err != nil {
			t.Errorf("CheckURL(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{
		"",
		"javascript:alert(1)",
		"JaVaScRiPt:alert(1)",
		"data:text/html,<script>alert(1)</script>",
		"vbscript:msgbox(1)",
		"file:///etc/passwd",
		"ftp://example.com/",
		"mailto:a@example.com",
		"/relative/path",
		"relative",
		"//example.com/protocol-relative",
		"https://user:pass@example.com/",
		"https://bank.example@evil.example/",
		"https:///no-host",
		"https://:443/",
		"http:example.com",
		"https://example.com/a b",
		"https://example.com/\x00",
		"https://example.com/\t",
		"https://exa\nmple.com/",
		"https://example.com/\x7f",
		"https://example.com/\u0085",
		"https://good.example\\@evil.example/",
		"https:\\\\evil.example",
		"https://example.com/\xff",
		"https://example.com/" + strings.Repeat("a", MaxURLLen),
	} {
		err := CheckURL("url", bad)
		if experiment.ErrorCode(err) != experiment.EINVALID || experiment.ErrorField(err) != "url" {
			t.Errorf("CheckURL(%q) = %v, want EINVALID on url", bad, err)
		}
	}
}

func TestNewClickURL(t *testing.T) {
	k := MustKeyring(t, 1, 1)
	got, err := NewClickURL(k, "https://t.example.com/", claims(), 2, dest)
	if err != nil {
		t.Fatal(err)
	}
	tok, ok := strings.CutPrefix(got, "https://t.example.com/c/")
	if !ok {
		t.Fatalf("NewClickURL = %q, want prefix https://t.example.com/c/", got)
	}
	v, err := k.Verify(tok)
	if err != nil || v.URL != dest || v.Link != 2 || v.Kind != KindClick {
		t.Errorf("Verify(click token) = %+v, %v", v, err)
	}

	_, err = NewClickURL(k, "https://t.example.com", claims(), 0, "javascript:alert(1)")
	if experiment.ErrorField(err) != "url" {
		t.Errorf("NewClickURL(javascript:) = %v, want EINVALID on url", err)
	}
	for _, base := range []string{"", "/relative", "https://t.example.com/?q=1", "https://t.example.com/#x", "ftp://t.example.com"} {
		_, err = NewClickURL(k, base, claims(), 0, dest)
		if experiment.ErrorCode(err) != experiment.EINVALID || experiment.ErrorField(err) != "base" {
			t.Errorf("NewClickURL(base %q) = %v, want EINVALID on base", base, err)
		}
	}
}

func TestNewPixelURL(t *testing.T) {
	k := MustKeyring(t, 1, 1)
	got, err := NewPixelURL(k, "https://t.example.com/track", claims())
	if err != nil {
		t.Fatal(err)
	}
	rest, ok := strings.CutPrefix(got, "https://t.example.com/track/o/")
	tok, ok2 := strings.CutSuffix(rest, ".gif")
	if !ok || !ok2 {
		t.Fatalf("NewPixelURL = %q, want https://t.example.com/track/o/{token}.gif", got)
	}
	if v, err := k.Verify(tok); err != nil || v.Kind != KindOpen {
		t.Errorf("Verify(pixel token) = %+v, %v", v, err)
	}
}
