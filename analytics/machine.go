package analytics

import (
	"container/list"
	"strings"
	"sync"
	"time"
)

// Machine-traffic reasons, stored in Event.MachineReason. They are stable
// strings: reports and notebooks group by them.
const (
	// ReasonHead is a HEAD request: link checkers and scanners probe with
	// HEAD, browsers following a link or loading an image never do.
	ReasonHead = "head_request"
	// ReasonBotUA is a user agent that names a bot, crawler, link preview,
	// HTTP library, headless browser or mail security scanner, or no user
	// agent at all.
	ReasonBotUA = "bot_ua"
	// ReasonAppleMPP is an open by Apple Mail Privacy Protection, which
	// fetches every image when the message reaches the device, read or not.
	// Its proxy sends the bare user agent "Mozilla/5.0".
	ReasonAppleMPP = "apple_mpp"
	// ReasonImageProxy is an open through a webmail image proxy (Gmail,
	// Yahoo). Counted as machine only when MachineConfig.ImageProxyIsMachine
	// is set: see there.
	ReasonImageProxy = "image_proxy"
	// ReasonScannerFast is a click (or, when enabled, an open) sooner after
	// the send than a human could manage: a security gateway checking links
	// at delivery.
	ReasonScannerFast = "scanner_fast"
	// ReasonScannerBurst is a click that, with the clicks just before it,
	// makes many different links of one message clicked within seconds: a
	// scanner following every link.
	ReasonScannerBurst = "scanner_burst"
)

// Defaults for the zero fields of MachineConfig.
const (
	DefaultFastClick   = 10 * time.Second
	DefaultBurstWindow = 2 * time.Second
	DefaultBurstLinks  = 3
	DefaultBurstSends  = 100_000
)

// MachineConfig holds the thresholds of the machine-traffic rules. The zero
// value is the documented default for every field.
type MachineConfig struct {
	// FastClick: a click less than this after the send is a scanner.
	// Zero means DefaultFastClick (10s); negative turns the rule off. People
	// do open a message the moment it arrives, but it takes them more than
	// ten seconds to get from delivery to a click; gateways that rewrite or
	// sandbox links click within a few.
	FastClick time.Duration
	// FastOpen: an open less than this after the send is a prefetch. Zero
	// or negative (the default) turns the rule off: a notification tapped
	// at once is a real open, and Apple's prefetch is caught by its user
	// agent instead.
	FastOpen time.Duration
	// BurstWindow and BurstLinks: BurstLinks or more different links of one
	// send clicked within BurstWindow is a scanner. Zero means
	// DefaultBurstWindow (2s) and DefaultBurstLinks (3). Two links is not
	// enough: a person opening two tabs in quick succession is common.
	BurstWindow time.Duration
	BurstLinks  int
	// BurstSends bounds the sends a BurstDetector remembers at once; the
	// least recently clicked is forgotten first. Zero means
	// DefaultBurstSends. Each costs well under a kilobyte.
	BurstSends int
	// ImageProxyIsMachine flags opens through webmail image proxies. The
	// default, false, counts them as human: Gmail's and Yahoo's proxies
	// fetch the pixel when the user opens the message (once, then cache
	// it), so the open is real even though the request is not the user's.
	// Set it if your audience sits behind proxies that prefetch on delivery.
	ImageProxyIsMachine bool
}

func (c MachineConfig) fastClick() time.Duration {
	if c.FastClick == 0 {
		return DefaultFastClick
	}
	return c.FastClick
}

func (c MachineConfig) burstWindow() time.Duration {
	if c.BurstWindow <= 0 {
		return DefaultBurstWindow
	}
	return c.BurstWindow
}

func (c MachineConfig) burstLinks() int {
	if c.BurstLinks <= 0 {
		return DefaultBurstLinks
	}
	return c.BurstLinks
}

func (c MachineConfig) burstSends() int {
	if c.BurstSends <= 0 {
		return DefaultBurstSends
	}
	return c.BurstSends
}

