// Package traits computes behavioural traits (engagement, lifecycle,
// recency, preferred channel) from Splitcast's own events and holds them in
// a cache that assignment reads without waiting on ClickHouse.
package traits

// Behavioural traits: what Splitcast knows of a unit from its own events,
// offered to segment rules as attributes named "trait.<name>" beside the
// caller's attributes (a caller attribute of the same name wins: see
// assign.WithTraits).
//
// Every trait is computed from human events only (machine-flagged opens and
// clicks never count), each event counted once by its id, over whole UTC
// days: "today" is the UTC date of the computation, "the last 7 days" are
// today and the six days before it, and "days since" is today's date minus
// the event's date (0 for today).
//
// The trait names and their values (numbers are float64, as from JSON):
//
//	trait.opens_7d, trait.opens_30d, trait.opens_90d            opens in the window
//	trait.clicks_7d, trait.clicks_30d, trait.clicks_90d          clicks
//	trait.conversions_7d, trait.conversions_30d, trait.conversions_90d
//	trait.days_since_open, trait.days_since_click                absent when none in 90 days
//	trait.engagement_score                                       see EngagementScore
//	trait.engagement_level                                       none, low, medium, high
//	trait.lifecycle_stage                                        see Lifecycle
//	trait.preferred_channel                                      absent when no engagement has a channel
//	trait.known                                                  false for a unit with no history
//
// A unit without history has DefaultTraits: zero counts, no days since,
// engagement "none", lifecycle "new", no preferred channel, known false.

// WindowDays is how far back traits look: the longest count window.
const WindowDays = 90

// FirstSeenHorizonDays bounds the search for a unit's first event, which
// only matters for the "new" and "onboarding" stages (under 30 days).
const FirstSeenHorizonDays = 365

// Engagement levels, by EngagementScore.
const (
	EngagementNone   = "none"   // score 0
	EngagementLow    = "low"    // 1 to 3
	EngagementMedium = "medium" // 4 to 9
	EngagementHigh   = "high"   // 10 and more
)

// Lifecycle stages; see Lifecycle for the rules.
const (
	StageNew        = "new"
	StageOnboarding = "onboarding"
	StageActive     = "active"
	StageAtRisk     = "at_risk"
	StageDormant    = "dormant"
	StageReengaged  = "re_engaged"
)

// DayActivity is a unit's human events of one UTC day whose message went out
// on one channel ("" when the event cannot be tied to an exposure with a
// channel), each event counted once.
type DayActivity struct {
	Day         int32 // UTC days since 1970-01-01
	Channel     string
	Exposures   uint32
	Opens       uint32
	Clicks      uint32
	Conversions uint32
}

// UnitActivity is what traits are computed from: a unit's first day seen
// (its first event of any kind within FirstSeenHorizonDays) and its daily
// activity over the last WindowDays.
type UnitActivity struct {
	Unit      string
	FirstSeen int32 // UTC day; 0 when unknown
	Days      []DayActivity
	// LastSeen is a day the unit was seen on besides Days': its latest,
	// when Seen.
	LastSeen int32
	// Seen marks a unit whose events since the reader's last mark were all
	// exposures, which change no count: FirstSeen is the first day of those
	// events or of events before the window (see Reader), LastSeen
	// the latest day the unit was seen, and Days is empty. The cache
	// keeps the activity it holds for such a unit and only moves those two
	// days; reading the whole activity of every newly exposed unit was most
	// of a refresh's cost, since exposures are most events.
	Seen bool
}

// LastDay returns the latest day with any activity, or FirstSeen.
func (a *UnitActivity) LastDay() int32 {
	last := max(a.FirstSeen, a.LastSeen)
	for _, d := range a.Days {
		last = max(last, d.Day)
	}
	return last
}

