// Package redisproc runs a Redis-compatible server binary (redis-server, or
// a built structd) as a child process on a free 127.0.0.1 port, for the
// differential tests and the side-by-side benchmark.
package redisproc

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/structd/structd/internal/resp"
)

// startTimeout bounds the wait for a started server to answer PING.
const startTimeout = 10 * time.Second

// Proc is a running server process.
type Proc struct {
	Addr    string // 127.0.0.1:port
	Port    int
	LogPath string // the process's standard output and error

	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited
}

// Start runs bin with "--port P --bind 127.0.0.1" and then args, its output
// going to a log file in dir, and waits until it answers PING. A port found
// free can be taken before the server binds it, so Start retries on a new
// port when the process exits before answering.
func Start(bin, dir string, args ...string) (*Proc, error) {
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		p, err := StartOnPort(bin, dir, port, args...)
		if err == nil {
			return p, nil
		}
		lastErr = err
	}
	return nil, fmt.Errorf("redisproc: %s did not start: %w", bin, lastErr)
}

// StartOnPort is Start on port, once: a server restarted where its peers
// (replicas, Sentinels) know it. It fails if the port is taken.
func StartOnPort(bin, dir string, port int, args ...string) (*Proc, error) {
	p := &Proc{
		Addr:    net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Port:    port,
		LogPath: filepath.Join(dir, fmt.Sprintf("%s-%d.log", filepath.Base(bin), port)),
		done:    make(chan struct{}),
	}
	log, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	p.cmd = exec.Command(bin, append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1"}, args...)...)
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = log, log
	p.cmd.SysProcAttr = procAttr()
	err = p.cmd.Start()
	log.Close()
	if err != nil {
		return nil, fmt.Errorf("redisproc: start %s: %w", bin, err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	if err := p.waitReady(); err != nil {
		p.Stop()
		out, _ := os.ReadFile(p.LogPath)
		return nil, fmt.Errorf("%w; its output:\n%s", err, out)
	}
	return p, nil
}

// Stop ends the process (SIGTERM, then SIGKILL after 5 seconds) and waits
// for it. It is safe to call more than once.
func (p *Proc) Stop() {
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// FreePort asks the kernel for a 127.0.0.1 port that is free right now.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitReady polls the server with PING until it answers PONG, the process
// exits or startTimeout passes.
func (p *Proc) waitReady() error {
	deadline := time.Now().Add(startTimeout)
	for {
		if err := Ping(p.Addr); err == nil {
			return nil
		}
		select {
		case <-p.done:
			return errors.New("the process exited")
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no PONG from %s within %v", p.Addr, startTimeout)
		}
	}
}

// Ping sends one PING to addr on a new connection and checks for PONG.
func Ping(addr string) error {
	nc, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(time.Second))
	if _, err := nc.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	v, err := resp.ReadReply(bufio.NewReader(nc))
	if err != nil {
		return err
	}
	if v.Kind != resp.KindSimple || string(v.Str) != "PONG" {
		return fmt.Errorf("PING answered %s", v)
	}
	return nil
}

// Conn is a client connection for tests: it sends commands as multibulk
// requests, as redis-cli does, and reads typed replies.
type Conn struct {
	nc net.Conn
	br *bufio.Reader
}

// Dial connects to addr.
func Dial(addr string) (*Conn, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &Conn{nc: nc, br: bufio.NewReader(nc)}, nil
}

// Do sends one command, its arguments formatted with fmt.Sprint, and reads
// its reply within timeout.
func (c *Conn) Do(timeout time.Duration, args ...any) (resp.Value, error) {
	var w resp.Writer
	w.Array(len(args))
	for _, a := range args {
		w.BulkString(fmt.Sprint(a))
	}
	c.nc.SetDeadline(time.Now().Add(timeout))
	if _, err := c.nc.Write(w.Buf); err != nil {
		return resp.Value{}, err
	}
	return resp.ReadReply(c.br)
}

// Close closes the connection.
func (c *Conn) Close() error { return c.nc.Close() }
