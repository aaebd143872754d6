package tracking

import (
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/splitcast/splitcast/experiment"
)

// CheckURL returns an EINVALID error naming field unless s is an absolute
// http or https URL with a host and no user info, of at most MaxURLLen bytes
// of valid UTF-8 with no whitespace, control characters or backslashes.
//
// It is stricter than browsers on purpose: whatever passes is a link a
// human would recognise as going to that host. Userinfo is refused because
// "https://bank.example@evil.example" reads as the bank; backslashes because
// browsers turn them into slashes where Go's parser does not, so the two
// could disagree about the host.
func CheckURL(field, s string) error {
	switch {
	case s == "":
		return experiment.Invalid(field, "is required")
	case len(s) > MaxURLLen:
		return experiment.Invalid(field, "is %d bytes, at most %d allowed", len(s), MaxURLLen)
	case !utf8.ValidString(s):
		return experiment.Invalid(field, "is not valid UTF-8")
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == '\\' {
			return experiment.Invalid(field, "contains a space, control character or backslash")
		}
	}
	if plainHTTPURL(s) {
		return nil
	}
	return checkParsedURL(field, s)
}

// plainHTTPURL reports whether s, already free of spaces, control
// characters and backslashes, is an http(s) URL that checkParsedURL would
// accept, in the common shape that needs no parser to tell: the scheme
// "http://" or "https://" in lower case, a host of ASCII letters, digits,
// dots and hyphens (no user info, port or IP literal), and no percent sign
// in the path or the fragment, which url.Parse unescapes (the query it
// keeps raw). False means "ask the parser", not "refuse". Every click
// verification checks its URL again, so this saves a url.Parse per click.
func plainHTTPURL(s string) bool {
	rest, ok := strings.CutPrefix(s, "https://")
	if !ok {
		if rest, ok = strings.CutPrefix(s, "http://"); !ok {
			return false
		}
	}
	host := 0
	for host < len(rest) && rest[host] != '/' && rest[host] != '?' && rest[host] != '#' {
		c := rest[host]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return false
		}
		host++
	}
	if host == 0 {
		return false
	}
	path, frag, _ := strings.Cut(rest[host:], "#")
	path, _, _ = strings.Cut(path, "?")
	return strings.IndexByte(path, '%') < 0 && strings.IndexByte(frag, '%') < 0
}

// checkParsedURL is CheckURL's verdict from url.Parse, for a string that
// passed its checks of length, UTF-8 and characters.
func checkParsedURL(field, s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return experiment.Invalid(field, "is not a valid URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https": // Parse lowercases the scheme
		return experiment.Invalid(field, "must be an absolute http or https URL")
	case u.Opaque != "":
		return experiment.Invalid(field, "must be an absolute http or https URL")
	case u.User != nil:
		return experiment.Invalid(field, "must not contain user info")
	case u.Hostname() == "":
		return experiment.Invalid(field, "must have a host")
	}
	return nil
}

// isHTTPLink reports whether an href value (already unescaped and trimmed)
// names an http or https URL, whatever its case. Such links are tracked
// when they pass CheckURL; every other scheme is left alone.
func isHTTPLink(s string) bool {
	return hasPrefixFold(s, "http://") || hasPrefixFold(s, "https://")
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// checkBase validates the public base URL that tracking links hang off and
// returns it without a trailing slash.
func checkBase(base string) (string, error) {
	if err := CheckURL("base", base); err != nil {
		return "", err
	}
	u, _ := url.Parse(base)
	if u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(base, "?") || strings.HasSuffix(base, "#") {
		return "", experiment.Invalid("base", "must not have a query or fragment")
	}
	return strings.TrimRight(base, "/"), nil
}

// NewPixelURL returns the open pixel URL for c: {base}/o/{token}.gif.
func NewPixelURL(k *Keyring, base string, c Claims) (string, error) {
	base, err := checkBase(base)
	if err != nil {
		return "", err
	}
	tok, err := k.Open(c)
	if err != nil {
		return "", err
	}
	return base + "/o/" + tok + ".gif", nil
}

// NewClickURL returns the click URL {base}/c/{token} whose token binds dest
// and the link's index in its message. dest must pass CheckURL: an EINVALID
// error naming "url" refuses javascript:, data:, relative URLs and the like.
func NewClickURL(k *Keyring, base string, c Claims, link int, dest string) (string, error) {
	return NewClickURLIn(k, base, c, link, dest, "")
}

// NewClickURLIn is NewClickURL for a link of a category ("" for none).
func NewClickURLIn(k *Keyring, base string, c Claims, link int, dest, category string) (string, error) {
	base, err := checkBase(base)
	if err != nil {
		return "", err
	}
	tok, err := k.ClickIn(c, link, dest, category)
	if err != nil {
		return "", err
	}
	return base + "/c/" + tok, nil
}

// PixelGIF is the open pixel: a transparent 1x1 GIF, the answer of
// GET /o/{token}.gif whatever the token.
const PixelGIF = "GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
