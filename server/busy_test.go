package server

import (
	"strings"
	"testing"
)

const busyEval = "-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."

// While a script runs past busy-reply-threshold, the allow-busy commands
// that touch no key (HELLO, AUTH, QUIT, MULTI, and DISCARD, UNWATCH and
// RESET of a client watching nothing) answer at once, as Redis's do: they
// do not wait for the script's keyspace lock.
func TestAllowBusyCommandsAnswerDuringBusyScript(t *testing.T) {
	s := startServer(t, "appendonly no", `save ""`, "busy-reply-threshold 50")
	runner, c := dial(t, s), dial(t, s)
	runner.send("EVAL", "while true do end", "0")
	defer killOnFailure(t, s)
	for got := ""; got != busyEval; {
		if got = c.do("PING"); got != busyEval && got != "+PONG" {
			t.Fatalf("PING while a script loops: %s", got)
		}
	}
	if got := c.do("HELLO", "3"); !strings.Contains(got, "redis") || !strings.Contains(got, "7.0.15") {
		t.Fatalf("HELLO 3 during a busy script: %s", got)
	}
	c.expect("-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?", "AUTH", "pw")
	c.expect("+OK", "MULTI")
	c.expect("-ERR MULTI calls can not be nested", "MULTI")
	q := dial(t, s)
	q.expect("+OK", "QUIT")
	q.expectClosed()
	d := dial(t, s)
	d.expect("+OK", "UNWATCH")
	d.expect("+OK", "MULTI")
	d.expect("+OK", "DISCARD")
	d.expect("+RESET", "RESET")

	// Inside MULTI an allow-busy command is queued, as in Redis.
	c.expect("+QUEUED", "SCRIPT", "KILL")
	dial(t, s).expect("+OK", "SCRIPT", "KILL")
	if got := show(runner.read()); !strings.HasPrefix(got, "-ERR Script killed by user with SCRIPT KILL...") {
		t.Fatalf("killed script's reply: %s", got)
	}
	c.expect("+QUEUED", "SET", "k", "v")
	if got := c.do("EXEC"); !strings.Contains(got, "NOTBUSY") || !strings.Contains(got, "OK") {
		t.Fatalf("EXEC of the transaction begun during the script: %s", got)
	}
	c.expect("$v", "GET", "k")
}

// SCRIPT KILL and FUNCTION KILL queued in a transaction answer NOTBUSY
// from EXEC: EXEC itself holds the script gate, and waiting for its run to
// end hung the connection with the keyspace locked.
func TestKillInsideExec(t *testing.T) {
	s := startServer(t, "appendonly no", `save ""`)
	c := dial(t, s)
	c.expect("+OK", "MULTI")
	c.expect("+QUEUED", "SCRIPT", "KILL")
	c.expect("+QUEUED", "FUNCTION", "KILL")
	c.expect("+QUEUED", "SET", "k", "v")
	got := c.do("EXEC")
	if strings.Count(got, "NOTBUSY No scripts in execution right now.") != 2 || !strings.Contains(got, "OK") {
		t.Fatalf("EXEC: %s", got)
	}
	dial(t, s).expect("$v", "GET", "k")
}

// killOnFailure kills the looping script of a test that failed, or Close
// would wait for it.
func killOnFailure(t *testing.T, s *Server) {
	if t.Failed() {
		dial(t, s).send("SCRIPT", "KILL")
	}
}

// awaitBusy returns once a script runs past busy-reply-threshold.
func awaitBusy(t *testing.T, c *conn) {
	t.Helper()
	for got := ""; got != busyEval; {
		if got = c.do("PING"); got != busyEval && got != "+PONG" {
			t.Fatalf("PING while a script loops: %s", got)
		}
	}
}

// WATCH, and DISCARD, UNWATCH and RESET of a client that watches keys,
// answer while a script is busy, as Redis's do: they run inside the
// script, between two of its instructions. The script's writes after a
// WATCH make that watcher's EXEC fail; a key it does not write stays
// clean.
func TestWatchDuringBusyScript(t *testing.T) {
	s := startServer(t, "appendonly no", `save ""`, "busy-reply-threshold 50")
	runner, c := dial(t, s), dial(t, s)
	watcher, bystander, unwatcher, discarder, resetter := dial(t, s), dial(t, s), dial(t, s), dial(t, s), dial(t, s)
	unwatcher.expect("+OK", "WATCH", "k")
	discarder.expect("+OK", "WATCH", "k")
	resetter.expect("+OK", "WATCH", "k")

	runner.send("EVAL", "while redis.call('EXISTS', 'stop') == 0 do redis.call('INCR', 'k') end return 1", "0")
	awaitBusy(t, c)
	watcher.expect("+OK", "WATCH", "k")
	bystander.expect("+OK", "WATCH", "other")
	unwatcher.expect("+OK", "UNWATCH")
	discarder.expect("+OK", "MULTI")
	discarder.expect("+OK", "DISCARD")
	resetter.expect("+RESET", "RESET")
	c.expect(busyEval, "GET", "k")

	// The script writes k on: end it by creating "stop" from inside it.
	engine := s.scripts.(interface{ RunInBusyScript(func()) bool })
	if !engine.RunInBusyScript(func() { s.ks.DB(0).SetString([]byte("stop"), []byte("1")) }) {
		t.Fatal("no busy script to run in")
	}
	if got := show(runner.read()); got != ":1" {
		t.Fatalf("the script's reply: %s", got)
	}

	watcher.expect("+OK", "MULTI")
	watcher.expect("+QUEUED", "SET", "k", "mine")
	watcher.expect("(nil array)", "EXEC") // k changed after WATCH
	bystander.expect("+OK", "MULTI")
	bystander.expect("+QUEUED", "SET", "other", "mine")
	bystander.expect("(array of 1)\n1) (simple) \"OK\"", "EXEC")
	for _, cl := range []*conn{unwatcher, discarder, resetter} {
		cl.expect("+OK", "MULTI")
		cl.expect("+QUEUED", "INCR", "counter")
		if got := cl.do("EXEC"); !strings.HasPrefix(got, "(array of 1)") {
			t.Fatalf("EXEC of a client that stopped watching during the script: %s", got)
		}
	}
}

// A panic in what runs inside a busy script is raised again on the
// goroutine that asked for it; the script runs on, and is killed as usual.
func TestRunInBusyScriptPanicStaysWithTheCaller(t *testing.T) {
	s := startServer(t, "appendonly no", `save ""`, "busy-reply-threshold 50")
	runner, c := dial(t, s), dial(t, s)
	runner.send("EVAL", "while true do end", "0")
	defer killOnFailure(t, s)
	awaitBusy(t, c)
	engine := s.scripts.(interface{ RunInBusyScript(func()) bool })
	got := func() (v any) {
		defer func() { v = recover() }()
		engine.RunInBusyScript(func() { panic("boom") })
		return nil
	}()
	if got != "boom" {
		t.Fatalf("recovered %v, want boom", got)
	}
	c.expect(busyEval, "PING")
	c.expect("+OK", "SCRIPT", "KILL")
	if got := show(runner.read()); !strings.HasPrefix(got, "-ERR Script killed by user with SCRIPT KILL...") {
		t.Fatalf("killed script's reply: %s", got)
	}
}
