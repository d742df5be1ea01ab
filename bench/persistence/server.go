//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/structd/structd/internal/redisproc"
)

// A wait (a save to finish, a restarted server to answer) asks the server
// every 1% of the time waited so far, within these bounds: a measured time
// overshoots by at most 1% or minPoll, and a long wait costs the server
// little.
const (
	minPoll = 2 * time.Millisecond
	maxPoll = 20 * time.Millisecond
)

// server is one server under test and its control connection. It is
// started with redisproc.Start; a timed restart starts the binary itself,
// because redisproc waits for PING and Redis answers -LOADING until its
// RDB is loaded.
type server struct {
	name    string   // "structd" or "redis", as printed
	bin     string   // the binary
	workDir string   // its working directory and logs
	dataDir string   // its dir directive
	args    []string // the directives it always gets, dir included

	addr    string
	port    int
	pid     int
	logPath string
	stop    func() // ends the process (SIGINT, then SIGKILL) and waits; idempotent
	c       *conn  // the control connection

	warnings []string // what a measure could not confirm, for the notes
}

// newServer makes the working and data directories of a server.
func newServer(name, bin, root string, args ...string) (*server, error) {
	s := &server{name: name, bin: bin, workDir: filepath.Join(root, name+"-run")}
	s.dataDir = filepath.Join(s.workDir, "data")
	if err := os.MkdirAll(s.dataDir, 0o755); err != nil {
		return nil, err
	}
	s.args = append([]string{"--dir", s.dataDir}, args...)
	s.stop = func() {}
	return s, nil
}

// start starts the server on an empty data directory and connects to it.
func (s *server) start(ctx context.Context) error {
	p, err := redisproc.Start(s.bin, s.workDir, s.args...)
	if err != nil {
		return err
	}
	s.addr, s.port, s.pid, s.logPath, s.stop = p.Addr, p.Port, p.Pid(), p.LogPath, p.Stop
	if s.c, err = dial(ctx, s.addr, time.Second); err != nil {
		s.stop()
		return err
	}
	return nil
}

