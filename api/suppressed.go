package api

import (
	"strconv"
	"time"

	"github.com/splitcast/splitcast/analytics/fatigue"
	"github.com/splitcast/splitcast/api/jsonwire"
	"github.com/splitcast/splitcast/assign"
)

// suppressedAnswer is why a unit gets no message: a sender skips it.
type suppressedAnswer struct {
	Reason  string     `json:"reason"`
	Channel string     `json:"channel"`
	Cap     *capAnswer `json:"cap,omitempty"`
}

// capAnswer is the frequency cap a unit reached, and when (RFC 3339) it is
// eligible again; never, for an override of 0.
type capAnswer struct {
	Name       string `json:"name"`
	Limit      int    `json:"limit"`
	Window     string `json:"window"`
	EligibleAt string `json:"eligible_at,omitempty"`
}

// suppressedResponse is the answer for a's unit, suppressed by v: in the
// experiment, but no variant, payload or token.
func suppressedResponse(a assign.Assignment, v fatigue.Verdict, channel, sendID string) assignResponse {
	a.Variant, a.Holdout, a.Payload, a.Reason = "", false, nil, assign.ReasonSuppressed
	r := assignResponse{Assignment: a, SendID: sendID, Suppressed: &suppressedAnswer{Reason: v.Reason.String(), Channel: channel}}
	if v.Cap != fatigue.NoCap {
		c := &capAnswer{Name: v.Cap.String(), Limit: int(v.Limit), Window: v.Window.String()}
		if t := v.Eligible(); !t.IsZero() {
			c.EligibleAt = t.Format(time.RFC3339)
		}
		r.Suppressed.Cap = c
	}
	return r
}

// appendSuppressed writes the suppressed field as encoding/json would.
func appendSuppressed(b []byte, v *suppressedAnswer) []byte {
	b = append(b, `,"suppressed":{"reason":`...)
	b = jsonwire.AppendString(b, v.Reason)
	b = append(b, `,"channel":`...)
	b = jsonwire.AppendString(b, v.Channel)
	if c := v.Cap; c != nil {
		b = append(b, `,"cap":{"name":`...)
		b = jsonwire.AppendString(b, c.Name)
		b = append(b, `,"limit":`...)
		b = strconv.AppendInt(b, int64(c.Limit), 10)
		b = append(b, `,"window":`...)
		b = jsonwire.AppendString(b, c.Window)
		if c.EligibleAt != "" {
			b = append(b, `,"eligible_at":`...)
			b = jsonwire.AppendString(b, c.EligibleAt)
		}
		b = append(b, '}')
	}
	return append(b, '}')
}
