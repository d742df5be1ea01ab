package server

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/structd/structd/config"
	"github.com/structd/structd/internal/resp"
)

// startServer runs a server on a free port of 127.0.0.1 until the test ends.
func startServer(t *testing.T, directives ...string) *Server {
	t.Helper()
	cfg := config.Default()
	cfg.Port = 0
	cfg.Dir = t.TempDir()
	if err := cfg.ParseFile(strings.Join(directives, "\n")); err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// conn is a test client that speaks RESP and reads typed replies.
type conn struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, s *Server) *conn {
	t.Helper()
	nc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &conn{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func encode(args ...string) []byte {
	b := fmt.Appendf(nil, "*%d\r\n", len(args))
	for _, a := range args {
		b = fmt.Appendf(b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b
}

func (c *conn) send(args ...string) {
	c.t.Helper()
	if _, err := c.nc.Write(encode(args...)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *conn) read() resp.Value {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	v, err := resp.ReadReply(c.br)
	if err != nil {
		c.t.Fatalf("reading reply: %v", err)
	}
	return v
}

// do sends a command and returns its reply as text: "+OK", "-ERR ...",
// ":1", "$bulk", "(nil)", or the String form of aggregates.
func (c *conn) do(args ...string) string {
	c.t.Helper()
	c.send(args...)
	return show(c.read())
}

func show(v resp.Value) string {
	switch v.Kind {
	case resp.KindSimple:
		return "+" + string(v.Str)
	case resp.KindError:
		return "-" + string(v.Str)
	case resp.KindInt:
		return fmt.Sprintf(":%d", v.Int)
	case resp.KindBulk, resp.KindVerbatim:
		if v.Null {
			return "(nil)"
		}
		return "$" + string(v.Str)
	case resp.KindNull:
		return "(nil)"
	}
	return v.String()
}

func (c *conn) expect(want string, args ...string) {
	c.t.Helper()
	if got := c.do(args...); got != want {
		c.t.Fatalf("%v: got %q, want %q", args, got, want)
	}
}

// expectClosed waits for the server to close the connection.
func (c *conn) expectClosed() {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 1024)
	for {
		_, err := c.br.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.t.Fatal("connection still open")
		}
		return
	}
}

func TestRequirePassAndHello(t *testing.T) {
	s := startServer(t, "requirepass secret")
	c := dial(t, s)
	c.expect("-NOAUTH Authentication required.", "GET", "k")
	c.expect("-WRONGPASS invalid username-password pair or user is disabled.", "AUTH", "nope")
	c.expect("-WRONGPASS invalid username-password pair or user is disabled.", "AUTH", "bob", "secret")
	c.expect("-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time", "HELLO", "3")
	c.send("HELLO", "3", "AUTH", "default", "secret", "SETNAME", "me")
	v := c.read()
	if v.Kind != resp.KindMap || len(v.Elems) != 14 || string(v.Elems[5].Str) != "3" && v.Elems[5].Int != 3 {
		t.Fatalf("HELLO reply %v", v)
	}
	c.expect("$me", "CLIENT", "GETNAME")
	c.expect("(nil)", "GET", "k")
	c.expect("-NOPROTO unsupported protocol version", "HELLO", "4")
	c.expect("-ERR Protocol version is not an integer or out of range", "HELLO", "x")
	c.expect("-ERR Syntax error in HELLO option 'foo'", "HELLO", "3", "foo")
	c.expect("+RESET", "RESET")
	c.expect("-NOAUTH Authentication required.", "GET", "k")
	c.expect("+OK", "AUTH", "secret")

	// CONFIG SET requirepass "" lets new connections in; an authenticated
	// connection stays authenticated when the password changes.
	c.expect("+OK", "CONFIG", "SET", "requirepass", "")
	d := dial(t, s)
	d.expect("+PONG", "PING")
	d.expect("-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?", "AUTH", "x")
	c.expect("+OK", "CONFIG", "SET", "requirepass", "other")
	d.expect("+PONG", "PING")
	u := dial(t, s)
	u.expect("-NOAUTH Authentication required.", "PING")
	// Clearing the password lets an unauthenticated connection in too.
	c.expect("+OK", "CONFIG", "SET", "requirepass", "")
	u.expect("+PONG", "PING")
}

func TestProtoMaxBulkLen(t *testing.T) {
	s := startServer(t)
	c := dial(t, s)
	c.expect("+OK", "CONFIG", "SET", "proto-max-bulk-len", "1mb")
	other := dial(t, s)
	c.nc.Write([]byte("*2\r\n$3\r\nSET\r\n$2000000\r\n"))
	c.expect("-ERR Protocol error: invalid bulk length", "PING")
	c.expectClosed()
	other.expect("+PONG", "PING")
}

func TestQueryBufferLimitClosesClient(t *testing.T) {
	s := startServer(t)
	c := dial(t, s)
	c.expect("+OK", "CONFIG", "SET", "client-query-buffer-limit", "1mb")
	other := dial(t, s)
	// A 4 MB bulk is within proto-max-bulk-len but beyond the buffer limit.
	c.nc.Write([]byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4000000\r\n"))
	chunk := make([]byte, 64<<10)
	for i := 0; i < 60; i++ {
		if _, err := c.nc.Write(chunk); err != nil {
			break // closed by the server: what we expect
		}
	}
	c.expectClosed()
	other.expect("+PONG", "PING")
	other.expect("(nil)", "GET", "k")
}

func TestMaxClients(t *testing.T) {
	s := startServer(t, "maxclients 2")
	a, b := dial(t, s), dial(t, s)
	a.expect("+PONG", "PING")
	b.expect("+PONG", "PING")
	c := dial(t, s)
	if v := c.read(); show(v) != "-ERR max number of clients reached" {
		t.Fatalf("third client got %v", v)
	}
	c.expectClosed()
	// Raising maxclients at run time admits more.
	a.expect("+OK", "CONFIG", "SET", "maxclients", "3")
	dial(t, s).expect("+PONG", "PING")
}

func TestIdleTimeout(t *testing.T) {
	s := startServer(t, "timeout 1")
	c := dial(t, s)
	c.expect("+PONG", "PING")
	c.expectClosed()
}

func TestMalformedClientDoesNotHurtOthers(t *testing.T) {
	s := startServer(t)
	good := dial(t, s)
	good.expect("+OK", "SET", "k", "v")
	for _, junk := range []string{"*abc\r\n", "*1\r\n$x\r\n", "*-5\r\n*1\r\n$-1\r\n", "\"unbalanced\r\n", "*2\r\n$3\r\nGET\r\n:1\r\n"} {
		bad := dial(t, s)
		bad.nc.Write([]byte(junk))
		v := bad.read()
		if v.Kind != resp.KindError || !strings.HasPrefix(string(v.Str), "ERR Protocol error") {
			t.Errorf("%q: got %v", junk, v)
		}
		bad.expectClosed()
	}
	good.expect("$v", "GET", "k")
}

func TestClientKill(t *testing.T) {
	s := startServer(t)
	a, b := dial(t, s), dial(t, s)
	bid := strings.TrimPrefix(b.do("CLIENT", "ID"), ":")
	a.expect(":0", "CLIENT", "KILL", "ID", "999999")
	a.expect("-ERR client-id should be greater than 0", "CLIENT", "KILL", "ID", "0")
	a.expect("-ERR No such user 'bob'", "CLIENT", "KILL", "USER", "bob")
	a.expect("-ERR Unknown client type 'x'", "CLIENT", "KILL", "TYPE", "x")
	a.expect(":1", "CLIENT", "KILL", "ID", bid)
	b.expectClosed()

	c := dial(t, s)
	c.expect("+PONG", "PING")
	a.expect("+OK", "CLIENT", "KILL", c.nc.LocalAddr().String())
	c.expectClosed()
	a.expect("-ERR No such client", "CLIENT", "KILL", c.nc.LocalAddr().String())

	// SKIPME no kills the caller after its reply.
	a.expect(":1", "CLIENT", "KILL", "USER", "default", "SKIPME", "no")
	a.expectClosed()
}

func TestClientPause(t *testing.T) {
	s := startServer(t)
	admin, w := dial(t, s), dial(t, s)
	admin.expect("+OK", "CLIENT", "PAUSE", "100000", "WRITE")
	w.expect("(nil)", "GET", "k") // reads go on
	w.send("SET", "k", "v")
	got := make(chan string, 1)
	go func() {
		v, err := resp.ReadReply(w.br)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- show(v)
	}()
	select {
	case r := <-got:
		t.Fatalf("SET ran during a WRITE pause: %s", r)
	case <-time.After(100 * time.Millisecond):
	}
	info := admin.do("CLIENT", "LIST")
	if !strings.Contains(info, "flags=b") {
		t.Fatalf("paused client not shown blocked:\n%s", info)
	}
	admin.expect("+OK", "CLIENT", "UNPAUSE")
	if r := <-got; r != "+OK" {
		t.Fatalf("SET after unpause: %s", r)
	}
	admin.expect("-ERR timeout is negative", "CLIENT", "PAUSE", "-1")
	admin.expect("-ERR CLIENT PAUSE mode must be WRITE or ALL", "CLIENT", "PAUSE", "10", "x")

	// A pause ends by itself at its deadline.
	admin.expect("+OK", "CLIENT", "PAUSE", "50", "ALL")
	w.expect("$v", "GET", "k")
}

func TestClientReplyModes(t *testing.T) {
	s := startServer(t)
	c := dial(t, s)
	var pipe []byte
	for _, cmd := range [][]string{
		{"CLIENT", "REPLY", "OFF"}, {"SET", "a", "1"}, {"NOSUCH"}, {"CLIENT", "REPLY", "ON"},
		{"CLIENT", "REPLY", "SKIP"}, {"GET", "a"}, {"ECHO", "x"},
	} {
		pipe = append(pipe, encode(cmd...)...)
	}
	c.nc.Write(pipe)
	// OFF, SET and the error are silent; ON says OK; SKIP and the GET after
	// it are silent; ECHO answers again.
	for _, want := range []string{"+OK", "$x"} {
		if got := show(c.read()); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	c.expect("$1", "GET", "a")
}

func TestShutdownClosesDone(t *testing.T) {
	s := startServer(t)
	c := dial(t, s)
	c.expect("-ERR syntax error", "SHUTDOWN", "NOSAVE", "SAVE")
	c.expect("-ERR No shutdown in progress.", "SHUTDOWN", "ABORT")
	c.send("SHUTDOWN", "NOSAVE")
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("SHUTDOWN did not stop the server")
	}
	c.expectClosed()
}

func TestInfoAndCommandStats(t *testing.T) {
	s := startServer(t)
	c := dial(t, s)
	c.expect("+OK", "CONFIG", "RESETSTAT") // the command table is shared by the tests' servers
	c.expect("+OK", "SET", "k", "v")
	c.expect("-ERR wrong number of arguments for 'get' command", "GET")
	info := c.do("INFO")
	for _, want := range []string{"# Server\r\nredis_version:7.0.15\r\n", "\r\n\r\n# Clients\r\nconnected_clients:1\r\n",
		"# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n", "errorstat_ERR:count=1\r\n", "role:master\r\n"} {
		if !strings.Contains(info, want) {
			t.Errorf("INFO lacks %q:\n%s", want, info)
		}
	}
	if strings.Contains(info, "# Commandstats") {
		t.Error("default INFO includes commandstats")
	}
	cs := c.do("INFO", "commandstats")
	if !strings.Contains(cs, "cmdstat_set:calls=1,usec=") || !strings.Contains(cs, "cmdstat_get:calls=0,usec=0,usec_per_call=0.00,rejected_calls=1,failed_calls=0") {
		t.Fatalf("commandstats:\n%s", cs)
	}
	c.expect("+OK", "CONFIG", "RESETSTAT")
	if cs := c.do("INFO", "commandstats"); strings.Contains(cs, "cmdstat_get") || strings.Contains(cs, "cmdstat_set") {
		t.Fatalf("after RESETSTAT:\n%s", cs)
	}
	c.expect("$", "INFO", "nosuchsection")
}

// TestClientListRace reads every client's state while the clients change
// it; run with -race.
func TestClientListRace(t *testing.T) {
	s := startServer(t)
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		c := dial(t, s)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				c.send("SELECT", fmt.Sprint(j%3))
				c.send("CLIENT", "SETNAME", fmt.Sprintf("n%d", j))
				c.send("CLIENT", "SETINFO", "LIB-NAME", "x")
				c.read()
				c.read()
				c.read()
			}
		}()
	}
	lister := dial(t, s)
	for j := 0; j < 100; j++ {
		if v := lister.do("CLIENT", "LIST"); !strings.Contains(v, "cmd=client|list") {
			t.Fatalf("CLIENT LIST: %s", v)
		}
	}
	wg.Wait()
}

// Replies larger than a socket takes in one write, to many clients at
// once: the batched write sends what the socket takes and each client's
// goroutine the rest (replybatch.go). Every client reads every byte, in
// order, while reading slowly at first.
func TestLargeRepliesToManyClients(t *testing.T) {
	s := startServer(t, "appendonly no", `save ""`)
	value := strings.Repeat("0123456789abcdef", 1<<19) // 8 MiB
	dial(t, s).expect("+OK", "SET", "big", value)
	const clients, gets = 4, 2
	errs := make(chan error, clients)
	for range clients {
		c := dial(t, s)
		go func() {
			var req []byte
			for range gets {
				req = append(req, encode("GET", "big")...)
				req = append(req, encode("PING")...)
			}
			if _, err := c.nc.Write(req); err != nil {
				errs <- err
				return
			}
			time.Sleep(20 * time.Millisecond) // the socket fills before reading starts
			c.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
			for range gets {
				v, err := resp.ReadReply(c.br)
				if err != nil || string(v.Str) != value {
					errs <- fmt.Errorf("GET big: %d bytes, err %v", len(v.Str), err)
					return
				}
				if v, err := resp.ReadReply(c.br); err != nil || string(v.Str) != "PONG" {
					errs <- fmt.Errorf("PING after GET big: %q, err %v", v.Str, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range clients {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
