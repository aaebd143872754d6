package api

import (
	"bytes"
	"io"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/splitcast/splitcast/api/importapi"
	"github.com/splitcast/splitcast/experiment"
)

// limitBody bounds request bodies. Bodies are streamed (for bulk
// assignment), so Fiber's own limit does not hold for large or chunked
// ones; this middleware reads at most BodyLimit bytes for every other route.
func (s *Server) limitBody(c *fiber.Ctx) error {
	if c.Path() == "/v1/assign/bulk" || importapi.IsRoute(c.Path()) {
		return c.Next()
	}
	limit := s.cfg.BodyLimit
	// A func, not the error itself: built on every request, its message
	// cost three allocations that nearly every request threw away.
	tooLarge := func() error {
		return &experiment.Error{Code: experiment.ETOOLARGE, Field: "body",
			Message: "request body larger than " + strconv.Itoa(limit) + " bytes"}
	}
	if c.Request().Header.ContentLength() > limit {
		c.Context().SetConnectionClose() // the unread body must not be taken for a request
		s.discardBody(c)
		return tooLarge()
	}
	if stream := c.Context().RequestBodyStream(); stream != nil {
		// Read into a pooled buffer, which SetBody copies from: an
		// io.ReadAll per request was 2% of POST /v1/assign's CPU.
		buf, _ := s.bodies.Get().(*bytes.Buffer)
		if buf == nil {
			buf = new(bytes.Buffer)
		}
		defer func() {
			if buf.Cap() <= 64<<10 { // a rare large body is not kept
				s.bodies.Put(buf)
			}
		}()
		buf.Reset()
		if _, err := buf.ReadFrom(io.LimitReader(stream, int64(limit)+1)); err != nil {
			return experiment.Invalid("body", "reading the body: %v", err)
		}
		if buf.Len() > limit {
			// The rest of the body is still on the connection: close it,
			// or its bytes would be read as the next request.
			c.Context().SetConnectionClose()
			return tooLarge()
		}
		c.Request().SetBody(buf.Bytes())
	}
	return c.Next()
}

// discardBody reads and drops the rest of a refused streamed body with a
// Content-Length of at most twice BodyLimit. Closing a connection with
// unread data in the kernel's buffer makes it send a reset, which may
// destroy the answer before the client reads it: the client would see
// "connection reset" instead of a 413 naming the field. Longer bodies are
// cut off anyway, so that a stranger cannot make the server read megabytes
// it refused; chunked ones too: reading a refused chunked body to its end
// blocked until the server's read timeout in TestLimits.
func (s *Server) discardBody(c *fiber.Ctx) {
	n := c.Request().Header.ContentLength()
	if n <= 0 || n > 2*s.cfg.BodyLimit {
		return
	}
	if stream := c.Context().RequestBodyStream(); stream != nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(stream, int64(n)))
	}
}
