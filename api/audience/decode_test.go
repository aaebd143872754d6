package audience

import (
	"reflect"
	"strings"
	"testing"

	"github.com/splitcast/splitcast/experiment"
)

var trackBodies = []string{
	`{"events":[{"id":"o-1","unit_id":"u-1","name":"order_completed","properties":{"total":49.5,"category":"shoes","gift":false,"tags":["sale"]},"time":"2026-11-30T10:00:00Z"}]}`,
	`{"events":[{"unit_id":"u-1","name":"page_viewed"},{"unit_id":"u-2","name":"x","properties":{}}]}`,
	` { "events" : [ { "unit_id" : "u\u002d1" , "name" : "n" , "time" : "2026-11-30T10:00:00.123+02:00" } ] } `,
	`{}`, `{"events":[]}`, `{"events":null}`, `null`, `[]`, ``, `{"events":[{}]}`,
	`{"Events":[{"unit_id":"u"}]}`,               // another case: encoding/json matches it
	`{"events":[{"UNIT_ID":"u"}]}`,               // the same within an event
	`{"events":[{"unit_id":"a","unit_id":"b"}]}`, // a key twice
	`{"events":[{"unit_id":"u"}],"events":[{"name":"n"}]}`,
	`{"events":[{"unit_id":"u","extra":1}]}`, `{"other":1}`,
	`{"events":[{"unit_id":7}]}`, `{"events":[{"unit_id":null}]}`, `{"events":[{"time":null}]}`,
	`{"events":[{"time":"yesterday"}]}`, `{"events":[{"time":"2026-13-01T00:00:00Z"}]}`,
	`{"events":[{"properties":null}]}`, `{"events":[{"properties":"x"}]}`, `{"events":[{"properties":[1]}]}`,
	`{"events":[{"properties":{"a":}}]}`, `{"events":[{"properties":{"a":1,}}]}`,
	`{"events":[{"unit_id":"u"}]} trailing`, `{"events":[{"unit_id":"u"}]}{}`,
	`{"events":[{"unit_id":"u"},]}`, `{"events":[{"unit_id":"u"} {"unit_id":"v"}]}`,
	`{"events":{"unit_id":"u"}}`, `{"events":["u"]}`,
	"{\"events\":[{\"unit_id\":\"\xff\"}]}",
	`{"events":[{"unit_id":"tab	inside"}]}`,
	`{"events":[{"name":"` + strings.Repeat("n", 300) + `","properties":{"l":["a","b",3,"c"],"z":1e400}}]}`,
}

// TestDecodeTrackEqualsStrict: for every body, the hand scanner's request
// and error are DecodeStrict's.
func TestDecodeTrackEqualsStrict(t *testing.T) {
	for _, b := range trackBodies {
		compareTrackDecoders(t, []byte(b))
	}
}

// FuzzDecodeTrackEqualsStrict: the same for any body.
func FuzzDecodeTrackEqualsStrict(f *testing.F) {
	for _, b := range trackBodies {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b string) { compareTrackDecoders(t, []byte(b)) })
}

func compareTrackDecoders(t *testing.T, body []byte) {
	t.Helper()
	var want, got trackRequest
	werr := experiment.DecodeStrict(body, &want)
	gerr := decodeTrack(body, &got)
	if (werr == nil) != (gerr == nil) || werr != nil && werr.Error() != gerr.Error() {
		t.Fatalf("%.300q: error %v, want %v", body, gerr, werr)
	}
	if werr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%.300q: decoded %+v, want %+v", body, got, want)
	}
}
