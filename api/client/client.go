// Package client is the Go SDK of Splitcast. It talks to a Splitcast server
// in two ways:
//
//   - remotely: Client.Assign and Client.AssignBulk ask the server, which
//     logs the exposure and signs the tracking token (POST /v1/assign and
//     POST /v1/assign/bulk, NDJSON streamed both ways in constant memory);
//   - locally: a Local fetches the running experiments (GET /v1/snapshot),
//     compiles them with the server's own assign code and answers in memory,
//     without a round trip, refreshing in the background.
//
// Local evaluation is pure: it logs no exposure and signs no token. A caller
// that evaluates locally to choose what to show must still tell the server
// that a message went out, by assigning the unit remotely when it sends
// (the answer is the same, and the exposure and token come with it).
//
// Errors from the server are *experiment.Error values with the server's
// code, message and field; a transport failure is returned wrapped, as is.
//
// The package imports assign, experiment and the standard library only: no
// Fiber, no ClickHouse (deps_test.go keeps it so).
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/splitcast/splitcast/experiment"
)

// Config configures a Client. Zero values of optional fields are replaced by
// the defaults named on them.
type Config struct {
	// BaseURL is the server's URL, e.g. "https://splitcast.example.com".
	// Required.
	BaseURL string
	// Key is an API key with the sdk scope. Required.
	Key string
	// HTTPClient makes the requests (default: a new http.Client without an
	// overall timeout, since bulk assignment streams for as long as the send
	// list lasts; bound single calls with their context).
	HTTPClient *http.Client
	// RefreshInterval is how often a Local fetches the snapshot again
	// (default 30s).
	RefreshInterval time.Duration
	// Logger receives the background refresh failures of a Local (default:
	// discard).
	Logger *slog.Logger
}

// DefaultRefreshInterval is the RefreshInterval of a zero Config.
const DefaultRefreshInterval = 30 * time.Second

// Validate returns an EINVALID *experiment.Error naming the first field of c
// that cannot work.
func (c Config) Validate() error {
	u, err := url.Parse(c.BaseURL)
	if c.BaseURL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return experiment.Invalid("BaseURL", "want an http:// or https:// URL with a host, got %q", c.BaseURL)
	}
	if c.Key == "" {
		return experiment.Invalid("Key", "required: an API key with the sdk scope")
	}
	if c.RefreshInterval < 0 {
		return experiment.Invalid("RefreshInterval", "must not be negative, got %v", c.RefreshInterval)
	}
	return nil
}

// Client calls a Splitcast server. It is safe for concurrent use.
type Client struct {
	cfg  Config
	base string // BaseURL without its trailing slash
}

// New returns a Client for cfg, or the error of cfg.Validate.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	if cfg.RefreshInterval == 0 {
		cfg.RefreshInterval = DefaultRefreshInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Client{cfg: cfg, base: strings.TrimRight(cfg.BaseURL, "/")}, nil
}

// newRequest builds an authenticated request to path.
func (c *Client) newRequest(ctx context.Context, method, path string, body io.Reader, contentType string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("splitcast: %s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.Key)
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req, nil
}

// doJSON sends in (when not nil) as JSON and decodes a 2xx answer into out.
func (c *Client) doJSON(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	ct := ""
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("splitcast: encode %s request: %w", path, err)
		}
		body, ct = bytes.NewReader(data), "application/json"
	}
	req, err := c.newRequest(ctx, method, path, body, ct)
	if err != nil {
		return err
	}
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("splitcast: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return responseError(resp)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("splitcast: decode %s answer: %w", path, err)
	}
	return nil
}

// errorDetail is the "error" object of the server's error bodies.
type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field"`
}

func (d *errorDetail) err() *experiment.Error {
	return &experiment.Error{Code: d.Code, Message: d.Message, Field: d.Field}
}

// codeOf maps a status to an error code for answers that carry no JSON
// error body (a proxy's 502, say): the inverse of the server's table.
var codeOf = map[int]string{
	http.StatusBadRequest:            experiment.EINVALID,
	http.StatusUnauthorized:          experiment.EUNAUTHORIZED,
	http.StatusForbidden:             experiment.EFORBIDDEN,
	http.StatusNotFound:              experiment.ENOTFOUND,
	http.StatusConflict:              experiment.ECONFLICT,
	http.StatusRequestEntityTooLarge: experiment.ETOOLARGE,
	http.StatusServiceUnavailable:    experiment.EUNAVAILABLE,
	http.StatusBadGateway:            experiment.EUNAVAILABLE,
	http.StatusGatewayTimeout:        experiment.EUNAVAILABLE,
}

// responseError decodes a non-2xx answer into an *experiment.Error.
func responseError(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var body struct {
		Error *errorDetail `json:"error"`
	}
	if json.Unmarshal(data, &body) == nil && body.Error != nil && body.Error.Code != "" {
		return body.Error.err()
	}
	code, ok := codeOf[resp.StatusCode]
	if !ok {
		code = experiment.EINTERNAL
	}
	return &experiment.Error{Code: code, Message: fmt.Sprintf("server answered %s", resp.Status)}
}
