package imports

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/experiment"
)

// recorder is a Writer that keeps what it was given.
type recorder struct {
	batches [][]analytics.Event
	fail    error
}

func (r *recorder) Write(_ context.Context, events []analytics.Event) error {
	if r.fail != nil {
		return r.fail
	}
	r.batches = append(r.batches, append([]analytics.Event(nil), events...))
	return nil
}

func (r *recorder) all() []analytics.Event {
	var out []analytics.Event
	for _, b := range r.batches {
		out = append(out, b...)
	}
	return out
}

var now = time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)

func testExperiment() experiment.Experiment {
	return experiment.Experiment{Key: "camp", Version: 2, Channel: experiment.ChannelEmail, Holdout: 500,
		Segments: []experiment.Segment{
			{Key: "vip", Variants: []experiment.Variant{{Key: "a", Control: true, Weight: 1}, {Key: "b", Weight: 1}}},
			{Key: "rest", Variants: []experiment.Variant{{Key: "a", Control: true, Weight: 1}, {Key: "c", Weight: 1}}},
		}}
}

const csvFile = `unit,kind,time,segment,variant,value,event_id,channel,machine
u1,exposure,2025-05-01T09:00:00Z,vip,a,,,,
u1,open,1746090000,,,,,,true
u1,conversion,2025-05-01T10:00:00.5Z,,,12.5,,push,
u2,exposure,2025-05-01T09:00:00Z,rest,holdout,,,,
u2,click,2025-05-02T09:00:00Z,rest,c,,ext-7,,0
u1,conversion,2025-05-01T10:00:00.5Z,,,12.5,,push,
`

const ndjsonFile = `{"unit":"u1","kind":"exposure","time":"2025-05-01T09:00:00Z","segment":"vip","variant":"a"}
{"unit":"u1","kind":"open","time":1746090000,"machine":true}

{"unit":"u1","kind":"conversion","time":"2025-05-01T10:00:00.5Z","value":12.5,"channel":"push"}
{"unit":"u2","kind":"exposure","time":"2025-05-01T09:00:00Z","segment":"rest","variant":"holdout"}
{"unit":"u2","kind":"click","time":"2025-05-02T09:00:00Z","segment":"rest","variant":"c","event_id":"ext-7","machine":false}
{"unit":"u1","kind":"conversion","time":"2025-05-01T10:00:00.5Z","value":12.5,"channel":"push"}
`

