package experiment

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

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

// MaxDimensions bounds an experiment's breakdown dimensions: each is a
// value stored on every exposure, and each breakdown is many comparisons.
const MaxDimensions = 5

// DimensionChannel names the exposure's channel as a breakdown dimension;
// any other dimension is a caller attribute key.
const DimensionChannel = "channel"

// MaxDimensionValueLen bounds a dimension's value as stored on an exposure:
// a longer attribute value is cut (breakdowns are for a few categories).
const MaxDimensionValueLen = 64

func (e *Experiment) validateDimensions() error {
	if len(e.Dimensions) > MaxDimensions {
		return Invalid("dimensions", "at most %d, got %d", MaxDimensions, len(e.Dimensions))
	}
	for i, d := range e.Dimensions {
		f := "dimensions[" + itoa(i) + "]"
		if d == "" || len(d) > 128 || !utf8.ValidString(d) || strings.ContainsFunc(d, unicode.IsControl) {
			return Invalid(f, "want an attribute key of 1-128 bytes of valid UTF-8, without control characters")
		}
		for j := range i {
			if e.Dimensions[j] == d {
				return Invalid(f, "duplicate dimension %q (also dimensions[%d])", d, j)
			}
		}
	}
	return nil
}

// Imported records the last import of an experiment's events.
type Imported struct {
	At time.Time `json:"at"`
	// Rows and Exposures are what that file held; SHA256 is its digest.
	Rows      int64  `json:"rows"`
	Exposures int64  `json:"exposures"`
	SHA256    string `json:"sha256"`
	// Files counts the distinct files imported so far.
	Files int `json:"files"`
}

// ActionImport is the version an import writes: the experiment is marked
// as imported (its assignment did not come from Splitcast).
const ActionImport Action = "import"

// MarkImported returns the next version of cur marked as imported with the
// file info describes (its At is set to now), whatever cur's status: an
// import changes no assignment. ok is false, with no version, when cur's
// last import was the same file: importing it again changes nothing.
func MarkImported(cur Experiment, info Imported, author, reason string, now time.Time) (v Version, ok bool, err error) {
	if err := checkWho(author, reason); err != nil {
		return Version{}, false, err
	}
	if cur.Imported != nil && cur.Imported.SHA256 == info.SHA256 {
		return Version{}, false, nil
	}
	n := cur.Clone()
	info.At, info.Files = now, 1
	if cur.Imported != nil {
		info.Files = cur.Imported.Files + 1
	}
	n.Imported = &info
	v, err = next(cur, n, ActionImport, author, reason, now)
	return v, err == nil, err
}

// cloneAnalysis copies e's analysis fields into c (a copy of e): it
// returns the dimensions, and gives c its own Imported.
func cloneAnalysis(e Experiment, c *Experiment) []string {
	if e.Imported != nil {
		im := *e.Imported
		c.Imported = &im
	}
	if e.Dimensions == nil {
		return nil
	}
	return append([]string(nil), e.Dimensions...)
}
