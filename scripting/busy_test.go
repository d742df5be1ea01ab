package scripting_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/structd/structd/internal/resp"
	"github.com/structd/structd/scripting"
)

// send writes a command without reading its reply.
func (c *client) send(args ...string) {
	c.t.Helper()
	var w resp.Writer
	w.Array(len(args))
	for _, a := range args {
		w.BulkString(a)
	}
	if _, err := c.nc.Write(w.Buf); err != nil {
		c.t.Fatal(err)
	}
}

// read reads one reply rendered as text.
func (c *client) read() string {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	v, err := resp.ReadReply(c.br)
	if err != nil {
		c.t.Fatal(err)
	}
	return strings.TrimSpace(v.String())
}

const busyEval = `(error) "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."`

// stopOnFailure stops a looping script if the test failed, so that Close
// does not wait for it forever.
func stopOnFailure(t *testing.T, c *client) {
	if t.Failed() {
		c.send("SHUTDOWN", "NOSAVE")
	}
}

// waitBusy polls PING until the server answers BUSY (bounded).
func waitBusy(t *testing.T, c *client, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := c.do("PING")
		if got == want {
			return
		}
		if got != `(simple) "PONG"` || time.Now().After(deadline) {
			t.Fatalf("PING while a script loops: %s", got)
		}
	}
}

func TestBusyScriptKill(t *testing.T) {
	s := startServer(t, t.TempDir(), "appendonly no", `save ""`)
	defer s.Close()
	admin := dial(t, s)
	defer stopOnFailure(t, dial(t, s))
	admin.expect(`(simple) "OK"`, "CONFIG", "SET", "busy-reply-threshold", "50")
	admin.expect("(array of 2)\n1) \"lua-time-limit\"\n2) \"50\"", "CONFIG", "GET", "lua-time-limit")
	admin.expect(`(error) "NOTBUSY No scripts in execution right now."`, "SCRIPT", "KILL")
	admin.expect(`(simple) "OK"`, "SET", "k", "v")

	body := "local i = 0 while true do i = i + 1 end"
	runner := dial(t, s)
	admin.expect(`(simple) "OK"`, "CONFIG", "SET", "busy-reply-threshold", "500")
	runner.send("EVAL", body, "0")
	// A client that sent its command while the script ran (most likely
	// before the threshold: it waits at the gate) gets BUSY once the
	// threshold passes; it does not wait for the script, which never
	// ends. A GET that got there before the script is answered "v".
	waiter := dial(t, s)
	for i := 0; ; i++ {
		got := waiter.do("GET", "k")
		if got == busyEval {
			break
		}
		if got != `"v"` || i == 1000 {
			t.Fatalf("GET sent while the script runs: %s", got)
		}
	}
	waitBusy(t, admin, busyEval)
	admin.expect(busyEval, "EVAL", "return 1", "0")
	admin.expect(busyEval, "FUNCTION", "STATS") // an EVAL script: Redis 7.0 answers BUSY
	admin.expect(`(error) "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."`, "SHUTDOWN")
	admin.expect(`(error) "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."`, "FUNCTION", "KILL")

	admin.expect(`(simple) "OK"`, "SCRIPT", "KILL")
	want := fmt.Sprintf(`(error) "ERR Script killed by user with SCRIPT KILL... script: %s, on @user_script:1."`, scripting.SHA1Hex([]byte(body)))
	if got := runner.read(); got != want {
		t.Fatalf("killed script's reply:\n got %s\nwant %s", got, want)
	}
	admin.expect(`(simple) "PONG"`, "PING")
	waiter.expect(`"v"`, "GET", "k")
	runner.expect(`(integer) 3`, "EVAL", "return 3", "0")
	// pcall cannot catch the kill.
	runner.send("EVAL", "while true do pcall(function() while true do end end) end", "0")
	waitBusy(t, admin, busyEval)
	admin.expect(`(simple) "OK"`, "SCRIPT", "KILL")
	if got := runner.read(); !strings.Contains(got, "Script killed by user with SCRIPT KILL...") {
		t.Fatalf("killed pcall loop: %s", got)
	}
	// Nor a coroutine hide it.
	runner.send("EVAL", "local co = coroutine.wrap(function() while true do end end) co()", "0")
	waitBusy(t, admin, busyEval)
	admin.expect(`(simple) "OK"`, "SCRIPT", "KILL")
	if got := runner.read(); !strings.Contains(got, "Script killed by user with SCRIPT KILL...") {
		t.Fatalf("killed coroutine loop: %s", got)
	}
	admin.expect(`(simple) "PONG"`, "PING")
	if s.HandlerPanics() != 0 {
		t.Fatal("a command panicked")
	}
}

func TestBusyFunctionKill(t *testing.T) {
	s := startServer(t, t.TempDir(), "appendonly no", `save ""`, "busy-reply-threshold 50")
	defer s.Close()
	admin := dial(t, s)
	defer stopOnFailure(t, dial(t, s))
	admin.expect(`"lib"`, "FUNCTION", "LOAD", "#!lua name=lib\nredis.register_function('spin', function() while true do end end)")
	runner := dial(t, s)
	runner.send("FCALL", "spin", "0")
	busyFn := `(error) "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."`
	waitBusy(t, admin, busyFn)
	// FUNCTION STATS answers at once, with the running function and the
	// command that called it.
	stats := admin.do("FUNCTION", "STATS")
	for _, want := range []string{`"running_script"`, `"name"`, `"spin"`, `"command"`, `"FCALL"`, `"0"`, `"duration_ms"`, `"libraries_count"`} {
		if !strings.Contains(stats, want) {
			t.Fatalf("FUNCTION STATS of a busy function lacks %s:\n%s", want, stats)
		}
	}
	admin.expect(busyFn, "SCRIPT", "KILL")
	admin.expect(`(simple) "OK"`, "FUNCTION", "KILL")
	if got := runner.read(); !strings.Contains(got, "Script killed by user with SCRIPT KILL...") {
		t.Fatalf("killed function: %s", got)
	}
	admin.expect(`(simple) "PONG"`, "PING")
	if stats := admin.do("FUNCTION", "STATS"); !strings.Contains(stats, "running_script") || strings.Contains(stats, "spin") {
		t.Fatalf("FUNCTION STATS once the function was killed:\n%s", stats)
	}
}

func TestBusyWritingScriptShutdownNoSave(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, "appendonly yes", "appendfsync always", "busy-reply-threshold 50")
	admin := dial(t, s)
	admin.expect(`(simple) "OK"`, "SET", "before", "1")
	runner := dial(t, s)
	runner.send("EVAL", "redis.call('SET', 'during', '1') while true do end", "0")
	waitBusy(t, admin, busyEval)
	admin.expect(`(error) "UNKILLABLE Sorry the script already executed write commands against the dataset. `+
		`You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command."`, "SCRIPT", "KILL")
	admin.expect(busyEval, "SHUTDOWN")
	admin.expect(busyEval, "SHUTDOWN", "SAVE")
	admin.send("SHUTDOWN", "NOSAVE")
	select {
	case <-s.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("SHUTDOWN NOSAVE did not stop the server")
	}
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not return after SHUTDOWN NOSAVE")
	}

	s = startServer(t, dir, "appendonly yes")
	defer s.Close()
	c := dial(t, s)
	c.expect(`"1"`, "GET", "before")
	c.expect(`(nil bulk)`, "GET", "during")
}
