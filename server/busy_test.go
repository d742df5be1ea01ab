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
	defer func() {
		if t.Failed() {
			dial(t, s).send("SCRIPT", "KILL") // or Close would wait for it
		}
	}()
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
