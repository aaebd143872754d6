package tracking

import (
	"html"
	"strings"

	"github.com/splitcast/splitcast/experiment"
)

// Link is one link that Render wrapped in a click URL.
type Link struct {
	Index int    // position among the wrapped links, as bound into its token
	URL   string // the destination, as the browser would read the href
	// Category is the link's data-category attribute, bound into its
	// token; "" when it has none.
	Category string `json:",omitempty"`
}

// Rendered is a message's HTML with tracking added.
type Rendered struct {
	HTML  string
	Links []Link // every wrapped link, in document order
	// Untracked lists http(s) hrefs left as they were because they fail
	// CheckURL (user info, spaces, backslashes...), so the caller can warn
	// the author that those clicks will not be counted.
	Untracked []string
	// Disallowed lists, among Untracked, the hrefs to hosts outside the
	// allow-list Render was given.
	Disallowed []string
}

// Render wraps the href of every <a> element that names an http(s) URL in a
// click URL under base, each with its own token binding that URL and its
// index, and adds the open pixel just before </body> (or at the end when
// there is none). mailto:, tel:, #anchors, relative and template links
// ({{...}}) are left untouched, as are links already under base. A link's
// data-category attribute is its category (see Token.Category); one that
// CheckCategory refuses fails the render, naming the link.
//
// Render scans the markup rather than parsing it into a tree, so everything
// it does not rewrite is copied byte for byte. It follows the HTML rules
// that decide where an href is: comments, CDATA, doctype and raw text
// (<script>, <style>, <title>, <textarea>) are skipped; attribute values are
// double-, single- or un-quoted; names are case-insensitive; the first href
// of an element wins. The contents of Outlook conditional comments
// (<!--[if mso]>...<![endif]-->) are scanned because Outlook renders them.
//
// With a non-zero allow, links to other hosts are left untracked too, and
// listed in Disallowed: a click token is a redirect, and an sdk key must
// not mint redirects to anywhere.
func Render(k *Keyring, src, base string, c Claims, allow Domains) (Rendered, error) {
	base, err := checkBase(base)
	if err != nil {
		return Rendered{}, err
	}
	pixel, err := NewPixelURL(k, base, c)
	if err != nil {
		return Rendered{}, err
	}
	img := `<img src="` + html.EscapeString(pixel) + `" width="1" height="1" alt="" style="display:none">`
	r := renderer{k: k, src: src, base: base, claims: c, pixel: img, allow: allow}
	r.out.Grow(len(src) + len(src)/4 + 256)
	if err := r.scan(); err != nil {
		return Rendered{}, err
	}
	r.out.WriteString(src[r.copied:])
	if !r.pixelDone {
		r.out.WriteString(img)
	}
	return Rendered{HTML: r.out.String(), Links: r.links, Untracked: r.untracked, Disallowed: r.disallowed}, nil
}

type renderer struct {
	allow      Domains
	disallowed []string
	k          *Keyring
	src, base  string
	claims     Claims
	out        strings.Builder
	copied     int    // src[:copied] has been written to out
	pixel      string // the <img> to put before </body>
	pixelDone  bool
	links      []Link
	untracked  []string
}

// rawText are the elements whose content is text up to their end tag, so a
// "<a href" inside them is not a link.
var rawText = []string{"script", "style", "title", "textarea", "xmp", "iframe", "noembed", "noframes"}

func (r *renderer) scan() error {
	s := r.src
	i := 0
	for {
		j := strings.IndexByte(s[i:], '<')
		if j < 0 {
			return nil
		}
		i += j
		rest := s[i:]
		switch {
		case strings.HasPrefix(rest, "<!--[if"):
			// A conditional comment opener: Outlook renders what follows,
			// so carry on scanning after it as if it were not a comment.
			i = skipPast(s, i, ">")
		case strings.HasPrefix(rest, "<!-->"):
			i += len("<!-->")
		case strings.HasPrefix(rest, "<!--->"):
			i += len("<!--->")
		case strings.HasPrefix(rest, "<!--"):
			i = skipPast(s, i+len("<!--"), "-->")
		case strings.HasPrefix(rest, "<![CDATA["):
			i = skipPast(s, i, "]]>")
		case strings.HasPrefix(rest, "<!"), strings.HasPrefix(rest, "<?"):
			i = skipPast(s, i, ">") // doctype, <![endif]>, bogus comments
		case strings.HasPrefix(rest, "</"):
			name, _ := tagName(s, i+2)
			if !r.pixelDone && strings.EqualFold(name, "body") {
				r.out.WriteString(s[r.copied:i])
				r.out.WriteString(r.pixel)
				r.copied = i
				r.pixelDone = true
			}
			i = skipPast(s, i+2, ">")
		case len(rest) > 1 && isASCIILetter(rest[1]):
			next, err := r.startTag(i)
			if err != nil {
				return err
			}
			i = next
		default:
			i++ // a lone '<' is text
		}
		if i >= len(s) {
			return nil
		}
	}
}

