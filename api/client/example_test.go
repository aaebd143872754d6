package client_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"slices"

	"github.com/splitcast/splitcast/api/client"
	"github.com/splitcast/splitcast/assign"
)

// exampleServer runs a real Splitcast API on a loopback port, with the
// example experiment of docs/examples running. In your program the server
// is wherever you deployed `splitcast serve`.
func exampleServer() (url string, stop func()) {
	srv, stop, err := serve(nil)
	if err != nil {
		log.Fatal(err)
	}
	def, err := os.ReadFile("../../docs/examples/experiment.json")
	if err != nil {
		log.Fatal(err)
	}
	if _, err := srv.admin("POST", "/v1/experiments", string(def)); err != nil {
		log.Fatal(err)
	}
	if _, err := srv.admin("POST", "/v1/experiments/welcome-email/start", ""); err != nil {
		log.Fatal(err)
	}
	return srv.URL, stop
}

func Example() {
	url, stop := exampleServer()
	defer stop()
	ctx := context.Background()

	c, err := client.New(client.Config{BaseURL: url, Key: "test-sdk-key"})
	if err != nil {
		log.Fatal(err)
	}
	attrs := assign.Attributes{"plan": "pro_trial", "country": "FR"}

	// Remote: the server logs the exposure and signs the tracking token.
	a, err := c.Assign(ctx, client.AssignRequest{Experiment: "welcome-email", UnitID: "user-1", Attributes: attrs, Channel: "email"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("server:", a.Segment, a.Variant, a.Reason, "tracked:", a.Token != "" && a.PixelURL != "")

	// Local: the same answer from memory, without a round trip and without
	// an exposure.
	local, err := c.NewLocal(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer local.Close()
	b, err := local.Assign("welcome-email", "user-1", attrs)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("local: ", b.Segment, b.Variant, b.Reason)
	// Output:
	// server: pro-trial social-proof variant tracked: true
	// local:  pro-trial social-proof variant
}

func ExampleClient_AssignBulk() {
	url, stop := exampleServer()
	defer stop()

	c, err := client.New(client.Config{BaseURL: url, Key: "test-sdk-key"})
	if err != nil {
		log.Fatal(err)
	}
	// Any iterator will do: rows of a database cursor, lines of a file. The
	// list is streamed, so its length does not matter.
	units := slices.Values([]client.BulkUnit{
		{UnitID: "user-1", Attributes: assign.Attributes{"plan": "pro_trial", "country": "FR"}},
		{UnitID: "user-2"},
		{UnitID: ""}, // refused alone: the stream goes on
		{UnitID: "user-3"},
	})
	err = c.AssignBulk(context.Background(), "welcome-email", units, func(r client.BulkResult) error {
		if r.Err != nil {
			fmt.Printf("%d: refused: %v\n", r.N, r.Err)
			return nil
		}
		fmt.Printf("%d: %s %s/%s\n", r.N, r.Assignment.Experiment, r.Assignment.Segment, r.Assignment.Arm())
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// 1: welcome-email pro-trial/social-proof
	// 2: welcome-email everyone/control
	// 3: refused: invalid: unit_id: required
	// 4: welcome-email everyone/short
}
