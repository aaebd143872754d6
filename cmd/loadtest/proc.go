package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// child is a process the suite started: a splitcast server or a baseline.
// The kernel kills it if the suite dies without its cleanup (SIGKILL).
type child struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// startChild runs bin with args and extra environment, its output in
// dir/name.log.
func startChild(dir, name string, env []string, bin string, args ...string) (*child, error) {
	log := filepath.Join(dir, name+".log")
	f, err := os.Create(log)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, log: log, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// stop sends SIGTERM and waits up to grace, then kills.
func (c *child) stop(grace time.Duration) {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(grace):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// waitHTTP waits until url answers want, or the child exits, or a minute
// passes.
func (c *child) waitHTTP(ctx context.Context, url string, want int) error {
	deadline := time.Now().Add(time.Minute)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return nil
			}
		}
		select {
		case <-c.done:
			return fmt.Errorf("%s exited before answering %s; see %s", c.name, url, c.log)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer %s within a minute; see %s", c.name, url, c.log)
		}
	}
}

// freeAddr returns a loopback address no one listens on right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// goBuild builds the package pkg of the module into out.
func goBuild(ctx context.Context, out, pkg string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

// cpu returns the CPU time the child has used so far (pidCPU).
func (c *child) cpu() time.Duration { return pidCPU(c.cmd.Process.Pid) }

// pidCPU is the CPU time (user and system) process pid has used so far,
// from /proc/<pid>/stat; 0 if it cannot be read.
func pidCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces: the fields are
	// counted after its closing one. utime and stime are fields 14 and 15,
	// in clock ticks (USER_HZ, 100 on Linux).
	rest := string(b)
	if i := strings.LastIndexByte(rest, ')'); i >= 0 {
		rest = rest[i+1:]
	}
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const userHZ = 100
	return time.Duration(utime+stime) * time.Second / userHZ
}

// pause stops the child (SIGSTOP) until the returned resume continues it
// (SIGCONT), so that it takes no CPU while something else is measured.
func (c *child) pause() (resume func() error, err error) {
	if err := c.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		return nil, fmt.Errorf("pause %s: %w", c.name, err)
	}
	return func() error {
		if err := c.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			return fmt.Errorf("resume %s: %w", c.name, err)
		}
		return nil
	}, nil
}