// Traits are a unit's behavioural traits on one day. Days-since fields are
// -1 when there was no such event in the window.
type Traits struct {
	Known            bool    `json:"known"`
	Opens7d          int     `json:"opens_7d"`
	Opens30d         int     `json:"opens_30d"`
	Opens90d         int     `json:"opens_90d"`
	Clicks7d         int     `json:"clicks_7d"`
	Clicks30d        int     `json:"clicks_30d"`
	Clicks90d        int     `json:"clicks_90d"`
	Conversions7d    int     `json:"conversions_7d"`
	Conversions30d   int     `json:"conversions_30d"`
	Conversions90d   int     `json:"conversions_90d"`
	DaysSinceOpen    int     `json:"days_since_open"`
	DaysSinceClick   int     `json:"days_since_click"`
	EngagementScore  float64 `json:"engagement_score"`
	EngagementLevel  string  `json:"engagement_level"`
	LifecycleStage   string  `json:"lifecycle_stage"`
	PreferredChannel string  `json:"preferred_channel,omitempty"`
}

// DefaultTraits are the traits of a unit with no known history.
func DefaultTraits() Traits {
	return Traits{DaysSinceOpen: -1, DaysSinceClick: -1, EngagementLevel: EngagementNone, LifecycleStage: StageNew}
}

// EngagementScore is opens + 3·clicks + 5·conversions over the last 30
// days: a click says more than an open (which mail clients fake), a
// conversion more than a click.
func EngagementScore(opens30d, clicks30d, conversions30d int) float64 {
	return float64(opens30d + 3*clicks30d + 5*conversions30d)
}

// EngagementLevel buckets a score: 0 none, 1–3 low, 4–9 medium, 10+ high.
// So one open a week is low, a click or two a month medium, and a unit that
// opens most messages and clicks some is high.
func EngagementLevel(score float64) string {
	switch {
	case score <= 0:
		return EngagementNone
	case score < 4:
		return EngagementLow
	case score < 10:
		return EngagementMedium
	}
	return EngagementHigh
}

// Lifecycle decides the stage, with age the days since the unit was first
// seen (any event, exposures included), sinceEngaged the days since its last
// human open, click or conversion (-1: none in 90 days), and gap the days
// between its first engagement of the last 7 days and the engagement before
// it (-1: no engagement before the last 7 days). The first rule that holds:
//
//  1. new: first seen under 7 days ago, never engaged;
//  2. onboarding: first seen under 30 days ago;
//  3. re_engaged: engaged in the last 7 days after 30 days or more without
//     any engagement (or, for a unit older than 30 days, its first engagement
//     in the window);
//  4. active: engaged in the last 14 days;
//  5. at_risk: last engaged 14 to 29 days ago;
//  6. dormant: no engagement in the last 30 days (or ever).
func Lifecycle(age, sinceEngaged, gap int) string {
	switch {
	case age < 7 && sinceEngaged < 0:
		return StageNew
	case age < 30:
		return StageOnboarding
	case sinceEngaged >= 0 && sinceEngaged < 7 && (gap < 0 || gap >= 30):
		return StageReengaged
	case sinceEngaged >= 0 && sinceEngaged < 14:
		return StageActive
	case sinceEngaged >= 14 && sinceEngaged < 30:
		return StageAtRisk
	}
	return StageDormant
}

// channelOrder breaks ties of preferred channel: the order of
// experiment.Channel's constants.
var channelOrder = map[string]int{"email": 0, "push": 1, "sms": 2, "in_app": 3}

