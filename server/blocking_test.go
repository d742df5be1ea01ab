package server

import (
	"bufio"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/structd/structd/internal/resp"
	"github.com/structd/structd/memtier"
)

// Blocking commands with several real connections. Tests never rely on
// timing: they wait until INFO reports the clients blocked before acting,
// and timeouts are only checked for their reply and ordering.

// flat renders a reply as its leaves joined by spaces: "k a" for BLPOP's
// [k, a], "(nil)" for a null.
func flat(v resp.Value) string {
	switch v.Kind {
	case resp.KindArray, resp.KindSet, resp.KindMap, resp.KindPush:
		if v.Null {
			return "(nil)"
		}
		parts := make([]string, len(v.Elems))
		for i, e := range v.Elems {
			parts[i] = flat(e)
		}
		return strings.Join(parts, " ")
	case resp.KindDouble:
		return string(v.Str)
	}
	s := show(v)
	if len(s) > 0 && (s[0] == '$' || s[0] == ':' || s[0] == '+') {
		return s[1:]
	}
	return s
}

// readFlat reads one reply and flattens it.
func (c *conn) readFlat() string {
	c.t.Helper()
	return flat(c.read())
}

// blockedClients is INFO's blocked_clients.
func blockedClients(t *testing.T, c *conn) int {
	t.Helper()
	info := c.do("INFO", "clients")
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "blocked_clients:"); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	t.Fatalf("no blocked_clients in %q", info)
	return 0
}

// waitBlocked polls until n clients are blocked.
func waitBlockedClients(t *testing.T, c *conn, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for blockedClients(t, c) != n {
		if time.Now().After(deadline) {
			t.Fatalf("blocked_clients never reached %d", n)
		}
		time.Sleep(time.Millisecond)
	}
}

// expectNoWaiters checks that no waiter is left registered once no client
// is blocked.
func expectNoWaiters(t *testing.T, s *Server, admin *conn) {
	t.Helper()
	waitBlockedClients(t, admin, 0)
	s.ks.LockAll()
	n := s.ks.WaitedKeys()
	s.ks.UnlockAll()
	if n != 0 {
		t.Fatalf("%d keys still have waiters", n)
	}
}

// blockOn sends a blocking command from a new connection and waits until
// the server reports it blocked (want blocked clients in all).
func blockOn(t *testing.T, s *Server, admin *conn, want int, args ...string) *conn {
	t.Helper()
	c := dial(t, s)
	c.send(args...)
	waitBlockedClients(t, admin, want)
	return c
}

func TestBlockingFIFO(t *testing.T) {
	s := startServer(t)
	admin := dial(t, s)
	c1 := blockOn(t, s, admin, 1, "BLPOP", "k", "0")
	c2 := blockOn(t, s, admin, 2, "BRPOP", "k", "other", "0")
	c3 := blockOn(t, s, admin, 3, "BLPOP", "other", "k", "0")
	admin.expect(":1", "RPUSH", "k", "a")
	if got := c1.readFlat(); got != "k a" {
		t.Fatalf("first blocked got %q", got)
	}
	// One push of several elements serves the others in the order they
	// blocked, and what they leave stays.
	admin.expect(":3", "RPUSH", "k", "b", "c", "d")
	if got := c2.readFlat(); got != "k d" { // BRPOP takes the tail
		t.Fatalf("second blocked got %q", got)
	}
	if got := c3.readFlat(); got != "k b" {
		t.Fatalf("third blocked got %q", got)
	}
	expectFlat(t, admin, "c", "LRANGE", "k", "0", "-1")
	expectNoWaiters(t, s, admin) // served waiters unregister too
	// Served clients go on with their pipeline.
	c1.expect("+PONG", "PING")
}

