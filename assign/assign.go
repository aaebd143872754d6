// Package assign decides which variant of an experiment a unit gets. It is
// pure: the answer depends only on the experiment definition, the unit id and
// the unit's attributes, never on other units, request order, time or
// channel. docs/assignment.md is the contract, precise enough to reimplement
// in another language, and testdata/assignment holds vectors from an
// independent implementation that this package must reproduce.
//
// Invariants: raising allocation never moves a unit already in the
// experiment to another variant; retiring a variant moves only that
// variant's units, re-hashed among the survivors by weight; a Snapshot is
// immutable, safe for concurrent use, and Assign allocates nothing.
package assign

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/splitcast/splitcast/experiment"
)

// Reason says how an assignment was decided.
type Reason string

// The reasons, in the order the decisions are taken.
const (
	ReasonNoSegment  Reason = "no_segment" // no segment's rule matched: not in the experiment
	ReasonLayer      Reason = "layer"      // the unit's layer slot is outside the experiment's range
	ReasonAllocation Reason = "allocation" // the unit is outside the traffic allocation
	ReasonHoldout    Reason = "holdout"    // in the experiment, held out: no message
	ReasonConcluded  Reason = "concluded"  // the segment is concluded: the winner
	ReasonVariant    Reason = "variant"    // the variant hash chose an active variant
	ReasonReroute    Reason = "reroute"    // the variant hash chose a retired variant; re-hashed
	// ReasonSuppressed is not assign's: the API answers it for a unit in
	// the experiment whom the fatigue rules (analytics/fatigue) withhold
	// the message from.
	ReasonSuppressed Reason = "suppressed"
)

// MaxReroutes is how many reroute hashes are tried before falling back to
// the active variants' own ranges (see docs/assignment.md).
const MaxReroutes = 32

// Buckets are the bucket numbers (0..9999) behind an assignment, for
// debugging and test vectors; -1 means the decision was not reached.
type Buckets struct {
	Layer      int `json:"layer"`
	Allocation int `json:"allocation"`
	Holdout    int `json:"holdout"`
	Variant    int `json:"variant"`
	// Reroute is the bucket of the last reroute hash, and Reroutes how many
	// were taken (0 when the variant hash chose an active variant).
	Reroute  int `json:"reroute"`
	Reroutes int `json:"reroutes"`
}

// Assignment is the answer for one unit.
type Assignment struct {
	Experiment   string  `json:"experiment"`
	Version      uint32  `json:"version"`
	Segment      string  `json:"segment,omitempty"` // empty when no segment matched
	Variant      string  `json:"variant,omitempty"` // empty unless a variant was assigned
	InExperiment bool    `json:"in_experiment"`
	Holdout      bool    `json:"holdout"`
	Reason       Reason  `json:"reason"`
	Buckets      Buckets `json:"buckets"`
	// Payload is the variant's payload, shared with the snapshot: never
	// modify it.
	Payload json.RawMessage `json:"payload,omitempty"`
}

// Arm returns the arm the unit is measured in: the variant key, "holdout",
// or "" when the unit is not in the experiment.
func (a Assignment) Arm() string {
	if a.Holdout {
		return experiment.HoldoutArm
	}
	return a.Variant
}

// Snapshot is a compiled, immutable set of running experiments. Build a new
// one when definitions change and swap it in (an atomic.Pointer does);
// never change one in place.
type Snapshot struct {
	exps map[string]*compiled
	// few is every experiment of exps when there are at most maxFew: a
	// scan comparing keys is cheaper than hashing the key for the map,
	// about a tenth of an assignment.
	few []*compiled
}

const maxFew = 8

type compiled struct {
	key      string
	version  uint32
	salt     string
	layer    string // "" when the experiment has no layer
	slotLo   int
	slotHi   int
	alloc    int
	holdout  int
	segments []segment
	// dims are the experiment's breakdown dimensions, whose values each
	// exposure stores (experiment.Dimensions).
	dims []string
	// target is what a send of this experiment is checked against before
	// its message goes out (see AssignOn).
	target Target
	// Hash states after the constant prefix of each hash input
	// ("<salt>:alloc:" ...), computed once so that Assign hashes only the
	// unit id.
	layerPrefix, allocPrefix, holdoutPrefix hasher
	// traitNames are the trait names the segments' rules read, each
	// once, in the order their leaves are numbered (node.trait); slots
	// are those names resolved by the last SlotSource assigned with.
	traitNames []string
	slots      atomic.Pointer[slotTable]
}

