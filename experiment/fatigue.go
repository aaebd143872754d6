package experiment

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Fatigue and channels: what an experiment adds to the deployment's rules
// against over-messaging (a narrower frequency cap), and the channels a
// multi-channel experiment sends on with each variant's payload per channel.

// MaxCapLimit bounds a frequency cap's limit: the cap state keeps at most
// this many recent messages per unit, in one 64-byte cache line with the
// unit's key (see analytics/fatigue).
const MaxCapLimit = 7

// CapOverride narrows the deployment's frequency caps for one experiment's
// sends: a lower limit on the deployment's total cap and on its per-channel
// cap, over the deployment's windows. A nil field keeps the deployment's
// limit. It can only narrow: a limit above the deployment's, or on a cap the
// deployment does not have, is refused when the experiment is saved, and
// never applied wider at assignment either.
type CapOverride struct {
	Total      *int `json:"total,omitempty"`
	PerChannel *int `json:"per_channel,omitempty"`
}

func (o *CapOverride) validate(f string) error {
	if o == nil {
		return nil
	}
	for _, l := range [...]struct {
		name string
		v    *int
	}{{"total", o.Total}, {"per_channel", o.PerChannel}} {
		if l.v != nil && (*l.v < 0 || *l.v > MaxCapLimit) {
			return Invalid(f+"."+l.name, "want 0 to %d messages, got %d", MaxCapLimit, *l.v)
		}
	}
	return nil
}

// Index returns c's position among the channels (email 0, push 1, sms 2,
// in_app 3), or -1: the index of per-channel state.
func (c Channel) Index() int {
	switch c {
	case ChannelEmail:
		return 0
	case ChannelPush:
		return 1
	case ChannelSMS:
		return 2
	case ChannelInApp:
		return 3
	}
	return -1
}

// AllChannels are the channels in Index order.
var AllChannels = [...]Channel{ChannelEmail, ChannelPush, ChannelSMS, ChannelInApp}

// SendsOn returns the channels e sends on: Channels, or Channel alone.
func (e *Experiment) SendsOn() []Channel {
	if len(e.Channels) > 0 {
		return e.Channels
	}
	return []Channel{e.Channel}
}

// HasChannel reports whether e sends on c.
func (e *Experiment) HasChannel(c Channel) bool {
	for _, x := range e.SendsOn() {
		if x == c {
			return true
		}
	}
	return false
}

// validateChannels checks Channels (each known, none twice, Channel among
// them) and the frequency cap override.
func (e *Experiment) validateChannels() error {
	seen := map[Channel]bool{}
	for i, c := range e.Channels {
		f := fmt.Sprintf("channels[%d]", i)
		if !c.Valid() {
			return Invalid(f, "unknown channel %q: want email, push, sms or in_app", c)
		}
		if seen[c] {
			return Invalid(f, "channel %q listed twice", c)
		}
		seen[c] = true
	}
	if len(e.Channels) > 0 && !seen[e.Channel] {
		return Invalid("channel", "the experiment's channel %q is not among its channels", e.Channel)
	}
	return e.FrequencyCap.validate("frequency_cap")
}

// payloadFields are the fields a channel's payload must have: what a sender
// needs to build the message on that channel.
var payloadFields = map[Channel][]string{
	ChannelEmail: {"subject", "body"},
	ChannelPush:  {"title", "body"},
	ChannelSMS:   {"text"},
	ChannelInApp: {},
}

// validatePayloads checks v's per-channel payloads, named vf in errors:
// each on a channel of exp, a JSON object with its channel's fields.
func (v *Variant) validatePayloads(vf string, exp *Experiment) error {
	for c, p := range v.Payloads {
		f := vf + ".payloads." + string(c)
		if !c.Valid() {
			return Invalid(vf+".payloads", "unknown channel %q", c)
		}
		if !exp.HasChannel(c) {
			return Invalid(f, "the experiment does not send on %s: list it in channels", c)
		}
		if len(p) > MaxPayloadBytes {
			return Invalid(f, "at most %d bytes", MaxPayloadBytes)
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(p, &obj); err != nil || obj == nil {
			return Invalid(f, "want a JSON object")
		}
		for _, name := range payloadFields[c] {
			if raw, ok := obj[name]; !ok || bytes.Equal(raw, []byte("null")) {
				return Invalid(f+"."+name, "required on %s", c)
			}
		}
	}
	return nil
}

func (o *CapOverride) clone() *CapOverride {
	c := &CapOverride{}
	if o.Total != nil {
		t := *o.Total
		c.Total = &t
	}
	if o.PerChannel != nil {
		p := *o.PerChannel
		c.PerChannel = &p
	}
	return c
}