// Hit is what the pixel or the redirect knows about one request, enough to
// tell a machine from a person. It holds no IP address.
type Hit struct {
	UserAgent string
	Method    string
	// SinceSend is the time from the token's issue (the send) to the
	// request. Negative values, from clock skew between the sender and
	// this server, count as zero.
	SinceSend time.Duration
	// LinksInBurst is, for a click, the number of different links of the
	// same send clicked within the burst window, this one included, as
	// returned by BurstDetector.Observe. Zero means unknown.
	LinksInBurst int
}

// ClassifyOpen reports whether an open looks like machine traffic and why.
// The rules, first match wins: head_request, bot_ua, apple_mpp,
// image_proxy (only if configured), scanner_fast (only if configured).
func (c MachineConfig) ClassifyOpen(h Hit) (machine bool, reason string) {
	return c.classifyOpen(h, classifyUA(h.UserAgent))
}

// ClassifyClick reports whether a click looks like machine traffic and why.
// The rules, first match wins: head_request, bot_ua (which for a click
// includes the bare "Mozilla/5.0" of fetchers), scanner_burst,
// scanner_fast.
//
// A burst is only seen once it has happened: the first clicks of a scanner
// that clicks every link arrive before the ones that give it away, so they
// are flagged only if another rule catches them (most scanners click within
// seconds of delivery, which scanner_fast catches).
func (c MachineConfig) ClassifyClick(h Hit) (machine bool, reason string) {
	return c.classifyClick(h, classifyUA(h.UserAgent))
}

func (c MachineConfig) classifyOpen(h Hit, ua uaClass) (machine bool, reason string) {
	if r := requestReason(h, ua); r != "" {
		return true, r
	}
	if ua&uaAppleMPP != 0 {
		return true, ReasonAppleMPP
	}
	if c.ImageProxyIsMachine && ua&uaImageProxy != 0 {
		return true, ReasonImageProxy
	}
	if c.FastOpen > 0 && max(h.SinceSend, 0) < c.FastOpen {
		return true, ReasonScannerFast
	}
	return false, ""
}

func (c MachineConfig) classifyClick(h Hit, ua uaClass) (machine bool, reason string) {
	if r := requestReason(h, ua); r != "" {
		return true, r
	}
	if ua&uaAppleMPP != 0 {
		// Apple does not prefetch links; a bare UA that clicks is some
		// other fetcher.
		return true, ReasonBotUA
	}
	if h.LinksInBurst >= c.burstLinks() {
		return true, ReasonScannerBurst
	}
	if fast := c.fastClick(); fast > 0 && max(h.SinceSend, 0) < fast {
		return true, ReasonScannerFast
	}
	return false, ""
}

// requestReason applies the rules shared by opens and clicks.
func requestReason(h Hit, ua uaClass) string {
	if strings.EqualFold(h.Method, "HEAD") {
		return ReasonHead
	}
	if ua&uaBot != 0 {
		return ReasonBotUA
	}
	return ""
}

// uaClass is what the rules need to know about a user agent: a set of
// uaBot, uaAppleMPP and uaImageProxy. It depends on the user agent alone,
// which is what lets a Classifier remember it.
type uaClass uint8

const (
	uaBot uaClass = 1 << iota
	uaAppleMPP
	uaImageProxy
)

// classifyUA computes the class of ua: isBotUA, isAppleMPP and
// isImageProxy, lower-casing once for both lists.
func classifyUA(ua string) uaClass {
	var c uaClass
	lower := strings.ToLower(ua)
	if isBotLower(strings.TrimSpace(lower)) {
		c |= uaBot
	}
	if isAppleMPP(ua) {
		c |= uaAppleMPP
	}
	if containsAny(lower, imageProxies) {
		c |= uaImageProxy
	}
	return c
}

// Bounds of a Classifier's memory of user agents.
const (
	// DefaultUserAgents is how many user agents a Classifier remembers per
	// generation (it keeps two). Mail and browser traffic comes from a few
	// thousand distinct agents at most, so nearly every request is a hit.
	DefaultUserAgents = 4096
	// maxRememberedUA: longer user agents are classified every time, so
	// that the memory stays under 2 * DefaultUserAgents * this many bytes
	// whatever clients send.
	maxRememberedUA = 512
)