func TestBlockingServedKinds(t *testing.T) {
	s := startServer(t)
	admin := dial(t, s)
	c1 := blockOn(t, s, admin, 1, "BLMPOP", "0", "2", "x", "y", "RIGHT", "COUNT", "2")
	c2 := blockOn(t, s, admin, 2, "BZPOPMIN", "z", "0")
	c3 := blockOn(t, s, admin, 3, "BZMPOP", "0", "1", "z", "MAX", "COUNT", "5")
	c4 := dial(t, s)
	c4.send("HELLO", "3")
	c4.read()
	admin.expect(":3", "RPUSH", "y", "1", "2", "3")
	if got := c1.readFlat(); got != "y 3 2" {
		t.Fatalf("BLMPOP got %q", got)
	}
	admin.expect(":3", "ZADD", "z", "1", "a", "2", "b", "3", "c")
	if got := c2.readFlat(); got != "z a 1" {
		t.Fatalf("BZPOPMIN got %q", got)
	}
	if got := c3.readFlat(); got != "z c 3 b 2" {
		t.Fatalf("BZMPOP got %q", got)
	}
	admin.expect(":0", "EXISTS", "z")
	expectFlat(t, admin, "1", "LRANGE", "y", "0", "-1")

	// RESP3: the served reply is written in the client's protocol.
	c4.send("BLPOP", "r3", "0")
	waitBlockedClients(t, admin, 1)
	admin.expect(":1", "RPUSH", "r3", "v")
	v := c4.read()
	if v.Kind != resp.KindArray || flat(v) != "r3 v" {
		t.Fatalf("RESP3 BLPOP got %v", v)
	}
	c4.send("BLPOP", "r3", "0.05")
	if v := c4.read(); v.Kind != resp.KindNull {
		t.Fatalf("RESP3 timeout got %v", v)
	}
}

func TestBlockingMoveChain(t *testing.T) {
	s := startServer(t)
	admin := dial(t, s)
	// a -> b -> c: one push at a ripples through two blocked movers to
	// the BLPOP on c.
	c1 := blockOn(t, s, admin, 1, "BLMOVE", "a", "b", "LEFT", "RIGHT", "0")
	c2 := blockOn(t, s, admin, 2, "BRPOPLPUSH", "b", "c", "0")
	c3 := blockOn(t, s, admin, 3, "BLPOP", "c", "0")
	admin.expect(":1", "LPUSH", "a", "x")
	for i, c := range []*conn{c1, c2} {
		if got := c.readFlat(); got != "x" {
			t.Fatalf("mover %d got %q", i+1, got)
		}
	}
	if got := c3.readFlat(); got != "c x" {
		t.Fatalf("BLPOP c got %q", got)
	}
	admin.expect(":0", "EXISTS", "a", "b", "c")

	// A destination of another type: the mover is unblocked with WRONGTYPE
	// and the element stays where it was, as Redis 7.0.
	c1.send("BLMOVE", "a", "d", "LEFT", "RIGHT", "0")
	waitBlockedClients(t, admin, 1)
	admin.expect("+OK", "SET", "d", "str")
	admin.expect(":1", "RPUSH", "a", "y")
	if got := c1.readFlat(); !strings.HasPrefix(got, "-WRONGTYPE") {
		t.Fatalf("BLMOVE onto a string got %q", got)
	}
	expectFlat(t, admin, "y", "LRANGE", "a", "0", "-1")
}

// TestBlockingMoveBusyDestination holds the destination's slot lock while a
// push serves a BLMOVE: the push cannot TryLock it, so it finishes under
// LockAll once the lock is free, and the element is not lost.
func TestBlockingMoveBusyDestination(t *testing.T) {
	s := startServer(t)
	admin := dial(t, s)
	src, dst := "{s}src", "{d}dst"
	mover := blockOn(t, s, admin, 1, "BLMOVE", src, dst, "LEFT", "LEFT", "0")
	slot := []int{memtier.SlotOf([]byte(dst))}
	s.ks.LockSlots(slot)
	pusher := dial(t, s)
	pusher.send("RPUSH", src, "v")
	// The push cannot finish while the destination is locked.
	pusher.nc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := pusher.br.Peek(1); err == nil {
		s.ks.UnlockSlots(slot)
		t.Fatal("RPUSH replied while the BLMOVE destination slot was locked")
	}
	s.ks.UnlockSlots(slot)
	if got := pusher.readFlat(); got != "1" {
		t.Fatalf("RPUSH got %q", got)
	}
	if got := mover.readFlat(); got != "v" {
		t.Fatalf("BLMOVE got %q", got)
	}
	admin.expect(":0", "EXISTS", src)
	expectFlat(t, admin, "v", "LRANGE", dst, "0", "-1")
}

