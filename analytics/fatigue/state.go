package fatigue

import (
	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/experiment"
)

// subscription is a unit's suppression per channel (experiment.Channel
// Index): the time of the latest signal and what it was. The latest signal
// wins; at the same second, a complaint beats an unsubscribe, which beats
// a resubscribe, so that applying signals in any order gives one state.
type subscription struct {
	at   [4]uint32
	kind [4]uint8
}

// The signal codes of subscription.kind, in the order that breaks ties.
const (
	subOpen uint8 = iota // never suppressed, or resubscribed
	subUnsubscribed
	subComplained
)

func (s *subscription) apply(kind analytics.Kind, ch experiment.Channel, at uint32) {
	code := subOpen
	switch kind {
	case analytics.KindUnsubscribe:
		code = subUnsubscribed
	case analytics.KindComplaint:
		code = subComplained
	}
	lo, hi := 0, 4
	if i := ch.Index(); i >= 0 {
		lo, hi = i, i+1
	} else if ch != "" {
		return // an unknown channel (the edge refuses them) is none of ours
	}
	for i := lo; i < hi; i++ {
		if at > s.at[i] || at == s.at[i] && code > s.kind[i] {
			s.at[i], s.kind[i] = at, code
		}
	}
}

// reason is why channel ch is suppressed, or Admitted.
func (s *subscription) reason(ch int) Reason {
	switch s.kind[ch] {
	case subUnsubscribed:
		return Unsubscribed
	case subComplained:
		return Complained
	}
	return Admitted
}

// recent is a unit's most recent counted sends, each packed in a word:
// the send's second in the top 32 bits, 30 bits of its id's hash, and the
// channel index in the low 2. A zero word is an empty slot. Keeping the
// MaxCapLimit most recent decides both caps exactly as long as the limits
// are at most MaxCapLimit and the per-channel window is within the total
// one (Policy.Validate): a per-channel send pushed out is older than
// MaxCapLimit sends that are all in the total window, which is then over
// its limit anyway. Without a total cap, a channel's sends can be pushed
// out by MaxCapLimit newer sends on other channels within its window.
type recent [experiment.MaxCapLimit]uint64

func pack(at, id uint32, ch int) uint64 {
	return uint64(at)<<32 | uint64(id&^3) | uint64(ch&3)
}

func (r *recent) has(id uint32) bool {
	for _, w := range r {
		if w != 0 && uint32(w)&^3 == id&^3 {
			return true
		}
	}
	return false
}

// add counts a send, in place of the oldest when every slot is taken.
func (r *recent) add(at, id uint32, ch int) {
	oldest := 0
	for i, w := range r {
		if w == 0 {
			oldest = i
			break
		}
		if w>>32 < r[oldest]>>32 {
			oldest = i
		}
	}
	r[oldest] = pack(at, id, ch)
}

func (r *recent) newest() uint32 {
	var n uint32
	for _, w := range r {
		n = max(n, uint32(w>>32))
	}
	return n
}

// inWindow reports whether a send at second at is within a window of win
// seconds before now (a send stamped after now, by another server's clock,
// is).
func inWindow(at, win, now uint32) bool { return uint64(at)+uint64(win) > uint64(now) }

// counts are the sends within totalWin seconds before now, and those on
// channel ch within chWin: one pass over the slot, for both caps.
func (r *recent) counts(now, totalWin, chWin uint32, ch int) (total, onCh int) {
	for _, w := range r {
		if w == 0 {
			continue
		}
		at := uint32(w >> 32)
		if inWindow(at, totalWin, now) {
			total++
		}
		if int(w&3) == ch && inWindow(at, chWin, now) {
			onCh++
		}
	}
	return total, onCh
}

// eligible is when enough of the sends counted within win before now (on
// channel ch, or every channel when ch < 0), at least limit of them, will
// have left the window for one more send; 0 for a limit of 0 (never).
func (r *recent) eligible(now, win uint32, limit, ch int) uint32 {
	if limit == 0 {
		return 0
	}
	var in [experiment.MaxCapLimit]uint32
	n := 0
	for _, w := range r {
		at := uint32(w >> 32)
		if w == 0 || !inWindow(at, win, now) || ch >= 0 && int(w&3) != ch {
			continue
		}
		in[n] = at
		n++
	}
	s := in[:n]
	for i := 1; i < n; i++ { // insertion sort: at most MaxCapLimit, no allocation
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	// n-limit+1 sends must leave the window: the (n-limit)th oldest last.
	return s[n-limit] + win
}
