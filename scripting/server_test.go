package scripting_test

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/structd/structd/config"
	"github.com/structd/structd/internal/resp"
	"github.com/structd/structd/server"
)

// These tests run scripts in a whole server: their writes reach the AOF
// and survive a restart, EVAL inside MULTI, and the maxmemory rules.

func startServer(t *testing.T, dir string, directives ...string) *server.Server {
	t.Helper()
	cfg := config.Default()
	directives = append([]string{"port 0", "dir " + dir}, directives...)
	if err := cfg.ParseFile(strings.Join(directives, "\n")); err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := server.New(cfg, server.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	return s
}

type client struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, s *server.Server) *client {
	t.Helper()
	nc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &client{t: t, nc: nc, br: bufio.NewReader(nc)}
}

// do sends a command and returns its reply rendered as text.
func (c *client) do(args ...string) string {
	c.t.Helper()
	b := fmt.Appendf(nil, "*%d\r\n", len(args))
	for _, a := range args {
		b = fmt.Appendf(b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	v, err := resp.ReadReply(c.br)
	if err != nil {
		c.t.Fatal(err)
	}
	return strings.TrimSpace(v.String())
}

func (c *client) expect(want string, args ...string) {
	c.t.Helper()
	if got := c.do(args...); got != want {
		c.t.Errorf("%q: got %q, want %q", args, got, want)
	}
}

func TestScriptWritesSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, "appendonly yes", "appendfsync always")
	c := dial(t, s)
	c.expect(`"1.5"`, "EVAL", "redis.call('SET', KEYS[1], 'v') redis.call('SELECT', 2) redis.call('RPUSH', 'l', 'a', 'b') "+
		"return redis.call('INCRBYFLOAT', 'f', '1.5')", "1", "k")
	c.expect(`(simple) "OK"`, "MULTI")
	c.expect(`(simple) "QUEUED"`, "EVAL", "return redis.call('INCR', KEYS[1])", "1", "n")
	c.expect(`(simple) "QUEUED"`, "EVAL", "redis.call('SET', 'x', 'y') return redis.call('NOSUCHCMD')", "0")
	c.do("EXEC")
	s.Close()

	s = startServer(t, dir, "appendonly yes")
	defer s.Close()
	c = dial(t, s)
	c.expect(`"v"`, "GET", "k")
	c.expect(`"1"`, "GET", "n")
	c.expect(`"y"`, "GET", "x")
	c.expect(`(simple) "OK"`, "SELECT", "2")
	c.expect("(array of 2)\n1) \"a\"\n2) \"b\"", "LRANGE", "l", "0", "-1")
	c.expect(`"1.5"`, "GET", "f")
}

// A script's redis.call arguments are logged as they were when the
// command that ran it ends: scripts run by EXEC one after another must
// not share them (a run reuses the storage of the run before only when
// that run's effects are logged).
func TestScriptArgumentsReachTheLog(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, "appendonly yes", "appendfsync always")
	defer s.Close()
	c := dial(t, s)
	set := "return redis.call('SET', KEYS[1], ARGV[1])"
	c.expect(`(simple) "OK"`, "EVAL", set, "1", "k0", "v0")
	c.expect(`(simple) "OK"`, "MULTI")
	for _, kv := range []string{"1", "2", "3"} {
		c.expect(`(simple) "QUEUED"`, "EVAL", set, "1", "k"+kv, "v"+kv)
	}
	c.do("EXEC")
	c.expect(`(simple) "OK"`, "EVAL", set, "1", "k4", "v4")
	files, err := filepath.Glob(filepath.Join(dir, "appendonlydir", "appendonly.aof.*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no AOF in %s: %v", dir, err)
	}
	var log []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		log = append(log, b...)
	}
	for _, kv := range []string{"0", "1", "2", "3", "4"} {
		if want := "*3\r\n$3\r\nSET\r\n$2\r\nk" + kv + "\r\n$2\r\nv" + kv + "\r\n"; !strings.Contains(string(log), want) {
			t.Errorf("the AOF lacks %q:\n%q", want, log)
		}
	}
}

func TestScriptMaxMemory(t *testing.T) {
	s := startServer(t, t.TempDir(), "appendonly no", `save ""`, "maxmemory 1")
	defer s.Close()
	c := dial(t, s)
	oom := `(error) "OOM command not allowed when used memory > 'maxmemory'."`
	// A shebang script that may write is refused; allow-oom and
	// no-writes ones run.
	c.expect(oom, "EVAL", "#!lua\nreturn 1", "0")
	c.expect(`(integer) 1`, "EVAL", "#!lua flags=allow-oom\nreturn 1", "0")
	c.expect(`(integer) 1`, "EVAL", "#!lua flags=no-writes\nreturn 1", "0")
	c.expect(`(simple) "OK"`, "EVAL", "#!lua flags=allow-oom\nreturn redis.call('SET', 'k', 'v')", "0")
	// Without a shebang, the first write that may grow memory is refused.
	if got := c.do("EVAL", "return redis.call('SET', 'k', 'w')", "0"); !strings.HasPrefix(got, `(error) "OOM command not allowed`) {
		t.Errorf("compat-mode write under OOM: %s", got)
	}
	c.expect(`"v"`, "EVAL", "return redis.call('GET', 'k')", "0")
	c.expect(`(integer) 1`, "EVAL", "return redis.call('DEL', 'k')", "0")
}

// A key whose deadline passes while a script runs is still there for the
// rest of the script, as in Redis (its time snapshot): the script waits,
// by TIME, until the key's 50 ms have surely passed. Its PTTL, computed
// from the clock, is 0. Once the script ends, the key is gone.
func TestKeysDoNotExpireDuringAScript(t *testing.T) {
	s := startServer(t, t.TempDir(), "appendonly no", `save ""`)
	defer s.Close()
	c := dial(t, s)
	c.expect(`(array of 3)
1) "v"
2) (integer) 0
3) (integer) 1`, "EVAL", `redis.call('SET', KEYS[1], 'v', 'PX', 50)
local function ms() local t = redis.call('TIME') return t[1] * 1000 + t[2] / 1000 end
local start = ms() while ms() - start < 120 do end
return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1]), redis.call('EXISTS', KEYS[1])}`, "1", "k")
	c.expect(`(integer) 0`, "EXISTS", "k")
}