// startTag handles the start tag at s[i] ('<' then a letter) and returns the
// offset just past it (past the raw text it opens, for <style> and kin).
func (r *renderer) startTag(i int) (int, error) {
	s := r.src
	name, p := tagName(s, i+1)
	isA := strings.EqualFold(name, "a")
	seenHref, seenCategory := false, false
	// The href is rewritten once the tag's attributes are all read: the
	// category may come after it.
	var href struct {
		start, end    int
		raw, category string
	}
	rewrite := func(next int) (int, error) {
		if seenHref {
			if err := r.rewriteHref(href.start, href.end, href.raw, href.category); err != nil {
				return 0, err
			}
		}
		return next, nil
	}
	for {
		for p < len(s) && (isSpace(s[p]) || s[p] == '/') {
			p++
		}
		if p >= len(s) {
			return rewrite(len(s)) // unterminated tag: text to the end
		}
		if s[p] == '>' {
			p++
			break
		}
		// Attribute name: up to space, '/', '>' or '='; a leading '=' is
		// part of the name, as in the HTML tokenizer.
		ns := p
		p++
		for p < len(s) && !isSpace(s[p]) && s[p] != '/' && s[p] != '>' && s[p] != '=' {
			p++
		}
		attr := s[ns:p]
		q := p
		for q < len(s) && isSpace(s[q]) {
			q++
		}
		if q >= len(s) || s[q] != '=' {
			continue // no value
		}
		q++
		for q < len(s) && isSpace(s[q]) {
			q++
		}
		if q >= len(s) {
			return rewrite(len(s))
		}
		vs, ve, end := q, q, q // value [vs:ve]; the whole value with its quotes ends at end
		switch s[q] {
		case '"', '\'':
			close := strings.IndexByte(s[q+1:], s[q])
			if close < 0 {
				return rewrite(len(s))
			}
			vs, ve = q+1, q+1+close
			end = ve + 1
		case '>':
			// "href=>": an empty value; '>' still ends the tag.
		default:
			for end < len(s) && !isSpace(s[end]) && s[end] != '>' {
				end++
			}
			ve = end
		}
		switch {
		case isA && !seenHref && strings.EqualFold(attr, "href"):
			seenHref = true
			href.start, href.end, href.raw = q, end, s[vs:ve]
		case isA && !seenCategory && strings.EqualFold(attr, "data-category"):
			seenCategory = true
			href.category = unescapeAttr(s[vs:ve])
		}
		p = end
	}
	if _, err := rewrite(p); err != nil {
		return 0, err
	}
	for _, raw := range rawText {
		if strings.EqualFold(name, raw) {
			return skipRawText(s, p, raw), nil
		}
	}
	if strings.EqualFold(name, "plaintext") {
		return len(s), nil // everything after <plaintext> is text
	}
	return p, nil
}

// rewriteHref replaces src[start:end], an href value spelled raw, with a
// click URL when it is a trackable http(s) link.
func (r *renderer) rewriteHref(start, end int, raw, category string) error {
	dest := hrefURL(unescapeAttr(raw))
	if !isHTTPLink(dest) || strings.HasPrefix(dest, r.base+"/c/") || strings.HasPrefix(dest, r.base+"/o/") {
		return nil
	}
	if CheckURL("url", dest) != nil {
		r.untracked = append(r.untracked, dest)
		return nil
	}
	if !r.allow.Allows(dest) {
		r.untracked = append(r.untracked, dest)
		r.disallowed = append(r.disallowed, dest)
		return nil
	}
	signed, err := NormalizeURL(dest)
	if err != nil {
		r.untracked = append(r.untracked, dest)
		return nil
	}
	idx := len(r.links)
	if idx >= MaxLinks {
		r.untracked = append(r.untracked, dest)
		return nil
	}
	if err := CheckCategory("html", category); err != nil {
		return experiment.Invalid("html", "link %d (%s): data-category %s", idx, dest, err.(*experiment.Error).Message)
	}
	// dest passed CheckURL and base checkBase already: sign directly.
	tok, err := r.k.sign(Token{Kind: KindClick, Claims: r.claims, Link: idx, URL: signed, Category: category})
	if err != nil {
		return err
	}
	click := r.base + "/c/" + tok
	r.links = append(r.links, Link{Index: idx, URL: signed, Category: category})
	r.out.WriteString(r.src[r.copied:start])
	r.out.WriteByte('"')
	r.out.WriteString(html.EscapeString(click))
	r.out.WriteByte('"')
	r.copied = end
	return nil
}

