// Command benchbaseline is the yardstick of scripts/bench-assign.sh: a
// trivial Fiber app that decodes the same POST /v1/assign body as Splitcast
// and answers a small JSON object, so that the benchmark reports Splitcast's
// throughput as a ratio against what Fiber does on this machine in the same
// run, never as an absolute number.
package main

import (
	"flag"
	"log"

	"github.com/gofiber/fiber/v2"
)

type assignRequest struct {
	Experiment string         `json:"experiment"`
	UnitID     string         `json:"unit_id"`
	Attributes map[string]any `json:"attributes"`
	Channel    string         `json:"channel"`
}

type assignResponse struct {
	Experiment string `json:"experiment"`
	UnitID     string `json:"unit_id"`
	Variant    string `json:"variant"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:18481", "listen address")
	flag.Parse()
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Post("/v1/assign", func(c *fiber.Ctx) error {
		var req assignRequest
		if err := c.BodyParser(&req); err != nil {
			return fiber.ErrBadRequest
		}
		return c.JSON(assignResponse{Experiment: req.Experiment, UnitID: req.UnitID, Variant: "control"})
	})
	log.Fatal(app.Listen(*addr))
}
