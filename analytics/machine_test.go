package analytics

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// Real user agents, as seen on tracking endpoints.
const (
	uaIPhoneMail  = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
	uaMacMail     = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
	uaChrome      = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36"
	uaOutlook     = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17531; Pro)"
	uaCubot       = "Mozilla/5.0 (Linux; Android 9; CUBOT P30) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36"
	uaGmailProxy  = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
	uaYahooProxy  = "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"
	uaHeadless    = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36"
	uaBarracuda   = "Mozilla/5.0 (compatible; Barracuda Sentinel (EE))"
	uaGooglebot   = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
	uaSlack       = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"
	uaCurl        = "curl/8.5.0"
	uaPython      = "python-requests/2.31.0"
	uaGo          = "Go-http-client/1.1"
	uaMimecast    = "Mimecast URL Protect"
	uaProofpoint  = "Proofpoint URL Defense"
	uaFacebookHit = "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"
)

func TestClassifyOpen(t *testing.T) {
	var c MachineConfig
	later := time.Hour
	for _, tc := range []struct {
		name   string
		hit    Hit
		reason string // "" for human
	}{
		{"iphone mail", Hit{UserAgent: uaIPhoneMail, Method: "GET", SinceSend: later}, ""},
		{"mac mail", Hit{UserAgent: uaMacMail, Method: "GET", SinceSend: later}, ""},
		{"outlook", Hit{UserAgent: uaOutlook, Method: "GET", SinceSend: later}, ""},
		{"cubot phone is not a bot", Hit{UserAgent: uaCubot, Method: "GET", SinceSend: later}, ""},
		{"gmail proxy is human by default", Hit{UserAgent: uaGmailProxy, Method: "GET", SinceSend: later}, ""},
		{"yahoo proxy is human by default", Hit{UserAgent: uaYahooProxy, Method: "GET", SinceSend: later}, ""},
		{"open at once is human by default", Hit{UserAgent: uaIPhoneMail, Method: "GET"}, ""},
		{"apple mpp", Hit{UserAgent: "Mozilla/5.0", Method: "GET", SinceSend: 3 * time.Second}, ReasonAppleMPP},
		{"apple mpp padded", Hit{UserAgent: " mozilla/5.0 ", Method: "GET"}, ReasonAppleMPP},
		{"head", Hit{UserAgent: uaIPhoneMail, Method: "HEAD", SinceSend: later}, ReasonHead},
		{"head lower case", Hit{UserAgent: "Mozilla/5.0", Method: "head"}, ReasonHead},
		{"empty ua", Hit{Method: "GET", SinceSend: later}, ReasonBotUA},
		{"googlebot", Hit{UserAgent: uaGooglebot, Method: "GET", SinceSend: later}, ReasonBotUA},
		{"headless", Hit{UserAgent: uaHeadless, Method: "GET", SinceSend: later}, ReasonBotUA},
		{"barracuda", Hit{UserAgent: uaBarracuda, Method: "GET", SinceSend: later}, ReasonBotUA},
	} {
		machine, reason := c.ClassifyOpen(tc.hit)
		if machine != (tc.reason != "") || reason != tc.reason {
			t.Errorf("ClassifyOpen(%s) = %v, %q, want %v, %q", tc.name, machine, reason, tc.reason != "", tc.reason)
		}
	}
}

func TestClassifyOpenConfigured(t *testing.T) {
	c := MachineConfig{ImageProxyIsMachine: true, FastOpen: 2 * time.Second}
	for _, tc := range []struct {
		name   string
		hit    Hit
		reason string
	}{
		{"gmail proxy", Hit{UserAgent: uaGmailProxy, SinceSend: time.Hour}, ReasonImageProxy},
		{"yahoo proxy", Hit{UserAgent: uaYahooProxy, SinceSend: time.Hour}, ReasonImageProxy},
		{"fast open", Hit{UserAgent: uaIPhoneMail, SinceSend: time.Second}, ReasonScannerFast},
		{"skewed clock", Hit{UserAgent: uaIPhoneMail, SinceSend: -time.Minute}, ReasonScannerFast},
		{"slow open", Hit{UserAgent: uaIPhoneMail, SinceSend: 2 * time.Second}, ""},
	} {
		machine, reason := c.ClassifyOpen(tc.hit)
		if machine != (tc.reason != "") || reason != tc.reason {
			t.Errorf("ClassifyOpen(%s) = %v, %q, want %q", tc.name, machine, reason, tc.reason)
		}
	}
}

