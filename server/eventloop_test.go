package server

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// alwaysServer starts a server under appendfsync always, whose connections
// the event loop serves.
func alwaysServer(t *testing.T, directives ...string) *Server {
	t.Helper()
	return startServer(t, append([]string{"appendonly yes", "appendfsync always", `save ""`}, directives...)...)
}

// loopHolds reports how many connections the event loop serves.
func loopHolds(s *Server) int {
	s.loop.mu.Lock()
	defer s.loop.mu.Unlock()
	return len(s.loop.clients)
}

// waitLoopHolds waits until the loop serves n connections: it takes a new
// one right after the accept, which a client's dial does not wait for.
func waitLoopHolds(t *testing.T, s *Server, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for loopHolds(s) != n {
		if time.Now().After(deadline) {
			t.Fatalf("the event loop serves %d connections, want %d", loopHolds(s), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestEventLoopServesConnectionsAcceptedUnderAlways(t *testing.T) {
	s := alwaysServer(t)
	a, b := dial(t, s), dial(t, s)
	a.expect("+OK", "SET", "k", "v")
	b.expect("$v", "GET", "k")
	waitLoopHolds(t, s, 2)
	// A pipeline's replies come back whole and in order.
	var pipeline []byte
	for range 100 {
		pipeline = append(pipeline, encode("INCR", "n")...)
		pipeline = append(pipeline, encode("GET", "n")...)
	}
	a.nc.Write(pipeline)
	for i := 1; i <= 100; i++ {
		if got, want := show(a.read()), ":"+strconv.Itoa(i); got != want {
			t.Fatalf("INCR %d: got %s", i, got)
		}
		if got, want := show(a.read()), "$"+strconv.Itoa(i); got != want {
			t.Fatalf("GET %d: got %s", i, got)
		}
	}

	// Connections accepted under everysec, or with event-loop no, have a
	// goroutine of their own; those on the loop stay there and work.
	a.expect("+OK", "CONFIG", "SET", "appendfsync", "everysec") // CONFIG: a leaves the loop
	dial(t, s).expect("+PONG", "PING")
	b.expect(":1", "INCR", "m")
	a.expect("+OK", "CONFIG", "SET", "appendfsync", "always")
	a.expect("+OK", "CONFIG", "SET", "event-loop", "no")
	dial(t, s).expect("+PONG", "PING")
	a.expect("+OK", "CONFIG", "SET", "event-loop", "yes")
	c := dial(t, s)
	c.expect("+PONG", "PING")
	waitLoopHolds(t, s, 2) // b and c
	if got := a.do("CONFIG", "GET", "event-loop"); !strings.Contains(got, `"yes"`) {
		t.Fatalf("CONFIG GET event-loop: %s", got)
	}
}

func TestEventLoopHandsOverCommandsThatWait(t *testing.T) {
	s := alwaysServer(t)
	waiter, other := dial(t, s), dial(t, s)
	waiter.expect("+PONG", "PING")
	other.expect("+PONG", "PING")
	waitLoopHolds(t, s, 2)

	// A write, a blocking pop and a read in one pipeline: the pop waits
	// without holding up the loop's other connection, and the replies
	// come in order.
	waiter.nc.Write(append(append(encode("SET", "a", "1"), encode("BLPOP", "list", "0")...), encode("GET", "a")...))
	if got := show(waiter.read()); got != "+OK" {
		t.Fatalf("SET before BLPOP: %s", got)
	}
	waitLoopHolds(t, s, 1)
	other.expect("+PONG", "PING")
	other.expect(":1", "RPUSH", "list", "x")
	if got := waiter.read().String(); !strings.Contains(got, "list") || !strings.Contains(got, "x") {
		t.Fatalf("BLPOP: %s", got)
	}
	if got := show(waiter.read()); got != "$1" {
		t.Fatalf("GET after BLPOP: %s", got)
	}
	waiter.expect(":2", "INCR", "a") // served by its goroutine now

	// SUBSCRIBE leaves the loop too: messages reach the subscriber.
	sub := dial(t, s)
	sub.expect("+PONG", "PING")
	waitLoopHolds(t, s, 2)
	sub.send("SUBSCRIBE", "ch")
	sub.read()
	other.expect(":1", "PUBLISH", "ch", "hello") // PUBSUB flag: other leaves too
	if got := sub.read().String(); !strings.Contains(got, "hello") {
		t.Fatalf("message: %s", got)
	}
}

func TestEventLoopStaysResponsiveDuringABusyScript(t *testing.T) {
	s := alwaysServer(t, "busy-reply-threshold 50")
	runner, other := dial(t, s), dial(t, s)
	other.expect("+PONG", "PING")
	runner.send("EVAL", "while true do end", "0")
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := other.do("GET", "k")
		if strings.HasPrefix(got, "-BUSY") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET during the script: %s", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	other.expect("+OK", "SCRIPT", "KILL")
	if got := show(runner.read()); !strings.Contains(got, "killed") {
		t.Fatalf("EVAL after SCRIPT KILL: %s", got)
	}
	runner.expect("+PONG", "PING")
}

func TestEventLoopHandsOverAReplyTheSocketCannotTake(t *testing.T) {
	s := alwaysServer(t)
	reader, other := dial(t, s), dial(t, s)
	value := strings.Repeat("v", 1<<20)
	reader.expect("+OK", "SET", "big", value)
	other.expect("+PONG", "PING")
	waitLoopHolds(t, s, 2)
	// 16 MiB of replies the reader does not read yet: more than the
	// socket buffers hold.
	var pipeline []byte
	for range 16 {
		pipeline = append(pipeline, encode("GET", "big")...)
	}
	reader.nc.Write(pipeline)
	waitLoopHolds(t, s, 1)
	other.expect("+PONG", "PING")
	for i := range 16 {
		if got := reader.read(); string(got.Str) != value {
			t.Fatalf("reply %d: %d bytes", i, len(got.Str))
		}
	}
	reader.expect("+PONG", "PING")
}

func TestEventLoopConnectionsEnd(t *testing.T) {
	s := alwaysServer(t)
	admin := dial(t, s)
	admin.expect("+OK", "CLIENT", "SETNAME", "admin")

	killed := dial(t, s)
	id := strings.TrimPrefix(killed.do("CLIENT", "ID"), ":")
	waitLoopHolds(t, s, 2)
	admin.expect(":1", "CLIENT", "KILL", "ID", id)
	killed.expectClosed()

	quitter := dial(t, s)
	quitter.expect("+OK", "SET", "k", "v")
	quitter.expect("+OK", "QUIT")
	quitter.expectClosed()

	bad := dial(t, s)
	bad.nc.Write([]byte("*1\r\n$x\r\n"))
	if got := show(bad.read()); !strings.HasPrefix(got, "-ERR Protocol error") {
		t.Fatalf("protocol error: %s", got)
	}
	bad.expectClosed()

	gone := dial(t, s)
	gone.expect("+PONG", "PING")
	gone.nc.Close()
	waitLoopHolds(t, s, 0) // admin left at CLIENT KILL (Admin)

	// Close ends the connections the loop still holds.
	held := dial(t, s)
	held.expect("+PONG", "PING")
	waitLoopHolds(t, s, 1)
	s.Close()
	held.expectClosed()
}
