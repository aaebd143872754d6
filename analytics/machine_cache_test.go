package analytics

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"
)

// refUAClass is the class of ua from the per-agent predicates that the
// rules called on every request before the Classifier remembered agents,
// each trimming and lower-casing on its own: the reference that
// classifyUA, which lower-cases once, and the Classifier's memory must
// agree with. The rules that read the class are shared: their order and
// thresholds are pinned by TestClassifyOpen and TestClassifyClick, so a
// copy of them here would only have to change with them.
func refUAClass(ua string) uaClass {
	var c uaClass
	if isBotUA(ua) {
		c |= uaBot
	}
	if isAppleMPP(ua) {
		c |= uaAppleMPP
	}
	if isImageProxy(ua) {
		c |= uaImageProxy
	}
	return c
}

// refClassifyOpen and refClassifyClick are the rules on refUAClass.
func refClassifyOpen(c MachineConfig, h Hit) (bool, string) {
	return c.classifyOpen(h, refUAClass(h.UserAgent))
}

func refClassifyClick(c MachineConfig, h Hit) (bool, string) {
	return c.classifyClick(h, refUAClass(h.UserAgent))
}

// machineUAs are the user agents of the tests, and the awkward ones: case,
// padding, non-ASCII letters that lower-case to ASCII (the Kelvin sign K),
// "cubot" next to a bot word, and agents too long to be remembered.
var machineUAs = []string{
	"", " ", "\t\n", uaIPhoneMail, uaMacMail, uaChrome, uaOutlook, uaCubot, uaGmailProxy, uaYahooProxy,
	uaHeadless, uaBarracuda, uaGooglebot, uaSlack, uaCurl, uaPython, uaGo, uaMimecast, uaProofpoint,
	uaFacebookHit, "Mozilla/5.0", " mozilla/5.0 ", "MOZILLA/5.0\u00a0", "Mozilla/5.0 ", "Mozilla/5.1",
	"CUBOT", "cubotbot", "trendcubotmicro", "Trend Micro", "ROBOT", "Crawler", "\u212aubot x",
	"java/1.8", "JAVA/", "ymailproxy", "YMailProxy", "googleimageproxy \u00e9",
	strings.Repeat("a", maxRememberedUA), strings.Repeat("a", maxRememberedUA) + "bot",
	strings.Repeat("Mozilla/5.0 ", 100),
}

func machineConfigs() []MachineConfig {
	return []MachineConfig{
		{},
		{ImageProxyIsMachine: true, FastOpen: 2 * time.Second},
		{FastClick: -1, BurstLinks: 10},
		{FastClick: time.Minute, BurstWindow: time.Second},
	}
}

// TestClassifierMatchesRules: a Classifier, even one that forgets after
// three agents, answers as MachineConfig's methods and as the reference,
// for every agent, method, delay and burst, asked twice (the second time
// from memory).
func TestClassifierMatchesRules(t *testing.T) {
	for _, cfg := range machineConfigs() {
		cl := newClassifier(cfg, 3)
		for round := range 2 {
			for _, ua := range machineUAs {
				for _, method := range []string{"GET", "HEAD", "head", ""} {
					for _, since := range []time.Duration{-time.Hour, 0, time.Second, 9 * time.Second, 10 * time.Second, time.Hour} {
						for _, links := range []int{0, 1, 2, 3, 10} {
							h := Hit{UserAgent: ua, Method: method, SinceSend: since, LinksInBurst: links}
							wm, wr := refClassifyOpen(cfg, h)
							if m, r := cfg.ClassifyOpen(h); m != wm || r != wr {
								t.Fatalf("%+v.ClassifyOpen(%+v) = %v, %q, want %v, %q", cfg, h, m, r, wm, wr)
							}
							if m, r := cl.ClassifyOpen(h); m != wm || r != wr {
								t.Fatalf("Classifier(%+v).ClassifyOpen(%+v) round %d = %v, %q, want %v, %q", cfg, h, round, m, r, wm, wr)
							}
							wm, wr = refClassifyClick(cfg, h)
							if m, r := cfg.ClassifyClick(h); m != wm || r != wr {
								t.Fatalf("%+v.ClassifyClick(%+v) = %v, %q, want %v, %q", cfg, h, m, r, wm, wr)
							}
							if m, r := cl.ClassifyClick(h); m != wm || r != wr {
								t.Fatalf("Classifier(%+v).ClassifyClick(%+v) round %d = %v, %q, want %v, %q", cfg, h, round, m, r, wm, wr)
							}
						}
					}
				}
			}
		}
	}
}

