package results

import (
	"time"

	"github.com/splitcast/splitcast/analytics/stats"
	"github.com/splitcast/splitcast/experiment"
)

// Phase is a span of versions with the same expected shares of the arms:
// it starts at a version whose action starts a phase (start, retire,
// conclude, allocation, reweight) and lasts until the next such version.
type Phase struct {
	Index        int               `json:"index"`
	FirstVersion uint32            `json:"first_version"`
	LastVersion  uint32            `json:"last_version"` // so far
	Action       experiment.Action `json:"action"`
	Author       string            `json:"author,omitempty"`
	Reason       string            `json:"reason,omitempty"`
	StartedAt    time.Time         `json:"started_at"`
	EndedAt      *time.Time        `json:"ended_at,omitempty"`

	def experiment.Experiment // as of FirstVersion: the weights
}

// Phases splits an experiment's history (oldest first) into phases. The
// versions before the first start (a draft's) belong to the first phase, as
// do exposures that carry them. With no start in the history, the current
// definition cur is the one phase.
func Phases(cur experiment.Experiment, history []experiment.Version) []Phase {
	var out []Phase
	for _, v := range history {
		if v.Action.StartsPhase() {
			if n := len(out); n > 0 {
				t := v.CreatedAt
				out[n-1].EndedAt = &t
			}
			out = append(out, Phase{Index: len(out), FirstVersion: v.Version, LastVersion: v.Version,
				Action: v.Action, Author: v.Author, Reason: v.Reason, StartedAt: v.CreatedAt, def: v.Definition})
		} else if n := len(out); n > 0 {
			out[n-1].LastVersion = v.Version
		}
	}
	if len(out) == 0 {
		start := cur.CreatedAt
		if cur.StartedAt != nil {
			start = *cur.StartedAt
		}
		out = []Phase{{FirstVersion: cur.Version, LastVersion: cur.Version, Action: experiment.ActionStart,
			StartedAt: start, def: cur}}
	}
	if last := &out[len(out)-1]; last.LastVersion < cur.Version {
		last.LastVersion = cur.Version
	}
	return out
}

// phaseOf returns the index of the phase that version v belongs to.
func phaseOf(phases []Phase, v uint32) int {
	i := 0
	for j, p := range phases {
		if p.FirstVersion <= v {
			i = j
		}
	}
	return i
}

// shares returns the expected share of each arm of segment seg under def:
// the holdout its share of entered units, each active variant the rest by
// weight (a concluded segment's winner all of it), anything else 0.
func shares(def experiment.Experiment, seg string, arms []string) []float64 {
	out := make([]float64, len(arms))
	si := def.Segment(seg)
	if si < 0 {
		return out
	}
	s := def.Segments[si]
	h := float64(def.Holdout) / float64(experiment.Full)
	var sum float64
	for _, v := range s.Variants {
		if !v.Retired && (!s.Concluded() || v.Key == s.Winner) {
			sum += float64(v.Weight)
		}
	}
	for i, a := range arms {
		if a == experiment.HoldoutArm {
			out[i] = h
			continue
		}
		vi := s.Variant(a)
		if vi < 0 || sum == 0 {
			continue
		}
		v := s.Variants[vi]
		if !v.Retired && (!s.Concluded() || v.Key == s.Winner) {
			out[i] = (1 - h) * float64(v.Weight) / sum
		}
	}
	return out
}

// SRMReport is a sample ratio check of one segment: units observed per arm
// against the shares the configuration expects.
type SRMReport struct {
	Arms     []string  `json:"arms"`
	Observed []float64 `json:"observed"`
	// Shares are the expected shares of the arms (for all phases together,
	// the phases' shares weighted by their units).
	Shares []float64 `json:"shares"`
	stats.SRMResult
	// Error says why the check could not be made (no arm expected any unit).
	Error string `json:"error,omitempty"`
}

// PhaseSRM is the sample ratio check of one segment in one phase, on the
// units first exposed in it.
type PhaseSRM struct {
	Phase int `json:"phase"`
	SRMReport
}

func srmReport(arms []string, observed, shares []float64) SRMReport {
	r := SRMReport{Arms: arms, Observed: observed, Shares: shares}
	res, err := stats.SRM(observed, shares)
	if err != nil {
		r.Error = err.Error()
		r.SRMResult = stats.SRMResult{PValue: 1, Expected: make([]float64, len(arms))}
		return r
	}
	r.SRMResult = res
	return r
}

// SegmentSRM checks segment seg's arms per phase and over all phases.
func SegmentSRM(phases []Phase, seg string, arms []string, agg Aggregates) (all SRMReport, per []PhaseSRM) {
	obs := make([][]float64, len(phases))
	for i := range obs {
		obs[i] = make([]float64, len(arms))
	}
	for _, ve := range agg.Versions {
		if ve.Segment != seg {
			continue
		}
		for j, a := range arms {
			if a == ve.Variant {
				obs[phaseOf(phases, ve.Version)][j] += float64(ve.Exposed)
			}
		}
	}
	total := make([]float64, len(arms))
	mix := make([]float64, len(arms))
	var n float64
	for i, p := range phases {
		sh := shares(p.def, seg, arms)
		var pn float64
		for j := range arms {
			total[j] += obs[i][j]
			pn += obs[i][j]
		}
		for j := range arms {
			mix[j] += pn * sh[j]
		}
		n += pn
		per = append(per, PhaseSRM{Phase: p.Index, SRMReport: srmReport(arms, obs[i], sh)})
	}
	if n > 0 {
		for j := range mix {
			mix[j] /= n
		}
	} else {
		mix = shares(phases[len(phases)-1].def, seg, arms)
	}
	return srmReport(arms, total, mix), per
}
