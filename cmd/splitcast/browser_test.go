package main

import (
	"context"
	"fmt"
	"html"
	"maps"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/splitcast/splitcast/analytics"
)

// chromiumFlags make a headless Chromium that talks to nothing but the
// pages it is given.
var chromiumFlags = []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync"}

// mustChromium returns the path of Debian's chromium. It fails rather than
// skips: `make test` installs it (scripts/deps.sh browser).
func mustChromium(tb testing.TB) string {
	tb.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	tb.Fatal("chromium is not installed: run `scripts/deps.sh browser` (make test does) or apt-get install -y chromium")
	return ""
}

// dumpDOM loads url in a fresh headless Chromium, waits for its load event
// (images included) and returns the DOM it ended on, after redirects.
func dumpDOM(tb testing.TB, chromium, url string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := append(slices.Clone(chromiumFlags), "--user-data-dir="+tb.TempDir(), "--dump-dom", url)
	cmd := exec.CommandContext(ctx, chromium, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("chromium --dump-dom %s: %v\n%s", url, err, stderr.String())
	}
	return string(out)
}

// site is the destination web site of the message's links; it also serves
// the rendered message, as a webmail would. It records the pages hit.
type site struct {
	srv     *httptest.Server
	message string

	mu   sync.Mutex
	hits []string
}

func newSite(tb testing.TB) *site {
	s := &site{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		switch {
		case r.URL.Path == "/message.html":
			s.mu.Lock()
			msg := s.message
			s.mu.Unlock()
			fmt.Fprint(w, msg)
		case strings.HasPrefix(r.URL.Path, "/page"):
			s.mu.Lock()
			s.hits = append(s.hits, r.URL.RequestURI())
			s.mu.Unlock()
			fmt.Fprintf(w, "<html><body><h1 id=landed>landed on %s</h1></body></html>", html.EscapeString(r.URL.RequestURI()))
		default:
			http.NotFound(w, r)
		}
	}))
	tb.Cleanup(s.srv.Close)
	return s
}

// trackedHref matches the wrapped links of a rendered message.
var trackedHref = regexp.MustCompile(`href="([^"]*/c/[^"]*)"`)

