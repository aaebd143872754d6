package fatigue

import (
	"context"
	"hash/maphash"
	"log/slog"
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
	Unit    Key
	Channel experiment.Channel // "" for every channel
	Kind    analytics.Kind
	Time    time.Time
}

// Send is one exposure: a message counted for the caps.
type Send struct {
	Unit    Key
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
	if k, ok := hexKey(id); ok {
		return k
	}
	var h maphash.Hash
	h.SetSeed(sendSeed)
	h.WriteString(id)
	return h.Sum64()
}

// hexKey reads id's 16 hex digits after its 2-byte prefix, eight at a
// time in a word: a table look-up per digit, each shifted into the key
// after the last, was a tenth of a check (and strconv's ParseUint, before
// it, more).
func hexKey(id string) (uint64, bool) {
	if len(id) < 18 {
		return 0, false
	}
	hi, okh := hex8(le64(id[2:10]))
	lo, okl := hex8(le64(id[10:18]))
	return hi<<32 | lo, okh && okl
}

// hex8 is the value of the eight hex digits in w, the first in its low
// byte, and whether all eight are hex digits (either case).
func hex8(w uint64) (uint64, bool) {
	const ones, high = 0x0101010101010101, 0x8080808080808080
	// For bytes below 0x80, x+(0x80-lo) has its high bit set where x >=
	// lo, and x+(0x7f-hi) where x > hi; no byte carries into the next.
	ge := func(x uint64, lo byte) uint64 { return (x + ones*uint64(0x80-lo)) & high }
	gt := func(x uint64, hi byte) uint64 { return (x + ones*uint64(0x7f-hi)) & high }
	digit := ge(w, '0') &^ gt(w, '9')
	l := w | ones*0x20 // 'A'-'F' as 'a'-'f'; nothing else lands there
	alpha := ge(l, 'a') &^ gt(l, 'f')
	if w&high != 0 || digit|alpha != high {
		return 0, false
	}
	x := w&(ones*0x0f) + (alpha>>7)*9
	// Pack the nibbles, first digit highest: pairs, then fours, then all.
	x = (x&0x000F000F000F000F)<<4 | (x&0x0F000F000F000F00)>>8
	x = (x&0x000000FF000000FF)<<8 | (x&0x00FF000000FF0000)>>16
	x = (x&0x000000000000FFFF)<<16 | (x&0x0000FFFF00000000)>>32
	return x, true
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
	cfg Config
	// totalWin and chWin are the caps' windows in seconds (0: off).
	totalWin, chWin uint32
	shards          [nShards]shard
	mu              sync.Mutex // serialises refreshes
	mark            time.Time
	swept           time.Time // the last sweep
}

const nShards = 16

// shard holds the state of the units whose key falls in it, under its
// lock: one lock per send, rarely contended across 16 shards (fewer
// shards make larger tables, which reach the size mapped in 2 MB pages
// sooner: see hugePage).
type shard struct {
	mu   sync.Mutex
	subs map[Key]subscription
	sent table
	_    [64]byte // neighbouring shards' locks never share a cache line
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
	g := &Gate{cfg: cfg, totalWin: seconds(cfg.Policy.Total), chWin: seconds(cfg.Policy.PerChannel)}
	for i := range g.shards {
		g.shards[i].subs = map[Key]subscription{}
	}
	return g
}

// Policy returns the gate's policy.
func (g *Gate) Policy() Policy { return g.cfg.Policy }

// seconds is c's window in seconds, 0 when it is off; a window beyond
// what 32 bits of seconds hold (136 years) is cut to it.
func seconds(c Cap) uint32 {
	if !c.On() {
		return 0
	}
	return uint32(min(c.Window/time.Second, 1<<32-1))
}

func (g *Gate) shard(k Key) *shard { return &g.shards[k%nShards] }

// Prefetch returns unit's key and starts loading its cap state into the
// CPU's caches without waiting for it, so that AdmitKey, called with the
// key after the assignment, finds it there: on a state larger than the
// caches, that load is the check's one miss, a few hundred nanoseconds
// that then overlap with the assignment's own work instead of adding to it.
func (g *Gate) Prefetch(unit string) Key {
	k := KeyOf(unit)
	if g.totalWin != 0 || g.chWin != 0 {
		g.shard(k).sent.prefetch(tableKey(k))
	}
	return k
}

// Admit is AdmitKey with unit's key.
func (g *Gate) Admit(unit string, t assign.Target, sendID string, now time.Time) Verdict {
	return g.AdmitKey(KeyOf(unit), unit, t, sendID, now)
}