func TestBlockingTimeouts(t *testing.T) {
	s := startServer(t)
	admin := dial(t, s)
	c1 := blockOn(t, s, admin, 1, "BLPOP", "k", "0.1")
	c2 := blockOn(t, s, admin, 2, "BLMOVE", "k", "d", "LEFT", "LEFT", "0")
	// c1 times out first (null array, even in RESP2 for BLMOVE: *-1).
	if v := c1.read(); v.Kind != resp.KindArray || !v.Null {
		t.Fatalf("timed-out BLPOP got %v", v)
	}
	waitBlockedClients(t, admin, 1)
	admin.expect(":1", "RPUSH", "k", "a")
	if got := c2.readFlat(); got != "a" {
		t.Fatalf("BLMOVE got %q", got)
	}
	for _, args := range [][]string{
		{"BRPOPLPUSH", "none", "d", "0.05"}, {"BLMOVE", "none", "d", "LEFT", "LEFT", "0.05"},
		{"BZPOPMAX", "none", "0.05"}, {"BZMPOP", "0.05", "1", "none", "MIN"}, {"BLMPOP", "0.05", "1", "none", "LEFT"},
	} {
		c1.send(args...)
		if v := c1.read(); v.Kind != resp.KindArray || !v.Null {
			t.Fatalf("%v on timeout got %v", args, v)
		}
	}
	// The timed-out waiters left nothing behind: a push is not consumed.
	expectNoWaiters(t, s, admin)
	admin.expect(":1", "RPUSH", "none", "x")
	admin.expect(":1", "LLEN", "none")
}

func TestBlockingKeyChangesType(t *testing.T) {
	s := startServer(t)
	admin := dial(t, s)
	c1 := blockOn(t, s, admin, 1, "BLPOP", "k", "0")
	c2 := blockOn(t, s, admin, 2, "BZPOPMIN", "k", "0")
	// A string under the key serves nobody (Redis 7.0 keeps them blocked).
	admin.expect("+OK", "SET", "k", "str")
	admin.expect("$str", "GET", "k")
	admin.expect(":1", "DEL", "k")
	// The zset serves the zset waiter, not the earlier list waiter.
	admin.expect(":1", "ZADD", "k", "5", "m")
	if got := c2.readFlat(); got != "k m 5" {
		t.Fatalf("BZPOPMIN got %q", got)
	}
	waitBlockedClients(t, admin, 1)
	admin.expect(":1", "RPUSH", "k", "a")
	if got := c1.readFlat(); got != "k a" {
		t.Fatalf("BLPOP got %q", got)
	}
	// RENAME onto a waited key and SWAPDB bring data to waiters too.
	c1.send("BLPOP", "dst", "0")
	waitBlockedClients(t, admin, 1)
	admin.expect(":2", "RPUSH", "src", "r1", "r2")
	admin.expect("+OK", "RENAME", "src", "dst")
	if got := c1.readFlat(); got != "dst r1" {
		t.Fatalf("BLPOP after RENAME got %q", got)
	}
	c1.send("BLPOP", "sw", "0")
	waitBlockedClients(t, admin, 1)
	admin.expect("+OK", "SELECT", "1")
	admin.expect(":1", "RPUSH", "sw", "from1")
	admin.expect("+OK", "SWAPDB", "0", "1")
	if got := c1.readFlat(); got != "sw from1" {
		t.Fatalf("BLPOP after SWAPDB got %q", got)
	}
}

func TestBlockingClientGoes(t *testing.T) {
	s := startServer(t)
	admin := dial(t, s)
	victim := dial(t, s)
	id := victim.do("CLIENT", "ID")[1:]
	victim.send("BLPOP", "k", "0")
	waitBlockedClients(t, admin, 1)
	admin.expect(":1", "CLIENT", "KILL", "ID", id)
	victim.expectClosed()
	waitBlockedClients(t, admin, 0)

	// A client that disconnects while blocked is noticed too.
	gone := blockOn(t, s, admin, 1, "BRPOP", "k", "0")
	gone.nc.Close()
	waitBlockedClients(t, admin, 0)

	// Neither waiter consumes anything any more.
	expectNoWaiters(t, s, admin)
	admin.expect(":1", "RPUSH", "k", "a")
	admin.expect(":1", "LLEN", "k")

	// Shutdown wakes a blocked client (Close waits for its goroutine).
	blocked := blockOn(t, s, admin, 1, "BLPOP", "never", "0")
	s.Close()
	blocked.expectClosed()
}

