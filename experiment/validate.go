package experiment

import (
	"fmt"
	"unicode/utf8"
)

// Limits on a definition, so that one experiment cannot make a snapshot or
// an assignment expensive.
const (
	MaxKeyLen         = 64
	MaxNameLen        = 200
	MaxDescriptionLen = 5000
	MaxSaltLen        = 128
	MaxSegments       = 50
	MaxVariants       = 26
	// MaxTotalWeight bounds the weights of one segment: with at most 10000
	// in total, every variant of weight >= 1 owns at least one of the 10000
	// buckets, so no configured variant is silently starved.
	MaxTotalWeight = 10000
	// MaxPayloadBytes bounds one variant's payload.
	MaxPayloadBytes = 64 << 10
	// MaxIDLen bounds every identifier a caller sends (unit id, send id,
	// event id or idempotency key, event name). It is the one limit of
	// those fields: the edge checks it and tracking tokens carry it, so
	// nothing the edge accepts is refused when its token is signed.
	MaxIDLen = 255
)

// HoldoutArm is the arm name of units held out; no variant may take it.
const HoldoutArm = "holdout"

// ValidKey reports whether s can be a key of an experiment, segment,
// variant or layer: 1 to 64 bytes of a-z, 0-9, '_' and '-', starting with a
// letter or digit. Keys never contain ':', which separates the parts of a
// hash input.
func ValidKey(s string) bool {
	if len(s) == 0 || len(s) > MaxKeyLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '_' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// Validate checks the whole definition and returns the first problem as an
// *Error (EINVALID) naming the field as spelled in JSON, e.g.
// "segments[1].variants[0].weight".
func (e *Experiment) Validate() error {
	if !ValidKey(e.Key) {
		return Invalid("key", "want 1-%d characters of a-z, 0-9, '_' or '-', starting with a letter or digit", MaxKeyLen)
	}
	if len(e.Name) > MaxNameLen || !utf8.ValidString(e.Name) {
		return Invalid("name", "want valid UTF-8 of at most %d bytes", MaxNameLen)
	}
	if len(e.Description) > MaxDescriptionLen || !utf8.ValidString(e.Description) {
		return Invalid("description", "want valid UTF-8 of at most %d bytes", MaxDescriptionLen)
	}
	if !e.Channel.Valid() {
		return Invalid("channel", "unknown channel %q: want email, push, sms or in_app", e.Channel)
	}
	if !e.Status.Valid() {
		return Invalid("status", "unknown status %q", e.Status)
	}
	if len(e.Salt) > MaxSaltLen || !utf8.ValidString(e.Salt) {
		return Invalid("salt", "want valid UTF-8 of at most %d bytes", MaxSaltLen)
	}
	if e.Allocation <= 0 || e.Allocation > Full {
		return Invalid("allocation", "want a percent above 0 and at most 100, got %v", e.Allocation.Percent())
	}
	if e.Holdout < 0 || e.Holdout >= Full {
		return Invalid("holdout", "want a percent from 0 to below 100, got %v", e.Holdout.Percent())
	}
	if l := e.Layer; l != nil {
		if !ValidKey(l.Name) {
			return Invalid("layer.name", "want a key: a-z, 0-9, '_' or '-'")
		}
		if l.SlotStart < 0 || l.SlotStart >= int(Full) {
			return Invalid("layer.slot_start", "want 0 to 9999, got %d", l.SlotStart)
		}
		if l.SlotEnd <= l.SlotStart || l.SlotEnd > int(Full) {
			return Invalid("layer.slot_end", "want above slot_start (%d) and at most 10000, got %d", l.SlotStart, l.SlotEnd)
		}
	}
	if len(e.Segments) == 0 {
		return Invalid("segments", "need at least one segment")
	}
	if len(e.Segments) > MaxSegments {
		return Invalid("segments", "at most %d segments", MaxSegments)
	}
	seen := make(map[string]int, len(e.Segments))
	for i := range e.Segments {
		f := fmt.Sprintf("segments[%d]", i)
		s := &e.Segments[i]
		if j, dup := seen[s.Key]; dup {
			return Invalid(f+".key", "duplicate segment key %q (also segments[%d])", s.Key, j)
		}
		seen[s.Key] = i
		if s.Rule == nil && i != len(e.Segments)-1 {
			return Invalid(f+".rule", "only the last segment may be a catch-all (no rule): segments after it could never match")
		}
		if err := s.validate(f); err != nil {
			return err
		}
		if err := s.validateAllocation(f, e); err != nil {
			return err
		}
	}
	if err := e.validateCustom(); err != nil {
		return err
	}
	if err := e.validateChannels(); err != nil {
		return err
	}
	for i := range e.Segments {
		for j := range e.Segments[i].Variants {
			if err := e.Segments[i].Variants[j].validatePayloads(fmt.Sprintf("segments[%d].variants[%d]", i, j), e); err != nil {
				return err
			}
		}
	}
	if !e.knownMetric(e.PrimaryMetric) {
		return Invalid("primary_metric", "unknown metric %q", e.PrimaryMetric)
	}
	gseen := map[Metric]bool{}
	for i, m := range e.GuardrailMetrics {
		f := fmt.Sprintf("guardrail_metrics[%d]", i)
		if !e.knownMetric(m) {
			return Invalid(f, "unknown metric %q", m)
		}
		if gseen[m] {
			return Invalid(f, "duplicate metric %q", m)
		}
		gseen[m] = true
	}
	if err := e.Retirement.validate("retirement"); err != nil {
		return err
	}
	return e.validateDimensions()
}

// validate checks s, named f in errors (e.g. "segments[0]"), and its
// variants in order, returning the first problem.
func (s *Segment) validate(f string) error {
	if !ValidKey(s.Key) {
		return Invalid(f+".key", "want 1-%d characters of a-z, 0-9, '_' or '-', starting with a letter or digit", MaxKeyLen)
	}
	if len(s.Name) > MaxNameLen || !utf8.ValidString(s.Name) {
		return Invalid(f+".name", "want valid UTF-8 of at most %d bytes", MaxNameLen)
	}
	if s.Rule != nil {
		if err := s.Rule.Validate(f + ".rule"); err != nil {
			return err
		}
	}
	if len(s.Variants) < 2 {
		return Invalid(f+".variants", "need at least two variants, one of them the control")
	}
	if len(s.Variants) > MaxVariants {
		return Invalid(f+".variants", "at most %d variants", MaxVariants)
	}
	t := variantTally{seen: make(map[string]int, len(s.Variants)), control: -1}
	for j := range s.Variants {
		if err := t.add(fmt.Sprintf("%s.variants[%d]", f, j), j, &s.Variants[j]); err != nil {
			return err
		}
	}
	if t.control < 0 {
		return Invalid(f+".variants", "a segment has exactly one control; none is marked")
	}
	if t.total > MaxTotalWeight {
		return Invalid(f+".variants", "weights add up to %d, at most %d", t.total, MaxTotalWeight)
	}
	if s.Winner != "" {
		w := s.Variant(s.Winner)
		if w < 0 {
			return Invalid(f+".winner", "no variant %q in this segment", s.Winner)
		}
		if s.Variants[w].Retired {
			return Invalid(f+".winner", "the winner %q is retired", s.Winner)
		}
	} else if t.active < 2 {
		return Invalid(f+".variants", "an open segment needs two active variants; conclude it instead")
	}
	return nil
}

// variantTally is what the checks of a segment's variants carry from one
// variant to the next: the keys seen (by index), the control's index (-1
// before it), the total weight and the active variants.
type variantTally struct {
	seen                   map[string]int
	control, total, active int
}

// add checks v, variant j of its segment, named vf in errors, against
// itself and the variants before it, and counts it.
func (t *variantTally) add(vf string, j int, v *Variant) error {
	if !ValidKey(v.Key) {
		return Invalid(vf+".key", "want 1-%d characters of a-z, 0-9, '_' or '-', starting with a letter or digit", MaxKeyLen)
	}
	if v.Key == HoldoutArm {
		return Invalid(vf+".key", "%q is the name of the holdout arm", HoldoutArm)
	}
	if k, dup := t.seen[v.Key]; dup {
		return Invalid(vf+".key", "duplicate variant key %q (also variants[%d])", v.Key, k)
	}
	t.seen[v.Key] = j
	if len(v.Name) > MaxNameLen || !utf8.ValidString(v.Name) {
		return Invalid(vf+".name", "want valid UTF-8 of at most %d bytes", MaxNameLen)
	}
	if v.Weight <= 0 {
		return Invalid(vf+".weight", "want a positive integer, got %d", v.Weight)
	}
	if v.Weight > MaxTotalWeight {
		return Invalid(vf+".weight", "at most %d", MaxTotalWeight)
	}
	t.total += v.Weight
	if v.Control {
		if t.control >= 0 {
			return Invalid(vf+".control", "a segment has exactly one control (also variants[%d])", t.control)
		}
		t.control = j
		if v.Retired {
			return Invalid(vf+".retired", "the control is never retired")
		}
	}
	if !v.Retired {
		t.active++
	} else if v.RetiredAt == nil {
		return Invalid(vf+".retired_at", "a retired variant says when")
	}
	if len(v.Payload) > MaxPayloadBytes {
		return Invalid(vf+".payload", "at most %d bytes", MaxPayloadBytes)
	}
	return nil
}

func (p RetirementPolicy) validate(f string) error {
	if p.Alpha != 0 && !(p.Alpha > 0 && p.Alpha <= 0.5) {
		return Invalid(f+".alpha", "want above 0 and at most 0.5, got %v", p.Alpha)
	}
	if p.MinSamplePerArm < 0 {
		return Invalid(f+".min_sample_per_arm", "want 0 or more")
	}
	if p.MinRuntime < 0 {
		return Invalid(f+".min_runtime", "want 0 or more")
	}
	if p.Interval < 0 {
		return Invalid(f+".interval", "want 0 or more")
	}
	return validateAnalysis(p, f)
}
