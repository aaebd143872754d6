package tracking

import (
	"html"
	"regexp"
	"strings"
	"testing"

	"github.com/splitcast/splitcast/experiment"
)

const base = "https://t.example.com"

// MustRender renders src with a test keyring and fails on error.
func MustRender(tb testing.TB, k *Keyring, src string) Rendered {
	tb.Helper()
	r, err := Render(k, src, base, claims(), Domains{})
	if err != nil {
		tb.Fatalf("Render: %v", err)
	}
	return r
}

var clickRE = regexp.MustCompile(`https://t\.example\.com/c/([A-Za-z0-9_-]+)`)

// clicks returns the destinations of the click URLs in out, verified.
func clicks(tb testing.TB, k *Keyring, out string) []string {
	tb.Helper()
	var dests []string
	for i, m := range clickRE.FindAllStringSubmatch(out, -1) {
		tk, err := k.Verify(m[1])
		if err != nil {
			tb.Fatalf("click URL %d: Verify = %v", i, err)
		}
		if tk.Link != i {
			tb.Errorf("click URL %d: Link = %d", i, tk.Link)
		}
		dests = append(dests, tk.URL)
	}
	return dests
}

func TestRenderLinks(t *testing.T) {
	k := MustKeyring(t, 1, 1)
	for _, tc := range []struct {
		name string
		src  string
		want []string // destinations wrapped, in order
	}{
		{"double quotes", `<a href="https://a.example/x">x</a>`, []string{"https://a.example/x"}},
		{"single quotes", `<a href='https://a.example/x'>x</a>`, []string{"https://a.example/x"}},
		{"unquoted", `<a href=https://a.example/x>x</a>`, []string{"https://a.example/x"}},
		{"unquoted then attr", `<a href=https://a.example/x class=btn>x</a>`, []string{"https://a.example/x"}},
		// The host is signed in its one spelling (NormalizeURL): lower case.
		{"uppercase", `<A HREF="HTTPS://A.EXAMPLE/X">x</A>`, []string{"HTTPS://a.example/X"}},
		{"spaces around =", "<a class=\"b\"\n   href = \"https://a.example/\" >x</a>", []string{"https://a.example/"}},
		{"entities", `<a href="https://a.example/?a=1&amp;b=2&#38;c=3&#x26;d=4">x</a>`, []string{"https://a.example/?a=1&b=2&c=3&d=4"}},
		{"bare legacy names stay", `<a href="https://a.example/?a=1&copy=2&reg=3&not=4">x</a>`, []string{"https://a.example/?a=1&copy=2&reg=3&not=4"}},
		{"whitespace trimmed", "<a href=\" \n https://a.example/x\t\">x</a>", []string{"https://a.example/x"}},
		{"newline inside removed", "<a href=\"https://a.exa\nmple/x\">x</a>", []string{"https://a.example/x"}},
		{"multiple", `<p><a href="https://a.example/1">1</a> <a href="https://a.example/2">2</a><a href="https://a.example/1">1 again</a></p>`,
			[]string{"https://a.example/1", "https://a.example/2", "https://a.example/1"}},
		{"first href wins", `<a href="https://a.example/first" href="https://a.example/second">x</a>`, []string{"https://a.example/first"}},
		{"other attrs named like href", `<a data-href="https://no.example/" hreflang="en" href="https://a.example/">x</a>`, []string{"https://a.example/"}},
		{"slash in tag", `<a/href="https://a.example/">x</a>`, []string{"https://a.example/"}},
		{"quoted > in attribute", `<a title="a > b" href="https://a.example/">x</a>`, []string{"https://a.example/"}},
		{"mailto tel anchor", `<a href="mailto:a@example.com">m</a><a href="tel:+100">t</a><a href="#top">t</a><a href="/rel">r</a><a href="{{unsubscribe_url}}">u</a>`, nil},
		{"javascript", `<a href="javascript:alert(1)">j</a><a href="jav&#x61;script:alert(1)">j</a>`, nil},
		{"not an a", `<abbr href="https://no.example/">x</abbr><area href="https://no.example/"><link href="https://no.example/style.css">`, nil},
		{"comment", `<!-- <a href="https://no.example/"> --><a href="https://a.example/">x</a>`, []string{"https://a.example/"}},
		{"short comments", `<!--><a href="https://a.example/1">x</a><!---><a href="https://a.example/2">x</a>`, []string{"https://a.example/1", "https://a.example/2"}},
		{"style and script", `<style>a[href="<a href='https://no.example/'>"]{}</style><script>"<a href='https://no.example/'>"</script><a href="https://a.example/">x</a>`, []string{"https://a.example/"}},
		{"title", `<title><a href="https://no.example/"></title>`, nil},
		{"outlook conditional", `<!--[if mso]><a href="https://a.example/mso">x</a><![endif]--><!--[if !mso]><!--><a href="https://a.example/other">x</a><!--<![endif]-->`,
			[]string{"https://a.example/mso", "https://a.example/other"}},
		{"lone <", `1 < 2 <a href="https://a.example/">x</a>`, []string{"https://a.example/"}},
		{"unterminated tag", `<a href="https://a.example/`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := MustRender(t, k, tc.src)
			got := clicks(t, k, r.HTML)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("Render(%q) wrapped %q, want %q\n%s", tc.src, got, tc.want, r.HTML)
			}
			if len(r.Links) != len(tc.want) {
				t.Errorf("Render(%q).Links = %v, want %d", tc.src, r.Links, len(tc.want))
			}
			for i, l := range r.Links {
				if l.Index != i || l.URL != tc.want[i] {
					t.Errorf("Links[%d] = %+v, want {%d %q}", i, l, i, tc.want[i])
				}
			}
		})
	}
}

