// Package importapi is the HTTP side of imports: POST
// /v1/experiments/{key}/import takes a CSV or NDJSON file of a campaign's
// events, streamed, and answers what it imported (analytics/imports does
// the work). It sits beside api, which only mounts it, to keep api small.
package importapi

import (
	"bufio"
	"context"
	"io"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/splitcast/splitcast/analytics/imports"
	"github.com/splitcast/splitcast/experiment"
)

// Run imports a file into an experiment and marks it imported by author
// (imports.Run with the server's store and event sink).
type Run func(ctx context.Context, key string, in io.Reader, f imports.Format, author string) (imports.Summary, error)

// Config is what the handler needs from the server.
type Config struct {
	// Run does the import; nil answers 503.
	Run Run
	// Body returns the request's body as a stream, whatever its size
	// (api's bulk reader, whose deadline moves while bytes arrive).
	Body func(c *fiber.Ctx) io.Reader
	// Author names who sent the request, for the experiment's version.
	Author func(c *fiber.Ctx) string
}

// Handler answers POST /v1/experiments/{key}/import: the file's format is
// its Content-Type's (text/csv, application/x-ndjson) or, for any other,
// NDJSON when it starts with '{' and CSV otherwise. A bad row is a 400 whose
// error names the line and the field, and nothing is imported.
func Handler(cfg Config) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if cfg.Run == nil {
			return experiment.Errorf(experiment.EUNAVAILABLE, "this server has no event store to import into")
		}
		body := bufio.NewReaderSize(cfg.Body(c), 64<<10)
		first, _ := body.Peek(1)
		var b byte
		if len(first) > 0 {
			b = first[0]
		}
		sum, err := cfg.Run(c.UserContext(), c.Params("key"), body, imports.FormatOf(c.Get(fiber.HeaderContentType), b), cfg.Author(c))
		if err != nil {
			return err
		}
		return c.JSON(sum)
	}
}

// IsRoute reports whether path is an experiment's import, which streams
// files of any size (analytics/imports bounds its lines, not its length):
// api exempts it from its body limit.
func IsRoute(path string) bool {
	return strings.HasPrefix(path, "/v1/experiments/") && strings.HasSuffix(path, "/import")
}
