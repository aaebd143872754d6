package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http/httputil"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/api/jsonwire"
	"github.com/splitcast/splitcast/assign"
	"github.com/splitcast/splitcast/experiment"
)

// bulkChunk is how many lines one worker assigns at a time: large enough to
// amortise the hand-off between goroutines, small enough that the chunks in
// flight stay a few megabytes whatever the length of the send list.
// bulkChunkBytes bounds a chunk's input the same way when lines are long.
const (
	bulkChunk      = 256
	bulkChunkBytes = 256 << 10
)

// bulkKeep is the largest output buffer a job keeps for its next chunk: a
// chunk of unusually large answers (long error messages, a big payload)
// does not pin its buffer for the rest of the stream.
const bulkKeep = 4 << 20

// bulkAnswerGuess sizes the output of a stream's first chunks, per line,
// before any answer was measured: an answer with a token, a pixel URL and
// the example experiment's payload is about 730 bytes.
const bulkAnswerGuess = 768

// bulkJob is one chunk of lines on its way to a worker and back. A stream
// reuses its jobs, and their buffers, from one chunk to the next: it never
// has more than its maximum of chunks in flight, so its memory stays flat
// whatever the length of the send list, and a unit allocates nothing for
// reading its line or writing its answer.
type bulkJob struct {
	first int    // line number of the chunk's first line
	in    []byte // the chunk's lines, one after the other
	ends  []int  // line i is in[ends[i-1]:ends[i]] (ends[-1] being 0)
	stop  []byte // a final error line after the answers, when the stream broke
	want  int    // the bytes the answers should take, from the last chunk's
	out   []byte // the answers, written by the worker
	done  chan struct{}
	// The chunk's exposures, logged at once by the worker, and the ticket
	// the writer commits before the answers go out: an answered line's
	// exposure is durable before its answer.
	events []analytics.Event
	ticket analytics.Ticket
	// answered[i] is where line i's answer starts in out, negative for a
	// line without exposure; kept to turn answers into errors when the
	// exposures cannot be logged.
	answered []int
}

// line returns the i-th line of the chunk.
func (j *bulkJob) line(i int) []byte {
	start := 0
	if i > 0 {
		start = j.ends[i-1]
	}
	return j.in[start:j.ends[i]]
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
	release, err := s.bulk.acquire(keyOf(c).limitKey(), s.cfg.BulkStreamsPerKey)
	if err != nil {
		return tooManyRequests(c, time.Second, "this API key's bulk streams")
	}
	defer release()
	s.answerBulk(c, snap, key, s.bulkBody(c))
	c.Context().HijackSetNoResponse(true)
	c.Context().Hijack(func(net.Conn) {})
	return nil
}

// bulkBody is the stream's body. A send list of millions takes longer than
// the server's read timeout, which is there for idle and slow-loris
// connections, not for a stream that is making progress: the deadline
// moves with every read instead (and with every write, in flushWriter), so
// that an idle stream is closed.
func (s *Server) bulkBody(c *fiber.Ctx) io.Reader {
	var body io.Reader = c.Context().RequestBodyStream()
	if body == nil {
		body = bytes.NewReader(c.Body())
	}
	if conn := c.Context().Conn(); conn != nil {
		body = idleReader{r: body, conn: conn, idle: s.cfg.BulkIdleTimeout}
	}
	return body
}

// Defaults of Config.BulkIdleTimeout and Config.BulkStreamsPerKey.
const (
	DefaultBulkIdleTimeout   = 30 * time.Second
	DefaultBulkStreamsPerKey = 8
)

// idleReader reads a bulk stream's body, allowing each read idle at most
// before it fails with a timeout.
type idleReader struct {
	r    io.Reader
	conn net.Conn
	idle time.Duration
}

func (r idleReader) Read(p []byte) (int, error) {
	_ = r.conn.SetReadDeadline(time.Now().Add(r.idle))
	return r.r.Read(p)
}

// streamCount counts open streams by key.
type streamCount struct {
	mu   sync.Mutex
	open map[string]int
}

// acquire takes one of key's max streams, or fails when all are taken.
func (sc *streamCount) acquire(key string, max int) (release func(), err error) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.open == nil {
		sc.open = map[string]int{}
	}
	if sc.open[key] >= max {
		return nil, errors.New("too many bulk streams")
	}
	sc.open[key]++
	return func() {
		sc.mu.Lock()
		defer sc.mu.Unlock()
		if sc.open[key]--; sc.open[key] <= 0 {
			delete(sc.open, key)
		}
	}, nil
}

// answerBulk streams the answers of body's lines. They are written to the
// connection by this goroutine, while it reads the body: fasthttp's own
// streamed responses run in another goroutine, which fasthttp does not wait
// for when the client goes away, and reading the request body from there
// races with fasthttp recycling the request. The connection is closed
// afterwards.
func (s *Server) answerBulk(c *fiber.Ctx, snap *assign.Snapshot, key string, body io.Reader) {
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
	w := bufio.NewWriterSize(flushWriter{cw, bw, conn, s.cfg.BulkIdleTimeout}, 32<<10)
	if s.streamBulk(c.UserContext(), snap, key, body, w) {
		if w.Flush() == nil && cw.Close() == nil {
			bw.WriteString("\r\n")
			bw.Flush()
		}
	}
}