func TestClassifyClick(t *testing.T) {
	var c MachineConfig
	for _, tc := range []struct {
		name   string
		hit    Hit
		reason string
	}{
		{"person", Hit{UserAgent: uaChrome, Method: "GET", SinceSend: 5 * time.Minute, LinksInBurst: 1}, ""},
		{"person, burst unknown", Hit{UserAgent: uaChrome, Method: "GET", SinceSend: 5 * time.Minute}, ""},
		{"two tabs", Hit{UserAgent: uaChrome, Method: "GET", SinceSend: time.Hour, LinksInBurst: 2}, ""},
		{"exactly at threshold", Hit{UserAgent: uaChrome, Method: "GET", SinceSend: 10 * time.Second}, ""},
		{"fast", Hit{UserAgent: uaChrome, Method: "GET", SinceSend: 9 * time.Second}, ReasonScannerFast},
		{"skewed clock", Hit{UserAgent: uaChrome, Method: "GET", SinceSend: -time.Hour}, ReasonScannerFast},
		{"burst", Hit{UserAgent: uaChrome, Method: "GET", SinceSend: time.Hour, LinksInBurst: 3}, ReasonScannerBurst},
		{"burst beats fast", Hit{UserAgent: uaChrome, Method: "GET", SinceSend: time.Second, LinksInBurst: 5}, ReasonScannerBurst},
		{"head", Hit{UserAgent: uaChrome, Method: "HEAD", SinceSend: time.Hour}, ReasonHead},
		{"bare mozilla", Hit{UserAgent: "Mozilla/5.0", Method: "GET", SinceSend: time.Hour}, ReasonBotUA},
		{"empty", Hit{Method: "GET", SinceSend: time.Hour}, ReasonBotUA},
		{"curl", Hit{UserAgent: uaCurl, SinceSend: time.Hour}, ReasonBotUA},
		{"python", Hit{UserAgent: uaPython, SinceSend: time.Hour}, ReasonBotUA},
		{"go", Hit{UserAgent: uaGo, SinceSend: time.Hour}, ReasonBotUA},
		{"mimecast", Hit{UserAgent: uaMimecast, SinceSend: time.Hour}, ReasonBotUA},
		{"proofpoint", Hit{UserAgent: uaProofpoint, SinceSend: time.Hour}, ReasonBotUA},
		{"slack preview", Hit{UserAgent: uaSlack, SinceSend: time.Hour}, ReasonBotUA},
		{"facebook preview", Hit{UserAgent: uaFacebookHit, SinceSend: time.Hour}, ReasonBotUA},
		{"cubot phone", Hit{UserAgent: uaCubot, SinceSend: time.Hour}, ""},
	} {
		machine, reason := c.ClassifyClick(tc.hit)
		if machine != (tc.reason != "") || reason != tc.reason {
			t.Errorf("ClassifyClick(%s) = %v, %q, want %q", tc.name, machine, reason, tc.reason)
		}
	}

	off := MachineConfig{FastClick: -1, BurstLinks: 10}
	if m, r := off.ClassifyClick(Hit{UserAgent: uaChrome, SinceSend: time.Second, LinksInBurst: 9}); m {
		t.Errorf("ClassifyClick with fast rule off and burst at 10 = %v, %q, want human", m, r)
	}
	slow := MachineConfig{FastClick: time.Minute}
	if _, r := slow.ClassifyClick(Hit{UserAgent: uaChrome, SinceSend: 30 * time.Second}); r != ReasonScannerFast {
		t.Errorf("ClassifyClick 30s after send with FastClick 1m = %q, want %q", r, ReasonScannerFast)
	}
}

