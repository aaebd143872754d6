package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"time"

	"github.com/splitcast/splitcast/assign"
	"github.com/splitcast/splitcast/experiment"
)

// AssignRequest asks for one unit's assignment, as POST /v1/assign takes it.
type AssignRequest struct {
	Experiment string            `json:"experiment"`
	UnitID     string            `json:"unit_id"`
	Attributes assign.Attributes `json:"attributes,omitempty"`
	// SendID names the message being sent: assigning the same send again
	// (a retry) is the same exposure. Empty: the server makes one up.
	SendID string `json:"send_id,omitempty"`
	// Channel is recorded on the exposure and picks a multi-channel
	// experiment's payload; it never changes the variant.
	Channel string `json:"channel,omitempty"`
}

// Assignment is the server's answer for one unit: the assignment and what a
// sender needs to track the message. Token and PixelURL are empty when the
// unit gets no message (not in the experiment, held out, or suppressed).
type Assignment struct {
	assign.Assignment
	// Suppressed is set when the unit is in the experiment but must not be
	// messaged (Reason is then assign.ReasonSuppressed): skip it for this
	// send, on every channel fallback too. See the README, Fatigue.
	Suppressed *Suppression `json:"suppressed,omitempty"`
	SendID     string       `json:"send_id,omitempty"`
	Token      string       `json:"token,omitempty"`
	PixelURL   string       `json:"pixel_url,omitempty"`
}

// Suppression says why a unit gets no message: unsubscribed, complained,
// frequency_cap (with the cap) or global_control.
type Suppression struct {
	Reason  string `json:"reason"`
	Channel string `json:"channel"`
	Cap     *struct {
		Name       string    `json:"name"`
		Limit      int       `json:"limit"`
		Window     string    `json:"window"`
		EligibleAt time.Time `json:"eligible_at"`
	} `json:"cap,omitempty"`
}

// Assign asks the server for one unit's assignment; the server logs the
// exposure and signs the tracking token.
func (c *Client) Assign(ctx context.Context, r AssignRequest) (Assignment, error) {
	var a Assignment
	if err := c.doJSON(ctx, http.MethodPost, "/v1/assign", r, &a); err != nil {
		return Assignment{}, err
	}
	return a, nil
}

// BulkUnit is one unit of a send list for AssignBulk.
type BulkUnit struct {
	UnitID     string            `json:"unit_id"`
	Attributes assign.Attributes `json:"attributes,omitempty"`
	SendID     string            `json:"send_id,omitempty"`
	Channel    string            `json:"channel,omitempty"`
}

// BulkResult is the answer for one unit of a send list.
type BulkResult struct {
	// N is the unit's position in the send list, from 1.
	N          int
	Assignment Assignment
	// Err is the *experiment.Error of a unit the server refused (an empty
	// unit id, say); the stream goes on after it.
	Err error
}

// MaxBulkLine bounds one encoded unit of a send list, as the server does
// (api.MaxBulkLine): a longer one stops the stream.
const MaxBulkLine = 64 << 10

// maxAnswerLine bounds one answer line; payloads make them longer than
// input lines.
const maxAnswerLine = 16 << 20

// errBulkDone stops the unit writer once the answer stream has ended.
var errBulkDone = errors.New("splitcast: bulk assignment ended")

