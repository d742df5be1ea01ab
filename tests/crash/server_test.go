package crash

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/structd/structd/internal/redisproc"
	"github.com/structd/structd/internal/resp"
)

var (
	seedFlag     = flag.Uint64("crash.seed", 0, "seed of the random choices (0: from the clock)")
	killsFlag    = flag.Int("crash.kills", 25, "kills per server in TestCrash")
	durationFlag = flag.Duration("crash.duration", 0, "spread TestCrash's kills over about this much workload, and stop once it has passed (0: 20-300 ms before each kill)")
	everysecFlag = flag.Int("crash.everysec", 3, "kills per server in TestCrashEverysec")
	targetFlag   = flag.String("crash.target", "all", "servers to test: all, structd or redis")
)

// opTimeout bounds every client call (dial, write, read), so a server that
// stops answering fails the test instead of hanging it.
const opTimeout = 10 * time.Second

// serveTimeout bounds the wait, after a restart, until the server answers
// reads instead of -LOADING.
const serveTimeout = 60 * time.Second

// target is one server binary under test and how to run it with
// persistence on.
type target struct {
	name string
	bin  string
}

// persistentArgs are the command-line arguments that run a server on
// dataDir with the AOF on, the given appendfsync policy and a checkpoint
// every second that saw 100 changes.
func persistentArgs(fsync string) func(dataDir string) []string {
	return func(dataDir string) []string {
		// "--save 1 100" rather than Redis's equivalent "--save '1 100'",
		// which StructD's config loader refuses.
		return []string{"--dir", dataDir, "--appendonly", "yes", "--appendfsync", fsync, "--save", "1", "100"}
	}
}

// volatileArgs run a server with persistence off: the harness must see
// its losses (TestHarnessDetectsLoss).
func volatileArgs(dataDir string) []string {
	return []string{"--dir", dataDir, "--appendonly", "no", "--save", ""}
}

var (
	buildOnce  sync.Once
	builtBin   string
	buildErr   error
	builtDir   string
	targetsRun = map[string]bool{"all": true, "structd": true, "redis": true}
)

// TestMain removes the structd binary built for the tests.
func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if builtDir != "" {
		os.RemoveAll(builtDir)
	}
	os.Exit(code)
}

// forEachTarget runs fn as a subtest for each selected server: structd,
// built once per test binary, and redis-server, skipped when absent.
func forEachTarget(t *testing.T, fn func(t *testing.T, tg target)) {
	if !targetsRun[*targetFlag] {
		t.Fatalf("-crash.target %q: want all, structd or redis", *targetFlag)
	}
	if *targetFlag != "redis" {
		t.Run("structd", func(t *testing.T) {
			buildOnce.Do(func() {
				builtDir, builtBin, buildErr = redisproc.BuildStructD(context.Background(), "crash-structd-")
			})
			if buildErr != nil {
				t.Fatalf("build structd: %v", buildErr)
			}
			fn(t, target{name: "structd", bin: builtBin})
		})
	}
	if *targetFlag != "structd" {
		t.Run("redis-server", func(t *testing.T) {
			bin, err := exec.LookPath("redis-server")
			if err != nil {
				t.Skip("redis-server is not installed: the harness is not checked against the reference")
			}
			fn(t, target{name: "redis-server", bin: bin})
		})
	}
}

// server is one target running on a data directory that outlives its
// processes: each restart starts a new process on a new port.
type server struct {
	tg      target
	args    []string
	logDir  string // the processes' output files
	dataDir string // --dir
	proc    *redisproc.Proc
	logs    []string // the output file of every process started, in order
}

// newServer prepares a data directory for tg, whose processes run with
// args(dataDir); the test's cleanup stops the last one.
func newServer(t *testing.T, tg target, args func(dataDir string) []string) *server {
	base := t.TempDir()
	s := &server{tg: tg, logDir: base, dataDir: filepath.Join(base, "data")}
	s.args = args(s.dataDir)
	if err := os.Mkdir(s.dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s.proc != nil {
			s.proc.Stop()
		}
	})
	return s
}