// Classifier applies a MachineConfig's rules as its ClassifyOpen and
// ClassifyClick do, with the same results, but remembers the class of the
// user agents it has seen: matching a user agent against the bot list is
// most of the cost of a classification, and real traffic repeats a few
// agents. Its memory is bounded (see DefaultUserAgents). It is safe for
// concurrent use.
type Classifier struct {
	cfg MachineConfig
	uas uaMemory
}

// NewClassifier returns a Classifier with the rules and thresholds of c.
func NewClassifier(c MachineConfig) *Classifier {
	return newClassifier(c, DefaultUserAgents)
}

func newClassifier(c MachineConfig, perGeneration int) *Classifier {
	return &Classifier{cfg: c, uas: uaMemory{limit: max(perGeneration, 1)}}
}

// ClassifyOpen is MachineConfig.ClassifyOpen.
func (c *Classifier) ClassifyOpen(h Hit) (machine bool, reason string) {
	return c.cfg.classifyOpen(h, c.uas.class(h.UserAgent))
}

// ClassifyClick is MachineConfig.ClassifyClick.
func (c *Classifier) ClassifyClick(h Hit) (machine bool, reason string) {
	return c.cfg.classifyClick(h, c.uas.class(h.UserAgent))
}

// uaMemory maps user agents to their class in two generations of at most
// limit entries: new entries go to cur; when cur is full it becomes old and
// a fresh cur starts; a hit in old is copied to cur. Agents in use stay
// remembered, and a flood of one-off agents costs at most two maps.
type uaMemory struct {
	limit int

	mu       sync.RWMutex
	cur, old map[string]uaClass
}

// class returns the class of ua, from memory when it can. ua may point
// into a buffer the caller reuses: a remembered key is a copy.
func (m *uaMemory) class(ua string) uaClass {
	if len(ua) > maxRememberedUA {
		return classifyUA(ua)
	}
	m.mu.RLock()
	c, ok := m.cur[ua]
	inOld := false
	if !ok {
		c, inOld = m.old[ua]
	}
	m.mu.RUnlock()
	if ok {
		return c
	}
	if !inOld {
		c = classifyUA(ua)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cur == nil || len(m.cur) >= m.limit {
		m.old, m.cur = m.cur, make(map[string]uaClass, min(m.limit, 256))
	}
	m.cur[strings.Clone(ua)] = c
	return c
}

// len returns the user agents remembered, in both generations.
func (m *uaMemory) len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.cur) + len(m.old)
}

// isAppleMPP reports whether ua is the bare "Mozilla/5.0" with which Apple's
// privacy proxy fetches images. Real Apple Mail sends a full user agent
// ("Mozilla/5.0 (iPhone; ...) AppleWebKit/605.1.15 (KHTML, like Gecko)
// Mobile/15E148"), so it is not caught here.
func isAppleMPP(ua string) bool {
	return strings.EqualFold(strings.TrimSpace(ua), "Mozilla/5.0")
}

// imageProxies are substrings, lower case, of webmail image proxy agents.
var imageProxies = []string{
	"googleimageproxy", // Gmail: "... (via ggpht.com GoogleImageProxy)"
	"yahoomailproxy",   // Yahoo and AOL
	"ymailproxy",
}

func isImageProxy(ua string) bool {
	return containsAny(strings.ToLower(ua), imageProxies)
}

// botAgents are substrings, lower case, of user agents that are never a
// person reading mail: crawlers, link previewers, HTTP libraries, headless
// browsers and mail security gateways that fetch links to check them.
var botAgents = []string{
	// Generic: Googlebot, bingbot, Slackbot-LinkExpanding, AhrefsBot...
	"bot", "crawl", "spider", "scanner",
	// Link previews in chat apps, when a tracked link is shared.
	"facebookexternalhit", "whatsapp/", "skypeuripreview", "embedly",
	// HTTP libraries and tools.
	"curl/", "wget/", "python-requests", "python-urllib", "python-httpx", "aiohttp",
	"go-http-client", "okhttp", "java/", "apache-httpclient", "libwww-perl",
	"node-fetch", "axios/", "httpclient", "postmanruntime", "powershell",
	// Headless and automated browsers.
	"headlesschrome", "phantomjs", "puppeteer", "playwright", "selenium",
	// Mail security gateways.
	"barracuda", "mimecast", "proofpoint", "ironport", "messagelabs", "symantec",
	"trendmicro", "trend micro", "fortiguard", "forcepoint", "sophos", "zscaler",
	"safelinks", "appriver", "cloudmark", "mailscanner",
}

