package experiment_test

import (
	"encoding/json"
	"testing"

	"github.com/splitcast/splitcast/experiment"
)

// TestValidateChannels: channels, per-channel payloads and the frequency
// cap override are checked with the field named.
func TestValidateChannels(t *testing.T) {
	push := func(p string) map[experiment.Channel]json.RawMessage {
		return map[experiment.Channel]json.RawMessage{experiment.ChannelPush: json.RawMessage(p)}
	}
	nine, two := 9, 2
	for _, tc := range []struct {
		name  string
		edit  func(e *experiment.Experiment)
		field string
	}{
		{"two channels", func(e *experiment.Experiment) { e.Channels = []experiment.Channel{"email", "push"} }, ""},
		{"unknown channel", func(e *experiment.Experiment) { e.Channels = []experiment.Channel{"email", "fax"} }, "channels[1]"},
		{"channel twice", func(e *experiment.Experiment) { e.Channels = []experiment.Channel{"email", "email"} }, "channels[1]"},
		{"own channel missing", func(e *experiment.Experiment) { e.Channels = []experiment.Channel{"push"} }, "channel"},
		{"push payload", func(e *experiment.Experiment) {
			e.Channels = []experiment.Channel{"email", "push"}
			e.Segments[0].Variants[1].Payloads = push(`{"title":"t","body":"b"}`)
		}, ""},
		{"payload on a channel not sent", func(e *experiment.Experiment) {
			e.Segments[0].Variants[1].Payloads = push(`{"title":"t","body":"b"}`)
		}, "segments[0].variants[1].payloads.push"},
		{"push payload without title", func(e *experiment.Experiment) {
			e.Channels = []experiment.Channel{"email", "push"}
			e.Segments[0].Variants[1].Payloads = push(`{"body":"b"}`)
		}, "segments[0].variants[1].payloads.push.title"},
		{"payload not an object", func(e *experiment.Experiment) {
			e.Channels = []experiment.Channel{"email", "push"}
			e.Segments[0].Variants[1].Payloads = push(`"hi"`)
		}, "segments[0].variants[1].payloads.push"},
		{"cap override", func(e *experiment.Experiment) { e.FrequencyCap = &experiment.CapOverride{Total: &two} }, ""},
		{"cap override too high", func(e *experiment.Experiment) { e.FrequencyCap = &experiment.CapOverride{PerChannel: &nine} }, "frequency_cap.per_channel"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := mustExample(t)
			e.Status = experiment.StatusDraft
			tc.edit(&e)
			err := e.Validate()
			if got := experiment.ErrorField(err); got != tc.field || (err == nil) != (tc.field == "") {
				t.Errorf("Validate() = %v, want field %q", err, tc.field)
			}
		})
	}
}
