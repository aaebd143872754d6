package fatigue

import (
	"context"
	"hash/maphash"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/assign"
	"github.com/splitcast/splitcast/experiment"
)

// Verdict is the answer for one send: Reason is "" when the unit may be
// sent to; otherwise it says why not, and for a frequency cap which one
// (Cap, "total" or "per_channel"), its limit and window, and when the unit
// becomes eligible again: the moment its oldest counted message leaves the
// window, as far as this server knows (zero: never, for a limit of 0). It
// is small and holds no pointer, so that returning it costs little.
type Verdict struct {
	Reason     Reason
	Cap        CapName
	Limit      int32
	Window     time.Duration
	EligibleAt int64 // Unix seconds
}

// Reason is why a send is suppressed; the zero Reason admits it.
type Reason uint8

// The reasons, as String names them.
const (
	Admitted Reason = iota
	Unsubscribed
	Complained
	FrequencyCap
	GlobalControl
)

var reasonNames = [...]string{"", ReasonUnsubscribed, ReasonComplained, ReasonFrequencyCap, ReasonGlobalControl}

// String is the reason's name in answers and events ("" when admitted).
func (r Reason) String() string { return reasonNames[r] }

// CapName names a frequency cap; the zero CapName is none.
type CapName uint8

// The caps.
const (
	NoCap CapName = iota
	TotalCap
	PerChannelCap
)

var capNames = [...]string{"", CapTotal, CapPerChannel}

// String is the cap's name in answers ("" for none).
func (c CapName) String() string { return capNames[c] }

// Suppressed reports whether the send must not go out.
func (v Verdict) Suppressed() bool { return v.Reason != Admitted }

// Eligible returns EligibleAt as a time, zero when never.
func (v Verdict) Eligible() time.Time {
	if v.EligibleAt == 0 {
		return time.Time{}
	}
	return time.Unix(v.EligibleAt, 0).UTC()
}

// Reader reads from the event store what other servers (and this one, in
// the past) recorded: the suppression signals and the recent sends. Since
// is the mark of the previous read (zero: everything); the returned mark
// is the next read's. Sends older than from are left out.
// Implementation: analytics/clickhouse FatigueReader.
type Reader interface {
	Fatigue(ctx context.Context, since, from time.Time) (Batch, time.Time, error)
}

// Batch is what one read of the event store found.
type Batch struct {
	// Signals are unsubscribes, complaints and resubscribes; several of
	// one unit, channel and kind may be given by their latest time only.
	Signals []Signal
	// Sends are exposures, each once or more (by ID).
	Sends []Send
}

// Signal is one unsubscribe, complaint or resubscribe.
type Signal struct {
	Unit    string
	Channel experiment.Channel // "" for every channel
	Kind    analytics.Kind
	Time    time.Time
}

// Send is one exposure: a message counted for the caps.
type Send struct {
	Unit    string
	Channel experiment.Channel
	// ID is the exposure's event id as SendKey gives it: copies count once.
	ID   uint64
	Time time.Time
}

// SendKey is the key of an exposure's event id ("x:" and 32 hex digits):
// its first 16 hex digits as a number, which the event store computes as
// well (reinterpretAsUInt64(reverse(unhex(substring(event_id, 3, 16))))),
// so that a send read back is known as the one counted. An id of another
// shape (none is made) is hashed instead.
func SendKey(id string) uint64 {
	if len(id) >= 18 {
		if k, err := strconv.ParseUint(id[2:18], 16, 64); err == nil {
			return k
		}
	}
	var h maphash.Hash
	h.SetSeed(sendSeed)
	h.WriteString(id)
	return h.Sum64()
}

// sendSeed seeds SendKey's fallback; only this process compares its keys.
var sendSeed = maphash.MakeSeed()

// Config configures a Gate.
type Config struct {
	Policy Policy
	// Reader is the event store; nil keeps only this server's own state.
	Reader Reader
	// Interval is how often Run refreshes from Reader (default 5s, the
	// trait refresh's).
	Interval time.Duration
	Logger   *slog.Logger
	// Now tells the time of refreshes (default time.Now); Admit is given
	// its time by the caller.
	Now func() time.Time
}

// Gate is the fatigue state of one server and the decision made from it.
type Gate struct {
	cfg    Config
	seed   maphash.Seed
	shards [nShards]shard
	mu     sync.Mutex // serialises refreshes
	mark   time.Time
	swept  time.Time // the last sweep
}

const nShards = 64

// shard holds the state of the units whose hash falls in it, under its
// lock: one lock per send, rarely contended across 64 shards.
type shard struct {
	mu   sync.Mutex
	subs map[uint64]subscription
	sent table
	_    [16]byte // a shard is one cache line: neighbouring locks never share one
}

// NewGate returns a Gate with an empty state.
func NewGate(cfg Config) *Gate {
	if cfg.Interval == 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Policy.GlobalControlSalt == "" {
		cfg.Policy.GlobalControlSalt = DefaultGlobalControlSalt
	}
	g := &Gate{cfg: cfg, seed: maphash.MakeSeed()}
	for i := range g.shards {
		g.shards[i].subs = map[uint64]subscription{}
	}
	return g
}

// Policy returns the gate's policy.
func (g *Gate) Policy() Policy { return g.cfg.Policy }

func (g *Gate) shard(h uint64) *shard { return &g.shards[h%nShards] }