// notBots are user agents, lower case, that contain a botAgents entry by
// accident; they are blanked out before matching.
var notBots = strings.NewReplacer(
	"cubot", " ", // an Android phone maker: "CUBOT P30"
)

// isBotUA reports whether ua names a machine, or is empty.
func isBotUA(ua string) bool {
	return isBotLower(strings.ToLower(strings.TrimSpace(ua)))
}

// isBotLower is isBotUA of a user agent already trimmed and lower-cased.
func isBotLower(ua string) bool {
	return ua == "" || containsAny(notBots.Replace(ua), botAgents)
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// BurstDetector remembers, per send, which links were clicked when, so that
// a scanner clicking every link of a message within seconds stands out. It
// is bounded: it holds at most MachineConfig.BurstSends sends and, per send,
// only the clicks inside the window, forgetting the least recently clicked
// send first. It keys on a send id, never on an IP. It is safe for
// concurrent use.
type BurstDetector struct {
	now    func() time.Time
	window time.Duration
	limit  int

	mu    sync.Mutex
	sends map[string]*list.Element // of *burstSend
	lru   *list.List               // front: most recently clicked
}

type burstSend struct {
	key    string
	clicks []burstClick // inside the window, oldest first
}

type burstClick struct {
	link int
	at   time.Time
}

// maxClicksPerSend bounds the clicks kept per send: past this many, the
// burst is evident whatever the threshold, and a flood of clicks on one
// send must not grow memory.
const maxClicksPerSend = 64

// NewBurstDetector returns a BurstDetector using c's window and bounds and
// now as its clock (time.Now if nil).
func NewBurstDetector(c MachineConfig, now func() time.Time) *BurstDetector {
	if now == nil {
		now = time.Now
	}
	return &BurstDetector{
		now:    now,
		window: c.burstWindow(),
		limit:  c.burstSends(),
		sends:  make(map[string]*list.Element),
		lru:    list.New(),
	}
}

// Observe records a click on link of the send identified by key and returns
// the number of different links of that send clicked within the window,
// this one included: the Hit.LinksInBurst of the click.
func (d *BurstDetector) Observe(key string, link int) int {
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()

	var s *burstSend
	if e, ok := d.sends[key]; ok {
		d.lru.MoveToFront(e)
		s = e.Value.(*burstSend)
	} else {
		if d.lru.Len() >= d.limit {
			old := d.lru.Back()
			d.lru.Remove(old)
			delete(d.sends, old.Value.(*burstSend).key)
		}
		s = &burstSend{key: key}
		d.sends[key] = d.lru.PushFront(s)
	}

	// Drop clicks that fell out of the window; a clock that went backwards
	// keeps them rather than guessing.
	keep := 0
	for keep < len(s.clicks) && now.Sub(s.clicks[keep].at) > d.window {
		keep++
	}
	s.clicks = append(s.clicks[:0], s.clicks[keep:]...)
	if len(s.clicks) >= maxClicksPerSend {
		s.clicks = append(s.clicks[:0], s.clicks[1:]...)
	}
	s.clicks = append(s.clicks, burstClick{link: link, at: now})

	distinct := 0
	for i, c := range s.clicks {
		seen := false
		for _, p := range s.clicks[:i] {
			if p.link == c.link {
				seen = true
				break
			}
		}
		if !seen {
			distinct++
		}
	}
	return distinct
}

// Len returns the number of sends currently remembered.
func (d *BurstDetector) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lru.Len()
}
