package main

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

//go:embed lua/*.lua
var luaFiles embed.FS

// writeScripts writes each wrk script of lua/ into dir with common.lua
// prepended, since wrk takes one script.
func writeScripts(dir string) error {
	common, err := luaFiles.ReadFile("lua/common.lua")
	if err != nil {
		return err
	}
	for _, name := range []string{"assign", "paths", "events", "track"} {
		b, err := luaFiles.ReadFile("lua/" + name + ".lua")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name+".lua"), append(append(b, '\n'), common...), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// wrkRun is one wrk run: its load and what the server answered.
type wrkRun struct {
	Requests     int
	Duration     time.Duration
	P50, P99     time.Duration
	StatusErrors int // answers of 400 and more
	SocketErrors int // connect, read, write errors and timeouts
}

func (r wrkRun) RPS() float64 { return float64(r.Requests) / r.Duration.Seconds() }

func (r wrkRun) Errors() int { return r.StatusErrors + r.SocketErrors }

// wrkSpec says how to load one URL.
type wrkSpec struct {
	script   string // name in the scripts folder, without .lua
	threads  int
	conns    int
	duration time.Duration
	env      []string
}

// runWrk runs wrk against base (http://host:port) and reads the RESULT line
// of common.lua. Its whole output is appended to dir/wrk.out.
func runWrk(ctx context.Context, dir, base string, s wrkSpec) (wrkRun, error) {
	args := []string{"-t", fmt.Sprint(s.threads), "-c", fmt.Sprint(s.conns), "-d", fmt.Sprintf("%ds", int(s.duration.Seconds())),
		"--timeout", "10s", "--latency", "-s", filepath.Join(dir, s.script+".lua"), base}
	cmd := exec.CommandContext(ctx, "wrk", args...)
	cmd.Env = append(os.Environ(), s.env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if f, ferr := os.OpenFile(filepath.Join(dir, "wrk.out"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); ferr == nil {
		fmt.Fprintf(f, "== wrk %s\n%s\n", strings.Join(args, " "), out.Bytes())
		f.Close()
	}
	if err != nil {
		return wrkRun{}, fmt.Errorf("wrk %s: %v\n%s", base, err, out.Bytes())
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if !strings.HasPrefix(line, "RESULT ") {
			continue
		}
		var r wrkRun
		var dur, p50, p99 int64
		if _, err := fmt.Sscanf(line, "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d status_errors=%d socket_errors=%d",
			&r.Requests, &dur, &p50, &p99, &r.StatusErrors, &r.SocketErrors); err != nil {
			return wrkRun{}, fmt.Errorf("wrk: read %q: %v", line, err)
		}
		r.Duration, r.P50, r.P99 = time.Duration(dur)*time.Microsecond, time.Duration(p50)*time.Microsecond, time.Duration(p99)*time.Microsecond
		if r.Requests == 0 {
			return wrkRun{}, fmt.Errorf("wrk %s: no request completed\n%s", base, out.Bytes())
		}
		return r, nil
	}
	return wrkRun{}, fmt.Errorf("wrk %s: no RESULT line\n%s", base, out.Bytes())
}