func TestRenderUntracked(t *testing.T) {
	k := MustKeyring(t, 1, 1)
	src := `<a href="https://user@a.example/">x</a><a href="https://a.example/a b">y</a>`
	r := MustRender(t, k, src)
	if len(r.Links) != 0 || len(r.Untracked) != 2 {
		t.Errorf("Render = links %v, untracked %q; want 0 and 2", r.Links, r.Untracked)
	}
	if !strings.HasPrefix(r.HTML, src) {
		t.Errorf("Render changed untracked links:\n%s", r.HTML)
	}
}

func TestRenderPreservesEverythingElse(t *testing.T) {
	k := MustKeyring(t, 1, 1)
	src := `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>June sale</title>
<style>.btn { color: #fff } a:hover { color: red }</style></head>
<BODY style="margin:0">
<img src="https://cdn.example/logo.png" alt="Logo" width="120">
<p>Hello &amp; welcome, caf&eacute; lovers.</p>
<a class="btn" href='https://shop.example/sale?utm_source=email&amp;utm_medium=cta' target=_blank>Shop now</a>
<a href=https://shop.example/faq>FAQ</a>
<p><a href="mailto:help@shop.example">Write to us</a> · <a href="#top">Top</a></p>
</BODY>
</html>`
	r := MustRender(t, k, src)
	got := clicks(t, k, r.HTML)
	want := []string{"https://shop.example/sale?utm_source=email&utm_medium=cta", "https://shop.example/faq"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("wrapped %q, want %q", got, want)
	}

	pixel := regexp.MustCompile(`<img src="https://t\.example\.com/o/[A-Za-z0-9_-]+\.gif" width="1" height="1" alt="" style="display:none">`)
	if n := len(pixel.FindAllString(r.HTML, -1)); n != 1 {
		t.Fatalf("found %d pixels, want 1:\n%s", n, r.HTML)
	}
	if !strings.Contains(r.HTML, `style="display:none"></BODY>`) {
		t.Errorf("pixel is not just before </BODY>:\n%s", r.HTML)
	}
	// Putting the original hrefs back, and removing the pixel, must give the
	// source byte for byte, but for the quotes around the rewritten values.
	restored := pixel.ReplaceAllString(r.HTML, "")
	restored = clickRE.ReplaceAllStringFunc(restored, func(m string) string {
		tk, _ := k.Verify(strings.TrimPrefix(m, base+"/c/"))
		return html.EscapeString(tk.URL)
	})
	wantRestored := strings.NewReplacer(
		`href='https://shop.example/sale?utm_source=email&amp;utm_medium=cta'`, `href="https://shop.example/sale?utm_source=email&amp;utm_medium=cta"`,
		`href=https://shop.example/faq>`, `href="https://shop.example/faq">`,
	).Replace(src)
	if restored != wantRestored {
		t.Errorf("Render changed more than hrefs and the pixel:\n got %s\nwant %s", restored, wantRestored)
	}
}

func TestRenderPixel(t *testing.T) {
	k := MustKeyring(t, 1, 1)
	for _, tc := range []struct{ name, src, wantSuffix string }{
		{"no body", `<p>hi</p>`, `display:none">`},
		{"empty", ``, `display:none">`},
		{"body", `<body><p>hi</p></body></html>`, `display:none"></body></html>`},
		{"body in comment", `<body><!-- </body> --></body>`, `display:none"></body>`},
		{"body tag with space", `<body></body ></html>`, `display:none"></body ></html>`},
		{"link after body", `<body></body><a href="https://a.example/">x</a>`, `display:none"></body><a href="` + base + `/c/`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := MustRender(t, k, tc.src)
			if strings.Count(r.HTML, "<img") != 1 {
				t.Fatalf("Render(%q) = %q, want one pixel", tc.src, r.HTML)
			}
			if !strings.Contains(r.HTML, tc.wantSuffix) {
				t.Errorf("Render(%q) = %q, want it to contain %q", tc.src, r.HTML, tc.wantSuffix)
			}
			m := regexp.MustCompile(`/o/([A-Za-z0-9_-]+)\.gif`).FindStringSubmatch(r.HTML)
			if m == nil {
				t.Fatalf("no pixel URL in %q", r.HTML)
			}
			if tk, err := k.Verify(m[1]); err != nil || tk.Kind != KindOpen {
				t.Errorf("pixel token: %+v, %v", tk, err)
			}
		})
	}
}

func TestRenderTwice(t *testing.T) {
	k := MustKeyring(t, 1, 1)
	once := MustRender(t, k, `<a href="https://a.example/">x</a>`)
	twice := MustRender(t, k, once.HTML)
	if len(twice.Links) != 0 || !strings.HasPrefix(twice.HTML, once.HTML) {
		t.Errorf("rendering twice wrapped %v again", twice.Links)
	}
}

func TestRenderErrors(t *testing.T) {
	k := MustKeyring(t, 1, 1)
	if _, err := Render(k, "<p>", "not a base", claims(), Domains{}); err == nil {
		t.Error("Render with a bad base succeeded")
	}
	c := claims()
	c.Unit = ""
	if _, err := Render(k, "<p>", base, c, Domains{}); err == nil {
		t.Error("Render with no unit succeeded")
	}
}

func TestUnescapeAttr(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a&amp;b", "a&b"},
		{"a&ampb", "a&ampb"},
		{"a&amp=b", "a&amp=b"},
		{"a&amp", "a&"},
		{"a&amp-b", "a&-b"},
		{"a&ampfoo;", "a&ampfoo;"},
		{"&#x2F;&#47;&#47", "///"},
		{"&#0;", "\uFFFD"},
		{"&#x110000;", "\uFFFD"},
		{"&#;&#x;&", "&#;&#x;&"},
		{"&eacute;&nosuch;", "é&nosuch;"},
		{"&semi;", ";"},
	} {
		if got := unescapeAttr(tc.in); got != tc.want {
			t.Errorf("unescapeAttr(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzRender(f *testing.F) {
	k := MustKeyring(f, 1, 1)
	for _, s := range []string{
		"", "<", "<a", "<a href", "<a href=", `<a href="`, `<a href="https://a.example/">x</a>`,
		`<A HREF=https://a.example/>`, `<!--`, `<!--[if mso]>`, `</body`, `<style>`, "<a href='https://a.example/?a&amp;b'>",
		`<body><a href="https://a.example/1"><a href="mailto:x">x</a></body>`,
		`<a data-category="shoes" href="https://a.example/">`, `<a href="https://a.example/" data-category="x&#1;">`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		r, err := Render(k, src, base, claims(), Domains{})
		if err != nil {
			// The one refusal: a link's data-category that CheckCategory
			// refuses.
			if experiment.ErrorField(err) == "html" && strings.Contains(err.Error(), "data-category") {
				return
			}
			t.Fatalf("Render(%q) = %v", src, err)
		}
		if strings.Count(r.HTML, `style="display:none">`) < 1 {
			t.Fatalf("Render(%q) has no pixel", src)
		}
		// Every wrapped link is a valid click token for a URL that passes
		// CheckURL, and the output never grows a link the input lacked.
		got := clicks(t, k, r.HTML)
		if len(got) < len(r.Links) {
			t.Fatalf("Render(%q): %d links reported, %d click URLs", src, len(r.Links), len(got))
		}
		for i, l := range r.Links {
			if l.Index != i || CheckURL("url", l.URL) != nil || got[i] != l.URL {
				t.Fatalf("Render(%q): Links[%d] = %+v, click URL to %q", src, i, l, got[i])
			}
		}
	})
}

func BenchmarkRender(b *testing.B) {
	k := MustKeyring(b, 1, 1)
	var sb strings.Builder
	sb.WriteString("<html><body>")
	for i := 0; i < 20; i++ {
		sb.WriteString(`<p>Paragraph with some text &amp; an <a class="btn" href="https://shop.example/p?id=42&amp;utm_source=email">offer</a>.</p>`)
	}
	sb.WriteString("</body></html>")
	src := sb.String()
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Render(k, src, base, claims(), Domains{}); err != nil {
			b.Fatal(err)
		}
	}
}
