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

// over reports whether the sends within c's window before now (on channel
// ch, or every channel when ch < 0) reach limit, and if so when enough of
// them will have left the window for one more send.
func (r *recent) over(now uint32, c Cap, limit, ch int) (eligible uint32, over bool) {
	win := uint32(c.Window.Seconds())
	var in [experiment.MaxCapLimit]uint32
	n := 0
	for _, w := range r {
		at := uint32(w >> 32)
		if w == 0 || at+win <= now || ch >= 0 && int(w&3) != ch {
			continue
		}
		in[n] = at
		n++
	}
	if n < limit {
		return 0, false
	}
	if limit == 0 {
		return 0, true // never eligible while the override says 0
	}
	s := in[:n]
	for i := 1; i < n; i++ { // insertion sort: at most MaxCapLimit, no allocation
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	// n-limit+1 sends must leave the window: the (n-limit)th oldest last.
	return s[n-limit] + win, true
}
