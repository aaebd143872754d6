package audience

import (
	"time"
	"unicode/utf8"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/experiment"
)

// decodeTrack decodes a POST /v1/track body into req as
// experiment.DecodeStrict does. Bodies of the documented shape are
// scanned by hand (encoding/json's reflection took a quarter of the
// route's CPU); anything else (a key spelt otherwise or twice, a null, bad
// syntax, a bad time) goes to DecodeStrict, which decodes it or words its
// error as for every other route. TestDecodeTrackEqualsStrict holds the
// two to the same results.
func decodeTrack(body []byte, req *trackRequest) error {
	if scanTrack(body, req) {
		return nil
	}
	*req = trackRequest{}
	return experiment.DecodeStrict(body, req)
}

// scanTrack reads body into req if it is {"events":[...]} with each event
// an object of distinct keys among id, unit_id, name (strings), time (an
// RFC 3339 string) and properties (an object), and reports whether it was.
func scanTrack(body []byte, req *trackRequest) bool {
	if !utf8.Valid(body) {
		return false
	}
	p := analytics.JSONScanner{S: string(body)}
	if !p.Eat('{') {
		return false
	}
	if p.Eat('}') {
		return p.AtEnd()
	}
	if key, ok := p.Str(); !ok || key != "events" || !p.Eat(':') || !p.Eat('[') {
		return false
	}
	req.Events = make([]userEventIn, 0, 100)
	var arena analytics.PropArena
	for !p.Eat(']') {
		if len(req.Events) > 0 && !p.Eat(',') {
			return false
		}
		req.Events = append(req.Events, userEventIn{})
		if !scanUserEvent(&p, &req.Events[len(req.Events)-1], &arena) {
			return false
		}
	}
	return p.Eat('}') && p.AtEnd()
}

// scanUserEvent reads one event object from p into e, its properties in
// the batch's arena.
func scanUserEvent(p *analytics.JSONScanner, e *userEventIn, arena *analytics.PropArena) bool {
	if !p.Eat('{') {
		return false
	}
	if p.Eat('}') {
		return true
	}
	var seen [5]bool
	for {
		key, ok := p.Str()
		if !ok || !p.Eat(':') {
			return false
		}
		k := -1
		switch key {
		case "id":
			k = 0
			e.ID, ok = p.Str()
		case "unit_id":
			k = 1
			e.UnitID, ok = p.Str()
		case "name":
			k = 2
			e.Name, ok = p.Str()
		case "time":
			k = 3
			p.Peek() // past space: the token starts at p.I
			start := p.I
			if _, ok = p.Str(); ok {
				var t time.Time
				// time.Time's own decoding, on the token as sent.
				ok = t.UnmarshalJSON([]byte(p.S[start:p.I])) == nil
				e.Time = &t
			}
		case "properties":
			k = 4
			ok = arena.Scan(&e.Properties, p)
		}
		if k < 0 || !ok || seen[k] {
			return false
		}
		seen[k] = true
		if p.Eat(',') {
			continue
		}
		return p.Eat('}')
	}
}
