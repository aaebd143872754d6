package api

import (
	"unicode/utf8"

	"github.com/splitcast/splitcast/api/jsonwire"
	"github.com/splitcast/splitcast/experiment"
)

// decodeAssign decodes a POST /v1/assign body (bulk: false) or one bulk
// NDJSON line (bulk: true, which has no "experiment"), as experiment.DecodeStrict would.
// The common shape goes through a hand-written parser: strict
// encoding/json was 15% of /v1/assign's CPU. Anything that parser does not
// fully understand, valid or not, goes to experiment.DecodeStrict, so every error, and
// every unusual but valid request (escapes, case-folded names, duplicate
// fields, null, nested attribute values), is experiment.DecodeStrict's.
// FuzzDecodeAssign holds the two equal.
func decodeAssign(data []byte, bulk bool, req *assignRequest) error {
	if utf8.Valid(data) && fastDecodeAssign(data, bulk, req) && !pins(len(data), func() int { return keptAssign(req) }) {
		return nil
	}
	// Decoded into variables of this branch: a pointer handed to
	// encoding/json escapes, and req would then be on the heap for the
	// fast path too.
	if !bulk {
		var slow assignRequest
		err := experiment.DecodeStrict(data, &slow)
		*req = slow
		return err
	}
	var in bulkLine
	err := experiment.DecodeStrict(data, &in)
	*req = assignRequest{UnitID: in.UnitID, Attributes: in.Attributes, SendID: in.SendID, Channel: in.Channel}
	return err
}

// keptAssign estimates the bytes of req worth keeping (see pins): its
// strings, and a number or boolean attribute as a few bytes.
func keptAssign(req *assignRequest) int {
	n := len(req.Experiment) + len(req.UnitID) + len(req.SendID) + len(req.Channel)
	for k, v := range req.Attributes {
		n += len(k) + 8
		if s, ok := v.(string); ok {
			n += len(s)
		}
	}
	return n
}

// The fields of an assign request, as bits of what was seen.
const (
	fieldExperiment = 1 << iota
	fieldUnitID
	fieldAttributes
	fieldSendID
	fieldChannel
)

// fastDecodeAssign parses {"name": value, ...} where every name is exactly
// a field of the request, each at most once; the string fields are strings
// with no escape; attributes is an object of such names mapped to escape-
// free strings, numbers, booleans or null. It reports false, with req in
// any state, for anything else.
func fastDecodeAssign(data []byte, bulk bool, req *assignRequest) bool {
	p := jsonwire.NewScanner(data)
	p.Space()
	if !p.Consume('{') {
		return false
	}
	// One string for the whole input: every string field is a slice of
	// it, one allocation instead of one per field.
	src := string(data)
	seen := 0
	p.Space()
	if p.Consume('}') {
		return p.End()
	}
	for {
		name, ok := p.Name(src)
		if !ok {
			return false
		}
		var bit int
		var dst *string
		switch name {
		case "experiment":
			if bulk {
				return false
			}
			bit, dst = fieldExperiment, &req.Experiment
		case "unit_id":
			bit, dst = fieldUnitID, &req.UnitID
		case "send_id":
			bit, dst = fieldSendID, &req.SendID
		case "channel":
			bit, dst = fieldChannel, &req.Channel
		case "attributes":
			bit = fieldAttributes
		default:
			return false
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		if dst != nil {
			if *dst, ok = p.PlainString(src); !ok {
				return false
			}
		} else if req.Attributes, ok = p.Attributes(src); !ok {
			return false
		}
		if more, ok := p.Next('}'); !more {
			return ok && p.End()
		}
	}
}
