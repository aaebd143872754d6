package results

import "github.com/splitcast/splitcast/analytics/stats"

// The retirement model: what the retirement loop (package retire) decides
// for a segment, and why. It lives here because a report shows it beside the
// numbers that decided it.

// DecisionKind is what a retirement decision does.
type DecisionKind string

// The decisions.
const (
	// DecisionRetire retires Variant (experiment.Retire); when it leaves one
	// active variant, Retire concludes the segment with it.
	DecisionRetire DecisionKind = "retire"
	// DecisionConclude concludes the segment with Variant as the winner
	// (experiment.Conclude), which retires nothing: the control stays.
	DecisionConclude DecisionKind = "conclude"
)

// Decision is one action the retirement loop takes, with the evidence in
// Reason, which becomes the new version's reason.
type Decision struct {
	Kind    DecisionKind `json:"kind"`
	Segment string       `json:"segment"`
	Variant string       `json:"variant"` // the retired variant, or the winner
	Reason  string       `json:"reason"`
}

// SegmentRetirement is the retirement decision for one segment as of a
// look: what blocks it, or the decisions.
type SegmentRetirement struct {
	// Blocked lists why nothing is decided (minimum sample or runtime not
	// reached, SRM, guardrail breach, segment concluded...). Empty when the
	// tests were run; then Decisions may still be empty (nothing is worse).
	Blocked []string `json:"blocked,omitempty"`
	// Best is the active arm with the best observed value of the primary
	// metric, the one every other is tested against.
	Best string `json:"best,omitempty"`
	// Pairs are the sequential tests of the primary metric between every
	// two active arms, with p-values adjusted over all of them by the
	// policy's correction (Holm unless it says BH).
	Pairs     []PairTest `json:"pairs,omitempty"`
	Decisions []Decision `json:"decisions,omitempty"`
}

// PairTest is the mSPRT of the primary metric between two active arms, B
// minus A.
type PairTest struct {
	A              string          `json:"a"`
	B              string          `json:"b"`
	Look           stats.MSPRTLook `json:"look"`
	PValueAdjusted float64         `json:"p_value_adjusted"`
}
