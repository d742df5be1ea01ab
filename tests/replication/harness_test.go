// Package replication_test runs real structd processes as masters and
// replicas (built once per test run, on free 127.0.0.1 ports, in temporary
// directories) and checks what replicas end up holding.
package replication_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/structd/structd/internal/redisproc"
	"github.com/structd/structd/internal/resp"
)

var (
	buildOnce sync.Once
	builtDir  string
	builtBin  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if builtDir != "" {
		os.RemoveAll(builtDir)
	}
	os.Exit(code)
}

// waitFor bounds every poll: long enough for a loaded CI machine, and a
// failing test still ends.
const waitFor = 30 * time.Second

// node is one structd process and its data directory, which outlives it
// across restarts.
type node struct {
	t    *testing.T
	dir  string // --dir
	base string // logs
	args []string
	proc *redisproc.Proc
	pass string // requirepass, sent with AUTH on every connection
}

func binary(t *testing.T) string {
	buildOnce.Do(func() {
		builtDir, builtBin, buildErr = redisproc.BuildStructD(context.Background(), "repl-structd-")
	})
	if buildErr != nil {
		t.Fatalf("build structd: %v", buildErr)
	}
	return builtBin
}

// startNode runs structd with persistence on (the defaults: AOF everysec
// and checkpoints) plus args.
func startNode(t *testing.T, args ...string) *node {
	base := t.TempDir()
	n := &node{t: t, base: base, dir: filepath.Join(base, "data"), args: args}
	if err := os.Mkdir(n.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	n.start()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("NODE %s LOG:\n%s", n.base, n.log())
		}
		if n.proc != nil {
			syscall.Kill(n.proc.Pid(), syscall.SIGCONT)
			n.proc.Stop()
		}
	})
	return n
}

func (n *node) start() {
	n.t.Helper()
	p, err := redisproc.Start(binary(n.t), n.base, n.commandLine()...)
	if err != nil {
		n.t.Fatal(err)
	}
	n.proc = p
}

// commandLine is what the node's process runs with, after the port.
func (n *node) commandLine() []string {
	return append([]string{"--dir", n.dir, "--repl-timeout", "10", "--repl-ping-replica-period", "1"}, n.args...)
}

// stop ends the process cleanly (SIGTERM), as a shutdown.
func (n *node) stop() {
	n.proc.Stop()
	n.proc = nil
}

// log is the output of every process run on the node.
func (n *node) log() string {
	var b strings.Builder
	matches, _ := filepath.Glob(filepath.Join(n.base, "*.log"))
	for _, m := range matches {
		out, _ := os.ReadFile(m)
		b.Write(out)
	}
	return b.String()
}

// do runs one command on a new connection and returns its reply.
func (n *node) do(args ...any) resp.Value {
	n.t.Helper()
	c, err := n.dial()
	var v resp.Value
	if err == nil {
		v, err = c.do(args...)
		c.Close()
	}
	if err != nil {
		n.t.Fatalf("%v on %s: %v", args, n.proc.Addr, err)
	}
	return v
}

// ok runs a command that must not answer an error.
func (n *node) ok(args ...any) resp.Value {
	n.t.Helper()
	v := n.do(args...)
	if v.Kind == resp.KindError {
		n.t.Fatalf("%v: %s", args, v.Str)
	}
	return v
}

// conn is a connection kept for several commands (MULTI, SELECT).
type conn struct{ *redisproc.Conn }

func dial(addr string) (conn, error) {
	c, err := redisproc.Dial(addr)
	return conn{c}, err
}

func (c conn) do(args ...any) (resp.Value, error) { return c.Do(waitFor, args...) }

// dial connects to the node, authenticated.
func (n *node) dial() (conn, error) {
	c, err := dial(n.proc.Addr)
	if err == nil && n.pass != "" {
		var v resp.Value
		if v, err = c.do("AUTH", n.pass); err == nil && v.Kind == resp.KindError {
			err = fmt.Errorf("AUTH: %s", v.Str)
		}
	}
	return c, err
}