// flushWriter passes each chunk to the connection at once, so that answers
// reach a client that waits for them before sending more.
// A client that takes no answer for the idle timeout fails the write.
type flushWriter struct {
	chunked io.Writer
	conn    *bufio.Writer
	raw     net.Conn
	idle    time.Duration
}

func (f flushWriter) Write(p []byte) (int, error) {
	_ = f.raw.SetWriteDeadline(time.Now().Add(f.idle))
	n, err := f.chunked.Write(p)
	if err == nil {
		err = f.conn.Flush()
	}
	return n, err
}

// streamBulk reads the send list from body by chunks, has the workers
// answer them, and writes the answers to w in input order. It reports
// false when w failed (the client went away).
func (s *Server) streamBulk(ctx context.Context, snap *assign.Snapshot, key string, body io.Reader, w *bufio.Writer) bool {
	workers := max(1, runtime.GOMAXPROCS(0))
	maxPending := 2 * workers
	jobs := make(chan *bulkJob, maxPending)
	defer close(jobs)
	for range workers {
		go func() {
			var ev exposureScratch
			for j := range jobs {
				s.assignChunk(snap, key, j, &ev)
				j.done <- struct{}{}
			}
		}()
	}
	st := bulkStream{r: bufio.NewReaderSize(body, MaxBulkLine), perLine: bulkAnswerGuess,
		pending: make([]*bulkJob, 0, maxPending)}
	for !st.eof || len(st.pending) > 0 {
		if !st.eof && len(st.pending) < maxPending {
			if j := st.read(); j != nil {
				jobs <- j
				st.pending = append(st.pending, j)
			}
			continue
		}
		if !st.writeOldest(ctx, s.cfg.Events, w) {
			for _, p := range st.pending {
				<-p.done // the client went away; let the workers finish
			}
			return false
		}
	}
	return true
}

// bulkStream is the state of one bulk stream between its reader and its
// writer. pending is the queue of jobs in flight, oldest first; free holds
// the jobs written out, for the next chunks. A job is made only when free
// is empty, so a stream makes at most maxPending of them.
type bulkStream struct {
	r       *bufio.Reader
	pending []*bulkJob
	free    []*bulkJob
	perLine int // the answer's bytes per line so far, to size outputs
	line    int // input lines read
	eof     bool
}

// read fills a job with the next chunk of input lines: up to bulkChunk lines
// or bulkChunkBytes, and no more than is buffered, so that what arrived is
// answered before blocking on more input. It returns nil when there was
// nothing to read.
func (st *bulkStream) read() *bulkJob {
	var j *bulkJob
	if n := len(st.free); n > 0 {
		j, st.free = st.free[n-1], st.free[:n-1]
	} else {
		j = &bulkJob{done: make(chan struct{}, 1)}
	}
	j.first, j.in, j.ends, j.stop = st.line+1, j.in[:0], j.ends[:0], nil
	for len(j.ends) < bulkChunk && len(j.in) < bulkChunkBytes {
		raw, err := st.r.ReadSlice('\n')
		if len(raw) > 0 && err == nil || err == io.EOF && len(raw) > 0 {
			st.line++
			j.in = append(j.in, raw...)
			j.ends = append(j.ends, len(j.in))
		}
		if err != nil {
			st.eof = true
			if err != io.EOF {
				j.stop = stopLine(st.line+1, err)
			}
			break
		}
		if st.r.Buffered() == 0 {
			break
		}
	}
	if len(j.ends) == 0 && j.stop == nil {
		st.free = append(st.free, j)
		return nil
	}
	j.want = len(j.ends)*st.perLine + len(j.stop)
	return j
}

// writeOldest waits for the oldest job in flight and for its exposures to
// be durable, and writes its answer, flushing when no answer is ready
// behind it. It returns false when the client went away or the exposures
// could not be made durable (the stream then ends with an error line).
func (st *bulkStream) writeOldest(ctx context.Context, events analytics.Logger, w *bufio.Writer) bool {
	j := st.pending[0]
	copy(st.pending, st.pending[1:])
	st.pending = st.pending[:len(st.pending)-1]
	<-j.done
	if err := events.Commit(ctx, j.ticket); err != nil {
		b, _ := json.Marshal(bulkError{Line: j.first, Error: detail(err)})
		w.Write(append(b, '\n'))
		w.Flush()
		return false
	}
	if _, err := w.Write(j.out); err != nil {
		return false
	}
	if n := len(j.ends); n > 0 {
		st.perLine = (len(j.out)-len(j.stop))/n + 1
	}
	if cap(j.out) > bulkKeep {
		j.out = nil
	}
	st.free = append(st.free, j)
	if len(st.pending) == 0 || len(st.pending[0].done) == 0 {
		return w.Flush() == nil
	}
	return true
}