type segment struct {
	key      string
	rule     *Rule
	src      *experiment.Rule // the rule as defined, for Explain
	variants []variant
	// ends[i] is the exclusive upper bucket of variants[i] over all
	// variants; activeEnds the same over active variants only (the reroute
	// fallback), with activeIdx mapping back to variants.
	ends       []int
	activeEnds []int
	activeIdx  []int
	winner     int // index of the winner, or -1
	// variantPrefix is the hash state after "<salt>:variant:<segment>:",
	// reroutePrefix after "<salt>:reroute:<segment>:".
	variantPrefix, reroutePrefix hasher
}

type variant struct {
	key     string
	retired bool
	payload json.RawMessage
	// payloads[experiment.Channel.Index()] is the channel's own payload,
	// nil where the variant has none (payload then).
	payloads *[4]json.RawMessage
}

// NewSnapshot compiles the running experiments among exps (others are left
// out: a paused experiment assigns nobody). An experiment that fails
// validation is left out too, and named in the returned error, so that one
// bad definition does not stop the others from being served; the Snapshot is
// usable whenever it is not nil.
func NewSnapshot(exps []experiment.Experiment) (*Snapshot, error) {
	s := &Snapshot{exps: make(map[string]*compiled, len(exps))}
	var errs []error
	for i := range exps {
		e := &exps[i]
		if e.Status != experiment.StatusRunning {
			continue
		}
		if _, dup := s.exps[e.Key]; dup {
			errs = append(errs, fmt.Errorf("experiment %s: listed twice", e.Key))
			continue
		}
		c, err := Compile(*e)
		if err != nil {
			errs = append(errs, fmt.Errorf("experiment %s: %w", e.Key, err))
			continue
		}
		s.exps[e.Key] = c.c
	}
	if len(s.exps) <= maxFew {
		for _, c := range s.exps {
			s.few = append(s.few, c)
		}
	}
	return s, errors.Join(errs...)
}

// Len returns the number of experiments in the snapshot.
func (s *Snapshot) Len() int {
	if s == nil {
		return 0
	}
	return len(s.exps)
}

// Version returns the version of the experiment in the snapshot, and
// whether it is there.
func (s *Snapshot) Version(key string) (uint32, bool) {
	if s == nil {
		return 0, false
	}
	c := s.lookup(key)
	if c == nil {
		return 0, false
	}
	return c.version, true
}

// Dimensions returns the breakdown dimensions of a running experiment in
// the snapshot (nil for none or no such experiment): what its exposures
// store. The slice is the snapshot's: do not change it.
func (s *Snapshot) Dimensions(key string) []string {
	if c := s.lookup(key); c != nil {
		return c.dims
	}
	return nil
}

// Assign decides for one unit of a running experiment. It returns ENOTFOUND
// if the experiment is not in the snapshot and EINVALID for an empty unit id;
// otherwise it allocates nothing. attrs may be nil.
func (s *Snapshot) Assign(experimentKey, unitID string, attrs Lookup) (a Assignment, err error) {
	// Small enough to be inlined, so that assignTo fills in the caller's
	// result: returning the 19-word Assignment from a call copies it.
	err = s.assignTo(&a, experimentKey, unitID, attrs)
	return a, err
}

func (s *Snapshot) assignTo(a *Assignment, experimentKey, unitID string, attrs Lookup) error {
	c, err := s.running(experimentKey)
	if err != nil {
		return err
	}
	var u unitAttrs
	u.setLookup(attrs)
	return c.assign(a, unitID, &u)
}

// lookup returns the compiled experiment key, or nil.
func (s *Snapshot) lookup(key string) *compiled {
	if s == nil {
		return nil
	}
	if s.few != nil || len(s.exps) == 0 {
		for _, c := range s.few {
			if c.key == key {
				return c
			}
		}
		return nil
	}
	return s.exps[key]
}

// running returns the compiled experiment key, or ENOTFOUND.
func (s *Snapshot) running(key string) (*compiled, error) {
	c := s.lookup(key)
	if c == nil {
		return nil, &experiment.Error{Code: experiment.ENOTFOUND, Field: "experiment",
			Message: "no running experiment " + key}
	}
	return c, nil
}