// AssignBulk assigns a send list through POST /v1/assign/bulk: units are
// encoded as NDJSON and streamed to the server while its answers stream
// back, one per unit, in order, each passed to out. Memory stays constant
// whatever the length of the list. The server logs every exposure.
//
// AssignBulk stops at the first error of out, of ctx, of the transport or of
// the server as a whole (an unknown experiment, a unit whose line exceeds
// MaxBulkLine) and returns it; units answered before it have been passed to
// out. A unit the server refuses alone is a BulkResult with Err set, not an
// error of AssignBulk. The iterator units runs in its own goroutine.
func (c *Client) AssignBulk(ctx context.Context, experimentKey string, units iter.Seq[BulkUnit], out func(BulkResult) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	sent := make(chan int, 1)
	writeErr := make(chan error, 1)
	go func() {
		n, err := writeUnits(pw, units)
		sent <- n
		writeErr <- err
		// EOF even after a unit the writer refused: the server answers the
		// units before it and ends its stream cleanly.
		pw.Close()
	}()
	// stop ends the writer (if the server stopped reading) and returns its
	// count and error.
	stop := func(cause error) (int, error) {
		pr.CloseWithError(cause)
		return <-sent, <-writeErr
	}
	path := "/v1/assign/bulk?experiment=" + url.QueryEscape(experimentKey)
	req, err := c.newRequest(ctx, http.MethodPost, path, pr, "application/x-ndjson")
	if err != nil {
		_, _ = stop(err)
		return err
	}
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		_, _ = stop(err)
		return fmt.Errorf("splitcast: POST /v1/assign/bulk: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		_, _ = stop(errBulkDone)
		return responseError(resp)
	}
	n, last, err := readAnswers(ctx, resp.Body, out)
	if err != nil {
		cancel()
		_, _ = stop(err)
		return err
	}
	wrote, werr := stop(errBulkDone)
	switch {
	case werr != nil && !errors.Is(werr, errBulkDone):
		return werr
	case n < wrote:
		if last != nil {
			// The server stopped reading: its last line says why.
			return last
		}
		return fmt.Errorf("splitcast: bulk assignment answered %d of %d units", n, wrote)
	}
	return nil
}

// writeUnits encodes units as NDJSON into w and returns how many it wrote.
func writeUnits(w io.Writer, units iter.Seq[BulkUnit]) (int, error) {
	bw := bufio.NewWriterSize(w, 32<<10)
	var line bytes.Buffer
	enc := json.NewEncoder(&line)
	enc.SetEscapeHTML(false)
	n := 0
	for u := range units {
		line.Reset()
		if err := enc.Encode(u); err != nil {
			return n, errors.Join(fmt.Errorf("splitcast: unit %d: %w", n+1, err), bw.Flush())
		}
		if line.Len() > MaxBulkLine {
			_ = bw.Flush()
			return n, &experiment.Error{Code: experiment.EINVALID, Field: "attributes",
				Message: fmt.Sprintf("unit %d (%q) encodes to %d bytes, over the %d-byte line limit of bulk assignment", n+1, u.UnitID, line.Len(), MaxBulkLine)}
		}
		if _, err := bw.Write(line.Bytes()); err != nil {
			return n, err
		}
		n++
	}
	return n, bw.Flush()
}

// bulkAnswer is one answer line: an assignment, or an error with its line.
type bulkAnswer struct {
	Assignment
	Line  int          `json:"line"`
	Error *errorDetail `json:"error"`
}

// readAnswers passes each answer line to out, and returns how many there
// were and the last error line.
func readAnswers(ctx context.Context, body io.Reader, out func(BulkResult) error) (n int, last *experiment.Error, err error) {
	br := bufio.NewReaderSize(body, 64<<10)
	var long []byte
	for {
		raw, rerr := readLine(br, &long)
		// A read error cuts the stream anywhere: a line is whole only if it
		// ends with a newline or the stream ended cleanly after it.
		if len(bytes.TrimSpace(raw)) > 0 && (rerr == nil || rerr == io.EOF) {
			var a bulkAnswer
			if err := json.Unmarshal(raw, &a); err != nil {
				return n, last, fmt.Errorf("splitcast: decode bulk answer %d: %w", n+1, err)
			}
			n++
			r := BulkResult{N: n, Assignment: a.Assignment}
			if a.Error != nil {
				last = a.Error.err()
				r = BulkResult{N: n, Err: last}
			}
			if err := out(r); err != nil {
				return n, last, err
			}
		}
		switch {
		case rerr == io.EOF:
			return n, last, nil
		case rerr != nil && ctx.Err() != nil:
			return n, last, ctx.Err()
		case rerr != nil:
			return n, last, fmt.Errorf("splitcast: read bulk answers: %w", rerr)
		}
	}
}

// readLine returns the next line of br, its newline included, growing
// *long for lines longer than br's buffer (up to maxAnswerLine).
func readLine(br *bufio.Reader, long *[]byte) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err != bufio.ErrBufferFull {
		return line, err
	}
	*long = append((*long)[:0], line...)
	for {
		line, err = br.ReadSlice('\n')
		*long = append(*long, line...)
		if len(*long) > maxAnswerLine {
			return nil, fmt.Errorf("an answer line is longer than %d bytes", maxAnswerLine)
		}
		if err != bufio.ErrBufferFull {
			return *long, err
		}
	}
}