func mustImport(t *testing.T, file string, f Format, batch int) (Summary, []analytics.Event, *recorder) {
	t.Helper()
	w := &recorder{}
	sum, err := Import(context.Background(), testExperiment(), strings.NewReader(file), f, w,
		Options{TempDir: t.TempDir(), Batch: batch, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatalf("Import(%s): %v", f, err)
	}
	return sum, w.all(), w
}

// TestImportFormats: the same rows as CSV and as NDJSON give the same
// events, with the experiment's key, version and channel, times to the
// second, content-derived ids where none is given (so the duplicated
// conversion is one event), and batches of the size asked for.
func TestImportFormats(t *testing.T) {
	sumCSV, fromCSV, w := mustImport(t, csvFile, CSV, 4)
	sumND, fromND, _ := mustImport(t, ndjsonFile, NDJSON, 100)
	if !reflect.DeepEqual(fromCSV, fromND) {
		t.Fatalf("CSV and NDJSON differ:\n%+v\n%+v", fromCSV, fromND)
	}
	if len(w.batches) != 2 || len(w.batches[0]) != 4 || len(w.batches[1]) != 2 {
		t.Errorf("batches of %v events, want 4 then 2", len(w.batches))
	}
	if sumCSV.Rows != 6 || sumCSV.Exposures != 2 || sumND.Rows != 6 || len(sumCSV.SHA256) != 64 {
		t.Errorf("summaries %+v and %+v", sumCSV, sumND)
	}
	e := fromCSV
	want0 := analytics.Event{ID: e[0].ID, Kind: analytics.KindExposure, Time: time.Date(2025, 5, 1, 9, 0, 0, 0, time.UTC),
		Experiment: "camp", Version: 2, Segment: "vip", Variant: "a", Unit: "u1", Channel: "email"}
	if !reflect.DeepEqual(e[0], want0) || !strings.HasPrefix(e[0].ID, "imp-") {
		t.Errorf("event 0 = %+v, want %+v", e[0], want0)
	}
	if !e[1].Machine || e[1].MachineReason != "imported" || e[1].Time.Unix() != 1746090000 {
		t.Errorf("event 1 = %+v, want a machine open at 1746090000", e[1])
	}
	if e[2].Value != 12.5 || e[2].Channel != "push" || e[2].Time.Nanosecond() != 0 {
		t.Errorf("event 2 = %+v", e[2])
	}
	if e[4].ID != "ext-7" {
		t.Errorf("event 4 id = %q, want the row's ext-7", e[4].ID)
	}
	if e[5].ID != e[2].ID {
		t.Errorf("a duplicated row has ids %q and %q, want one", e[2].ID, e[5].ID)
	}
	seen := map[string]bool{}
	for _, x := range e[:5] {
		if seen[x.ID] {
			t.Errorf("id %q given to two different rows", x.ID)
		}
		seen[x.ID] = true
	}
	// The same file again: the same ids.
	_, again, _ := mustImport(t, csvFile, CSV, 100)
	if !reflect.DeepEqual(again, fromCSV) {
		t.Error("importing the same file twice gave different events")
	}
}

// TestImportErrors: every bad row is an invalid error naming its line and
// field, and nothing is written.
func TestImportErrors(t *testing.T) {
	head := "unit,kind,time,segment,variant,value\n"
	ok := "u1,exposure,2025-05-01T09:00:00Z,vip,a,\n"
	for _, tc := range []struct {
		name, file  string
		f           Format
		line        int
		field, want string
	}{
		{"empty", "", CSV, 1, "header", "empty file"},
		{"header only", head, CSV, 0, "body", "no rows"},
		{"unknown column", "unit,kind,time,varient\n", CSV, 1, "varient", "unknown column"},
		{"missing column", "unit,kind\n", CSV, 1, "time", "no \"time\" column"},
		{"no unit", head + ok + ",open,2025-05-01T09:00:00Z,,,\n", CSV, 3, "unit", "required"},
		{"bad kind", head + ok + "u1,opened,2025-05-01T09:00:00Z,,,\n", CSV, 3, "kind", "unknown kind"},
		{"bad time", head + ok + ok + "u1,open,yesterday,,,\n", CSV, 4, "time", "RFC 3339"},
		{"milliseconds", head + "u1,open,1746090000000,,,\n", CSV, 2, "time", "RFC 3339 or Unix seconds"},
		{"future", head + "u1,open,2030-01-01T00:00:00Z,,,\n", CSV, 2, "time", "in the future"},
		{"exposure without segment", head + "u1,exposure,2025-05-01T09:00:00Z,,a,\n", CSV, 2, "segment", "required"},
		{"unknown segment", head + "u1,exposure,2025-05-01T09:00:00Z,gold,a,\n", CSV, 2, "segment", "no segment"},
		{"unknown variant", head + "u1,exposure,2025-05-01T09:00:00Z,vip,c,\n", CSV, 2, "variant", "no variant"},
		{"value on an open", head + "u1,open,2025-05-01T09:00:00Z,,,3\n", CSV, 2, "value", "only a conversion"},
		{"negative value", head + "u1,conversion,2025-05-01T09:00:00Z,,,-3\n", CSV, 2, "value", "from 0"},
		{"ragged row", head + "u1,open\n", CSV, 2, "line", "wrong number of fields"},
		{"bad channel", "unit,kind,time,channel\nu1,open,2025-05-01T09:00:00Z,fax\n", CSV, 2, "channel", "unknown channel"},
		{"bad machine", "unit,kind,time,machine\nu1,open,2025-05-01T09:00:00Z,maybe\n", CSV, 2, "machine", "true or false"},
		{"NDJSON unknown key", `{"unit":"u1","kind":"open","time":1746090000,"colour":"red"}`, NDJSON, 1, "colour", "unknown key"},
		{"NDJSON wrong type", "\n" + `{"unit":7,"kind":"open","time":1746090000}`, NDJSON, 2, "unit", "want a string"},
		{"NDJSON not an object", `{"unit":"u1"` + "\n", NDJSON, 1, "line", "not a JSON object"},
		{"NDJSON bad time", `{"unit":"u1","kind":"open","time":true}`, NDJSON, 1, "time", "RFC 3339"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &recorder{}
			_, err := Import(context.Background(), testExperiment(), strings.NewReader(tc.file), tc.f, w,
				Options{TempDir: t.TempDir(), Now: func() time.Time { return now }})
			var e *experiment.Error
			if !errors.As(err, &e) || e.Code != experiment.EINVALID || e.Line != tc.line || e.Field != tc.field || !strings.Contains(e.Message, tc.want) {
				t.Fatalf("Import error = %#v, want invalid at line %d, field %q, saying %q", err, tc.line, tc.field, tc.want)
			}
			if len(w.batches) != 0 {
				t.Errorf("a bad file wrote %d batches, want none", len(w.batches))
			}
		})
	}
}