// Admit decides whether the send with exposure id sendID of unit, on t's
// channel with t's cap override, may go out at now, and if so counts it
// for the caps at once (before it is logged: two sends of the unit racing
// on this server cannot both take the last slot). A send already counted
// (a retry of the same send id) is admitted again without counting twice.
// A suppressed send counts nothing.
func (g *Gate) Admit(unit string, t assign.Target, sendID string, now time.Time) Verdict {
	p := &g.cfg.Policy
	if p.GlobalControl > 0 && assign.InGlobalControl(p.GlobalControlSalt, unit, p.GlobalControl) {
		return Verdict{Reason: GlobalControl}
	}
	ch := t.Channel.Index()
	if ch < 0 {
		ch = 0 // unreachable: channels are checked at the edge
	}
	h := maphash.String(g.seed, unit)
	sh := g.shard(h)
	sh.mu.Lock()
	v := sh.admit(p, h, ch, t.Cap, sendID, now)
	sh.mu.Unlock()
	return v
}

// admit is Admit under the shard's lock.
func (sh *shard) admit(p *Policy, h uint64, ch int, o *experiment.CapOverride, sendID string, now time.Time) Verdict {
	if len(sh.subs) > 0 {
		if s, ok := sh.subs[h]; ok {
			if r := s.reason(ch); r != Admitted {
				return Verdict{Reason: r}
			}
		}
	}
	if !p.Total.On() && !p.PerChannel.On() {
		return Verdict{}
	}
	r := sh.sent.get(tableKey(h))
	id := uint32(SendKey(sendID))
	if r.has(id) {
		return Verdict{}
	}
	total, perChannel := p.limits(o)
	sec := uint32(now.Unix())
	if p.Total.On() {
		if at, over := r.over(sec, p.Total, total, -1); over {
			return capVerdict(TotalCap, total, p.Total.Window, at)
		}
	}
	if p.PerChannel.On() {
		if at, over := r.over(sec, p.PerChannel, perChannel, ch); over {
			return capVerdict(PerChannelCap, perChannel, p.PerChannel.Window, at)
		}
	}
	r.add(sec, id, ch)
	sh.sent.put(tableKey(h), r)
	return Verdict{}
}

func capVerdict(name CapName, limit int, window time.Duration, eligible uint32) Verdict {
	return Verdict{Reason: FrequencyCap, Cap: name, Limit: int32(limit), Window: window, EligibleAt: int64(eligible)}
}

// Observe applies events this server accepted at once: its own
// unsubscribes, complaints and resubscribes take effect before the next
// refresh. Other kinds are left alone (exposures were counted by Admit).
func (g *Gate) Observe(events []analytics.Event) {
	for i := range events {
		e := &events[i]
		switch e.Kind {
		case analytics.KindUnsubscribe, analytics.KindComplaint, analytics.KindResubscribe:
			g.signal(Signal{Unit: e.Unit, Channel: experiment.Channel(e.Channel), Kind: e.Kind, Time: e.Time})
		}
	}
}

func (g *Gate) signal(s Signal) {
	h := maphash.String(g.seed, s.Unit)
	sh := g.shard(h)
	sh.mu.Lock()
	sub := sh.subs[h]
	sub.apply(s.Kind, s.Channel, uint32(s.Time.Unix()))
	sh.subs[h] = sub
	sh.mu.Unlock()
}

func (g *Gate) send(s Send) {
	ch := s.Channel.Index()
	if ch < 0 {
		ch = 0 // an exposure without a channel counts on email's
	}
	h := maphash.String(g.seed, s.Unit)
	id := uint32(s.ID)
	sh := g.shard(h)
	sh.mu.Lock()
	if r := sh.sent.get(tableKey(h)); !r.has(id) {
		r.add(uint32(s.Time.Unix()), id, ch)
		sh.sent.put(tableKey(h), r)
	}
	sh.mu.Unlock()
}

// Refresh reads what the event store gained since the last refresh (all of
// it the first time) and applies it, then forgets sends older than every
// cap window.
func (g *Gate) Refresh(ctx context.Context) error {
	if g.cfg.Reader == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var from time.Time // zero: no sends to read without caps
	if w := g.cfg.Policy.Window(); w > 0 {
		from = g.cfg.Now().Add(-w)
	}
	b, mark, err := g.cfg.Reader.Fatigue(ctx, g.mark, from)
	if err != nil {
		return err
	}
	for _, s := range b.Signals {
		g.signal(s)
	}
	if g.cfg.Policy.Window() > 0 {
		for _, s := range b.Sends {
			g.send(s)
		}
		// The sweep walks every unit: once a minute is enough to bound
		// the state by the units sent to within the window.
		if now := g.cfg.Now(); now.Sub(g.swept) >= time.Minute {
			g.sweep(uint32(from.Unix()))
			g.swept = now
		}
	}
	g.mark = mark
	return nil
}

// sweep forgets the units whose every counted send is before from.
func (g *Gate) sweep(from uint32) {
	for i := range g.shards {
		sh := &g.shards[i]
		sh.mu.Lock()
		sh.sent.sweep(from)
		sh.mu.Unlock()
	}
}

// Run refreshes every Interval until ctx ends, logging failures (the state
// then stays as it was, and the next refresh reads from the same mark).
func (g *Gate) Run(ctx context.Context) {
	t := time.NewTicker(g.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := g.Refresh(ctx); err != nil && ctx.Err() == nil {
				g.cfg.Logger.Warn("refresh fatigue state", "err", err)
			}
		}
	}
}

// Logger wraps an analytics.Logger so that the events it accepts are
// observed by Gate at once (see Gate.Observe).
type Logger struct {
	analytics.Logger
	Gate *Gate
}

// Log logs events and, once they are durable, observes them.
func (l Logger) Log(ctx context.Context, events ...analytics.Event) error {
	if err := l.Logger.Log(ctx, events...); err != nil {
		return err
	}
	l.Gate.Observe(events)
	return nil
}
