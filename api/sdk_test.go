package api_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/api"
	"github.com/splitcast/splitcast/assign"
	"github.com/splitcast/splitcast/experiment"
)

// runningExample serves the example experiment, started.
func runningExample(t testing.TB, edit func(*api.Config)) *harness {
	t.Helper()
	h := newHarness(t, nil, edit)
	h.must(t, http.StatusCreated, "POST", "/v1/experiments", hAdmin, exampleDef(t, "welcome-email"))
	h.must(t, http.StatusOK, "POST", "/v1/experiments/welcome-email/start", hAdmin, "")
	return h
}

// assignAnswer is the JSON of POST /v1/assign and of a bulk answer line.
type assignAnswer struct {
	assign.Assignment
	SendID   string `json:"send_id"`
	Token    string `json:"token"`
	PixelURL string `json:"pixel_url"`
	Line     int    `json:"line"`
	Error    *struct {
		Code, Message, Field string
	} `json:"error"`
}

func TestAssignOne(t *testing.T) {
	h := runningExample(t, nil)
	a := h.must(t, http.StatusOK, "POST", "/v1/assign", hSDK,
		`{"experiment":"welcome-email","unit_id":"u-1","attributes":{"plan":"pro_trial","country":"IT"},"send_id":"s-1","channel":"email"}`)
	var got assignAnswer
	if err := json.Unmarshal(a.body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Segment != "pro-trial" || !got.InExperiment || got.Variant == "" || got.Version != 2 || got.SendID != "s-1" ||
		got.Token == "" || got.PixelURL != "https://sc.example/o/"+got.Token+".gif" || len(got.Payload) == 0 {
		t.Errorf("POST /v1/assign = %s, want pro-trial v2 with variant, payload, send id s-1, token and pixel URL", a.body)
	}
	if h.events.len() != 1 {
		t.Fatalf("%d events logged, want 1 exposure", h.events.len())
	}
	ev := h.events.events[0]
	if ev.Kind != analytics.KindExposure || ev.Unit != "u-1" || ev.Variant != got.Variant || ev.Channel != "email" || ev.SendID != "s-1" {
		t.Errorf("exposure = %+v, want u-1 in %s on email, send s-1", ev, got.Variant)
	}

	for _, tc := range []struct {
		body   string
		status int
		field  string
	}{
		{`{"experiment":"nope","unit_id":"u"}`, http.StatusNotFound, "experiment"},
		{`{"unit_id":"u"}`, http.StatusBadRequest, "experiment"},
		{`{"experiment":"welcome-email"}`, http.StatusBadRequest, "unit_id"},
		{`{"experiment":"welcome-email","unit_id":"` + strings.Repeat("u", 300) + `"}`, http.StatusBadRequest, "unit_id"},
		{`{"experiment":"welcome-email","unit_id":"u","channel":"fax"}`, http.StatusBadRequest, "channel"},
		{`{"experiment":"welcome-email","unit_id":"u","colour":"red"}`, http.StatusBadRequest, "colour"},
		{`{"experiment":"welcome-email","unit_id":7}`, http.StatusBadRequest, "unit_id"},
		{`{"experiment":`, http.StatusBadRequest, "body"},
	} {
		a := h.call(t, "POST", "/v1/assign", hSDK, tc.body)
		if _, field, _ := a.err(); a.status != tc.status || field != tc.field {
			t.Errorf("POST /v1/assign %s = %d %s, want %d naming %s", tc.body, a.status, a.body, tc.status, tc.field)
		}
	}
	if h.events.len() != 1 {
		t.Errorf("refused assignments logged exposures: %d events", h.events.len())
	}
}

// bulk posts an NDJSON body through app.Test, or to baseURL when it is
// not empty, and returns the answer lines.
func bulk(t *testing.T, h *harness, baseURL, target string, body io.Reader) (answer, []assignAnswer) {
	t.Helper()
	var a answer
	if baseURL == "" {
		req := httptest.NewRequest("POST", target, body)
		req.Header.Set("Authorization", "Bearer "+hSDK)
		req.Header.Set("Content-Type", "application/x-ndjson")
		a = h.request(t, req)
	} else {
		req, err := http.NewRequest("POST", baseURL+target, body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+hSDK)
		req.Header.Set("Content-Type", "application/x-ndjson")
		a = send(t, req)
	}
	var lines []assignAnswer
	sc := bufio.NewScanner(bytes.NewReader(a.body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l assignAnswer
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("answer line %d %q: %v", len(lines)+1, sc.Bytes(), err)
		}
		lines = append(lines, l)
	}
	return a, lines
}

// TestAssignBulkLines: a bad line gets an error line naming its line
// number, and the stream goes on; blank lines are skipped but counted.
func TestAssignBulkLines(t *testing.T) {
	h := runningExample(t, nil)
	in := strings.Join([]string{
		`{"unit_id":"u-1"}`,
		`{"unit_id":`,
		``,
		`{"unit_id":"u-2","attributes":{"plan":"pro_trial","country":"FR"},"send_id":"s-2"}`,
		`{"unit_id":""}`,
		`{"unit_id":"u-3","color":"red"}`,
		`not json at all`,
		`{"unit_id":"u-4","channel":"sms"}`,
	}, "\n") + "\n"
	a, lines := bulk(t, h, "", "/v1/assign/bulk?experiment=welcome-email", strings.NewReader(in))
	if a.status != http.StatusOK || !strings.HasPrefix(a.header.Get("Content-Type"), "application/x-ndjson") {
		t.Fatalf("bulk = %d %s, want 200 NDJSON", a.status, a.header.Get("Content-Type"))
	}
	want := []string{"u-1", "line 2 body", "u-2", "line 5 unit_id", "line 6 color", "line 7 body", "u-4"}
	var got []string
	for _, l := range lines {
		if l.Error != nil {
			got = append(got, fmt.Sprintf("line %d %s", l.Line, l.Error.Field))
			continue
		}
		got = append(got, l.Assignment.Experiment+"?")
	}
	if len(lines) != len(want) {
		t.Fatalf("bulk answered %d lines %v, want %d", len(lines), got, len(want))
	}
	units := []string{"u-1", "", "u-2", "", "", "", "u-4"}
	for i, l := range lines {
		if units[i] == "" {
			if l.Error == nil || fmt.Sprintf("line %d %s", l.Line, l.Error.Field) != want[i] || l.Error.Code != experiment.EINVALID {
				t.Errorf("answer %d = %+v, want the error %s", i+1, l, want[i])
			}
			continue
		}
		if l.Error != nil || l.Experiment != "welcome-email" || l.Segment == "" || l.Reason == "" {
			t.Errorf("answer %d = %+v, want an assignment of %s", i+1, l, units[i])
		}
	}
	if lines[2].Segment != "pro-trial" || lines[2].SendID != "s-2" {
		t.Errorf("u-2 = %+v, want segment pro-trial, send s-2", lines[2])
	}
	inExp := 0
	for _, l := range lines {
		if l.InExperiment {
			inExp++
		}
	}
	if h.events.len() != inExp {
		t.Errorf("bulk logged %d exposures, want %d", h.events.len(), inExp)
	}
}

func TestAssignBulkRefused(t *testing.T) {
	h := runningExample(t, nil)
	for _, tc := range []struct {
		target string
		status int
		field  string
	}{
		{"/v1/assign/bulk", http.StatusBadRequest, "experiment"},
		{"/v1/assign/bulk?experiment=nope", http.StatusNotFound, "experiment"},
	} {
		a, _ := bulk(t, h, "", tc.target, strings.NewReader(`{"unit_id":"u"}`+"\n"))
		if _, field, _ := a.err(); a.status != tc.status || field != tc.field {
			t.Errorf("POST %s = %d %s, want %d naming %s", tc.target, a.status, a.body, tc.status, tc.field)
		}
	}
	// A line over the limit stops the stream, after the lines before it,
	// with an error line saying why. The server stops reading there, so
	// this goes through a real connection.
	in := `{"unit_id":"a"}` + "\n" + `{"unit_id":"b","attributes":{"x":"` + strings.Repeat("x", api.MaxBulkLine) + `"}}` + "\n" + `{"unit_id":"c"}` + "\n"
	a, lines := bulk(t, h, h.listen(t), "/v1/assign/bulk?experiment=welcome-email", strings.NewReader(in))
	if a.status != http.StatusOK || len(lines) != 2 || lines[0].Error != nil || lines[1].Error == nil || lines[1].Line != 2 || lines[1].Error.Field != "body" {
		t.Errorf("bulk with an oversize line 2 = %d %s, want an answer for line 1 and an error for line 2", a.status, a.body)
	}
}

// TestBodyLimit: every route but bulk refuses a body over BodyLimit with
// 413, whether it announces its length or streams it chunked; bulk streams
// past the limit. The server refuses before reading the whole body, so the
// requests go through a real connection.
func TestBodyLimit(t *testing.T) {
	const limit = 4 << 10
	h := runningExample(t, func(c *api.Config) { c.BodyLimit = limit })
	url := h.listen(t)
	big := `{"experiment":"welcome-email","unit_id":"u","attributes":{"pad":"` + strings.Repeat("p", limit) + `"}}`
	for _, target := range []string{"/v1/assign", "/v1/experiments", "/v1/events", "/v1/links", "/v1/render"} {
		key := hSDK
		if target == "/v1/experiments" {
			key = hAdmin
		}
		for _, chunked := range []bool{false, true} {
			var body io.Reader = strings.NewReader(big)
			if chunked {
				body = io.MultiReader(body) // unknown length: Transfer-Encoding: chunked
			}
			req, err := http.NewRequest("POST", url+target, body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			// One connection per request: what follows an unread body on a
			// kept-alive connection is security_test.go's subject.
			req.Close = true
			a := send(t, req)
			if code, _, _ := a.err(); a.status != http.StatusRequestEntityTooLarge || code != experiment.ETOOLARGE {
				t.Errorf("POST %s with %d bytes (chunked %v) = %d %s, want 413 too_large", target, len(big), chunked, a.status, a.body)
			}
		}
	}
	var in strings.Builder
	for i := range 400 {
		fmt.Fprintf(&in, `{"unit_id":"unit-%d","send_id":"send-%d"}`+"\n", i, i)
	}
	if in.Len() <= limit {
		t.Fatalf("bulk body of %d bytes does not exceed the limit", in.Len())
	}
	a, lines := bulk(t, h, url, "/v1/assign/bulk?experiment=welcome-email", io.MultiReader(strings.NewReader(in.String())))
	if a.status != http.StatusOK || len(lines) != 400 || lines[399].Error != nil {
		t.Errorf("bulk of %d bytes over a %d-byte limit = %d with %d lines, want 200 with 400", in.Len(), limit, a.status, len(lines))
	}
}

func TestSnapshot(t *testing.T) {
	h := runningExample(t, nil)
	h.must(t, http.StatusCreated, "POST", "/v1/experiments", hAdmin, exampleDef(t, "still-a-draft"))
	var s struct {
		Experiments []experiment.Experiment `json:"experiments"`
	}
	if err := json.Unmarshal(h.must(t, http.StatusOK, "GET", "/v1/snapshot", hSDK, "").body, &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Experiments) != 1 || s.Experiments[0].Key != "welcome-email" || s.Experiments[0].Status != experiment.StatusRunning {
		t.Fatalf("snapshot = %+v, want only the running welcome-email", s.Experiments)
	}
	// What the SDK compiles from it answers as the server does.
	snap, err := assign.NewSnapshot(s.Experiments)
	if err != nil {
		t.Fatal(err)
	}
	local, err := snap.Assign("welcome-email", "u-9", assign.Attributes{"plan": "pro_trial", "country": "NL"})
	if err != nil {
		t.Fatal(err)
	}
	var remote assignAnswer
	if err := json.Unmarshal(h.must(t, http.StatusOK, "POST", "/v1/assign", hSDK,
		`{"experiment":"welcome-email","unit_id":"u-9","attributes":{"plan":"pro_trial","country":"NL"}}`).body, &remote); err != nil {
		t.Fatal(err)
	}
	if local.Variant != remote.Variant || local.Segment != remote.Segment || local.Buckets != remote.Buckets {
		t.Errorf("from the snapshot %+v, from the server %+v", local, remote.Assignment)
	}
	h.must(t, http.StatusForbidden, "GET", "/v1/snapshot", hRead, "")
}