// TestImportWriteError: a failing write is returned as it is.
func TestImportWriteError(t *testing.T) {
	boom := errors.New("clickhouse down")
	_, err := Import(context.Background(), testExperiment(), strings.NewReader(csvFile), CSV, &recorder{fail: boom},
		Options{TempDir: t.TempDir(), Now: func() time.Time { return now }})
	if !errors.Is(err, boom) {
		t.Errorf("Import with a failing writer = %v, want %v", err, boom)
	}
}

func TestFormatOf(t *testing.T) {
	for _, tc := range []struct {
		ct    string
		first byte
		want  Format
	}{{"text/csv", '{', CSV}, {"application/x-ndjson", 'u', NDJSON}, {"", '{', NDJSON}, {"", 'u', CSV}, {"application/octet-stream", '{', NDJSON}} {
		if got := FormatOf(tc.ct, tc.first); got != tc.want {
			t.Errorf("FormatOf(%q, %q) = %s, want %s", tc.ct, tc.first, got, tc.want)
		}
	}
}

// FuzzImport: no input makes the import panic; whatever it accepts, it
// writes as many events as it counted rows.
func FuzzImport(f *testing.F) {
	f.Add(csvFile, false)
	f.Add(ndjsonFile, true)
	f.Add("unit,kind,time\n\"u1,open,1\n", false)
	f.Fuzz(func(t *testing.T, file string, nd bool) {
		format := CSV
		if nd {
			format = NDJSON
		}
		w := &recorder{}
		sum, err := Import(context.Background(), testExperiment(), strings.NewReader(file), format, w,
			Options{TempDir: t.TempDir(), Now: func() time.Time { return now }})
		if err == nil && int64(len(w.all())) != sum.Rows {
			t.Errorf("wrote %d events of %d rows", len(w.all()), sum.Rows)
		}
	})
}

