package imports

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"io"
	"strings"

	"github.com/splitcast/splitcast/analytics"
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
// A row's fields are substrings of one string per line: reading a row
// allocates that string and nothing else.
type rowReader interface {
	next(r *row) (line int, err error)
}

// lines reads a file line by line, without the line ends ("\n" or
// "\r\n"), counting them from 1.
type lines struct {
	br   *bufio.Reader
	n    int
	raw  int    // the last line's length with its "\n" (0 for a lone "\r" at the end)
	long []byte // a line longer than br's buffer, put together
}

func newLines(in io.Reader) *lines { return &lines{br: bufio.NewReaderSize(in, 64<<10)} }

// next returns the next line, valid until the next call; io.EOF after the
// last. As encoding/csv does, a "\r" before the end of the file is dropped.
func (l *lines) next() ([]byte, error) {
	b, err := l.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		l.long = append(l.long[:0], b...)
		for err == bufio.ErrBufferFull {
			if len(l.long) > MaxLine {
				return nil, rowError(l.n+1, "line", "longer than %d bytes", MaxLine)
			}
			b, err = l.br.ReadSlice('\n')
			l.long = append(l.long, b...)
		}
		b = l.long
	}
	if err != nil && err != io.EOF {
		return nil, err
	}
	if len(b) == 0 && err == io.EOF {
		return nil, io.EOF
	}
	if len(b) > MaxLine {
		return nil, rowError(l.n+1, "line", "longer than %d bytes", MaxLine)
	}
	l.n++
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1] // only at the end of the file: ReadSlice stops at "\n"
	}
	l.raw = len(b)
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b, nil
}

// csvRows reads CSV (RFC 4180, as encoding/csv reads it with its default
// settings, which a test holds it to) with a header naming the columns, in
// any order. Rows without a quote, nearly all of them, are cut at their
// commas in place.
type csvRows struct {
	l      *lines
	pos    [len(row{})]int // the CSV field of each column, -1 if absent
	fields []string
	nf     int    // the header's field count, which every row must have
	buf    []byte // a quoted row's fields, unquoted
	ends   []int
}

func newCSVRows(in io.Reader) (*csvRows, error) {
	c := &csvRows{l: newLines(in)}
	header, _, err := c.record()
	if err != nil {
		if err == io.EOF {
			return nil, rowError(1, "header", "empty file: want a header row naming the columns")
		}
		return nil, err
	}
	c.nf = len(header)
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
	rec, line, err := c.record()
	if err != nil {
		return 0, err
	}
	for i, p := range c.pos {
		r[i] = ""
		if p >= 0 {
			r[i] = strings.TrimSpace(rec[p])
		}
	}
	return line, nil
}

// record reads the next record and the line it starts on, skipping empty
// lines; its fields are valid until the next call.
func (c *csvRows) record() ([]string, int, error) {
	var b []byte
	for {
		var err error
		if b, err = c.l.next(); err != nil {
			return nil, 0, err
		}
		if len(b) > 0 {
			break
		}
	}
	start := c.l.n
	var err error
	if bytes.IndexByte(b, '"') < 0 {
		s := string(b)
		c.fields = c.fields[:0]
		for {
			i := strings.IndexByte(s, ',')
			if i < 0 {
				c.fields = append(c.fields, s)
				break
			}
			c.fields = append(c.fields, s[:i])
			s = s[i+1:]
		}
	} else if err = c.quoted(b); err != nil {
		return nil, 0, err
	}
	if c.nf > 0 && len(c.fields) != c.nf {
		return nil, 0, rowError(start, "line", "%v", csv.ErrFieldCount)
	}
	return c.fields, start, nil
}