// hrefURL returns the URL a browser reads from an href value: leading and
// trailing C0 controls and spaces trimmed, tabs and newlines removed (the
// URL standard's first steps).
func hrefURL(v string) string {
	v = strings.TrimFunc(v, func(r rune) bool { return r <= ' ' })
	if strings.ContainsAny(v, "\t\n\r") {
		v = strings.NewReplacer("\t", "", "\n", "", "\r", "").Replace(v)
	}
	return v
}

// unescapeAttr decodes character references in an attribute value the way
// browsers do for URLs in practice. Named references count only with their
// semicolon, except the four that pages commonly write bare (&amp &lt &gt
// &quot) when not followed by a letter, digit or '='. That keeps
// "?a=1&copy=2" and "&reg=" literal, where html.UnescapeString would turn
// them into "©=2" and "®=". Numeric references decode with or without ';'.
func unescapeAttr(v string) string {
	amp := strings.IndexByte(v, '&')
	if amp < 0 {
		return v
	}
	var b strings.Builder
	b.Grow(len(v))
	for amp >= 0 {
		b.WriteString(v[:amp])
		v = v[amp:]
		n, text := charRef(v)
		if n == 0 {
			b.WriteByte('&')
			v = v[1:]
		} else {
			b.WriteString(text)
			v = v[n:]
		}
		amp = strings.IndexByte(v, '&')
	}
	b.WriteString(v)
	return b.String()
}

// charRef decodes the character reference at the start of v (which starts
// with '&') and returns its length in v and its text, or 0 if it is none.
func charRef(v string) (int, string) {
	i := 1
	if i < len(v) && v[i] == '#' {
		i++
		hex := i < len(v) && (v[i] == 'x' || v[i] == 'X')
		if hex {
			i++
		}
		ds := i
		for i < len(v) && (isDigit(v[i]) || hex && isHexLetter(v[i])) && i-ds < 16 {
			i++
		}
		if i == ds {
			return 0, ""
		}
		ref := v[:i]
		if i < len(v) && v[i] == ';' {
			i++
		}
		// html.UnescapeString applies the spec's replacements (0, surrogates,
		// out of range, the windows-1252 C1 table).
		return i, html.UnescapeString(ref + ";")
	}
	for i < len(v) && (isASCIILetter(v[i]) || isDigit(v[i])) && i < 40 {
		i++
	}
	name := v[1:i]
	if name == "" {
		return 0, ""
	}
	if i < len(v) && v[i] == ';' {
		ref := v[:i+1]
		text := html.UnescapeString(ref)
		// Go falls back to a bare legacy prefix ("&ampfoo;" -> "&foo;"),
		// which browsers do not do before a letter: that leaves the ';'
		// after a letter or digit of the name. A whole match never does.
		if text == ref || len(text) >= 2 && text[len(text)-1] == ';' && (isASCIILetter(text[len(text)-2]) || isDigit(text[len(text)-2])) {
			return 0, ""
		}
		return i + 1, text
	}
	if i < len(v) && v[i] == '=' {
		return 0, ""
	}
	switch name {
	case "amp", "lt", "gt", "quot":
		return i, html.UnescapeString("&" + name + ";")
	}
	return 0, ""
}

// tagName returns the tag name starting at s[i] and the offset after it.
func tagName(s string, i int) (string, int) {
	j := i
	for j < len(s) && !isSpace(s[j]) && s[j] != '/' && s[j] != '>' {
		j++
	}
	return s[i:j], j
}

// skipPast returns the offset just past the first sep at or after s[i], or
// len(s) if there is none.
func skipPast(s string, i int, sep string) int {
	if i > len(s) {
		return len(s)
	}
	j := strings.Index(s[i:], sep)
	if j < 0 {
		return len(s)
	}
	return i + j + len(sep)
}

// skipRawText returns the offset of the end tag "</name" that closes the raw
// text starting at s[i], or len(s).
func skipRawText(s string, i int, name string) int {
	for {
		j := strings.Index(s[i:], "</")
		if j < 0 {
			return len(s)
		}
		i += j
		if e := i + 2 + len(name); e <= len(s) && strings.EqualFold(s[i+2:e], name) &&
			(e == len(s) || isSpace(s[e]) || s[e] == '/' || s[e] == '>') {
			return i
		}
		i += 2
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'
}

func isASCIILetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool       { return '0' <= c && c <= '9' }
func isHexLetter(c byte) bool   { return 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }
