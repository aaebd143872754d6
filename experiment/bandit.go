package experiment

import (
	"fmt"
	"time"
)

// The allocations of a segment: fixed weights (the default, also written as
// an absent "allocation"), or a bandit that moves the weights towards the
// arms likely to be best (Thompson sampling, analytics/bandit).
const (
	AllocationFixed  = "fixed"
	AllocationBandit = "bandit"
)

// ActionReweight is the version a bandit update makes: new weights for
// one segment, with the posteriors that chose them in its reason. It starts
// a phase, since the arms' expected shares change.
const ActionReweight Action = "reweight"

// BanditPolicy is how a bandit segment moves its weights. Zero fields take
// the defaults below when a draft is saved.
type BanditPolicy struct {
	// Metric is what the bandit optimises: the experiment's primary metric
	// (the default, and the only value accepted, so that the arm the bandit
	// favours is the arm the report and the retirement loop judge).
	Metric Metric `json:"metric"`
	// Interval is the time between two updates (default 24h: a recurring
	// campaign's send, and long enough for opens and clicks to arrive).
	Interval Duration `json:"interval"`
	// BurnIn is the number of exposed units every active arm needs before
	// the first update; until then the weights stay equal (default 1000).
	BurnIn int `json:"burn_in"`
	// Floor is the least share of the segment's traffic any active arm
	// keeps, so that every arm goes on being measured (default 5%).
	Floor BasisPoints `json:"floor"`
	// MaxMove caps how far one update moves any arm's share (default 20%),
	// so that one noisy look cannot swing the traffic.
	MaxMove BasisPoints `json:"max_move"`
}

// Defaults of BanditPolicy.
const (
	DefaultBanditInterval = Duration(24 * time.Hour)
	DefaultBanditBurnIn   = 1000
	DefaultBanditFloor    = BasisPoints(500)
	DefaultBanditMaxMove  = BasisPoints(2000)
	// MinBanditInterval keeps the loop from rewriting the experiment more
	// often than servers refresh their snapshots.
	MinBanditInterval = Duration(time.Minute)
)

// IsBandit reports whether the segment's weights are moved by a bandit.
func (s Segment) IsBandit() bool { return s.Allocation == AllocationBandit }

// withDefaults fills p's zero fields, the metric from the experiment's
// primary metric.
func (p BanditPolicy) withDefaults(primary Metric) BanditPolicy {
	if p.Metric == "" {
		p.Metric = primary
	}
	if p.Interval == 0 {
		p.Interval = DefaultBanditInterval
	}
	if p.BurnIn == 0 {
		p.BurnIn = DefaultBanditBurnIn
	}
	if p.Floor == 0 {
		p.Floor = DefaultBanditFloor
	}
	if p.MaxMove == 0 {
		p.MaxMove = DefaultBanditMaxMove
	}
	return p
}

// setBanditDefaults gives every bandit segment of e its policy's defaults.
func (e *Experiment) setBanditDefaults() {
	for i := range e.Segments {
		s := &e.Segments[i]
		if !s.IsBandit() {
			continue
		}
		var p BanditPolicy
		if s.Bandit != nil {
			p = *s.Bandit
		}
		p = p.withDefaults(e.PrimaryMetric)
		s.Bandit = &p
	}
}

// validateAllocation checks a segment's allocation and bandit policy, named
// f in errors ("segments[0]"): the policy is set only on a bandit segment,
// its fields are in range, and a draft's bandit segment starts from equal
// weights (its burn-in).
func (s *Segment) validateAllocation(f string, e *Experiment) error {
	switch s.Allocation {
	case "", AllocationFixed:
		if s.Bandit != nil {
			return Invalid(f+".bandit", "a bandit policy needs \"allocation\": \"bandit\"")
		}
		return nil
	case AllocationBandit:
	default:
		return Invalid(f+".allocation", "unknown allocation %q: want \"fixed\" or \"bandit\"", s.Allocation)
	}
	if s.Bandit == nil {
		return Invalid(f+".bandit", "a bandit segment needs its policy (saving a draft fills in the defaults)")
	}
	p, bf := s.Bandit, f+".bandit"
	if p.Metric != e.PrimaryMetric {
		return Invalid(bf+".metric", "a bandit optimises the primary metric %q, got %q", e.PrimaryMetric, p.Metric)
	}
	if p.Interval < MinBanditInterval {
		return Invalid(bf+".interval", "want at least %s, got %s", time.Duration(MinBanditInterval), time.Duration(p.Interval))
	}
	if p.BurnIn < 1 {
		return Invalid(bf+".burn_in", "want at least 1 exposed unit per arm, got %d", p.BurnIn)
	}
	if n := len(s.Variants); p.Floor <= 0 || (n > 0 && int(p.Floor)*n > int(Full)) {
		return Invalid(bf+".floor", "want above 0 and at most 100/%d percent (one floor per arm), got %v", max(n, 1), p.Floor.Percent())
	}
	if p.MaxMove <= 0 || p.MaxMove > Full {
		return Invalid(bf+".max_move", "want above 0 and at most 100 percent, got %v", p.MaxMove.Percent())
	}
	if e.Status == StatusDraft {
		for j, v := range s.Variants {
			if v.Weight != s.Variants[0].Weight {
				return Invalid(fmt.Sprintf("%s.variants[%d].weight", f, j),
					"a bandit segment starts with equal weights (its burn-in): want %d like variants[0], got %d", s.Variants[0].Weight, v.Weight)
			}
		}
	}
	return nil
}

// Reweight returns the next version of the running or paused cur with the
// weights of bandit segment segment set to weights, one per variant in
// order. A retired variant keeps its weight (its buckets are rerouted by
// the others' weights, docs/assignment.md), so only the active variants'
// entries may differ from the current ones. The reason carries the
// evidence: the posteriors and probabilities that chose the weights.
func Reweight(cur Experiment, segment string, weights []int, author, reason string, now time.Time) (Version, error) {
	n, s, err := liveSegment(cur, segment, author, reason, "reweights bandit segments")
	if err != nil {
		return Version{}, err
	}
	switch {
	case !s.IsBandit():
		return Version{}, Invalid("segment", "segment %s has fixed weights: only a bandit segment is reweighted", segment)
	case s.Concluded():
		return Version{}, &Error{Code: ECONFLICT, Field: "segment", Message: "segment " + segment + " is concluded (winner " + s.Winner + ")"}
	case len(weights) != len(s.Variants):
		return Version{}, Invalid("weights", "want %d weights, one per variant, got %d", len(s.Variants), len(weights))
	}
	same := true
	for j, w := range weights {
		v := &s.Variants[j]
		if v.Retired && w != v.Weight {
			return Version{}, Invalid(fmt.Sprintf("weights[%d]", j), "variant %s is retired: its weight stays %d", v.Key, v.Weight)
		}
		same = same && w == v.Weight
		v.Weight = w
	}
	if same {
		return Version{}, Errorf(ECONFLICT, "segment %s already has these weights", segment)
	}
	return next(cur, n, ActionReweight, author, reason, now)
}

// LastPhaseStart returns the time of the latest version in history (oldest
// first) that started a phase of segment seg: its start, or a reweight,
// retirement or conclusion of it (an allocation change counts too: it
// changes every segment's traffic). The bandit loop waits an interval
// after it; the zero time when there is none.
func LastPhaseStart(history []Version, seg string) time.Time {
	var t time.Time
	for i, v := range history {
		if !v.Action.StartsPhase() {
			continue
		}
		if v.Action == ActionStart || v.Action == ActionAllocation || i == 0 || segmentChanged(history[i-1].Definition, v.Definition, seg) {
			t = v.CreatedAt
		}
	}
	return t
}

// segmentChanged reports whether segment seg's variants or winner differ
// between a and b.
func segmentChanged(a, b Experiment, seg string) bool {
	i, j := a.Segment(seg), b.Segment(seg)
	if i < 0 || j < 0 {
		return i != j
	}
	x, y := a.Segments[i], b.Segments[j]
	if x.Winner != y.Winner || len(x.Variants) != len(y.Variants) {
		return true
	}
	for k := range x.Variants {
		if x.Variants[k].Weight != y.Variants[k].Weight || x.Variants[k].Retired != y.Variants[k].Retired {
			return true
		}
	}
	return false
}