// AdmitKey decides whether the send with exposure id sendID of unit (whose
// Key is k), on t's channel with t's cap override, may go out at now, and
// if so counts it for the caps at once (before it is logged: two sends of
// the unit racing on this server cannot both take the last slot). A send
// already counted (a retry of the same send id) is admitted again without
// counting twice. A suppressed send counts nothing.
func (g *Gate) AdmitKey(k Key, unit string, t assign.Target, sendID string, now time.Time) Verdict {
	p := &g.cfg.Policy
	if p.GlobalControl > 0 && assign.InGlobalControl(p.GlobalControlSalt, unit, p.GlobalControl) {
		return Verdict{Reason: GlobalControl}
	}
	ch := t.Channel.Index()
	if ch < 0 {
		ch = 0 // unreachable: channels are checked at the edge
	}
	id := uint32(SendKey(sendID))
	sh := g.shard(k)
	sh.mu.Lock()
	v := g.admit(sh, k, ch, t.Cap, id, uint32(now.Unix()))
	sh.mu.Unlock()
	return v
}

// admit is AdmitKey under the shard's lock.
func (g *Gate) admit(sh *shard, k Key, ch int, o *experiment.CapOverride, id, now uint32) Verdict {
	if len(sh.subs) > 0 {
		if s, ok := sh.subs[k]; ok {
			if r := s.reason(ch); r != Admitted {
				return Verdict{Reason: r}
			}
		}
	}
	if g.totalWin == 0 && g.chWin == 0 {
		return Verdict{}
	}
	key := tableKey(k)
	s, found := sh.sent.find(key)
	var none recent
	r := &none
	if found {
		if s.r.has(id) {
			return Verdict{}
		}
		r = &s.r
	}
	p := &g.cfg.Policy
	total, perChannel := p.limits(o)
	nTotal, nCh := r.counts(now, g.totalWin, g.chWin, ch)
	if g.totalWin != 0 && nTotal >= total {
		return capVerdict(TotalCap, total, p.Total.Window, r.eligible(now, g.totalWin, total, -1))
	}
	if g.chWin != 0 && nCh >= perChannel {
		return capVerdict(PerChannelCap, perChannel, p.PerChannel.Window, r.eligible(now, g.chWin, perChannel, ch))
	}
	r.add(now, id, ch)
	if !found {
		sh.sent.insert(s, key, none)
	}
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
			g.signal(Signal{Unit: KeyOf(e.Unit), Channel: experiment.Channel(e.Channel), Kind: e.Kind, Time: e.Time})
		}
	}
}

func (g *Gate) signal(s Signal) {
	sh := g.shard(s.Unit)
	sh.mu.Lock()
	sub := sh.subs[s.Unit]
	sub.apply(s.Kind, s.Channel, uint32(s.Time.Unix()))
	sh.subs[s.Unit] = sub
	sh.mu.Unlock()
}

// count counts sends read from the event store, each once (a send this
// server admitted is read back too). They are taken shard by shard, one
// lock each, in the order read (by key: the reader sorts them, so a
// shard's run walks its table from start to end), a few sends ahead
// prefetched: a lock per send would order the table's cache misses one
// after the other (a locked instruction waits for the loads before it),
// where a shard's run lets them overlap.
func (g *Gate) count(sends []Send) {
	var start [nShards + 1]int
	for i := range sends {
		start[sends[i].Unit%nShards+1]++
	}
	for i := 1; i <= nShards; i++ {
		start[i] += start[i-1]
	}
	order := make([]int32, len(sends))
	next := start
	for i := range sends {
		j := sends[i].Unit % nShards
		order[next[j]] = int32(i)
		next[j]++
	}
	const ahead = 8
	for si := range g.shards {
		sh := &g.shards[si]
		run := order[start[si]:start[si+1]]
		sh.mu.Lock()
		for j, i := range run {
			if j+ahead < len(run) {
				sh.sent.prefetch(tableKey(sends[run[j+ahead]].Unit))
			}
			s := &sends[i]
			ch := s.Channel.Index()
			if ch < 0 {
				ch = 0 // an exposure without a channel counts on email's
			}
			key, id := tableKey(s.Unit), uint32(s.ID)
			slot, found := sh.sent.find(key)
			switch {
			case !found:
				var r recent
				r.add(uint32(s.Time.Unix()), id, ch)
				sh.sent.insert(slot, key, r)
			case !slot.r.has(id):
				slot.r.add(uint32(s.Time.Unix()), id, ch)
			}
		}
		sh.mu.Unlock()
	}
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
		g.count(b.Sends)
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