func TestBlockingClientUnblock(t *testing.T) {
	s := startServer(t)
	admin := dial(t, s)
	c := dial(t, s)
	id := c.do("CLIENT", "ID")[1:]
	admin.expect(":0", "CLIENT", "UNBLOCK", id)
	c.send("BLMOVE", "k", "d", "LEFT", "LEFT", "0")
	waitBlockedClients(t, admin, 1)
	admin.expect(":1", "CLIENT", "UNBLOCK", id)
	if v := c.read(); v.Kind != resp.KindArray || !v.Null {
		t.Fatalf("unblocked BLMOVE got %v", v)
	}
	c.send("BZPOPMIN", "k", "0")
	waitBlockedClients(t, admin, 1)
	admin.expect(":1", "CLIENT", "UNBLOCK", id, "ERROR")
	c.expectReply("-UNBLOCKED client unblocked via CLIENT UNBLOCK")
	waitBlockedClients(t, admin, 0)
	admin.expect(":0", "CLIENT", "UNBLOCK", id, "ERROR")
	// The unblocked waiters are gone: the push stays.
	expectNoWaiters(t, s, admin)
	admin.expect(":1", "RPUSH", "k", "v")
	admin.expect(":1", "LLEN", "k")
	c.expect("+PONG", "PING")
}

func (c *conn) expectReply(want string) {
	c.t.Helper()
	if got := show(c.read()); got != want {
		c.t.Fatalf("got %q, want %q", got, want)
	}
}

func TestBlockingPipelineAfterBlock(t *testing.T) {
	s := startServer(t)
	admin := dial(t, s)
	c := dial(t, s)
	// Replies before the blocking command are sent at once; requests after
	// it wait for it and then run in order.
	if _, err := c.nc.Write(append(append(encode("SET", "x", "1"), encode("BLPOP", "k", "0")...), encode("INCR", "x")...)); err != nil {
		t.Fatal(err)
	}
	if got := c.readFlat(); got != "OK" {
		t.Fatalf("SET got %q", got)
	}
	waitBlockedClients(t, admin, 1)
	admin.expect("$1", "GET", "x")
	admin.expect(":1", "LPUSH", "k", "v")
	if got := c.readFlat(); got != "k v" {
		t.Fatalf("BLPOP got %q", got)
	}
	if got := c.readFlat(); got != "2" {
		t.Fatalf("INCR got %q", got)
	}
}

func TestBlockingServedAfterExec(t *testing.T) {
	s := startServer(t)
	admin := dial(t, s)
	c1 := blockOn(t, s, admin, 1, "BLPOP", "k", "0")
	admin.expect("+OK", "MULTI")
	admin.expect("+QUEUED", "RPUSH", "k", "a", "b")
	admin.expect("+QUEUED", "DEL", "k")
	admin.expect("+QUEUED", "RPUSH", "k", "c")
	if got := admin.readFlatOf("EXEC"); got != "2 1 1" {
		t.Fatalf("EXEC got %q", got)
	}
	// Served with the transaction's end state, not in the middle of it.
	if got := c1.readFlat(); got != "k c" {
		t.Fatalf("BLPOP got %q", got)
	}
}

// expectFlat runs a command and compares its flattened reply.
func expectFlat(t *testing.T, c *conn, want string, args ...string) {
	t.Helper()
	if got := c.readFlatOf(args...); got != want {
		t.Fatalf("%v: got %q, want %q", args, got, want)
	}
}

func (c *conn) readFlatOf(args ...string) string {
	c.t.Helper()
	c.send(args...)
	return c.readFlat()
}

// TestBlockingConcurrent runs 100 blocked consumers, movers and pushers at
// once: every element pushed is popped exactly once.
func TestBlockingConcurrent(t *testing.T) {
	// With timeout 0 consumers wait until served; with a tiny timeout
	// they time out and retry all along, racing serving pushes for their
	// waiters: an element served to a consumer that timed out would be
	// lost.
	for _, timeout := range []string{"0", "0.001"} {
		t.Run("timeout "+timeout, func(t *testing.T) { blockingConcurrent(t, timeout) })
	}
}

