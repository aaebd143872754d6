package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http/httputil"
	"runtime"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/splitcast/splitcast/assign"
	"github.com/splitcast/splitcast/experiment"
)

// bulkChunk is how many lines one worker assigns at a time: large enough to
// amortise the hand-off between goroutines, small enough that the chunks in
// flight stay a few megabytes whatever the length of the send list.
const bulkChunk = 256

type bulkJob struct {
	first int      // line number of lines[0]
	lines [][]byte // raw lines, copied out of the reader's buffer
	stop  []byte   // a final error line after lines, when the stream broke
	out   chan []byte
}

// assignBulk streams a send list: NDJSON in, one NDJSON answer per line out,
// in input order, in constant memory. Lines are assigned in parallel by
// chunks and written back in order. All lines are assigned from one snapshot
// so that a refresh half way through cannot split a send between versions.
func (s *Server) assignBulk(c *fiber.Ctx) error {
	key := c.Query("experiment")
	if key == "" {
		return experiment.Invalid("experiment", "required as a query parameter: /v1/assign/bulk?experiment=KEY")
	}
	snap := s.cfg.Snapshots.Snapshot()
	if _, ok := snap.Version(key); !ok {
		return &experiment.Error{Code: experiment.ENOTFOUND, Field: "experiment", Message: "no running experiment " + key}
	}
	var body io.Reader = c.Context().RequestBodyStream()
	if body == nil {
		body = bytes.NewReader(c.Body())
	}
	// A send list of millions takes longer than the server's read timeout,
	// which is there for idle and slow-loris connections, not for a stream
	// that is making progress.
	if conn := c.Context().Conn(); conn != nil {
		_ = conn.SetReadDeadline(time.Time{})
		_ = conn.SetWriteDeadline(time.Time{})
	}
	ctx := c.UserContext()
	// The answers are written to the connection by this goroutine, while it
	// reads the body: fasthttp's own streamed responses run in another
	// goroutine, which fasthttp does not wait for when the client goes
	// away, and reading the request body from there races with fasthttp
	// recycling the request. The connection is closed afterwards.
	conn := c.Context().Conn()
	bw := bufio.NewWriterSize(conn, 64<<10)
	bw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n")
	c.Response().Header.VisitAll(func(k, v []byte) {
		switch string(k) {
		case fiber.HeaderContentType, fiber.HeaderContentLength, fiber.HeaderConnection, fiber.HeaderTransferEncoding:
			return
		}
		bw.Write(k)
		bw.WriteString(": ")
		bw.Write(v)
		bw.WriteString("\r\n")
	})
	bw.WriteString("\r\n")
	cw := httputil.NewChunkedWriter(bw)
	w := bufio.NewWriterSize(flushWriter{cw, bw}, 32<<10)
	if s.streamBulk(ctx, snap, key, body, w) {
		if w.Flush() == nil && cw.Close() == nil {
			bw.WriteString("\r\n")
			bw.Flush()
		}
	}
	c.Context().HijackSetNoResponse(true)
	c.Context().Hijack(func(net.Conn) {})
	return nil
}

// flushWriter passes each chunk to the connection at once, so that answers
// reach a client that waits for them before sending more.
type flushWriter struct {
	chunked io.Writer
	conn    *bufio.Writer
}

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.chunked.Write(p)
	if err == nil {
		err = f.conn.Flush()
	}
	return n, err
}

func (s *Server) streamBulk(ctx context.Context, snap *assign.Snapshot, key string, body io.Reader, w *bufio.Writer) bool {
	workers := max(1, runtime.GOMAXPROCS(0))
	maxPending := 2 * workers
	jobs := make(chan *bulkJob, maxPending)
	defer close(jobs)
	for range workers {
		go func() {
			for j := range jobs {
				j.out <- s.assignChunk(ctx, snap, key, j)
			}
		}()
	}
	r := bufio.NewReaderSize(body, MaxBulkLine)
	var pending []*bulkJob
	line := 0
	eof := false
	for !eof || len(pending) > 0 {
		if !eof && len(pending) < maxPending {
			j := &bulkJob{first: line + 1, out: make(chan []byte, 1)}
			for len(j.lines) < bulkChunk {
				raw, err := r.ReadSlice('\n')
				if len(raw) > 0 && err == nil || err == io.EOF && len(raw) > 0 {
					line++
					j.lines = append(j.lines, append([]byte(nil), raw...))
				}
				if err != nil {
					eof = true
					if err != io.EOF {
						j.stop = stopLine(line+1, err)
					}
					break
				}
				if r.Buffered() == 0 {
					break // answer what we have before blocking on more input
				}
			}
			if len(j.lines) > 0 || j.stop != nil {
				jobs <- j
				pending = append(pending, j)
			}
			continue
		}
		j := pending[0]
		pending = pending[1:]
		if _, err := w.Write(<-j.out); err != nil {
			for _, p := range pending {
				<-p.out // the client went away; let the workers finish
			}
			return false
		}
		if len(pending) == 0 || len(pending[0].out) == 0 {
			if w.Flush() != nil {
				for _, p := range pending {
					<-p.out
				}
				return false
			}
		}
	}
	return true
}