// AssignWithTraits is Assign with the unit's computed traits beside the
// caller's attributes, merged as WithTraits merges them (the caller's value
// wins). traits is asked once, and only if a rule reads a trait name; nil
// means no traits. Unlike a *WithTraits passed to Assign, which escapes
// through the Lookup interface, this allocates nothing.
func (s *Snapshot) AssignWithTraits(experimentKey, unitID string, attrs Attributes, traits TraitSource) (a Assignment, err error) {
	c, err := s.running(experimentKey)
	if err != nil {
		return a, err
	}
	u := unitAttrs{m: attrs, source: traits, unit: unitID}
	u.slots = c.slotsFor(traits)
	err = c.assign(&a, unitID, &u)
	return a, err
}

// slotsFor returns c's trait names resolved by src, nil when src reads
// traits by name only or c reads none. They are resolved once per compiled
// experiment and source (the first assignment after a snapshot is built),
// and kept: a snapshot is immutable, and so are the catalogue's slots.
func (c *compiled) slotsFor(src TraitSource) *slotTable {
	if len(c.traitNames) == 0 {
		return nil
	}
	// Compared as the TraitSource it came as, before any type assertion
	// (the assertion cost more than the rest of this): t.from holds a
	// SlotSource, comparable, so == never panics.
	if t := c.slots.Load(); t != nil && t.from == src {
		return t
	}
	ss, ok := src.(SlotSource)
	if !ok {
		return nil
	}
	t := &slotTable{from: src, src: ss, slot: make([]int32, len(c.traitNames)), number: make([]bool, len(c.traitNames))}
	for i, name := range c.traitNames {
		t.slot[i], t.number[i] = ss.Slot(name)
	}
	// Racing assignments resolve the same table; any of them may stay.
	c.slots.Store(t)
	return t
}

// Compiled is one experiment compiled for assignment, whatever its status:
// for previews and for SDKs that hold a single experiment.
type Compiled struct{ c *compiled }

// Compile validates e and compiles it.
func Compile(e experiment.Experiment) (*Compiled, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	c := &compiled{
		key:     e.Key,
		version: e.Version,
		salt:    e.HashSalt(),
		alloc:   int(e.Allocation),
		holdout: int(e.Holdout),
		dims:    append([]string(nil), e.Dimensions...),
		target:  targetOf(&e),
	}
	if e.Layer != nil {
		c.layer, c.slotLo, c.slotHi = e.Layer.Name, e.Layer.SlotStart, e.Layer.SlotEnd
		c.layerPrefix = prefix(c.layer, ":layer:")
	}
	c.allocPrefix = prefix(c.salt, ":alloc:")
	c.holdoutPrefix = prefix(c.salt, ":holdout:")
	for i := range e.Segments {
		es := &e.Segments[i]
		seg := segment{key: es.Key, winner: -1,
			variantPrefix: prefix(c.salt, ":variant:", es.Key, ":"),
			reroutePrefix: prefix(c.salt, ":reroute:", es.Key, ":"),
		}
		if es.Rule != nil {
			seg.rule = &Rule{node: compile(es.Rule)}
			seg.src = es.Rule.Clone()
		}
		var weights, activeWeights []int
		for j, v := range es.Variants {
			seg.variants = append(seg.variants, variant{key: v.Key, retired: v.Retired, payload: compact(v.Payload),
				payloads: channelPayloads(v.Payloads)})
			weights = append(weights, v.Weight)
			if !v.Retired {
				activeWeights = append(activeWeights, v.Weight)
				seg.activeIdx = append(seg.activeIdx, j)
			}
			if v.Key == es.Winner {
				seg.winner = j
			}
		}
		seg.ends = Ranges(weights)
		seg.activeEnds = Ranges(activeWeights)
		if seg.rule != nil {
			c.traitNames = seg.rule.node.numberTraits(c.traitNames)
		}
		c.segments = append(c.segments, seg)
	}
	return &Compiled{c: c}, nil
}

// Assign decides for one unit; see Snapshot.Assign.
func (c *Compiled) Assign(unitID string, attrs Lookup) (a Assignment, err error) {
	var u unitAttrs
	u.setLookup(attrs)
	err = c.c.assign(&a, unitID, &u)
	return a, err
}

// Ranges returns the exclusive upper bucket of each weight's range: weight i
// owns buckets [ends[i-1], ends[i]) with ends[i] = floor(cum_i * 10000 /
// total), cum_i the sum of weights 0..i. The last end is 10000.
func Ranges(weights []int) []int {
	total := 0
	for _, w := range weights {
		total += w
	}
	ends := make([]int, len(weights))
	cum := 0
	for i, w := range weights {
		cum += w
		ends[i] = cum * buckets / total
	}
	return ends
}

