package assign

import (
	"encoding/json"

	"github.com/splitcast/splitcast/experiment"
)

// Target is what a send of one experiment is checked against before its
// message goes out: the channels it sends on and its frequency cap
// override. None of it enters the hashes.
type Target struct {
	// Channel is the experiment's own channel, the one a request without a
	// channel sends on.
	Channel experiment.Channel
	// Multi is set when the experiment lists its channels: a request on
	// another channel is then refused.
	Multi bool
	// On has bit experiment.Channel.Index() set for each channel sent on.
	On uint8
	// Cap is the experiment's override of the deployment's caps, or nil.
	Cap *experiment.CapOverride
}

func targetOf(e *experiment.Experiment) Target {
	t := Target{Channel: e.Channel, Multi: len(e.Channels) > 0, Cap: e.FrequencyCap}
	for _, c := range e.SendsOn() {
		t.On |= 1 << c.Index()
	}
	return t
}

// channelPayloads compacts a variant's per-channel payloads, nil when it
// has none.
func channelPayloads(m map[experiment.Channel]json.RawMessage) *[4]json.RawMessage {
	if len(m) == 0 {
		return nil
	}
	var out [4]json.RawMessage
	for c, p := range m {
		if i := c.Index(); i >= 0 {
			out[i] = compact(p)
		}
	}
	return &out
}

// AssignOn is AssignWithTraits for a message on channel ch ("" for the
// experiment's own channel): the variant is the same whatever the channel
// (no hash reads it), and the payload is the variant's payload for ch when
// it has one. It returns the experiment's Target with the channel resolved,
// and refuses (EINVALID, field channel) a channel that a multi-channel
// experiment does not send on.
func (s *Snapshot) AssignOn(experimentKey, unitID string, attrs Attributes, traits TraitSource, ch experiment.Channel) (a Assignment, t Target, err error) {
	c, err := s.running(experimentKey)
	if err != nil {
		return a, t, err
	}
	t = c.target
	if ch == "" {
		ch = t.Channel
	} else if ch.Index() < 0 {
		return a, t, experiment.Invalid("channel", "unknown channel %q", ch)
	} else if t.Multi && t.On&(1<<ch.Index()) == 0 {
		return a, t, experiment.Invalid("channel", "experiment %s does not send on %s", experimentKey, ch)
	}
	t.Channel = ch
	u := unitAttrs{m: attrs, source: traits, unit: unitID}
	u.slots = c.slotsFor(traits)
	if err = c.assign(&a, unitID, &u); err != nil || a.Variant == "" || !t.Multi {
		return a, t, err
	}
	if seg := c.segment(a.Segment); seg != nil {
		if v := seg.variant(a.Variant); v != nil && v.payloads != nil && v.payloads[ch.Index()] != nil {
			a.Payload = v.payloads[ch.Index()]
		}
	}
	return a, t, nil
}

func (c *compiled) segment(key string) *segment {
	for i := range c.segments {
		if c.segments[i].key == key {
			return &c.segments[i]
		}
	}
	return nil
}

func (s *segment) variant(key string) *variant {
	for i := range s.variants {
		if s.variants[i].key == key {
			return &s.variants[i]
		}
	}
	return nil
}

// GlobalControlPurpose is the purpose word of the global control hash:
// Hash(deployment salt, "global_control", unit).
const GlobalControlPurpose = "global_control"

// InGlobalControl reports whether unit is in the deployment's global
// control group of share basis points under salt: bucket(Hash(salt,
// "global_control", unit)) < share. No experiment enters the hash, so the
// group is the same whatever experiments run, start, change or stop; a
// share of 0 is nobody.
func InGlobalControl(salt, unit string, share experiment.BasisPoints) bool {
	if share <= 0 {
		return false
	}
	return Bucket(Hash(salt, GlobalControlPurpose, unit)) < int(share)
}