// ComputeTraits derives a unit's traits on day today from its activity.
// Activity outside the 90-day window is ignored, so the same activity gives
// the right traits on later days without reading it again.
func ComputeTraits(a *UnitActivity, today int32) Traits {
	t := DefaultTraits()
	if a == nil || (a.FirstSeen == 0 && len(a.Days) == 0) {
		return t
	}
	t.Known = true
	first := a.FirstSeen
	lastOpen, lastClick, lastEng := int32(-1), int32(-1), int32(-1)
	firstRecentEng, prevEng := int32(-1), int32(-1)
	engByChannel := map[string]int{}
	for _, d := range a.Days {
		if first == 0 || d.Day < first {
			first = d.Day
		}
		ago := int(today - d.Day)
		if ago < 0 || ago >= WindowDays {
			continue
		}
		in := func(window int, n uint32) int {
			if ago < window {
				return int(n)
			}
			return 0
		}
		t.Opens7d += in(7, d.Opens)
		t.Opens30d += in(30, d.Opens)
		t.Opens90d += int(d.Opens)
		t.Clicks7d += in(7, d.Clicks)
		t.Clicks30d += in(30, d.Clicks)
		t.Clicks90d += int(d.Clicks)
		t.Conversions7d += in(7, d.Conversions)
		t.Conversions30d += in(30, d.Conversions)
		t.Conversions90d += int(d.Conversions)
		if d.Opens > 0 {
			lastOpen = max(lastOpen, d.Day)
		}
		if d.Clicks > 0 {
			lastClick = max(lastClick, d.Day)
		}
		eng := d.Opens + d.Clicks + d.Conversions
		if eng == 0 {
			continue
		}
		lastEng = max(lastEng, d.Day)
		if ago < 7 {
			if firstRecentEng < 0 || d.Day < firstRecentEng {
				firstRecentEng = d.Day
			}
		} else {
			prevEng = max(prevEng, d.Day)
		}
		if d.Channel != "" {
			engByChannel[d.Channel] += int(eng)
		}
	}
	since := func(day int32) int {
		if day < 0 {
			return -1
		}
		return int(today - day)
	}
	t.DaysSinceOpen, t.DaysSinceClick = since(lastOpen), since(lastClick)
	t.EngagementScore = EngagementScore(t.Opens30d, t.Clicks30d, t.Conversions30d)
	t.EngagementLevel = EngagementLevel(t.EngagementScore)
	gap := -1
	if firstRecentEng >= 0 && prevEng >= 0 {
		gap = int(firstRecentEng - prevEng)
	}
	t.LifecycleStage = Lifecycle(int(today-first), since(lastEng), gap)
	best := -1
	for ch, n := range engByChannel {
		if n > best || (n == best && rank(ch) < rank(t.PreferredChannel)) {
			best, t.PreferredChannel = n, ch
		}
	}
	return t
}

func rank(ch string) int {
	if r, ok := channelOrder[ch]; ok {
		return r
	}
	return len(channelOrder)
}

// Trait names, without the "trait." prefix.
const (
	traitKnown = iota
	traitOpens7d
	traitOpens30d
	traitOpens90d
	traitClicks7d
	traitClicks30d
	traitClicks90d
	traitConversions7d
	traitConversions30d
	traitConversions90d
	traitDaysSinceOpen
	traitDaysSinceClick
	traitEngagementScore
	traitEngagementLevel
	traitLifecycleStage
	traitPreferredChannel
	numTraits
)

// Names are the names segment rules use, in the order of the trait
// table above, each to be prefixed with "trait.".
var Names = [numTraits]string{
	"known", "opens_7d", "opens_30d", "opens_90d", "clicks_7d", "clicks_30d", "clicks_90d",
	"conversions_7d", "conversions_30d", "conversions_90d", "days_since_open", "days_since_click",
	"engagement_score", "engagement_level", "lifecycle_stage", "preferred_channel",
}

// traitIndex finds a trait by its full name ("trait.opens_30d"). A switch,
// which the compiler turns into a search on length and bytes, because it
// runs for every trait a segment rule reads on the assignment path.
func traitIndex(name string) int {
	switch name {
	case "trait.known":
		return traitKnown
	case "trait.opens_7d":
		return traitOpens7d
	case "trait.opens_30d":
		return traitOpens30d
	case "trait.opens_90d":
		return traitOpens90d
	case "trait.clicks_7d":
		return traitClicks7d
	case "trait.clicks_30d":
		return traitClicks30d
	case "trait.clicks_90d":
		return traitClicks90d
	case "trait.conversions_7d":
		return traitConversions7d
	case "trait.conversions_30d":
		return traitConversions30d
	case "trait.conversions_90d":
		return traitConversions90d
	case "trait.days_since_open":
		return traitDaysSinceOpen
	case "trait.days_since_click":
		return traitDaysSinceClick
	case "trait.engagement_score":
		return traitEngagementScore
	case "trait.engagement_level":
		return traitEngagementLevel
	case "trait.lifecycle_stage":
		return traitLifecycleStage
	case "trait.preferred_channel":
		return traitPreferredChannel
	}
	return -1
}