func prefix(parts ...string) hasher {
	var m hasher
	for _, p := range parts {
		m.write(p)
	}
	return m
}

// bucketOf finishes a prefix's hash with the unit id and buckets it.
func bucketOf(m *hasher, unit string) int {
	return Bucket(m.finish(unit))
}

// pick returns the index of the range holding bucket b.
func pick(ends []int, b int) int {
	for i, e := range ends {
		if b < e {
			return i
		}
	}
	return len(ends) - 1 // unreachable: the last end is 10000
}

// assign fills in a, which must be zero, for one unit. It writes into the
// caller's result rather than returning one: an Assignment is 19 words, and
// each copy on the way back cost as much as a hash.
func (c *compiled) assign(a *Assignment, unit string, attrs *unitAttrs) error {
	if unit == "" {
		return &experiment.Error{Code: experiment.EINVALID, Field: "unit_id", Message: "empty unit id"}
	}
	a.Experiment = c.key
	a.Version = c.version
	a.Buckets = Buckets{Layer: -1, Allocation: -1, Holdout: -1, Variant: -1, Reroute: -1}
	var seg *segment
	for i := range c.segments {
		if r := c.segments[i].rule; r == nil || r.node.match(attrs) {
			seg = &c.segments[i]
			break
		}
	}
	if seg == nil {
		a.Reason = ReasonNoSegment
		return nil
	}
	a.Segment = seg.key
	if c.layer != "" {
		// The layer name, not the salt, seeds the slot: every experiment of
		// the layer must see the same slot for a unit.
		slot := bucketOf(&c.layerPrefix, unit)
		a.Buckets.Layer = slot
		if slot < c.slotLo || slot >= c.slotHi {
			a.Reason = ReasonLayer
			return nil
		}
	}
	// The three hashes that most units need, at once (finish3 says why
	// that is cheaper); a unit decided before the last needs costs little
	// more for it.
	ha, hh, hv := finish3(&c.allocPrefix, &c.holdoutPrefix, &seg.variantPrefix, unit)
	b := Bucket(ha)
	a.Buckets.Allocation = b
	if b >= c.alloc {
		a.Reason = ReasonAllocation
		return nil
	}
	a.InExperiment = true
	if c.holdout > 0 {
		b = Bucket(hh)
		a.Buckets.Holdout = b
		if b < c.holdout {
			a.Holdout = true
			a.Reason = ReasonHoldout
			return nil
		}
	}
	if seg.winner >= 0 {
		v := &seg.variants[seg.winner]
		a.Variant, a.Payload, a.Reason = v.key, v.payload, ReasonConcluded
		return nil
	}
	b = Bucket(hv)
	a.Buckets.Variant = b
	i := pick(seg.ends, b)
	a.Reason = ReasonVariant
	if seg.variants[i].retired {
		a.Reason = ReasonReroute
		i = c.reroute(seg, unit, &a.Buckets)
	}
	v := &seg.variants[i]
	a.Variant, a.Payload = v.key, v.payload
	return nil
}

// reroute draws again, independently, over all variants' ranges until an
// active one comes up. Because the draws are fixed per unit, retiring one
// more variant later moves only the units that landed on it; and the first
// active draw falls on each survivor in proportion to its weight.
func (c *compiled) reroute(seg *segment, unit string, bk *Buckets) int {
	b := 0
	for n := 1; n <= MaxReroutes; n++ {
		m := seg.reroutePrefix
		m.writeInt(n)
		m.write(":")
		m.write(unit)
		b = Bucket(m.sum())
		bk.Reroute, bk.Reroutes = b, n
		if i := pick(seg.ends, b); !seg.variants[i].retired {
			return i
		}
	}
	// Only when nearly all the weight is retired: the last draw over the
	// active variants' own ranges.
	return seg.activeIdx[pick(seg.activeEnds, b)]
}

// compact returns the payload without insignificant white space, once per
// snapshot, so that every answer can carry it as it is: one NDJSON line per
// unit, no re-encoding per unit.
func compact(p json.RawMessage) json.RawMessage {
	if len(p) == 0 {
		return nil
	}
	var b bytes.Buffer
	if json.Compact(&b, p) != nil {
		return p // validated at save; keep what we were given
	}
	return b.Bytes()
}