// burstClock is a manual clock for BurstDetector.
type burstClock struct{ t time.Time }

func (c *burstClock) now() time.Time          { return c.t }
func (c *burstClock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newBurstClock() *burstClock              { return &burstClock{t: time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)} }
func observeAll(d *BurstDetector, k string, links ...int) (n int) {
	for _, l := range links {
		n = d.Observe(k, l)
	}
	return n
}

func TestBurstDetector(t *testing.T) {
	clk := newBurstClock()
	d := NewBurstDetector(MachineConfig{}, clk.now)

	// A scanner clicks links 0..4 of one send within half a second.
	var got []int
	for l := range 5 {
		got = append(got, d.Observe("send-1", l))
		clk.advance(100 * time.Millisecond)
	}
	if fmt.Sprint(got) != "[1 2 3 4 5]" {
		t.Errorf("scanner burst counts = %v, want [1 2 3 4 5]", got)
	}

	// A person clicks the same link twice, then another one a minute later.
	if n := observeAll(d, "send-2", 0, 0, 0); n != 1 {
		t.Errorf("same link three times = %d distinct, want 1", n)
	}
	clk.advance(time.Minute)
	if n := d.Observe("send-2", 1); n != 1 {
		t.Errorf("second link a minute later = %d, want 1 (the first fell out of the window)", n)
	}
	clk.advance(2 * time.Second) // exactly the window: still inside
	if n := d.Observe("send-2", 2); n != 2 {
		t.Errorf("third link exactly one window later = %d, want 2", n)
	}

	// Sends do not mix.
	if n := d.Observe("send-3", 9); n != 1 {
		t.Errorf("first click of another send = %d, want 1", n)
	}

	// A clock that goes backwards keeps what it has.
	clk.advance(-time.Hour)
	if n := d.Observe("send-2", 3); n != 3 {
		t.Errorf("click with clock moved back = %d, want 3", n)
	}
}

func TestBurstDetectorBounded(t *testing.T) {
	clk := newBurstClock()
	d := NewBurstDetector(MachineConfig{BurstSends: 3}, clk.now)
	observeAll(d, "a", 0, 1)
	observeAll(d, "b", 0)
	observeAll(d, "c", 0)
	observeAll(d, "a", 2) // a is now the most recent; b the oldest
	observeAll(d, "d", 0) // evicts b
	if d.Len() != 3 {
		t.Errorf("Len = %d, want 3", d.Len())
	}
	if n := d.Observe("a", 3); n != 4 {
		t.Errorf("a after eviction of b = %d, want 4 (a kept)", n)
	}
	if n := d.Observe("b", 1); n != 1 {
		t.Errorf("b after eviction = %d, want 1 (b forgotten)", n)
	}

	// One send flooded with clicks keeps a bounded history.
	for i := range 10 * maxClicksPerSend {
		d.Observe("flood", i)
	}
	d.mu.Lock()
	n := len(d.sends["flood"].Value.(*burstSend).clicks)
	d.mu.Unlock()
	if n > maxClicksPerSend {
		t.Errorf("flooded send keeps %d clicks, want at most %d", n, maxClicksPerSend)
	}
}

func TestBurstDetectorConcurrent(t *testing.T) {
	d := NewBurstDetector(MachineConfig{BurstSends: 50}, nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				d.Observe(fmt.Sprintf("send-%d", (g*1000+i)%97), i%7)
			}
		}()
	}
	wg.Wait()
	if d.Len() > 50 {
		t.Errorf("Len = %d, want at most 50", d.Len())
	}
}

func BenchmarkClassifyClick(b *testing.B) {
	var c MachineConfig
	h := Hit{UserAgent: uaChrome, Method: "GET", SinceSend: time.Hour, LinksInBurst: 1}
	b.ReportAllocs()
	for b.Loop() {
		c.ClassifyClick(h)
	}
}
