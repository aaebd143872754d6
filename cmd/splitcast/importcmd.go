package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// importFlags are the flags of `splitcast import`.
type importFlags struct {
	experiment, url, key *string
}

func addImportFlags(fs *flag.FlagSet, cmd string) importFlags {
	var f importFlags
	if cmd == "import" {
		f.experiment = fs.String("experiment", "", "the experiment to import into (created first, as usual)")
		f.url = fs.String("url", "", "the Splitcast server (default: SPLITCAST_BASE_URL, else http://SPLITCAST_ADDR)")
		f.key = fs.String("key", "", "an API key with the admin scope (default: SPLITCAST_ADMIN_KEY, else the dev admin key)")
	}
	return f
}

// Import is `splitcast import -experiment KEY FILE`: it streams FILE ("-"
// for standard input) to a running server's POST
// /v1/experiments/KEY/import and prints what was imported. The format is
// the file's extension's (.csv, .ndjson or .jsonl), else the server sniffs.
func (m *Main) Import(ctx context.Context, f importFlags, args []string) error {
	if len(args) != 1 || *f.experiment == "" {
		return errors.New("usage: splitcast import -experiment KEY [-url URL] [-key KEY] FILE")
	}
	base, key := *f.url, *f.key
	if base == "" {
		base = m.Config.BaseURL
	}
	if key == "" {
		key = m.Config.AdminKey
	}
	var in io.Reader = os.Stdin
	if args[0] != "-" {
		file, err := os.Open(args[0])
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		defer file.Close()
		in = file
	}
	u := strings.TrimRight(base, "/") + "/v1/experiments/" + url.PathEscape(*f.experiment) + "/import"
	req, err := http.NewRequestWithContext(ctx, "POST", u, in)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	switch strings.ToLower(filepath.Ext(args[0])) {
	case ".csv":
		req.Header.Set("Content-Type", "text/csv")
	case ".ndjson", ".jsonl":
		req.Header.Set("Content-Type", "application/x-ndjson")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct {
				Code, Message, Field string
				Line                 int
			} `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
			return fmt.Errorf("import %s: %s (field %q): %s", args[0], e.Error.Code, e.Error.Field, e.Error.Message)
		}
		return fmt.Errorf("import: POST %s: %s", u, resp.Status)
	}
	_, err = fmt.Fprintf(m.stdout, "%s\n", body)
	return err
}
