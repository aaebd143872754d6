// Package fatigue decides, before a message goes out, whether a unit may be
// sent to at all: suppression after an unsubscribe or a complaint (lifted
// by a resubscribe), the deployment's frequency caps (narrowed per
// experiment), and the deployment's global control group. Gate holds the
// state in memory, per server: refreshed from the event store on the trait
// refresh's schedule, plus this server's own answers and events at once.
//
// The rule that keeps comparisons honest: a send is checked after the unit
// is known to be in the experiment (segment, layer, allocation: nothing
// that depends on the arm) and before its arm is looked at, and every
// admitted send counts as a message for the caps whatever its arm, the
// holdout included (a held-out unit "used" the slot as its treated twin
// would have). So a unit's chance of being suppressed is the same in every
// arm, and the holdout and control arms lose units to caps exactly as the
// treatment arms do.
//
// Invariants: Gate.Admit is safe for concurrent use, allocates nothing, and
// is atomic per unit (two concurrent sends of one unit on one server never
// both pass a cap of one); the state holds no pointer per unit (keyed by
// Key, the unit id's MurmurHash, which ClickHouse computes too), so that
// the garbage collector does not walk it (an open-addressing table of
// 64-byte slots for the sends, a map of fixed-size values for the
// signals).
package fatigue

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/splitcast/splitcast/experiment"
)

// The reasons of a suppressed answer.
const (
	ReasonUnsubscribed  = "unsubscribed"
	ReasonComplained    = "complained"
	ReasonFrequencyCap  = "frequency_cap"
	ReasonGlobalControl = "global_control"
)

// The caps, as a frequency_cap answer names them.
const (
	CapTotal      = "total"
	CapPerChannel = "per_channel"
)

// Cap is "at most Limit messages per unit in any Window" (a rolling
// window). The zero Cap is off.
type Cap struct {
	Limit  int
	Window time.Duration
}

// On reports whether the cap limits anything.
func (c Cap) On() bool { return c.Window > 0 }

// String writes c as ParseCap reads it.
func (c Cap) String() string {
	if !c.On() {
		return ""
	}
	return strconv.Itoa(c.Limit) + "/" + c.Window.String()
}

// ParseCap reads "LIMIT/WINDOW", e.g. "3/168h" (3 per 7 days); "" is off.
func ParseCap(s string) (Cap, error) {
	if s == "" {
		return Cap{}, nil
	}
	l, w, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(l)
	if !ok || err != nil {
		return Cap{}, fmt.Errorf("cap %q: want LIMIT/WINDOW, e.g. 3/168h", s)
	}
	d, err := time.ParseDuration(w)
	if err != nil || d < time.Second { // the state counts in seconds
		return Cap{}, fmt.Errorf("cap %q: want a window of a second or more, such as 24h", s)
	}
	c := Cap{Limit: n, Window: d}
	if n < 0 || n > experiment.MaxCapLimit {
		return Cap{}, fmt.Errorf("cap %q: want a limit from 0 to %d", s, experiment.MaxCapLimit)
	}
	return c, nil
}

// Policy is the deployment's fatigue policy. The zero Policy suppresses
// only after unsubscribes and complaints.
type Policy struct {
	// Total caps the messages a unit gets from every experiment on every
	// channel together.
	Total Cap
	// PerChannel caps the messages a unit gets on each channel.
	PerChannel Cap
	// GlobalControl is the share of units that no experiment messages
	// (0: none); GlobalControlSalt seeds its hash (see
	// assign.InGlobalControl). Changing the salt draws a new group.
	GlobalControl     experiment.BasisPoints
	GlobalControlSalt string
}

// DefaultGlobalControlSalt is Policy.GlobalControlSalt's default.
const DefaultGlobalControlSalt = "splitcast-global-control"

// Validate checks p: a per-channel window no longer than the total's (the
// state keeps the most recent messages, which then decide both caps), and
// a global control share below 100 percent.
func (p Policy) Validate() error {
	if p.Total.On() && p.PerChannel.On() && p.PerChannel.Window > p.Total.Window {
		return experiment.Invalid("per_channel", "window %v is longer than the total cap's %v", p.PerChannel.Window, p.Total.Window)
	}
	if p.GlobalControl < 0 || p.GlobalControl >= experiment.Full {
		return experiment.Invalid("global_control", "want a percent from 0 to below 100")
	}
	return nil
}

// Window is the longest cap window: how far back sends are kept.
func (p Policy) Window() time.Duration { return max(p.Total.Window, p.PerChannel.Window) }

// CheckOverride refuses an experiment's cap override that would widen the
// deployment's caps: a limit above the deployment's, or a limit on a cap
// the deployment does not have (it would have no window).
func (p Policy) CheckOverride(o *experiment.CapOverride) error {
	if o == nil {
		return nil
	}
	for _, c := range [...]struct {
		name string
		v    *int
		dep  Cap
	}{{CapTotal, o.Total, p.Total}, {CapPerChannel, o.PerChannel, p.PerChannel}} {
		switch {
		case c.v == nil:
		case !c.dep.On():
			return experiment.Invalid("frequency_cap."+c.name, "the deployment has no %s cap to narrow", c.name)
		case *c.v > c.dep.Limit:
			return experiment.Invalid("frequency_cap."+c.name, "%d is above the deployment's %d per %v: an override can only narrow", *c.v, c.dep.Limit, c.dep.Window)
		}
	}
	return nil
}

// limits are the limits of a send of an experiment with override o: the
// deployment's, lowered by o, never raised (a stored override that the
// deployment's policy has since made wide counts as the deployment's).
func (p Policy) limits(o *experiment.CapOverride) (total, perChannel int) {
	total, perChannel = p.Total.Limit, p.PerChannel.Limit
	if o != nil {
		if o.Total != nil {
			total = min(total, *o.Total)
		}
		if o.PerChannel != nil {
			perChannel = min(perChannel, *o.PerChannel)
		}
	}
	return total, perChannel
}
