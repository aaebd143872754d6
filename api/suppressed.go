package api

import (
	"time"

	"github.com/splitcast/splitcast/analytics/fatigue"
	"github.com/splitcast/splitcast/api/jsonwire"
	"github.com/splitcast/splitcast/assign"
)

// suppressedResponse is the answer for a's unit, suppressed by v: in the
// experiment, but no variant, payload or token.
func suppressedResponse(a assign.Assignment, v fatigue.Verdict, channel, sendID string) assignResponse {
	a.Variant, a.Holdout, a.Payload, a.Reason = "", false, nil, assign.ReasonSuppressed
	r := assignResponse{Assignment: a, SendID: sendID, Suppressed: &jsonwire.Suppressed{Reason: v.Reason.String(), Channel: channel}}
	if v.Cap != fatigue.NoCap {
		c := &jsonwire.Cap{Name: v.Cap.String(), Limit: int(v.Limit), Window: v.Window.String()}
		if t := v.Eligible(); !t.IsZero() {
			c.EligibleAt = t.Format(time.RFC3339)
		}
		r.Suppressed.Cap = c
	}
	return r
}
