// Package chserver runs a ClickHouse server that Splitcast owns: started from
// the project's own config, listening on loopback only, on its own ports (a
// system ClickHouse may hold 9000 and 8123), with every file under one folder.
// Tests and `make run` use it; production points Splitcast at an external
// ClickHouse and never starts one.
package chserver

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"time"
)

//go:embed config.xml.tmpl
var configTemplate string

//go:embed users.xml.tmpl
var usersTemplate string

// InstallHint is what to tell a person whose machine has no ClickHouse.
const InstallHint = "ClickHouse is not installed: on Debian run `apt-get install -y clickhouse-server clickhouse-client` " +
	"(or `make deps`, which does it), elsewhere install ClickHouse and put clickhouse-server or clickhouse on PATH"

// Config says where and how to run the server. The zero value of every field
// but Dir is usable.
type Config struct {
	// Dir holds the config, data, logs and pid file. Required.
	Dir string
	// TCPPort and HTTPPort default to free ports picked at Start; they are
	// kept across Restart so that clients reconnect to the same address.
	TCPPort  int
	HTTPPort int
	// RemoteServers is the inner XML of <remote_servers>, for cluster tests.
	RemoteServers string
	// Detached leaves the server running when this process dies (for
	// `splitcast clickhouse start`); otherwise the kernel stops it with us.
	Detached bool
	// StartTimeout bounds the wait for the server to answer (default 60s:
	// the first start creates its system tables on a slow disk).
	StartTimeout time.Duration
	Logger       *slog.Logger
}

// Server is a running (or stopped) ClickHouse process started by Start.
type Server struct {
	cfg  Config
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has been waited for
}

// Start writes the config under cfg.Dir, starts the server and waits until it
// answers a ping.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Dir == "" {
		return nil, errors.New("chserver: Dir is required")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("chserver: %w", err)
	}
	cfg.Dir = dir
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 60 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.TCPPort == 0 {
		if cfg.TCPPort, err = freePort(); err != nil {
			return nil, err
		}
	}
	if cfg.HTTPPort == 0 {
		if cfg.HTTPPort, err = freePort(); err != nil {
			return nil, err
		}
	}
	s := &Server{cfg: cfg}
	if err := s.writeConfig(); err != nil {
		return nil, err
	}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Binary returns the command line prefix that runs a ClickHouse server on
// this machine: Debian's 18.16 ships clickhouse-server, current releases one
// clickhouse binary with a server mode.
func Binary() ([]string, error) {
	for _, name := range []string{"clickhouse-server", "/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server"} {
		if p, err := exec.LookPath(name); err == nil {
			return []string{p}, nil
		}
	}
	if p, err := exec.LookPath("clickhouse"); err == nil {
		return []string{p, "server"}, nil
	}
	return nil, errors.New(InstallHint)
}

func (s *Server) writeConfig() error {
	for _, sub := range []string{"data", "tmp", "log", "user_files", "format_schemas"} {
		if err := os.MkdirAll(filepath.Join(s.cfg.Dir, sub), 0o755); err != nil {
			return fmt.Errorf("chserver: %w", err)
		}
	}
	for name, text := range map[string]string{"config.xml": configTemplate, "users.xml": usersTemplate} {
		var buf bytes.Buffer
		if err := template.Must(template.New(name).Parse(text)).Execute(&buf, s.cfg); err != nil {
			return fmt.Errorf("chserver: render %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(s.cfg.Dir, name), buf.Bytes(), 0o644); err != nil {
			return fmt.Errorf("chserver: %w", err)
		}
	}
	return nil
}

func (s *Server) start(ctx context.Context) error {
	argv, err := Binary()
	if err != nil {
		return err
	}
	// A server left behind by a crashed run would hold our ports and data.
	_ = StopPIDFile(s.cfg.Dir, 10*time.Second)

	out, err := os.OpenFile(filepath.Join(s.cfg.Dir, "log", "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("chserver: %w", err)
	}
	defer out.Close()
	cmd := exec.Command(argv[0], append(argv[1:], "--config-file="+filepath.Join(s.cfg.Dir, "config.xml"))...)
	cmd.Dir = s.cfg.Dir
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group: Ctrl-C in a terminal must reach us first, so
	// that queued events are flushed into ClickHouse before it stops.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if !s.cfg.Detached {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGTERM
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("chserver: start %s: %w", argv[0], err)
	}
	s.cmd = cmd
	s.done = make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(s.done)
	if err := os.WriteFile(s.pidFile(), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		return fmt.Errorf("chserver: %w", err)
	}
	s.cfg.Logger.Info("clickhouse starting", "pid", cmd.Process.Pid, "tcp", s.Addr(), "dir", s.cfg.Dir)

	ctx, cancel := context.WithTimeout(ctx, s.cfg.StartTimeout)
	defer cancel()
	for {
		if Ping(ctx, s.HTTPAddr()) == nil {
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("chserver: clickhouse exited during start; see %s", filepath.Join(s.cfg.Dir, "log"))
		case <-ctx.Done():
			_ = s.Stop()
			return fmt.Errorf("chserver: clickhouse did not answer within %s; see %s", s.cfg.StartTimeout, filepath.Join(s.cfg.Dir, "log"))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Restart starts the server again on the same ports and data after Stop or
// Kill.
func (s *Server) Restart(ctx context.Context) error {
	if s.Running() {
		return errors.New("chserver: already running")
	}
	return s.start(ctx)
}

// Addr is the native-protocol address clients connect to.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.cfg.TCPPort)) }

// HTTPAddr is the HTTP interface's address.
func (s *Server) HTTPAddr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.cfg.HTTPPort))
}

// PID is the server's process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Dir is the folder holding everything of this server.
func (s *Server) Dir() string { return s.cfg.Dir }

// Running reports whether the process is still alive.
func (s *Server) Running() bool {
	if s.done == nil {
		return false
	}
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// Stop asks the server to shut down (SIGTERM) and kills it if it has not
// gone within 30 seconds.
func (s *Server) Stop() error { return s.signal(syscall.SIGTERM, 30*time.Second) }

// Kill stops the server at once, as a crash would.
func (s *Server) Kill() error { return s.signal(syscall.SIGKILL, 10*time.Second) }

func (s *Server) signal(sig syscall.Signal, grace time.Duration) error {
	if !s.Running() {
		return nil
	}
	_ = s.cmd.Process.Signal(sig)
	select {
	case <-s.done:
	case <-time.After(grace):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	_ = os.Remove(s.pidFile())
	return nil
}

func (s *Server) pidFile() string { return filepath.Join(s.cfg.Dir, "clickhouse.pid") }

// StopPIDFile stops the server whose pid is recorded under dir, if that
// process is alive and is a ClickHouse server, waiting up to grace before
// killing it. It is how `splitcast clickhouse stop` stops a detached server.
func StopPIDFile(dir string, grace time.Duration) error {
	file := filepath.Join(dir, "clickhouse.pid")
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("chserver: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return os.Remove(file)
	}
	comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if !bytes.Contains(comm, []byte("clickhouse")) {
		return os.Remove(file) // stale: the pid now belongs to something else
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return os.Remove(file)
}

// Ping reports whether a ClickHouse HTTP interface at addr answers.
func Ping(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/ping", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ping %s: %s", addr, resp.Status)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("chserver: pick a port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
