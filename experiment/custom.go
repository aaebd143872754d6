package experiment

import (
	"regexp"
	"strconv"
	"strings"
)

// CustomMetric is a metric of user events (POST /v1/track) an experiment
// defines for itself, named "custom.<key>" as a primary or guardrail
// metric. Each unit counts the user events named Event within WindowHours
// after its first exposure (its attribution window, whatever experiment the
// sender thought of: none is named on a user event):
//
//	conversion  the share of recipients with at least one (a rate)
//	sum         the mean per recipient of the sum of number property
//	            Property over those events (revenue-like; 0 for none)
//	count       the mean per recipient of their number
type CustomMetric struct {
	Key           string `json:"key"`
	Kind          string `json:"kind"`
	Event         string `json:"event"`
	Property      string `json:"property,omitempty"`
	WindowHours   int    `json:"window_hours,omitempty"`
	LowerIsBetter bool   `json:"lower_is_better,omitempty"`
}

// The kinds of custom metric.
const (
	CustomConversion = "conversion"
	CustomSum        = "sum"
	CustomCount      = "count"
)

// CustomPrefix starts a custom metric's name.
const CustomPrefix = "custom."

// DefaultWindowHours is a custom metric's attribution window unless it
// names one: a week after the first exposure.
const DefaultWindowHours = 168

// MaxCustomMetrics bounds an experiment's custom metrics.
const MaxCustomMetrics = 10

// Name is the metric's name in primary_metric and guardrail_metrics.
func (m CustomMetric) Name() Metric { return Metric(CustomPrefix + m.Key) }

// Window returns the attribution window in hours, the default applied.
func (m CustomMetric) Window() int {
	if m.WindowHours == 0 {
		return DefaultWindowHours
	}
	return m.WindowHours
}

// IsMean reports whether the metric is a mean per recipient.
func (m CustomMetric) IsMean() bool { return m.Kind != CustomConversion }

// IsCustom reports whether m names a custom metric.
func (m Metric) IsCustom() bool { return strings.HasPrefix(string(m), CustomPrefix) }

// Custom returns the custom metric of that name.
func (e Experiment) Custom(m Metric) (CustomMetric, bool) {
	for _, c := range e.CustomMetrics {
		if c.Name() == m {
			return c, true
		}
	}
	return CustomMetric{}, false
}

// knownMetric reports whether m is a built-in metric or one of e's custom
// ones.
func (e Experiment) knownMetric(m Metric) bool {
	if m.IsCustom() {
		_, ok := e.Custom(m)
		return ok
	}
	return m.Valid()
}

var eventNameRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)
var propKeyRE = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)

// validateCustom checks e's custom metrics.
func (e Experiment) validateCustom() error {
	if len(e.CustomMetrics) > MaxCustomMetrics {
		return Invalid("custom_metrics", "at most %d custom metrics", MaxCustomMetrics)
	}
	seen := map[string]bool{}
	for i, m := range e.CustomMetrics {
		f := "custom_metrics[" + strconv.Itoa(i) + "]"
		switch {
		case !ValidKey(m.Key):
			return Invalid(f+".key", "want 1-%d characters of a-z, 0-9, '_' or '-'", MaxKeyLen)
		case seen[m.Key]:
			return Invalid(f+".key", "duplicate custom metric %q", m.Key)
		case m.Kind != CustomConversion && m.Kind != CustomSum && m.Kind != CustomCount:
			return Invalid(f+".kind", "want conversion, sum or count")
		case !eventNameRE.MatchString(m.Event):
			return Invalid(f+".event", "want a user event name: letters, digits and _ . : -")
		case m.Kind == CustomSum && !propKeyRE.MatchString(m.Property):
			return Invalid(f+".property", "a sum needs a number property: letters, digits and _")
		case m.Kind != CustomSum && m.Property != "":
			return Invalid(f+".property", "only a sum reads a property")
		case m.WindowHours < 0 || m.WindowHours > 24*90:
			return Invalid(f+".window_hours", "an attribution window is 1 to 2160 hours (0: %d)", DefaultWindowHours)
		}
		seen[m.Key] = true
	}
	return nil
}
