package imports

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
)

// Format is how a file is written.
type Format string

// The formats an import reads.
const (
	CSV    Format = "csv"
	NDJSON Format = "ndjson"
)

// FormatOf returns the format a Content-Type names, or, for any other,
// the one the first byte of the content says ('{' for NDJSON).
func FormatOf(contentType string, first byte) Format {
	ct := strings.ToLower(contentType)
	switch {
	case strings.Contains(ct, "csv"):
		return CSV
	case strings.Contains(ct, "ndjson"), strings.Contains(ct, "jsonl"), strings.Contains(ct, "json"):
		return NDJSON
	case first == '{':
		return NDJSON
	}
	return CSV
}

// MaxLine bounds one line of a file: a row is a handful of short fields.
const MaxLine = 64 << 10

// rowReader yields a file's rows with their line numbers; io.EOF at the end.
type rowReader interface {
	next(r *row) (line int, err error)
}

// csvRows reads CSV with a header naming the columns, in any order.
type csvRows struct {
	r   *csv.Reader
	pos [len(row{})]int // the CSV field of each column, -1 if absent
}

func newCSVRows(in io.Reader) (*csvRows, error) {
	cr := csv.NewReader(in)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		if err == io.EOF {
			return nil, rowError(1, "header", "empty file: want a header row naming the columns")
		}
		return nil, csvError(err)
	}
	c := &csvRows{r: cr}
	for i := range c.pos {
		c.pos[i] = -1
	}
	for i, name := range header {
		name = strings.TrimSpace(strings.TrimPrefix(name, "\ufeff")) // a spreadsheet's byte-order mark
		k := colIndex(name)
		if k < 0 {
			return nil, rowError(1, name, "unknown column %q: want %s", name, strings.Join(columns, ", "))
		}
		if c.pos[k] >= 0 {
			return nil, rowError(1, name, "column %q twice", name)
		}
		c.pos[k] = i
	}
	for _, k := range []int{0, 1, 2} {
		if c.pos[k] < 0 {
			return nil, rowError(1, columns[k], "the header has no %q column", columns[k])
		}
	}
	return c, nil
}

func colIndex(name string) int {
	for i, c := range columns {
		if c == name {
			return i
		}
	}
	return -1
}

func (c *csvRows) next(r *row) (int, error) {
	rec, err := c.r.Read()
	if err != nil {
		if err == io.EOF {
			return 0, io.EOF
		}
		return 0, csvError(err)
	}
	line, _ := c.r.FieldPos(0)
	for i, p := range c.pos {
		r[i] = ""
		if p >= 0 {
			r[i] = strings.TrimSpace(rec[p])
		}
	}
	return line, nil
}

func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return rowError(pe.Line, "line", "%v", pe.Err)
	}
	return err
}

// ndjsonRows reads one JSON object per line; blank lines are skipped.
type ndjsonRows struct {
	s    *bufio.Scanner
	line int
}

func newNDJSONRows(in io.Reader) *ndjsonRows {
	s := bufio.NewScanner(in)
	s.Buffer(make([]byte, 0, 64<<10), MaxLine)
	return &ndjsonRows{s: s}
}

// ndRow is an NDJSON line: time, value and machine are kept as their JSON
// text, so that time may be a string or a number.
type ndRow struct {
	Unit    string          `json:"unit"`
	Kind    string          `json:"kind"`
	Time    json.RawMessage `json:"time"`
	Segment string          `json:"segment"`
	Variant string          `json:"variant"`
	Value   json.RawMessage `json:"value"`
	EventID string          `json:"event_id"`
	Channel string          `json:"channel"`
	Machine json.RawMessage `json:"machine"`
}

func (n *ndjsonRows) next(r *row) (int, error) {
	for n.s.Scan() {
		n.line++
		b := bytes.TrimSpace(n.s.Bytes())
		if len(b) == 0 {
			continue
		}
		var x ndRow
		d := json.NewDecoder(bytes.NewReader(b))
		d.DisallowUnknownFields()
		if err := d.Decode(&x); err != nil {
			return n.line, ndjsonError(n.line, err)
		}
		*r = row{x.Unit, x.Kind, scalar(x.Time), x.Segment, x.Variant, scalar(x.Value), x.EventID, x.Channel, scalar(x.Machine)}
		return n.line, nil
	}
	if err := n.s.Err(); err != nil {
		if err == bufio.ErrTooLong {
			return n.line + 1, rowError(n.line+1, "line", "longer than %d bytes", MaxLine)
		}
		return n.line, err
	}
	return 0, io.EOF
}

// scalar returns a JSON string's content, or a number's or boolean's text;
// "" for null or absent.
func scalar(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	}
	return string(raw)
}

func ndjsonError(line int, err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return rowError(line, te.Field, "want a %s, got a JSON %s", te.Type, te.Value)
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		name, _ := strconv.Unquote(f)
		return rowError(line, name, "unknown key %s: want %s", f, strings.Join(columns, ", "))
	}
	return rowError(line, "line", "not a JSON object: %s", msg)
}
