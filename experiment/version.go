package experiment

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Action names what produced a version.
type Action string

// The actions. Each exported function of the same name below produces one.
const (
	ActionCreate     Action = "create"
	ActionEdit       Action = "edit"
	ActionStart      Action = "start"
	ActionPause      Action = "pause"
	ActionResume     Action = "resume"
	ActionComplete   Action = "complete"
	ActionArchive    Action = "archive"
	ActionRetire     Action = "retire"
	ActionConclude   Action = "conclude"
	ActionAllocation Action = "allocation"
)

// StartsPhase reports whether a version made by a is the start of a new
// analysis phase: the expected shares of the arms change with it, so sample
// ratio checks compare each phase with its own weights.
func (a Action) StartsPhase() bool {
	switch a {
	case ActionStart, ActionRetire, ActionConclude, ActionAllocation, ActionReweight:
		return true
	}
	return false
}

// Version is one immutable entry of an experiment's history: the whole
// definition as of that version, and who made it, when and why. The history
// is the audit log.
type Version struct {
	Experiment string    `json:"experiment"`
	Version    uint32    `json:"version"`
	Action     Action    `json:"action"`
	Author     string    `json:"author"`
	Reason     string    `json:"reason,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	// Definition is the experiment as of this version;
	// Definition.Version == Version.
	Definition Experiment `json:"definition"`
}

// MaxReasonLen bounds the why of a version; a retirement's reason carries
// the evidence, so it is roomy.
const MaxReasonLen = 10000

// canBecome lists the legal lifecycle moves.
var canBecome = map[Status][]Status{
	StatusDraft:     {StatusRunning, StatusArchived},
	StatusRunning:   {StatusPaused, StatusCompleted},
	StatusPaused:    {StatusRunning, StatusCompleted},
	StatusCompleted: {StatusArchived},
}

// CanBecome reports whether an experiment in status s may move to status to:
// draft->running, running<->paused, running/paused->completed,
// completed->archived and draft->archived.
func (s Status) CanBecome(to Status) bool {
	for _, t := range canBecome[s] {
		if t == to {
			return true
		}
	}
	return false
}

// Transition returns a copy of e moved to status to at now, or an ECONFLICT
// error if the move is not legal. Starting validates the whole definition and
// stamps StartedAt the first time; completing stamps CompletedAt. The version
// number is left alone: the versioned functions below bump it.
func (e Experiment) Transition(to Status, now time.Time) (Experiment, error) {
	if !e.Status.CanBecome(to) {
		return Experiment{}, &Error{Code: ECONFLICT, Field: "status",
			Message: "experiment " + e.Key + " is " + string(e.Status) + " and cannot become " + string(to)}
	}
	n := e.Clone()
	n.Status = to
	n.UpdatedAt = now
	switch to {
	case StatusRunning:
		if n.StartedAt == nil {
			t := now
			n.StartedAt = &t
		}
	case StatusCompleted:
		t := now
		n.CompletedAt = &t
	}
	if err := n.Validate(); err != nil {
		return Experiment{}, err
	}
	return n, nil
}

// Create returns version 1 of a new experiment: a draft, with the salt
// defaulted to the key, the retirement policy's zero fields and absent
// guardrails defaulted, and the timestamps set to now. A new experiment has
// no retired variant and no winner.
func Create(e Experiment, author, reason string, now time.Time) (Version, error) {
	if err := checkWho(author, reason); err != nil {
		return Version{}, err
	}
	n := e.Clone()
	n.Version = 1
	n.CreatedAt = now
	return draft(n, ActionCreate, author, reason, now)
}

// EditDraft returns the next version of the draft cur with the definition
// replaced by edited. The key, status, version and creation time stay cur's;
// anything else may change, including the salt. Only drafts are edited: a
// running experiment changes through Retire, Conclude and SetAllocation.
func EditDraft(cur, edited Experiment, author, reason string, now time.Time) (Version, error) {
	if err := checkWho(author, reason); err != nil {
		return Version{}, err
	}
	if cur.Status != StatusDraft {
		return Version{}, Errorf(ECONFLICT, "experiment %s is %s: only a draft is edited; use the allocation, retire or lifecycle actions", cur.Key, cur.Status)
	}
	if edited.Key != "" && edited.Key != cur.Key {
		return Version{}, Invalid("key", "the key of an experiment never changes (is %q)", cur.Key)
	}
	n := edited.Clone()
	n.Key = cur.Key
	n.Version = cur.Version + 1
	n.CreatedAt = cur.CreatedAt
	return draft(n, ActionEdit, author, reason, now)
}

// draft records n, a definition with its key, version and creation time
// set, as a draft saved at now, once it has its defaults and is valid.
func draft(n Experiment, a Action, author, reason string, now time.Time) (Version, error) {
	n.Status = StatusDraft
	n.UpdatedAt = now
	n.StartedAt, n.CompletedAt = nil, nil
	n.setDefaults()
	if err := checkFresh(&n); err != nil {
		return Version{}, err
	}
	if err := n.Validate(); err != nil {
		return Version{}, err
	}
	return record(n, a, author, reason, now), nil
}

// Start returns the next version of the draft cur, running.
func Start(cur Experiment, author, reason string, now time.Time) (Version, error) {
	return move(cur, StatusDraft, StatusRunning, ActionStart, author, reason, now)
}

// Pause returns the next version of the running cur, paused: it assigns
// nobody until resumed.
func Pause(cur Experiment, author, reason string, now time.Time) (Version, error) {
	return move(cur, StatusRunning, StatusPaused, ActionPause, author, reason, now)
}

// Resume returns the next version of the paused cur, running again. Units
// get the answers they had before the pause.
func Resume(cur Experiment, author, reason string, now time.Time) (Version, error) {
	return move(cur, StatusPaused, StatusRunning, ActionResume, author, reason, now)
}

// Complete returns the next version of the running or paused cur, completed.
func Complete(cur Experiment, author, reason string, now time.Time) (Version, error) {
	return move(cur, "", StatusCompleted, ActionComplete, author, reason, now)
}

// Archive returns the next version of the completed or draft cur, archived.
func Archive(cur Experiment, author, reason string, now time.Time) (Version, error) {
	return move(cur, "", StatusArchived, ActionArchive, author, reason, now)
}

// move checks from (when not empty) so that, e.g., Start on a paused
// experiment says "use resume" instead of quietly resuming it.
func move(cur Experiment, from, to Status, a Action, author, reason string, now time.Time) (Version, error) {
	if err := checkWho(author, reason); err != nil {
		return Version{}, err
	}
	if from != "" && cur.Status != from {
		return Version{}, &Error{Code: ECONFLICT, Field: "status",
			Message: "cannot " + string(a) + " experiment " + cur.Key + ": it is " + string(cur.Status) + ", not " + string(from)}
	}
	n, err := cur.Transition(to, now)
	if err != nil {
		return Version{}, err
	}
	n.Version = cur.Version + 1
	return record(n, a, author, reason, now), nil
}

// Retire returns the next version of the running or paused cur with the
// variant retired in the segment: it stays in the list, marked retired, and
// its units are re-hashed among the survivors (see docs/assignment.md). The
// control is never retired. When one active variant remains, the segment is
// concluded with it as the winner.
func Retire(cur Experiment, segment, variant, author, reason string, now time.Time) (Version, error) {
	n, s, err := liveSegment(cur, segment, author, reason, "retires variants")
	if err != nil {
		return Version{}, err
	}
	vi := s.Variant(variant)
	if vi < 0 {
		return Version{}, &Error{Code: ENOTFOUND, Field: "variant", Message: "no variant " + variant + " in segment " + segment}
	}
	v := &s.Variants[vi]
	switch {
	case v.Control:
		return Version{}, Invalid("variant", "%s is the control of segment %s: the control is never retired", variant, segment)
	case v.Retired:
		return Version{}, &Error{Code: ECONFLICT, Field: "variant", Message: "variant " + variant + " is already retired"}
	case s.Concluded():
		return Version{}, &Error{Code: ECONFLICT, Field: "segment", Message: "segment " + segment + " is concluded (winner " + s.Winner + ")"}
	}
	t := now
	v.Retired, v.RetiredAt, v.RetiredReason = true, &t, reason
	if s.Active() == 1 {
		for _, w := range s.Variants {
			if !w.Retired {
				s.Winner = w.Key
			}
		}
		s.ConcludedAt = &t
	}
	return next(cur, n, ActionRetire, author, reason, now)
}

// Conclude returns the next version of the running or paused cur with the
// segment concluded: from then on every unit of the segment gets winner,
// an active variant (the control or not). Variants are not retired by it:
// the control never is, and the history should show a decision, not a
// cascade of retirements.
func Conclude(cur Experiment, segment, winner, author, reason string, now time.Time) (Version, error) {
	n, s, err := liveSegment(cur, segment, author, reason, "concludes segments")
	if err != nil {
		return Version{}, err
	}
	if s.Concluded() {
		return Version{}, &Error{Code: ECONFLICT, Field: "segment", Message: "segment " + segment + " is already concluded (winner " + s.Winner + ")"}
	}
	wi := s.Variant(winner)
	if wi < 0 {
		return Version{}, &Error{Code: ENOTFOUND, Field: "winner", Message: "no variant " + winner + " in segment " + segment}
	}
	if s.Variants[wi].Retired {
		return Version{}, Invalid("winner", "variant %s is retired", winner)
	}
	t := now
	s.Winner, s.ConcludedAt = winner, &t
	return next(cur, n, ActionConclude, author, reason, now)
}

// liveSegment checks who and why, that cur is running or paused (what
// names the action in the error), and returns a copy of cur with a pointer
// to the named segment in it, for the action to change.
func liveSegment(cur Experiment, segment, author, reason, what string) (Experiment, *Segment, error) {
	if err := checkWho(author, reason); err != nil {
		return Experiment{}, nil, err
	}
	if cur.Status != StatusRunning && cur.Status != StatusPaused {
		return Experiment{}, nil, Errorf(ECONFLICT, "experiment %s is %s: only a running or paused experiment %s", cur.Key, cur.Status, what)
	}
	n := cur.Clone()
	si := n.Segment(segment)
	if si < 0 {
		return Experiment{}, nil, &Error{Code: ENOTFOUND, Field: "segment", Message: "no segment " + segment + " in experiment " + cur.Key}
	}
	return n, &n.Segments[si], nil
}

// SetAllocation returns the next version of the running or paused cur
// admitting the given share of matching units. Raising it only adds units;
// no unit already in changes variant, because allocation and variant use
// separate hashes.
func SetAllocation(cur Experiment, allocation BasisPoints, author, reason string, now time.Time) (Version, error) {
	if err := checkWho(author, reason); err != nil {
		return Version{}, err
	}
	if cur.Status != StatusRunning && cur.Status != StatusPaused {
		return Version{}, Errorf(ECONFLICT, "experiment %s is %s: edit a draft instead", cur.Key, cur.Status)
	}
	if allocation <= 0 || allocation > Full {
		return Version{}, Invalid("allocation", "want a percent above 0 and at most 100, got %v", allocation.Percent())
	}
	if allocation == cur.Allocation {
		return Version{}, Errorf(ECONFLICT, "allocation is already %v", allocation)
	}
	n := cur.Clone()
	n.Allocation = allocation
	return next(cur, n, ActionAllocation, author, reason, now)
}

func next(cur, n Experiment, a Action, author, reason string, now time.Time) (Version, error) {
	n.Version = cur.Version + 1
	n.UpdatedAt = now
	if err := n.Validate(); err != nil {
		return Version{}, err
	}
	return record(n, a, author, reason, now), nil
}

func record(n Experiment, a Action, author, reason string, now time.Time) Version {
	return Version{Experiment: n.Key, Version: n.Version, Action: a, Author: author,
		Reason: reason, CreatedAt: now, Definition: n}
}

func (e *Experiment) setDefaults() {
	if e.Salt == "" {
		e.Salt = e.Key
	}
	if e.GuardrailMetrics == nil {
		e.GuardrailMetrics = append([]Metric(nil), DefaultGuardrails...)
	}
	e.Retirement = e.Retirement.WithDefaults()
	e.setBanditDefaults()
}

func checkFresh(e *Experiment) error {
	for i, s := range e.Segments {
		if s.Winner != "" || s.ConcludedAt != nil {
			return Invalid("segments["+itoa(i)+"].winner", "a draft has no winner")
		}
		for j, v := range s.Variants {
			if v.Retired || v.RetiredAt != nil {
				return Invalid("segments["+itoa(i)+"].variants["+itoa(j)+"].retired", "a draft has no retired variant")
			}
		}
	}
	return nil
}

func checkWho(author, reason string) error {
	if strings.TrimSpace(author) == "" {
		return Invalid("author", "every version says who made it")
	}
	if len(author) > MaxNameLen || !utf8.ValidString(author) {
		return Invalid("author", "want valid UTF-8 of at most %d bytes", MaxNameLen)
	}
	if len(reason) > MaxReasonLen || !utf8.ValidString(reason) {
		return Invalid("reason", "want valid UTF-8 of at most %d bytes", MaxReasonLen)
	}
	return nil
}

func itoa(i int) string { return strconv.Itoa(i) }
