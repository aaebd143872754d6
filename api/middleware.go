package api

import (
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/cors"
)

// Rate is a token bucket: PerSecond requests per second on average, up to
// Burst at once. PerSecond <= 0 means no limit.
type Rate struct {
	PerSecond float64
	// Burst defaults to twice PerSecond, and at least 1.
	Burst int
}

// RateLimits are the request limits of the API. Zero values mean no limit.
type RateLimits struct {
	// PerKey limits each API key, on every route that takes one.
	PerKey Rate
	// PerIP limits each client address (IPv6 by /64) on the /v1 routes,
	// before the key is checked, so that guessing keys is throttled too.
	// The pixel and the click redirect are not limited: mail privacy
	// proxies and corporate NATs send many recipients' opens from a few
	// addresses, and a refused pixel or redirect is a broken message.
	PerIP Rate
	// FailedAuthPerIP limits the failed authentications of each client
	// address on every route that takes a key (the report page's ?key=
	// and /debug/pprof/ included): once its bucket is empty, the address
	// gets 429 before its key is even looked at, so guessing is slow
	// everywhere, whatever the other limits.
	FailedAuthPerIP Rate
}

// maxBuckets bounds a limiter's memory: past it, idle buckets are swept.
const maxBuckets = 1 << 20

// limiter is a set of token buckets by key, in memory only (an address
// used as a key is never written anywhere). A nil limiter allows all.
type limiter struct {
	rate, burst float64
	now         func() time.Time

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(r Rate, now func() time.Time) *limiter {
	if r.PerSecond <= 0 {
		return nil
	}
	burst := float64(r.Burst)
	if r.Burst <= 0 {
		burst = math.Max(1, math.Ceil(2*r.PerSecond))
	}
	return &limiter{rate: r.PerSecond, burst: burst, now: now, buckets: map[string]*bucket{}, lastSweep: now()}
}

// allow takes one token from key's bucket, or says how long until one is
// there.
func (l *limiter) allow(key string) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > time.Minute || len(l.buckets) >= maxBuckets {
		l.sweep(now)
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	} else if d := now.Sub(b.at); d > 0 {
		b.tokens = math.Min(l.burst, b.tokens+d.Seconds()*l.rate)
		b.at = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// empty reports whether key's bucket has no token now (and how long until
// it has one), without taking one.
func (l *limiter) empty(key string) (bool, time.Duration) {
	if l == nil {
		return false, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		return false, 0
	}
	tokens := math.Min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
	if tokens >= 1 {
		return false, 0
	}
	return true, time.Duration((1 - tokens) / l.rate * float64(time.Second))
}

// sweep forgets buckets that have refilled: a new bucket is full too.
func (l *limiter) sweep(now time.Time) {
	full := time.Duration(l.burst / l.rate * float64(time.Second))
	for k, b := range l.buckets {
		if now.Sub(b.at) >= full {
			delete(l.buckets, k)
		}
	}
	l.lastSweep = now
}

// tooManyRequests answers 429 with Retry-After in whole seconds, rounded up.
func tooManyRequests(c *fiber.Ctx, wait time.Duration, who string) error {
	secs := int(math.Ceil(wait.Seconds()))
	c.Set(fiber.HeaderRetryAfter, strconv.Itoa(max(secs, 1)))
	return c.Status(fiber.StatusTooManyRequests).JSON(errorBody{errorDetail{
		Code: codeRateLimited, Message: "rate limit exceeded for " + who + "; retry after the Retry-After seconds",
	}})
}

// codeRateLimited is the error code of a 429. It is an API concern only,
// so it lives here rather than among the domain's codes.
const codeRateLimited = "rate_limited"

// limitIP is the per-address limiter of the /v1 routes.
func (s *Server) limitIP(c *fiber.Ctx) error {
	if s.perIP == nil {
		return c.Next() // no limit: skip copying and parsing the address
	}
	// The address is copied: from a proxy header it points into a reused buffer.
	if ok, wait := s.perIP.allow(clientNet(strings.Clone(c.IP()))); !ok {
		return tooManyRequests(c, wait, "this address")
	}
	return c.Next()
}

// clientNet is the limiter key of an address: the address itself for IPv4,
// its /64 for IPv6, where one client commonly holds a whole /64.
func clientNet(ip string) string {
	p := net.ParseIP(ip)
	if p == nil || p.To4() != nil {
		return ip
	}
	return p.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// sdkPaths are the routes browsers may call from other origins when CORS
// is configured: in-app messages assign and report from the page itself.
var sdkPaths = []string{"/v1/assign", "/v1/snapshot", "/v1/links", "/v1/render", "/v1/events", "/v1/track"}

// corsHandler answers preflights and sets the CORS headers on the SDK
// routes for the configured origins; nil when none are configured, so
// browsers keep refusing cross-origin calls.
func (s *Server) corsHandler() fiber.Handler {
	if len(s.cfg.CORSOrigins) == 0 {
		return nil
	}
	return cors.New(cors.Config{
		AllowOrigins:  strings.Join(s.cfg.CORSOrigins, ","),
		AllowMethods:  "GET,POST",
		AllowHeaders:  "Authorization,Content-Type,X-Request-ID",
		ExposeHeaders: "X-Request-ID,Retry-After",
		MaxAge:        600,
	})
}
