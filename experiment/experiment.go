// Package experiment is Splitcast's domain root: the definition of an
// experiment (segments, variants, rules, allocation, holdout, layer, metrics,
// retirement policy), its validation, its lifecycle, the versioned actions
// that change it, and the Store interface that keeps its history.
//
// Invariants: an Experiment value is never mutated by this package; every
// action returns a new Version whose Definition has Version = old+1. A
// running experiment's assignment-relevant fields change only through Retire,
// Conclude and SetAllocation, never through EditDraft.
package experiment

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Channel is the medium a message goes out on. It never enters assignment:
// a unit gets the same variant whichever channel asks.
type Channel string

// The channels.
const (
	ChannelEmail Channel = "email"
	ChannelPush  Channel = "push"
	ChannelSMS   Channel = "sms"
	ChannelInApp Channel = "in_app"
)

// Valid reports whether c is a known channel.
func (c Channel) Valid() bool {
	switch c {
	case ChannelEmail, ChannelPush, ChannelSMS, ChannelInApp:
		return true
	}
	return false
}

// Status is where an experiment is in its lifecycle.
type Status string

// The statuses. Only running experiments assign units.
const (
	StatusDraft     Status = "draft"
	StatusRunning   Status = "running"
	StatusPaused    Status = "paused"
	StatusCompleted Status = "completed"
	StatusArchived  Status = "archived"
)

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	switch s {
	case StatusDraft, StatusRunning, StatusPaused, StatusCompleted, StatusArchived:
		return true
	}
	return false
}

// Metric names a measured outcome of a message.
type Metric string

// The metrics. Rates are per recipient (exposure) except click_to_open,
// which is clicks over opens; revenue_per_recipient is a mean.
const (
	MetricOpenRate            Metric = "open_rate"
	MetricClickRate           Metric = "click_rate"
	MetricClickToOpen         Metric = "click_to_open"
	MetricConversionRate      Metric = "conversion_rate"
	MetricRevenuePerRecipient Metric = "revenue_per_recipient"
	MetricUnsubscribeRate     Metric = "unsubscribe_rate"
	MetricComplaintRate       Metric = "complaint_rate"
)

// DefaultGuardrails are the fatigue metrics every experiment watches unless
// it names its own: a variant must not win clicks by annoying people.
var DefaultGuardrails = []Metric{MetricUnsubscribeRate, MetricComplaintRate}

// Valid reports whether m is a known metric.
func (m Metric) Valid() bool {
	switch m {
	case MetricOpenRate, MetricClickRate, MetricClickToOpen, MetricConversionRate,
		MetricRevenuePerRecipient, MetricUnsubscribeRate, MetricComplaintRate:
		return true
	}
	return false
}

// IsMean reports whether m is a mean per recipient (tested with Welch's t
// on sums and sums of squares) rather than a rate (a two-proportion test).
func (m Metric) IsMean() bool { return m == MetricRevenuePerRecipient }

// LowerIsBetter reports whether a smaller value of m is the better one (the
// fatigue metrics).
func (m Metric) LowerIsBetter() bool {
	return m == MetricUnsubscribeRate || m == MetricComplaintRate
}

// BasisPoints is a share of units in hundredths of a percent: 10000 is all
// of them. Assignment compares it with a bucket in [0, 10000), so a share of
// n basis points admits exactly n buckets.
//
// In JSON it is written as a percent, a number with at most two decimals
// (12.5 means 1250 basis points), because people think in percents.
type BasisPoints int

// Full is 100 percent.
const Full BasisPoints = 10000

// Percent returns b as a percent.
func (b BasisPoints) Percent() float64 { return float64(b) / 100 }

// String formats b as a percent, e.g. "12.5%".
func (b BasisPoints) String() string {
	return strconv.FormatFloat(b.Percent(), 'f', -1, 64) + "%"
}

// MarshalJSON writes b as a percent number.
func (b BasisPoints) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, b.Percent(), 'f', -1, 64), nil
}

// UnmarshalJSON reads a percent number with at most two decimals.
func (b *BasisPoints) UnmarshalJSON(data []byte) error {
	var f float64
	if err := json.Unmarshal(data, &f); err != nil {
		return fmt.Errorf("want a percent number: %w", err)
	}
	bp := f * 100
	r := float64(int64(bp + 0.5))
	if bp < 0 {
		r = float64(int64(bp - 0.5))
	}
	if d := bp - r; d > 1e-6 || d < -1e-6 || r > 1e9 || r < -1e9 {
		return fmt.Errorf("percent %v: want at most two decimals, within range", f)
	}
	*b = BasisPoints(r)
	return nil
}

// Duration is a time.Duration written in JSON as a Go duration string
// ("72h", "30m") rather than as nanoseconds.
type Duration time.Duration

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string such as "168h".
func (d *Duration) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("want a duration string like \"24h\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration string like \"24h\": %w", err)
	}
	*d = Duration(v)
	return nil
}