// restart starts the binary again on its data directory with the extra
// arguments, and returns the time from just before the process starts
// until ready says the server is where the measure wants it. ready gets a
// connection and may be called many times; a LOADING error reply from it
// means not yet. The server must be stopped already.
func (s *server) restart(ctx context.Context, timeout time.Duration, extra []string, ready func(*conn) (bool, error)) (time.Duration, error) {
	port, err := redisproc.FreePort()
	if err != nil {
		return 0, err
	}
	s.port, s.addr = port, "127.0.0.1:"+strconv.Itoa(port)
	s.logPath = filepath.Join(s.workDir, fmt.Sprintf("%s-restart-%d.log", s.name, port))
	log, err := os.Create(s.logPath)
	if err != nil {
		return 0, err
	}
	defer log.Close()
	args := append(append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1"}, s.args...), extra...)
	cmd := exec.Command(s.bin, args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = s.workDir, log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.pid = cmd.Process.Pid
	s.stop = func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}
	var c *conn
	err = poll(ctx, timeout, func() (bool, error) {
		select {
		case <-exited:
			return false, fmt.Errorf("%s exited after a restart: %s", s.name, s.logTail())
		default:
		}
		if c == nil {
			if c, err = dial(ctx, s.addr, 100*time.Millisecond); err != nil {
				c = nil
				return false, nil
			}
		}
		ok, err := ready(c)
		var re replyError
		switch {
		case errors.As(err, &re) && strings.HasPrefix(string(re), "LOADING"):
			return false, nil
		case errors.As(err, &re):
			return false, err
		case err != nil && ctx.Err() == nil && isConnError(err):
			c.Close()
			c = nil
			return false, nil
		}
		return ok, err
	})
	elapsed := time.Since(t0)
	if err != nil {
		if c != nil {
			c.Close()
		}
		return 0, err
	}
	s.c = c
	return elapsed, nil
}

// isConnError reports whether err is the connection failing (the server
// accepted, then closed it while starting) rather than a reply.
func isConnError(err error) bool {
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.As(err, &ne)
}

// shutdown sends SHUTDOWN with mode ("", "NOSAVE" or "SAVE") and waits up
// to timeout for the process to exit.
func (s *server) shutdown(ctx context.Context, timeout time.Duration, mode string) error {
	args := []string{"SHUTDOWN"}
	if mode != "" {
		args = append(args, mode)
	}
	_, err := s.c.do(args...)
	s.c.Close()
	var re replyError
	if errors.As(err, &re) {
		return fmt.Errorf("%s %s: %w", s.name, strings.Join(args, " "), err)
	}
	err = poll(ctx, timeout, func() (bool, error) {
		return syscall.Kill(s.pid, 0) == syscall.ESRCH, nil
	})
	s.stop() // reaps it, or ends it if SHUTDOWN did not
	return err
}

// saveSignature are the INFO persistence fields that change when a save
// completes; bgsave compares them before and after.
var saveSignature = []string{"rdb_saves", "rdb_last_save_time", "checkpoint_last_time_ms", "checkpoint_last_bytes"}

// unconfirmedGrace is how long bgsave waits, once rdb_bgsave_in_progress
// reads 0, for a sign that the save ran when it never saw the flag at 1.
const unconfirmedGrace = 2 * time.Second

// bgsave sends BGSAVE and returns the wall time until INFO persistence says
// rdb_bgsave_in_progress:0 with rdb_last_bgsave_status:ok. Redis sets the
// flag before it replies (it forks inside the command), so a 0 at the
// first poll means the save already finished; to be sure of a server that
// might set it later, the save counts as done only once the flag was seen
// at 1 or one of saveSignature changed. If neither happens within
// unconfirmedGrace, the time of the first 0 is kept and a warning says so.
func (s *server) bgsave(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	before, err := s.c.info("persistence")
	if err != nil {
		return 0, err
	}
	t0 := time.Now()
	if _, err := s.c.do("BGSAVE"); err != nil {
		return 0, fmt.Errorf("BGSAVE: %w", err)
	}
	var sawRunning bool
	var firstIdle time.Time
	var fields map[string]string
	err = poll(ctx, timeout, func() (bool, error) {
		var err error
		if fields, err = s.c.info("persistence"); err != nil {
			return false, err
		}
		n, err := intField(fields, "persistence", "rdb_bgsave_in_progress")
		switch {
		case err != nil:
			return false, err
		case n != 0:
			sawRunning = true
			return false, nil
		case firstIdle.IsZero():
			firstIdle = time.Now()
		}
		if sawRunning {
			return true, nil
		}
		for _, f := range saveSignature {
			if v, ok := fields[f]; ok && v != before[f] {
				return true, nil
			}
		}
		return time.Since(firstIdle) > unconfirmedGrace, nil
	})
	if err != nil {
		return 0, err
	}
	elapsed := firstIdle.Sub(t0)
	if st, ok := fields["rdb_last_bgsave_status"]; ok && st != "ok" {
		return 0, fmt.Errorf("rdb_last_bgsave_status:%s after BGSAVE (see %s)", st, s.logPath)
	}
	if !sawRunning && time.Since(firstIdle) > unconfirmedGrace {
		s.warnings = append(s.warnings, fmt.Sprintf("a BGSAVE timed %.1f ms was never seen running and changed none of %v",
			elapsed.Seconds()*1000, saveSignature))
	}
	return elapsed, nil
}

// waitNoSave waits until no checkpoint or save is running.
func (s *server) waitNoSave(ctx context.Context, timeout time.Duration) error {
	return poll(ctx, timeout, func() (bool, error) {
		n, err := s.c.infoInt("persistence", "rdb_bgsave_in_progress")
		return n == 0, err
	})
}

// logTail is the end of the server's log, for an error message.
func (s *server) logTail() string {
	out, _ := os.ReadFile(s.logPath)
	if len(out) > 2000 {
		out = out[len(out)-2000:]
	}
	return strings.TrimSpace(string(out))
}

// lastLogLine is the last line of the server's log that contains marker,
// or "" when none does.
func (s *server) lastLogLine(marker string) string {
	out, _ := os.ReadFile(s.logPath)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], marker) {
			return lines[i]
		}
	}
	return ""
}

// poll calls done until it reports true or an error, ctx ends or timeout
// passes.
func poll(ctx context.Context, timeout time.Duration, done func() (bool, error)) error {
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		ok, err := done()
		if err != nil || ok {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("still waiting after %v", timeout)
		}
		select {
		case <-ctx.Done():
			return errors.New("interrupted")
		case <-time.After(min(max(time.Since(start)/100, minPoll), maxPoll)):
		}
	}
}