// TestSpoolToFile: events past the spool's memory go to its file, and
// come back the same and in order.
func TestSpoolToFile(t *testing.T) {
	var want []analytics.Event
	for i := range 500 {
		want = append(want, analytics.Event{ID: fmt.Sprintf("id-%d", i), Kind: analytics.KindConversion, Experiment: "camp", Version: 2,
			Unit: fmt.Sprintf("u%d", i), Channel: "email", Time: now.Add(-time.Duration(i) * time.Second), Value: float64(i) / 4, Machine: i%7 == 0})
	}
	sp := &spool{dir: t.TempDir(), limit: 1000}
	defer sp.close()
	var buf []byte
	for i := range want {
		rec := appendEvent(nil, &want[i])
		buf = append(binary.AppendUvarint(buf[:0], uint64(len(rec))), rec...)
		if err := sp.addChunk(buf); err != nil {
			t.Fatal(err)
		}
	}
	if sp.file == nil || sp.size > 1000 {
		t.Fatalf("spool kept %d bytes in memory and file %v, want at most 1000 and a file", sp.size, sp.file)
	}
	in, err := sp.reader()
	if err != nil {
		t.Fatal(err)
	}
	w := &recorder{}
	if err := write(context.Background(), in, w, 64); err != nil {
		t.Fatal(err)
	}
	if got := w.all(); !reflect.DeepEqual(got, want) {
		t.Fatalf("spooled %d events, read back %d, or different ones", len(want), len(got))
	}
}

// TestParseTime: the hand-read shapes agree with strconv and time.Parse.
func TestParseTime(t *testing.T) {
	for _, s := range []string{"0", "1746090000", "99999999999", "100000000000", "1746090000.9", "2025-05-01T09:00:00Z",
		"2024-02-29T23:59:59Z", "2025-02-29T00:00:00Z", "2025-04-31T00:00:00Z", "2025-13-01T00:00:00Z", "2025-05-01T24:00:00Z",
		"2025-05-01T09:00:60Z", "2025-05-01T09:00:00+02:00", "2025-05-01T09:00:00.5Z", "2025-05-01t09:00:00Z", "+1746090000", "17e8"} {
		got, gotErr := parseTime(s)
		var want time.Time
		var wantErr error
		if c := s[0]; c >= '0' && c <= '9' && !strings.ContainsAny(s, "-:T") {
			f, err := strconv.ParseFloat(s, 64)
			if wantErr = err; err == nil && f > 1e11 {
				wantErr = errTime(s)
			}
			want = time.Unix(int64(f), 0).UTC()
		} else {
			want, wantErr = time.Parse(time.RFC3339Nano, s)
			want = want.UTC().Truncate(time.Second)
		}
		if (gotErr != nil) != (wantErr != nil) || gotErr == nil && !got.Equal(want) {
			t.Errorf("parseTime(%q) = %v, %v; want %v, %v", s, got, gotErr, want, wantErr)
		}
	}
}

// TestImportFirstBadRow: with the rows read in chunks by one goroutine and
// checked by several, the error is still the first bad row's, whether a
// check or a read found it, and whichever chunk a checker finishes first.
func TestImportFirstBadRow(t *testing.T) {
	var b strings.Builder
	b.WriteString("unit,kind,time\n")
	for i := 2; i <= 5000; i++ {
		switch i {
		case 1500:
			b.WriteString("u,opened,1746090000\n") // a check error
		case 2600:
			b.WriteString("u,open,soon\n") // a later check error, in another chunk
		case 3000:
			b.WriteString("u,open\n") // a read error
		default:
			b.WriteString("u,open,1746090000\n")
		}
	}
	for _, tc := range []struct {
		file  string
		line  int
		field string
	}{
		{b.String(), 1500, "kind"},
		{strings.Replace(b.String(), "u,opened,", "u,open,", 1), 2600, "time"},
		{strings.Replace(strings.Replace(b.String(), "u,opened,", "u,open,", 1), "u,open,soon", "u,open,1746090000", 1), 3000, "line"},
	} {
		for range 20 {
			testFirstBadRow(t, tc.file, tc.line, tc.field)
		}
	}
}

func testFirstBadRow(t *testing.T, file string, line int, field string) {
	t.Helper()
	w := &recorder{}
	_, err := Import(context.Background(), testExperiment(), strings.NewReader(file), CSV, w,
		Options{TempDir: t.TempDir(), Now: func() time.Time { return now }})
	var e *experiment.Error
	if !errors.As(err, &e) || e.Line != line || e.Field != field || len(w.batches) != 0 {
		t.Errorf("Import = %v (%d batches), want the error of line %d, field %s, and nothing written", err, len(w.batches), line, field)
	}
}