// Layer makes experiments mutually exclusive: every unit has one slot in
// [0, 10000) per layer name, and an experiment admits only units whose slot
// is in [SlotStart, SlotEnd). Experiments in one layer with non-overlapping
// ranges never share a unit.
type Layer struct {
	Name      string `json:"name"`
	SlotStart int    `json:"slot_start"` // inclusive
	SlotEnd   int    `json:"slot_end"`   // exclusive, at most 10000
}

// RetirementPolicy says when the retirement loop may retire a variant. Zero
// fields take the defaults below when an experiment is created or edited.
type RetirementPolicy struct {
	// Auto lets the retirement loop retire variants by itself; otherwise
	// only a person does, through the API.
	Auto bool `json:"auto"`
	// Alpha is the significance level of the sequential test (default 0.05).
	Alpha float64 `json:"alpha"`
	// MinSamplePerArm is the number of exposed units every arm of a segment
	// needs before any of its variants can be retired (default 1000).
	MinSamplePerArm int `json:"min_sample_per_arm"`
	// MinRuntime is how long the experiment must have run (default 72h).
	MinRuntime Duration `json:"min_runtime"`
	// Interval is how often the loop looks (default 1h).
	Interval Duration `json:"interval"`
	// Correction is how the report and the loop adjust a segment's p-values
	// for its several variants: CorrectionHolm (default) or CorrectionBH.
	Correction Correction `json:"correction,omitempty"`
	// CupedDays is the window before a unit's first exposure whose events
	// are CUPED's covariate (default DefaultCupedDays).
	CupedDays int `json:"cuped_days,omitempty"`
}

// Defaults of RetirementPolicy.
const (
	DefaultAlpha           = 0.05
	DefaultMinSamplePerArm = 1000
	DefaultMinRuntime      = Duration(72 * time.Hour)
	DefaultInterval        = Duration(time.Hour)
)

// WithDefaults fills p's zero fields with the documented defaults: the one
// place they are applied, at definition time and for definitions stored
// before a field existed.
func (p RetirementPolicy) WithDefaults() RetirementPolicy {
	if p.Alpha == 0 {
		p.Alpha = DefaultAlpha
	}
	if p.MinSamplePerArm == 0 {
		p.MinSamplePerArm = DefaultMinSamplePerArm
	}
	if p.MinRuntime == 0 {
		p.MinRuntime = DefaultMinRuntime
	}
	if p.Interval == 0 {
		p.Interval = DefaultInterval
	}
	if p.Correction == "" {
		p.Correction = CorrectionHolm
	}
	if p.CupedDays == 0 {
		p.CupedDays = DefaultCupedDays
	}
	return p
}

// Variant is one version of the message. A retired variant stays in its
// segment's list, so that history and hashing keep their meaning, but gets
// no new units.
type Variant struct {
	Key           string          `json:"key"`
	Name          string          `json:"name,omitempty"`
	Weight        int             `json:"weight"`
	Control       bool            `json:"control,omitempty"`
	Retired       bool            `json:"retired,omitempty"`
	RetiredAt     *time.Time      `json:"retired_at,omitempty"`
	RetiredReason string          `json:"retired_reason,omitempty"`
	Payload       json.RawMessage `json:"payload,omitempty"`
	// Payloads is the message per channel of a multi-channel experiment
	// (email subject/body/cta, push title/body, sms text, an in_app card);
	// a channel without one gets Payload.
	Payloads map[Channel]json.RawMessage `json:"payloads,omitempty"`
}

// Segment is a group of units chosen by a rule, with its own variants and
// its own winner. A nil Rule matches every unit (a catch-all).
type Segment struct {
	Key      string    `json:"key"`
	Name     string    `json:"name,omitempty"`
	Rule     *Rule     `json:"rule,omitempty"`
	Variants []Variant `json:"variants"`
	// Winner is set when the segment is concluded: every unit of the segment
	// then gets this variant.
	Winner      string     `json:"winner,omitempty"`
	ConcludedAt *time.Time `json:"concluded_at,omitempty"`
	// Allocation is AllocationFixed (or empty: the variants' weights as
	// configured) or AllocationBandit, whose weights the bandit loop moves
	// by Bandit's policy, each move a versioned Reweight.
	Allocation string        `json:"allocation,omitempty"`
	Bandit     *BanditPolicy `json:"bandit,omitempty"`
}

// Concluded reports whether the segment has a winner.
func (s Segment) Concluded() bool { return s.Winner != "" }

// Control returns the index of the segment's control variant, or -1.
func (s Segment) Control() int {
	for i, v := range s.Variants {
		if v.Control {
			return i
		}
	}
	return -1
}

// Variant returns the index of the variant with the given key, or -1.
func (s Segment) Variant(key string) int {
	for i, v := range s.Variants {
		if v.Key == key {
			return i
		}
	}
	return -1
}

// Active returns the number of variants not retired.
func (s Segment) Active() int {
	n := 0
	for _, v := range s.Variants {
		if !v.Retired {
			n++
		}
	}
	return n
}