// session runs commands on one connection, failing the test on an error
// reply unless the command is listed in errs.
func (n *node) session(cmds ...[]any) []resp.Value {
	n.t.Helper()
	c, err := n.dial()
	if err != nil {
		n.t.Fatal(err)
	}
	defer c.Close()
	var out []resp.Value
	for _, cmd := range cmds {
		v, err := c.do(cmd...)
		if err != nil {
			n.t.Fatalf("%v: %v", cmd, err)
		}
		out = append(out, v)
	}
	return out
}

// info returns the fields of INFO section.
func (n *node) info(section string) map[string]string {
	n.t.Helper()
	v := n.ok("INFO", section)
	m := map[string]string{}
	for _, line := range strings.Split(string(v.Str), "\r\n") {
		if k, val, ok := strings.Cut(line, ":"); ok {
			m[k] = val
		}
	}
	return m
}

// eventually polls cond until it holds or waitFor passes.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v (%s)", what, waitFor, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// inSync waits until the replica's link is up and it has applied every
// byte the master has fed.
func inSync(t *testing.T, master, replica *node) {
	t.Helper()
	eventually(t, "replica in sync", func() (bool, string) {
		mi, ri := master.info("replication"), replica.info("replication")
		return ri["master_link_status"] == "up" && ri["master_repl_offset"] == mi["master_repl_offset"] && mi["master_replid"] == ri["master_replid"],
			fmt.Sprintf("master offset %s replid %s; replica link %s offset %s replid %s", mi["master_repl_offset"], mi["master_replid"],
				ri["master_link_status"], ri["master_repl_offset"], ri["master_replid"])
	})
}

// replicaOf starts a replica of master (as --replicaof) and waits for it
// to be in sync.
func replicaOf(t *testing.T, master *node, args ...string) *node {
	r := startNode(t, append([]string{"--replicaof", "127.0.0.1", strconv.Itoa(master.proc.Port)}, args...)...)
	inSync(t, master, r)
	return r
}

// dataset is every key of every database with its type, expiry and value,
// each as a string that compares exactly.
func (n *node) dataset() map[string]string {
	n.t.Helper()
	c, err := n.dial()
	if err != nil {
		n.t.Fatal(err)
	}
	defer c.Close()
	must := func(args ...any) resp.Value {
		v, err := c.do(args...)
		if err != nil || v.Kind == resp.KindError {
			n.t.Fatalf("%v: %v %s", args, err, v.Str)
		}
		return v
	}
	out := map[string]string{}
	for db := 0; db < 16; db++ {
		must("SELECT", db)
		var keys []string
		for _, k := range must("KEYS", "*").Elems {
			keys = append(keys, string(k.Str))
		}
		for _, k := range keys {
			typ := string(must("TYPE", k).Str)
			var val string
			switch typ {
			case "string":
				val = string(must("GET", k).Str)
			case "list":
				val = must("LRANGE", k, 0, -1).String()
			case "hash", "set":
				var items []string
				cmd := "HGETALL"
				if typ == "set" {
					cmd = "SMEMBERS"
				}
				for _, e := range must(cmd, k).Elems {
					items = append(items, string(e.Str))
				}
				if typ == "hash" {
					var pairs []string
					for i := 0; i+1 < len(items); i += 2 {
						pairs = append(pairs, items[i]+"="+items[i+1])
					}
					items = pairs
				}
				slices.Sort(items)
				val = strings.Join(items, ",")
			case "zset":
				val = must("ZRANGE", k, 0, -1, "WITHSCORES").String()
			case "none":
				continue // expired between KEYS and TYPE
			}
			exp := must("PEXPIRETIME", k).Int
			out[fmt.Sprintf("%d/%s", db, k)] = fmt.Sprintf("%s exp=%d %s", typ, exp, val)
		}
	}
	return out
}

// sameData checks the replica holds exactly the master's dataset.
func sameData(t *testing.T, master, replica *node) {
	t.Helper()
	m, r := master.dataset(), replica.dataset()
	for k, v := range m {
		if r[k] != v {
			t.Errorf("key %s: master %q, replica %q", k, v, r[k])
		}
	}
	for k, v := range r {
		if _, ok := m[k]; !ok {
			t.Errorf("key %s only on the replica: %q", k, v)
		}
	}
	if len(m) == 0 {
		t.Error("empty dataset compared")
	}
}

// count is how many times s appears in the node's logs.
func (n *node) count(s string) int { return strings.Count(n.log(), s) }
