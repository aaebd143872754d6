package experiment

// Correction names a multiple-comparison correction: how a segment's p-values
// are adjusted for testing several variants at once.
type Correction string

// The corrections a policy may choose.
const (
	// CorrectionHolm is Holm's step-down method: it controls the chance of
	// any false positive (family-wise error rate). The default.
	CorrectionHolm Correction = "holm"
	// CorrectionBH is Benjamini–Hochberg's step-up method: it controls the
	// expected share of false positives among the positives (false
	// discovery rate), less strict than Holm with many variants.
	CorrectionBH Correction = "bh"
)

// Label is the correction's name for people ("Holm", "BH").
func (c Correction) Label() string {
	if c == CorrectionBH {
		return "BH"
	}
	return "Holm"
}

// DefaultCupedDays is the pre-exposure window of CUPED (RetirementPolicy.CupedDays).
const DefaultCupedDays = 14

// MaxCupedDays bounds the pre-exposure window: longer reaches back past what
// the events table usually keeps and costs a scan for little.
const MaxCupedDays = 90

func validateAnalysis(p RetirementPolicy, f string) error {
	switch p.Correction {
	case "", CorrectionHolm, CorrectionBH:
	default:
		return Invalid(f+".correction", "want %q or %q, got %q", CorrectionHolm, CorrectionBH, p.Correction)
	}
	if p.CupedDays < 0 || p.CupedDays > MaxCupedDays {
		return Invalid(f+".cuped_days", "want 0 (the default, %d) to %d, got %d", DefaultCupedDays, MaxCupedDays, p.CupedDays)
	}
	return nil
}