// TestClassifierMemoryBounded: a flood of distinct agents keeps at most two
// generations; long agents are never kept; an agent in use survives the
// flood.
func TestClassifierMemoryBounded(t *testing.T) {
	cl := newClassifier(MachineConfig{}, 8)
	for i := range 1000 {
		cl.ClassifyOpen(Hit{UserAgent: fmt.Sprintf("agent-%d", i)})
		if i%4 == 0 {
			cl.ClassifyOpen(Hit{UserAgent: uaChrome})
		}
		if n := cl.uas.len(); n > 16 {
			t.Fatalf("after %d agents the Classifier remembers %d, want at most 16", i+1, n)
		}
	}
	cl.uas.mu.RLock()
	_, inCur := cl.uas.cur[uaChrome]
	_, inOld := cl.uas.old[uaChrome]
	cl.uas.mu.RUnlock()
	if !inCur && !inOld {
		t.Errorf("an agent asked for every fourth request was forgotten")
	}

	long := strings.Repeat("x", maxRememberedUA+1)
	cl.ClassifyOpen(Hit{UserAgent: long})
	cl.uas.mu.RLock()
	_, kept := cl.uas.cur[long]
	cl.uas.mu.RUnlock()
	if kept {
		t.Errorf("a %d-byte agent was remembered", len(long))
	}
}

// TestClassifierCopiesKeys: servers hand over user agents that point into
// a buffer reused by the next request; what the Classifier keeps must not
// change with it.
func TestClassifierCopiesKeys(t *testing.T) {
	cl := NewClassifier(MachineConfig{})
	buf := []byte(uaGooglebot)
	ua := unsafeString(buf)
	if _, r := cl.ClassifyOpen(Hit{UserAgent: ua, Method: "GET"}); r != ReasonBotUA {
		t.Fatalf("ClassifyOpen(googlebot) = %q, want %q", r, ReasonBotUA)
	}
	copy(buf, uaChrome) // the next request's agent, in the same buffer
	if m, r := cl.ClassifyOpen(Hit{UserAgent: uaGooglebot, Method: "GET"}); r != ReasonBotUA {
		t.Errorf("ClassifyOpen(googlebot) after its buffer was reused = %v, %q, want %q", m, r, ReasonBotUA)
	}
}

// TestClassifierConcurrent runs the classifier from many goroutines, with
// generations turning over, for the race detector and for the answers.
func TestClassifierConcurrent(t *testing.T) {
	cl := newClassifier(MachineConfig{}, 5)
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				ua := machineUAs[(i*7+g)%len(machineUAs)]
				h := Hit{UserAgent: ua, Method: "GET", SinceSend: time.Hour}
				wm, wr := refClassifyOpen(MachineConfig{}, h)
				if m, r := cl.ClassifyOpen(h); m != wm || r != wr {
					errs <- fmt.Sprintf("ClassifyOpen(%q) = %v, %q, want %v, %q", ua, m, r, wm, wr)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// FuzzClassifier: MachineConfig's rules and a forgetful Classifier agree
// with the reference on any agent and method.
func FuzzClassifier(f *testing.F) {
	for i, ua := range machineUAs {
		f.Add(ua, "GET", int64(i)*int64(time.Second), i%5, i%2 == 0)
	}
	f.Add("x", "HEAD", int64(0), 0, false)
	cls := map[bool]*Classifier{}
	for _, proxy := range []bool{false, true} {
		cls[proxy] = newClassifier(MachineConfig{ImageProxyIsMachine: proxy}, 4)
	}
	f.Fuzz(func(t *testing.T, ua, method string, since int64, links int, proxy bool) {
		cfg := MachineConfig{ImageProxyIsMachine: proxy}
		h := Hit{UserAgent: ua, Method: method, SinceSend: time.Duration(since), LinksInBurst: links}
		for range 2 {
			wm, wr := refClassifyOpen(cfg, h)
			if m, r := cfg.ClassifyOpen(h); m != wm || r != wr {
				t.Fatalf("ClassifyOpen(%+v) = %v, %q, want %v, %q", h, m, r, wm, wr)
			}
			if m, r := cls[proxy].ClassifyOpen(h); m != wm || r != wr {
				t.Fatalf("Classifier.ClassifyOpen(%+v) = %v, %q, want %v, %q", h, m, r, wm, wr)
			}
			wm, wr = refClassifyClick(cfg, h)
			if m, r := cls[proxy].ClassifyClick(h); m != wm || r != wr {
				t.Fatalf("Classifier.ClassifyClick(%+v) = %v, %q, want %v, %q", h, m, r, wm, wr)
			}
		}
	})
}

// BenchmarkClassifyOpen compares the rules computed on every call with a
// Classifier that remembers agents, on a common browser agent.
func BenchmarkClassifyOpen(b *testing.B) {
	h := Hit{UserAgent: uaChrome, Method: "GET", SinceSend: time.Hour}
	b.Run("rules", func(b *testing.B) {
		b.ReportAllocs()
		var c MachineConfig
		for b.Loop() {
			if m, _ := c.ClassifyOpen(h); m {
				b.Fatal("chrome classified as machine")
			}
		}
	})
	b.Run("classifier", func(b *testing.B) {
		b.ReportAllocs()
		c := NewClassifier(MachineConfig{})
		for b.Loop() {
			if m, _ := c.ClassifyOpen(h); m {
				b.Fatal("chrome classified as machine")
			}
		}
	})
}

// unsafeString is b as a string without a copy, as fasthttp hands headers
// to Fiber handlers.
func unsafeString(b []byte) string { return unsafe.String(&b[0], len(b)) }
