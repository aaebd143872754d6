package jsonwire

import "strconv"

// Suppressed is the suppressed field of an assign answer: why a unit in
// the experiment gets no message (a sender skips it).
type Suppressed struct {
	Reason  string `json:"reason"`
	Channel string `json:"channel"`
	Cap     *Cap   `json:"cap,omitempty"`
}

// Cap is the frequency cap a unit reached, and when (RFC 3339) it is
// eligible again; never, for an override of 0.
type Cap struct {
	Name       string `json:"name"`
	Limit      int    `json:"limit"`
	Window     string `json:"window"`
	EligibleAt string `json:"eligible_at,omitempty"`
}

// AppendSuppressed writes `,"suppressed":` and v as encoding/json would.
func AppendSuppressed(b []byte, v *Suppressed) []byte {
	b = append(b, `,"suppressed":{"reason":`...)
	b = AppendString(b, v.Reason)
	b = append(b, `,"channel":`...)
	b = AppendString(b, v.Channel)
	if c := v.Cap; c != nil {
		b = append(b, `,"cap":{"name":`...)
		b = AppendString(b, c.Name)
		b = append(b, `,"limit":`...)
		b = strconv.AppendInt(b, int64(c.Limit), 10)
		b = append(b, `,"window":`...)
		b = AppendString(b, c.Window)
		if c.EligibleAt != "" {
			b = append(b, `,"eligible_at":`...)
			b = AppendString(b, c.EligibleAt)
		}
		b = append(b, '}')
	}
	return append(b, '}')
}