// quoted parses a record with quotes, which may go on over more lines.
func (c *csvRows) quoted(b []byte) error {
	c.buf, c.ends = c.buf[:0], c.ends[:0]
	// The line an unclosed quote is reported on, as encoding/csv does: the
	// last that was not empty (a lone "\r" before the end of the file is).
	last := c.l.n
	for {
		if len(b) == 0 || b[0] != '"' {
			// An unquoted field: up to the next comma, without a quote.
			i := bytes.IndexByte(b, ',')
			f := b
			if i >= 0 {
				f = b[:i]
			}
			if bytes.IndexByte(f, '"') >= 0 {
				return rowError(c.l.n, "line", "%v", csv.ErrBareQuote)
			}
			c.buf = append(c.buf, f...)
			c.ends = append(c.ends, len(c.buf))
			if i < 0 {
				break
			}
			b = b[i+1:]
			continue
		}
		// A quoted field: "" is a quote, and a line end inside is part
		// of the field.
		b = b[1:]
		for {
			i := bytes.IndexByte(b, '"')
			if i < 0 {
				c.buf = append(append(c.buf, b...), '\n')
				next, err := c.l.next()
				if err == io.EOF {
					return rowError(last, "line", "%v", csv.ErrQuote)
				}
				if err != nil {
					return err
				}
				if c.l.raw > 0 {
					last = c.l.n
				}
				b = next
				continue
			}
			c.buf = append(c.buf, b[:i]...)
			b = b[i+1:]
			if len(b) > 0 && b[0] == '"' {
				c.buf = append(c.buf, '"')
				b = b[1:]
				continue
			}
			break
		}
		c.ends = append(c.ends, len(c.buf))
		if len(b) == 0 {
			break
		}
		if b[0] != ',' {
			return rowError(c.l.n, "line", "%v", csv.ErrQuote)
		}
		b = b[1:]
		if len(b) == 0 {
			// A comma ends the line: one more, empty field.
			c.ends = append(c.ends, len(c.buf))
			break
		}
	}
	s := string(c.buf)
	c.fields = c.fields[:0]
	from := 0
	for _, end := range c.ends {
		c.fields = append(c.fields, s[from:end])
		from = end
	}
	return nil
}

// ndjsonRows reads one JSON object per line, of string, number, boolean
// or null values; blank lines are skipped. It scans the object itself:
// decoding by reflection into a struct cost more than everything else an
// import does to a row.
type ndjsonRows struct {
	l *lines
}

func newNDJSONRows(in io.Reader) *ndjsonRows { return &ndjsonRows{l: newLines(in)} }

func (n *ndjsonRows) next(r *row) (int, error) {
	for {
		b, err := n.l.next()
		if err != nil {
			return 0, err
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		*r = row{}
		return n.l.n, parseObject(n.l.n, string(b), r)
	}
}

// textColumns are the columns that must be JSON strings (or null); time,
// value and machine may also be numbers or booleans, read as their text.
var textColumns = [len(row{})]bool{true, true, false, true, true, false, true, true, false}

// parseObject reads s, one flat JSON object, into r.
func parseObject(line int, s string, r *row) error {
	bad := func(what string) error { return rowError(line, "line", "not a JSON object: %s", what) }
	p := analytics.JSONScanner{S: s}
	if !p.Eat('{') {
		return bad("want {")
	}
	end := func() error {
		if !p.AtEnd() {
			return bad("text after the object")
		}
		return nil
	}
	if p.Eat('}') {
		return end()
	}
	for {
		if p.Peek() != '"' {
			return bad("want a key")
		}
		key, ok := p.Str()
		if !ok {
			return bad("bad key")
		}
		if !p.Eat(':') {
			return bad("want : after key " + key)
		}
		k := colIndex(key)
		if k < 0 {
			return rowError(line, key, "unknown key %q: want %s", key, strings.Join(columns, ", "))
		}
		v, kind, ok := p.Value()
		if !ok {
			return bad("bad value of " + key)
		}
		switch {
		case kind == analytics.JSONObject || kind == analytics.JSONArray:
			return rowError(line, key, "want a string, number or boolean, got a JSON %s", kind)
		case textColumns[k] && kind != analytics.JSONString && kind != analytics.JSONNull:
			return rowError(line, key, "want a string, got a JSON %s", kind)
		}
		r[k] = v
		if p.Eat(',') {
			continue
		}
		if p.Eat('}') {
			return end()
		}
		return bad("want , or }")
	}
}