// Experiment is one versioned definition. Units are matched against the
// segments in order (first match wins); of the matching units, Allocation
// enter the experiment; of those, Holdout get no message and are measured as
// their own arm ("holdout"); the rest get a variant by weight.
type Experiment struct {
	Key         string  `json:"key"`
	Name        string  `json:"name,omitempty"`
	Description string  `json:"description,omitempty"`
	Channel     Channel `json:"channel"`
	// Channels, when set, are every channel the experiment sends on
	// (Channel among them): a unit meets the same variant on each, with
	// the variant's payload for that channel.
	Channels []Channel `json:"channels,omitempty"`
	Status   Status    `json:"status"`
	Version  uint32    `json:"version"`
	// Salt seeds every hash of this experiment. It defaults to the key;
	// changing it reshuffles every unit, so only a draft may change it.
	Salt       string      `json:"salt,omitempty"`
	Allocation BasisPoints `json:"allocation"`
	Holdout    BasisPoints `json:"holdout"`
	Layer      *Layer      `json:"layer,omitempty"`
	Segments   []Segment   `json:"segments"`

	PrimaryMetric    Metric   `json:"primary_metric"`
	GuardrailMetrics []Metric `json:"guardrail_metrics,omitempty"`
	// CustomMetrics are metrics of user events, named custom.<key> (see
	// CustomMetric).
	CustomMetrics []CustomMetric   `json:"custom_metrics,omitempty"`
	Retirement    RetirementPolicy `json:"retirement"`
	// FrequencyCap narrows the deployment's frequency caps for this
	// experiment's sends; nil keeps them.
	FrequencyCap *CapOverride `json:"frequency_cap,omitempty"`

	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	StartedAt   *time.Time `json:"started_at,omitempty"`
	CompletedAt *time.Time `json:"completed_at,omitempty"`

	// Dimensions are the exposure attributes reports can break every
	// metric down by (issue 20): up to MaxDimensions caller attribute keys
	// (country, plan), or DimensionChannel; each exposure stores their values.
	Dimensions []string `json:"dimensions,omitempty"`
	// Imported is set when the experiment's units were assigned by another
	// tool and their events imported (MarkImported).
	Imported *Imported `json:"imported,omitempty"`
}

// UnmarshalJSON decodes an experiment, reading an absent "allocation" as
// 100 percent: a person who leaves it out means everybody, and a zero would
// silently admit nobody.
func (e *Experiment) UnmarshalJSON(data []byte) error {
	p := plainExperiment{Allocation: Full}
	if err := json.Unmarshal(data, &p); err != nil {
		return err
	}
	*e = Experiment(p)
	return nil
}

// plainExperiment has Experiment's fields without its UnmarshalJSON, so
// that decoding it does not recurse.
type plainExperiment Experiment

// HashSalt returns the salt that seeds assignment hashes: Salt, or the key
// when Salt is empty.
func (e Experiment) HashSalt() string {
	if e.Salt != "" {
		return e.Salt
	}
	return e.Key
}

// Segment returns the index of the segment with the given key, or -1.
func (e Experiment) Segment(key string) int {
	for i, s := range e.Segments {
		if s.Key == key {
			return i
		}
	}
	return -1
}

// Clone returns a deep copy of e, so that an action can change the copy
// without touching a value someone else holds. Payloads and rule values are
// shared: they are never mutated.
func (e Experiment) Clone() Experiment {
	c := e
	if e.Layer != nil {
		l := *e.Layer
		c.Layer = &l
	}
	c.StartedAt = cloneTime(e.StartedAt)
	c.CompletedAt = cloneTime(e.CompletedAt)
	c.Dimensions = cloneAnalysis(e, &c)
	if e.Channels != nil {
		c.Channels = append([]Channel(nil), e.Channels...)
	}
	if e.FrequencyCap != nil {
		c.FrequencyCap = e.FrequencyCap.clone()
	}
	if e.GuardrailMetrics != nil {
		c.GuardrailMetrics = append([]Metric(nil), e.GuardrailMetrics...)
	}
	if e.CustomMetrics != nil {
		c.CustomMetrics = append([]CustomMetric(nil), e.CustomMetrics...)
	}
	if e.Segments != nil {
		c.Segments = make([]Segment, len(e.Segments))
		for i, s := range e.Segments {
			cs := s
			cs.Rule = s.Rule.Clone()
			cs.ConcludedAt = cloneTime(s.ConcludedAt)
			if s.Bandit != nil {
				b := *s.Bandit
				cs.Bandit = &b
			}
			if s.Variants != nil {
				cs.Variants = make([]Variant, len(s.Variants))
				for j, v := range s.Variants {
					v.RetiredAt = cloneTime(v.RetiredAt)
					cs.Variants[j] = v
				}
			}
			c.Segments[i] = cs
		}
	}
	return c
}

func cloneTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}