// stopLine is the last output line when the input stream itself broke: a
// line over MaxBulkLine, or a read error. The half-read line is not
// answered as a line.
func stopLine(line int, err error) []byte {
	msg := "stream stopped: " + err.Error()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		msg = "stream stopped: idle for longer than the bulk idle timeout"
	}
	if err == bufio.ErrBufferFull {
		msg = "stream stopped: line longer than " + strconv.Itoa(MaxBulkLine) + " bytes"
	}
	b, _ := json.Marshal(bulkError{Line: line, Error: errorDetail{Code: experiment.EINVALID, Field: "body", Message: msg}})
	return append(b, '\n')
}

// assignChunk answers the lines of j into j.out, one NDJSON line each, with
// the worker's own exposure ev, reused from unit to unit, and logs the
// chunk's exposures in one call once every line is answered.
func (s *Server) assignChunk(snap *assign.Snapshot, key string, j *bulkJob, ev *exposureScratch) {
	buf := j.out[:0]
	if cap(buf) < j.want {
		// An eighth over the estimate, so that neither a chunk of answers
		// a little longer than the last one grows the buffer while it is
		// filled, nor the next estimate a little higher replaces it.
		buf = make([]byte, 0, j.want+j.want/8)
	}
	j.events, j.answered, j.ticket = j.events[:0], j.answered[:0], 0
	// Each line is decoded a line ahead of its assignment, and its unit's
	// fatigue state prefetched then: the check's cache miss overlaps the
	// previous line's work instead of waiting in its own.
	next := s.decodeLine(j, 0)
	for i := range j.ends {
		cur := next
		next = s.decodeLine(j, i+1)
		j.answered = append(j.answered, -1)
		if cur.blank {
			continue
		}
		in, err := cur.in, cur.err
		if err == nil {
			in.Experiment = key
			var resp assignResponse
			var exposed bool
			resp, exposed, err = s.assign(snap, in, ev)
			if err == nil {
				if exposed {
					j.events = append(j.events, ev[0])
					j.answered[i] = len(buf)
				}
				buf = appendAssignResponse(buf, &resp)
				buf = append(buf, '\n')
				continue
			}
		}
		buf = appendBulkError(buf, j.first+i, err)
	}
	if t, err := s.cfg.Events.Append(j.events...); err != nil {
		buf = j.refuse(buf, err)
	} else {
		j.ticket = t
	}
	clear(j.events) // the Logger copied them; drop the strings
	j.out = append(buf, j.stop...)
}

// bulkDecoded is a chunk's line decoded, ahead of its assignment.
type bulkDecoded struct {
	in    assignRequest
	err   error
	blank bool // an empty line, or past the chunk's last
}

// decodeLine decodes line i of j, and starts loading its unit's fatigue
// state (see assignChunk).
func (s *Server) decodeLine(j *bulkJob, i int) (d bulkDecoded) {
	if i >= len(j.ends) {
		return bulkDecoded{blank: true}
	}
	raw := j.line(i)
	if len(bytes.TrimSpace(raw)) == 0 {
		return bulkDecoded{blank: true}
	}
	if d.err = decodeAssign(raw, true, &d.in); d.err == nil && s.cfg.Fatigue != nil {
		s.cfg.Fatigue.Prefetch(d.in.UnitID)
	}
	return d
}

// refuse rewrites the answers of buf whose exposures could not be logged
// as error lines: a unit whose exposure is not recorded must not be sent.
func (j *bulkJob) refuse(buf []byte, err error) []byte {
	out := make([]byte, 0, len(buf))
	prev := 0
	for i, start := range j.answered {
		if start < 0 {
			continue
		}
		end := start + bytes.IndexByte(buf[start:], '\n') + 1
		out = append(out, buf[prev:start]...)
		out = appendBulkError(out, j.first+i, err)
		prev = end
	}
	return append(out, buf[prev:]...)
}

// appendBulkError appends the error line of input line n.
func appendBulkError(b []byte, n int, err error) []byte {
	e, _ := json.Marshal(bulkError{Line: n, Error: detail(err)})
	return append(append(b, e...), '\n')
}

// appendAssignResponse writes r as encoding/json would (same fields, same
// omissions) without reflection: bulk assignment spends most of its time
// encoding otherwise. TestAppendAssignResponse holds the two equal.
func appendAssignResponse(b []byte, r *assignResponse) []byte {
	b = jsonwire.AppendAssignment(append(b, '{'), &r.Assignment)
	if v := r.Suppressed; v != nil {
		b = jsonwire.AppendSuppressed(b, v)
	}
	if r.SendID != "" {
		b = append(b, `,"send_id":`...)
		b = jsonwire.AppendString(b, r.SendID)
	}
	// Tokens are base64url, which JSON never escapes: they are copied
	// as they are (they are most of an answer's bytes).
	if r.Token != "" {
		b = append(b, `,"token":"`...)
		b = append(b, r.Token...)
		b = append(b, '"')
	}
	if r.Token != "" && r.pixelBase != "" {
		// The string appendString would be given, in pieces.
		b = append(b, `,"pixel_url":"`...)
		b = jsonwire.AppendEscaped(b, r.pixelBase)
		b = append(b, "/o/"...)
		b = append(b, r.Token...)
		b = append(b, `.gif"`...)
	}
	return append(b, '}')
}