func blockingConcurrent(t *testing.T, timeout string) {
	s := startServer(t)
	const (
		consumers   = 100
		perConsumer = 10
		movers      = 10
		perMover    = 10
		pushers     = 10
	)
	total := consumers * perConsumer
	viaX := movers * perMover // elements pushed to x, moved to a by movers
	direct := total - viaX
	keys := []string{"a", "b", "{b}c"}

	var mu sync.Mutex
	popped := map[string]int{}
	var wg sync.WaitGroup
	errs := make(chan error, consumers+movers+pushers)
	cmdsFor := func(i int) []string {
		switch i % 4 {
		case 0:
			return append(append([]string{"BLPOP"}, keys...), timeout)
		case 1:
			return append(append([]string{"BRPOP"}, keys...), timeout)
		case 2:
			return append(append([]string{"BLMPOP", timeout, "3"}, keys...), "LEFT")
		default: // every consumer waits on every key, or some could starve
			return []string{"BLPOP", keys[i%3], keys[(i+1)%3], keys[(i+2)%3], timeout}
		}
	}
	dialRaw := func() (*conn, error) {
		nc, err := net.Dial("tcp", s.Addr())
		if err != nil {
			return nil, err
		}
		return &conn{t: t, nc: nc, br: bufio.NewReader(nc)}, nil
	}
	// client runs body on a connection of its own in a goroutine of wg;
	// the error it returns (or dialing's) goes to errs.
	client := func(body func(c *conn) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := dialRaw()
			if err != nil {
				errs <- err
				return
			}
			defer c.nc.Close()
			if err := body(c); err != nil {
				errs <- err
			}
		}()
	}
	for i := range consumers {
		client(func(c *conn) error {
			for got := 0; got < perConsumer; {
				if _, err := c.nc.Write(encode(cmdsFor(i)...)); err != nil {
					return err
				}
				c.nc.SetReadDeadline(time.Now().Add(60 * time.Second))
				v, err := resp.ReadReply(c.br)
				if err != nil {
					return err
				}
				if v.Kind == resp.KindArray && v.Null {
					continue // timed out: wait again
				}
				got++
				parts := strings.Fields(flat(v))
				if len(parts) != 2 {
					return fmt.Errorf("consumer got %v", v)
				}
				mu.Lock()
				popped[parts[1]]++
				mu.Unlock()
			}
			return nil
		})
	}
	for range movers {
		client(func(c *conn) error {
			for range perMover {
				c.nc.Write(encode("BLMOVE", "x", keys[0], "LEFT", "RIGHT", "0"))
				c.nc.SetReadDeadline(time.Now().Add(60 * time.Second))
				if v, err := resp.ReadReply(c.br); err != nil || v.Kind != resp.KindBulk {
					return fmt.Errorf("mover got %v, %v", v, err)
				}
			}
			return nil
		})
	}
	for p := range pushers {
		client(func(c *conn) error {
			for j := p; j < direct+viaX; j += pushers {
				key := "x"
				if j < direct {
					key = keys[j%3]
				}
				c.nc.Write(encode("RPUSH", key, "e"+strconv.Itoa(j)))
				c.nc.SetReadDeadline(time.Now().Add(60 * time.Second))
				if v, err := resp.ReadReply(c.br); err != nil || v.Kind != resp.KindInt {
					return fmt.Errorf("pusher got %v, %v", v, err)
				}
			}
			return nil
		})
	}
	wg.Wait()
	close(errs)
	var failed []string
	for err := range errs {
		failed = append(failed, err.Error())
	}
	if len(failed) > 0 {
		admin := dial(t, s)
		t.Fatalf("%d clients failed (first: %s); a b c x hold %s %s %s %s, %d blocked", len(failed), failed[0],
			admin.do("LLEN", "a"), admin.do("LLEN", "b"), admin.do("LLEN", "{b}c"), admin.do("LLEN", "x"), blockedClients(t, admin))
	}
	if len(popped) != total {
		t.Fatalf("%d distinct elements popped, want %d", len(popped), total)
	}
	var dup []string
	for e, n := range popped {
		if n != 1 {
			dup = append(dup, e)
		}
	}
	slices.Sort(dup)
	if len(dup) > 0 {
		t.Fatalf("popped more than once: %v", dup)
	}
	admin := dial(t, s)
	admin.expect(":0", "EXISTS", "a", "b", "{b}c", "x")
	expectNoWaiters(t, s, admin)
}