// start runs a new process and waits until it answers PING and serves a
// read (a server still loading answers -LOADING). It returns how long that
// took.
func (s *server) start() (time.Duration, error) {
	begin := time.Now()
	p, err := redisproc.Start(s.tg.bin, s.logDir, s.args...)
	if err != nil {
		return 0, err
	}
	s.proc = p
	s.logs = append(s.logs, p.LogPath)
	deadline := begin.Add(serveTimeout)
	for {
		err := probeRead(p.Addr)
		if err == nil {
			return time.Since(begin), nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s on %s does not serve reads %v after start: %w", s.tg.name, p.Addr, serveTimeout, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// probeRead sends one GET and wants a reply that is not an error.
func probeRead(addr string) error {
	c, err := dial(addr)
	if err != nil {
		return err
	}
	defer c.close()
	v, err := c.do("GET", "crash:probe")
	if err != nil {
		return err
	}
	if v.Kind == resp.KindError {
		return fmt.Errorf("GET answered %s", v)
	}
	return nil
}

// kill ends the process with SIGKILL, as a crash would, and reaps it.
func (s *server) kill() error {
	err := syscall.Kill(s.proc.Pid(), syscall.SIGKILL)
	s.proc.Stop() // the process is gone or going: Stop only waits for it
	s.proc = nil
	return err
}

// logTail is the end of the output of every process started so far, for
// failure messages.
func (s *server) logTail() string {
	var b strings.Builder
	for _, path := range s.logs {
		out, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		if len(out) > 2000 {
			out = out[len(out)-2000:]
		}
		fmt.Fprintf(&b, "--- %s:\n%s\n", filepath.Base(path), out)
	}
	if b.Len() > 12000 {
		return b.String()[b.Len()-12000:]
	}
	return b.String()
}

// conn is a client connection: commands go out as multibulk requests,
// several per write when pipelined, and every call has a deadline.
type conn struct {
	nc  net.Conn
	br  *bufio.Reader
	buf resp.Writer // requests are encoded as arrays of bulk strings
}

func dial(addr string) (*conn, error) {
	nc, err := net.DialTimeout("tcp", addr, opTimeout)
	if err != nil {
		return nil, err
	}
	return &conn{nc: nc, br: bufio.NewReader(nc)}, nil
}

func (c *conn) close() { c.nc.Close() }

// queue encodes one command into the pending write.
func (c *conn) queue(args ...string) {
	c.buf.Array(len(args))
	for _, a := range args {
		c.buf.BulkString(a)
	}
}

// flush writes every queued command at once.
func (c *conn) flush() error {
	c.nc.SetWriteDeadline(time.Now().Add(opTimeout))
	_, err := c.nc.Write(c.buf.Buf)
	c.buf.Buf = c.buf.Buf[:0]
	return err
}

// read reads the next reply.
func (c *conn) read() (resp.Value, error) {
	c.nc.SetReadDeadline(time.Now().Add(opTimeout))
	return resp.ReadReply(c.br)
}

// do sends one command and reads its reply.
func (c *conn) do(args ...string) (resp.Value, error) {
	c.queue(args...)
	if err := c.flush(); err != nil {
		return resp.Value{}, err
	}
	return c.read()
}

// doOK is do for a command whose error reply is a failure too.
func (c *conn) doOK(args ...string) (resp.Value, error) {
	v, err := c.do(args...)
	if err == nil && v.Kind == resp.KindError {
		err = fmt.Errorf("%s answered %s", args[0], v)
	}
	return v, err
}

// persistence is what INFO persistence said about running checkpoints.
type persistence struct {
	bgsave, aofRewrite bool
}

// infoPersistence reads INFO persistence.
func (c *conn) infoPersistence() (persistence, error) {
	v, err := c.doOK("INFO", "persistence")
	if err != nil {
		return persistence{}, err
	}
	if v.Kind != resp.KindBulk && v.Kind != resp.KindVerbatim {
		return persistence{}, fmt.Errorf("INFO answered %s", v)
	}
	var p persistence
	for _, line := range strings.Split(string(v.Str), "\n") {
		switch strings.TrimSpace(line) {
		case "rdb_bgsave_in_progress:1":
			p.bgsave = true
		case "aof_rewrite_in_progress:1":
			p.aofRewrite = true
		}
	}
	return p, nil
}

// isConnEnd reports whether err is the end of a connection to a killed
// server (EOF, reset, broken pipe) rather than a timeout.
func isConnEnd(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return err != nil
}
