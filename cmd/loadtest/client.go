package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// apiClient calls one Splitcast server.
type apiClient struct {
	base string
	http *http.Client
}

func newAPIClient(base string) apiClient {
	return apiClient{base: base, http: &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 32}}}
}

// do sends body with the key and returns the status and the answer.
func (c apiClient) do(ctx context.Context, method, path, key string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

// must is do that wants status want and decodes the answer into out.
func (c apiClient) must(ctx context.Context, want int, method, path, key string, body []byte, out any) error {
	status, data, err := c.do(ctx, method, path, key, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if status != want {
		return fmt.Errorf("%s %s = %d %s, want %d", method, path, status, bytes.TrimSpace(data), want)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decode: %w", method, path, err)
		}
	}
	return nil
}

// profile saves a CPU profile of secs seconds from /debug/pprof/profile
// into path.
func (c apiClient) profile(ctx context.Context, secs int, path string) error {
	status, data, err := c.do(ctx, "GET", fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs), adminKey, nil)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("GET /debug/pprof/profile = %d %s", status, bytes.TrimSpace(data))
	}
	return os.WriteFile(path, data, 0o644)
}

// createStart creates docs/examples/experiment.json under key and starts it.
func (c apiClient) createStart(ctx context.Context, key string) error {
	data, err := os.ReadFile("docs/examples/experiment.json")
	if err != nil {
		return err
	}
	var def map[string]any
	if err := json.Unmarshal(data, &def); err != nil {
		return err
	}
	def["key"] = key
	if data, err = json.Marshal(def); err != nil {
		return err
	}
	if err := c.must(ctx, http.StatusCreated, "POST", "/v1/experiments", adminKey, data, nil); err != nil {
		return err
	}
	return c.must(ctx, http.StatusOK, "POST", "/v1/experiments/"+key+"/start", adminKey, []byte(`{"reason":"loadtest"}`), nil)
}

// answer is the part of an assignment the suite reads.
type answer struct {
	Version      uint32 `json:"version"`
	Segment      string `json:"segment"`
	Variant      string `json:"variant"`
	InExperiment bool   `json:"in_experiment"`
	Holdout      bool   `json:"holdout"`
	Token        string `json:"token"`
}

// place is where an answer puts a unit, whatever the version.
func (a answer) place() string {
	return fmt.Sprintf("%s/%s in=%t holdout=%t", a.Segment, a.Variant, a.InExperiment, a.Holdout)
}

// same says whether two servers gave a unit the same assignment; tokens
// differ by their issue time and are not compared.
func (a answer) same(b answer) bool { return a.Version == b.Version && a.place() == b.place() }

// units returns n NDJSON lines for bulk assignment, half of them in the
// example experiment's pro-trial segment.
func units(prefix string, n int) []byte {
	var b bytes.Buffer
	for i := range n {
		if i%2 == 0 {
			fmt.Fprintf(&b, `{"unit_id":"%s-%d","attributes":{"plan":"pro_trial","country":"DE"}}`+"\n", prefix, i)
		} else {
			fmt.Fprintf(&b, `{"unit_id":"%s-%d","attributes":{"plan":"free","country":"US"}}`+"\n", prefix, i)
		}
	}
	return b.Bytes()
}

// bulk assigns the NDJSON lines through POST /v1/assign/bulk and returns
// the answers in order; an error for any status but 200 or any error line.
func (c apiClient) bulk(ctx context.Context, key string, lines []byte) ([]answer, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", c.base+"/v1/assign/bulk?experiment="+key, bytes.NewReader(lines))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+sdkKey)
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("bulk assign = %d %s", resp.StatusCode, bytes.TrimSpace(data))
	}
	var out []answer
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var a answer
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil || a.Version == 0 {
			return nil, fmt.Errorf("bulk assign line %d: %s", len(out)+1, sc.Bytes())
		}
		out = append(out, a)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if want := bytes.Count(lines, []byte("\n")); len(out) != want {
		return nil, fmt.Errorf("bulk assign: %d answers for %d units", len(out), want)
	}
	return out, nil
}

// readiness is the part of /readyz the suite reads.
type readiness struct {
	Status string `json:"status"`
	Spool  struct {
		QueueDepth   int   `json:"queue_depth"`
		SpoolBatches int64 `json:"spool_batches"`
		SpoolBytes   int64 `json:"spool_bytes"`
	} `json:"spool"`
}

// drained waits until the server is ready with nothing queued or spooled,
// so that every accepted event has been handed to ClickHouse.
func (c apiClient) drained(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	var last string
	for {
		status, data, err := c.do(ctx, "GET", "/readyz", "", nil)
		if err == nil {
			var r readiness
			if json.Unmarshal(data, &r) == nil && status == http.StatusOK && r.Spool.QueueDepth == 0 && r.Spool.SpoolBatches == 0 {
				return nil
			}
			last = fmt.Sprintf("%d %s", status, bytes.TrimSpace(data))
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not drain within %v: /readyz %s", c.base, limit, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// metrics reads the splitcast_* samples without labels of /metrics.
func (c apiClient) metrics(ctx context.Context) map[string]float64 {
	out := map[string]float64{}
	_, data, err := c.do(ctx, "GET", "/metrics", "", nil)
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(data), "\n") {
		name, value, ok := strings.Cut(line, " ")
		if !ok || !strings.HasPrefix(name, "splitcast_") {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(value, &v); err == nil {
			out[name] = v
		}
	}
	return out
}