// TestBrowserOpenAndClicks sends a real browser through a rendered message:
// Chromium loads it (and so its pixel), then follows two of its three
// tracked links, which must land on their own destinations. ClickHouse must
// then hold exactly one open and two clicks for the unit, in its arm.
func TestBrowserOpenAndClicks(t *testing.T) {
	chromium := mustChromium(t)
	conn, db := env.NewDatabase(t)
	m, closeMain := MustMain(t, db, "-flush-interval", "100ms")
	c := apiClient{base: "http://" + m.Addr(), http: &http.Client{Timeout: 30 * time.Second}}
	key := startExample(t, c)

	// A unit outside the 5% holdout: only those get a message to track.
	var a assignment
	var unit string
	for i := 0; !a.InExperiment || a.Holdout; i++ {
		if i == 100 {
			t.Fatalf("no unit of 100 assigned outside the holdout: %+v", a)
		}
		unit = fmt.Sprintf("browser-%d", i)
		c.mustCall(t, http.StatusOK, "POST", "/v1/assign", devSDKKey,
			map[string]any{"experiment": key, "unit_id": unit, "channel": "email"}, &a)
	}

	dest := newSite(t)
	pages := []string{dest.srv.URL + "/page1?utm=a&x=1", dest.srv.URL + "/page2", dest.srv.URL + "/page3#top"}
	src := fmt.Sprintf(`<!doctype html><html><head><title>Welcome</title></head><body>
<p><a href="%s">One</a> <a href="%s">Two</a> <a href="%s">Three</a></p>
</body></html>`, html.EscapeString(pages[0]), pages[1], pages[2])
	var rendered struct {
		HTML  string `json:"html"`
		Links []struct {
			Index int    `json:"index"`
			URL   string `json:"url"`
		} `json:"links"`
	}
	c.mustCall(t, http.StatusOK, "POST", "/v1/render", devSDKKey, map[string]string{"token": a.Token, "html": src}, &rendered)
	hrefs := trackedHref.FindAllStringSubmatch(rendered.HTML, -1)
	if len(hrefs) != 3 || len(rendered.Links) != 3 {
		t.Fatalf("render wrapped %d hrefs, %d links, want 3:\n%s", len(hrefs), len(rendered.Links), rendered.HTML)
	}
	if !strings.Contains(rendered.HTML, html.EscapeString(a.PixelURL)) {
		t.Fatalf("rendered HTML lacks the pixel %s:\n%s", a.PixelURL, rendered.HTML)
	}
	dest.mu.Lock()
	dest.message = rendered.HTML
	dest.mu.Unlock()

	// The open: Chromium fires the load event only once every image,
	// the pixel included, has loaded or failed.
	dom := dumpDOM(t, chromium, dest.srv.URL+"/message.html")
	if !strings.Contains(dom, ">Two</a>") {
		t.Fatalf("chromium did not render the message:\n%s", dom)
	}

	// Two clicks, on the first and the third link.
	for _, i := range []int{0, 2} {
		tracked := html.UnescapeString(hrefs[i][1])
		if !strings.HasPrefix(tracked, "http://"+m.Addr()+"/c/") {
			t.Fatalf("link %d = %s, want a click URL on %s", i, tracked, m.Addr())
		}
		dom := dumpDOM(t, chromium, tracked)
		want := strings.TrimPrefix(strings.TrimSuffix(pages[i], "#top"), dest.srv.URL)
		if !strings.Contains(dom, "landed on "+html.EscapeString(want)+"</h1>") {
			t.Fatalf("following link %d (%s) ended on:\n%s\nwant the page %s", i, tracked, dom, want)
		}
	}
	dest.mu.Lock()
	hits := slices.Clone(dest.hits)
	dest.mu.Unlock()
	if want := []string{"/page1?utm=a&x=1", "/page3"}; !slices.Equal(hits, want) {
		t.Fatalf("destination hits = %q, want %q", hits, want)
	}

	// The running ingester flushes every 100ms; then Close drains whatever
	// is left, and the counts must not move.
	want := map[analytics.Kind]int{analytics.KindOpen: 1, analytics.KindClick: 2}
	deadline := time.Now().Add(30 * time.Second)
	for got := trackedEvents(t, conn, key, unit); !maps.Equal(got, want); got = trackedEvents(t, conn, key, unit) {
		if time.Now().After(deadline) {
			t.Fatalf("events in ClickHouse for %s = %+v, want one open and two clicks", unit, got)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := closeMain(); err != nil {
		t.Fatalf("Main.Close = %v", err)
	}

	rows, err := conn.Query(context.Background(), `SELECT kind, any(experiment), any(version), any(segment), any(variant),
		any(url), any(machine), any(machine_reason) FROM events
		WHERE experiment = ? AND unit = ? AND kind IN ('open', 'click') GROUP BY event_id, kind ORDER BY kind, any(url)`, key, unit)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var kind, exp, seg, variant, url, reason string
		var version uint32
		var machine uint8
		if err := rows.Scan(&kind, &exp, &version, &seg, &variant, &url, &machine, &reason); err != nil {
			t.Fatal(err)
		}
		if exp != key || version != a.Version || seg != a.Segment || variant != a.Variant {
			t.Errorf("%s event in %s v%d %s/%s, want %s v%d %s/%s", kind, exp, version, seg, variant, key, a.Version, a.Segment, a.Variant)
		}
		// Chromium says "HeadlessChrome": machine traffic, flagged and kept.
		if machine != 1 || reason != analytics.ReasonBotUA {
			t.Errorf("%s event machine=%d reason=%q, want 1 %q (HeadlessChrome)", kind, machine, reason, analytics.ReasonBotUA)
		}
		got = append(got, kind+" "+url)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"click " + pages[0], "click " + pages[2], "open "}; !slices.Equal(got, want) {
		t.Errorf("events after Close = %q, want %q", got, want)
	}
}

// trackedEvents counts a unit's distinct opens and clicks in ClickHouse.
func trackedEvents(tb testing.TB, conn driver.Conn, key, unit string) map[analytics.Kind]int {
	tb.Helper()
	rows, err := conn.Query(context.Background(),
		"SELECT kind, uniqExact(event_id) FROM events WHERE experiment = ? AND unit = ? AND kind IN ('open', 'click') GROUP BY kind", key, unit)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	got := map[analytics.Kind]int{}
	for rows.Next() {
		var kind string
		var n uint64
		if err := rows.Scan(&kind, &n); err != nil {
			tb.Fatal(err)
		}
		got[analytics.Kind(kind)] = int(n)
	}
	return got
}
