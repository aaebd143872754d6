package imports

import (
	"encoding/csv"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/splitcast/splitcast/experiment"
)

// csvAll reads every record of file with encoding/csv, as the import read
// CSV before it had its own reader: the records, their lines, and the line
// of the first error (0 for none).
func csvAll(file string) (recs [][]string, lines []int, errLine int) {
	r := csv.NewReader(strings.NewReader(file))
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return recs, lines, 0
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return recs, lines, pe.Line
		}
		if err != nil {
			return recs, lines, -1
		}
		line, _ := r.FieldPos(0)
		recs, lines = append(recs, rec), append(lines, line)
	}
}

// ownAll reads file with csvRows' record reader, the same way.
func ownAll(file string) (recs [][]string, lines []int, errLine int) {
	c := &csvRows{l: newLines(strings.NewReader(file))}
	for {
		rec, line, err := c.record()
		if err == io.EOF {
			return recs, lines, 0
		}
		var e *experiment.Error
		if errors.As(err, &e) {
			return recs, lines, e.Line
		}
		if err != nil {
			return recs, lines, -1
		}
		if c.nf == 0 {
			c.nf = len(rec)
		}
		recs, lines = append(recs, append([]string(nil), rec...)), append(lines, line)
	}
}

var csvSeeds = []string{
	csvFile,
	"a,b\n1,2\r\n3,4\r",
	"a,b\n\n\n1,2\n",
	"a,b\n\"x,y\",2\n\"multi\nline\",3\n",
	"a,b\n\"q\"\"q\",\"\"\n",
	"a,b\n1,\"2\"x\n",
	"a,b\n1,2\"\n",
	"a,b\n \"1\",2\n",
	"a,b\n\"open,2\n",
	"a,b\n1,2,3\n",
	"a,b,c\n1,\"2\",\n",
	"a\n\"\"\n",
	"a,b\n\"x\r\ny\",1\r\n",
}

// TestCSVMatchesEncodingCSV: the import's CSV reader reads what
// encoding/csv reads, records and lines and where it fails.
func TestCSVMatchesEncodingCSV(t *testing.T) {
	for _, file := range csvSeeds {
		checkCSV(t, file)
	}
}

func FuzzCSVMatchesEncodingCSV(f *testing.F) {
	for _, s := range csvSeeds {
		f.Add(s)
	}
	f.Fuzz(checkCSV)
}

func checkCSV(t *testing.T, file string) {
	if len(file) > MaxLine {
		return
	}
	wantRecs, wantLines, wantErr := csvAll(file)
	gotRecs, gotLines, gotErr := ownAll(file)
	if !reflect.DeepEqual(gotRecs, wantRecs) || !reflect.DeepEqual(gotLines, wantLines) || gotErr != wantErr {
		t.Errorf("file %q:\nown  %q lines %v error at %d\ncsv  %q lines %v error at %d", file, gotRecs, gotLines, gotErr, wantRecs, wantLines, wantErr)
	}
}

// TestNDJSONScanner: values of every JSON type, escapes, and what is not a
// flat object.
func TestNDJSONScanner(t *testing.T) {
	for _, tc := range []struct {
		line  string
		want  row
		field string // of the error, "" for none
	}{
		{`{"unit":"u\u00e9\"1","kind":"open","time":1.5e9,"value":null,"machine":false}`, row{0: "ué\"1", 1: "open", 2: "1.5e9", 8: "false"}, ""},
		{` { "unit" : "u" , "time" : "2025-05-01T09:00:00Z" } `, row{0: "u", 2: "2025-05-01T09:00:00Z"}, ""},
		{`{}`, row{}, ""},
		{`{"unit":null}`, row{}, ""},
		{`{"unit":true}`, row{}, "unit"},
		{`{"time":{"a":1}}`, row{}, "time"},
		{`{"time":[1]}`, row{}, "time"},
		{`{"time":01}`, row{}, "line"},
		{`{"time":-}`, row{}, "line"},
		{`{"unit":"u"} x`, row{}, "line"},
		{`{"unit":"u",}`, row{}, "line"},
		{`{"unit":"a` + "\t" + `b"}`, row{}, "line"},
		{`["unit"]`, row{}, "line"},
		{`{"unit":"u"`, row{}, "line"},
		{`{"Unit":"u"}`, row{}, "Unit"},
	} {
		var r row
		err := parseObject(1, tc.line, &r)
		var e *experiment.Error
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("parseObject(%s) = %v, want no error", tc.line, err)
		case tc.field == "" && r != tc.want:
			t.Errorf("parseObject(%s) = %q, want %q", tc.line, r, tc.want)
		case tc.field != "" && (!errors.As(err, &e) || e.Field != tc.field):
			t.Errorf("parseObject(%s) = %v, want an error on field %q", tc.line, err, tc.field)
		}
	}
}