// stopLine is the last output line when the input stream itself broke: a
// line over MaxBulkLine, or a read error. The half-read line is not
// answered as a line.
func stopLine(line int, err error) []byte {
	msg := "stream stopped: " + err.Error()
	if err == bufio.ErrBufferFull {
		msg = "stream stopped: line longer than " + strconv.Itoa(MaxBulkLine) + " bytes"
	}
	b, _ := json.Marshal(bulkError{Line: line, Error: errorDetail{Code: experiment.EINVALID, Field: "body", Message: msg}})
	return append(b, '\n')
}

// assignChunk answers the lines of one chunk, one NDJSON line each.
func (s *Server) assignChunk(ctx context.Context, snap *assign.Snapshot, key string, j *bulkJob) []byte {
	buf := make([]byte, 0, len(j.lines)*512)
	for i, raw := range j.lines {
		if len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		var in assignRequest
		err := decodeAssign(raw, true, &in)
		if err == nil {
			in.Experiment = key
			var resp assignResponse
			resp, err = s.assign(ctx, snap, in, "")
			if err == nil {
				buf = appendAssignResponse(buf, &resp)
				buf = append(buf, '\n')
				continue
			}
		}
		b, _ := json.Marshal(bulkError{Line: j.first + i, Error: detail(err)})
		buf = append(append(buf, b...), '\n')
	}
	return append(buf, j.stop...)
}

// appendAssignResponse writes r as encoding/json would (same fields, same
// omissions) without reflection: bulk assignment spends most of its time
// encoding otherwise. TestAppendAssignResponse holds the two equal.
func appendAssignResponse(b []byte, r *assignResponse) []byte {
	b = append(b, `{"experiment":`...)
	b = appendString(b, r.Experiment)
	b = append(b, `,"version":`...)
	b = strconv.AppendUint(b, uint64(r.Version), 10)
	if r.Segment != "" {
		b = append(b, `,"segment":`...)
		b = appendString(b, r.Segment)
	}
	if r.Variant != "" {
		b = append(b, `,"variant":`...)
		b = appendString(b, r.Variant)
	}
	b = append(b, `,"in_experiment":`...)
	b = strconv.AppendBool(b, r.InExperiment)
	b = append(b, `,"holdout":`...)
	b = strconv.AppendBool(b, r.Holdout)
	b = append(b, `,"reason":`...)
	b = appendString(b, string(r.Reason))
	bk := r.Buckets
	b = append(b, `,"buckets":{"layer":`...)
	b = strconv.AppendInt(b, int64(bk.Layer), 10)
	b = append(b, `,"allocation":`...)
	b = strconv.AppendInt(b, int64(bk.Allocation), 10)
	b = append(b, `,"holdout":`...)
	b = strconv.AppendInt(b, int64(bk.Holdout), 10)
	b = append(b, `,"variant":`...)
	b = strconv.AppendInt(b, int64(bk.Variant), 10)
	b = append(b, `,"reroute":`...)
	b = strconv.AppendInt(b, int64(bk.Reroute), 10)
	b = append(b, `,"reroutes":`...)
	b = strconv.AppendInt(b, int64(bk.Reroutes), 10)
	b = append(b, '}')
	if len(r.Payload) > 0 {
		// The payload was validated as JSON when the experiment was saved;
		// it is copied as it is rather than re-compacted for every unit.
		b = append(b, `,"payload":`...)
		b = append(b, r.Payload...)
	}
	if r.SendID != "" {
		b = append(b, `,"send_id":`...)
		b = appendString(b, r.SendID)
	}
	// Tokens are base64url, which JSON never escapes: they are copied
	// as they are (they are most of an answer's bytes).
	if r.Token != "" {
		b = append(b, `,"token":"`...)
		b = append(b, r.Token...)
		b = append(b, '"')
	}
	if r.PixelURL != "" {
		b = append(b, `,"pixel_url":`...)
		b = appendString(b, r.PixelURL)
	} else if r.Token != "" && r.pixelBase != "" {
		// The string appendString would be given, in pieces.
		b = append(b, `,"pixel_url":"`...)
		b = appendEscaped(b, r.pixelBase)
		b = append(b, "/o/"...)
		b = append(b, r.Token...)
		b = append(b, `.gif"`...)
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaping as encoding/json does
// (HTML characters included, invalid UTF-8 replaced).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	b = appendEscaped(b, s)
	return append(b, '"')
}

// appendEscaped appends the inside of appendString's JSON string.
func appendEscaped(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			// One test for the common byte: below 0x40 a bit mask of what
			// needs escaping, above it only the backslash does.
			const escape = 1<<0x20 - 1 | 1<<'"' | 1<<'&' | 1<<'<' | 1<<'>'
			if c >= 0x40 && c != '\\' || c < 0x40 && escape>>c&1 == 0 {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}