// UnitTraits are a unit's traits ready for segment rules: immutable, with
// every value boxed once, so that Lookup allocates nothing. It implements
// assign.Lookup for the names "trait.<name>".
type UnitTraits struct {
	Traits
	// Day is the UTC day the traits were computed for.
	Day int32
	// LastSeen is the unit's latest day with any event, exposures
	// included; 0 when unknown.
	LastSeen int32
	vals     [numTraits]any
}

// NewUnitTraits boxes t's values for Lookup.
func NewUnitTraits(t Traits, day int32) *UnitTraits {
	u := &UnitTraits{Traits: t, Day: day}
	u.vals = [numTraits]any{
		t.Known, boxCount(t.Opens7d), boxCount(t.Opens30d), boxCount(t.Opens90d),
		boxCount(t.Clicks7d), boxCount(t.Clicks30d), boxCount(t.Clicks90d),
		boxCount(t.Conversions7d), boxCount(t.Conversions30d), boxCount(t.Conversions90d),
		nil, nil, boxFloat(t.EngagementScore), boxString(t.EngagementLevel), boxString(t.LifecycleStage), nil,
	}
	if t.DaysSinceOpen >= 0 {
		u.vals[traitDaysSinceOpen] = boxCount(t.DaysSinceOpen)
	}
	if t.DaysSinceClick >= 0 {
		u.vals[traitDaysSinceClick] = boxCount(t.DaysSinceClick)
	}
	if t.PreferredChannel != "" {
		u.vals[traitPreferredChannel] = boxString(t.PreferredChannel)
	}
	return u
}

// The values most units' traits take (whole numbers under 256, the
// levels, stages and channels) are boxed once and shared: boxing each
// unit's own would leave a cache of a million units with some sixteen
// million tiny heap objects for every garbage collection to mark. These
// tables are never written after initialisation.
var (
	boxedCounts = func() (b [256]any) {
		for i := range b {
			b[i] = float64(i)
		}
		return b
	}()
	boxedStrings = func() map[string]any {
		m := map[string]any{}
		for _, s := range []string{EngagementNone, EngagementLow, EngagementMedium, EngagementHigh,
			StageNew, StageOnboarding, StageActive, StageAtRisk, StageDormant, StageReengaged,
			"email", "push", "sms", "in_app"} {
			m[s] = s
		}
		return m
	}()
)

func boxCount(n int) any {
	if n >= 0 && n < len(boxedCounts) {
		return boxedCounts[n]
	}
	return float64(n)
}

func boxFloat(f float64) any {
	if f >= 0 && f < float64(len(boxedCounts)) && f == float64(int(f)) {
		return boxedCounts[int(f)]
	}
	return f
}

func boxString(s string) any {
	if v, ok := boxedStrings[s]; ok {
		return v
	}
	return s
}

// Lookup returns the trait named "trait.<name>"; absent traits (days since
// an event that did not happen, no preferred channel) and unknown names are
// missing.
func (u *UnitTraits) Lookup(name string) (any, bool) {
	i := traitIndex(name)
	if i < 0 || u.vals[i] == nil {
		return nil, false
	}
	return u.vals[i], true
}

// Attributes returns the traits as rules see them, keyed by full name, for
// debugging a unit's segment.
func (u *UnitTraits) Attributes() map[string]any {
	m := make(map[string]any, numTraits)
	for i, v := range u.vals {
		if v != nil {
			m["trait."+Names[i]] = v
		}
	}
	return m
}
