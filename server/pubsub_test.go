package server

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/structd/structd/internal/resp"
	"github.com/structd/structd/memtier"
)

// Pub/sub across real connections: many subscribers and publishers,
// keyspace notifications from every family, and the output-buffer limit
// that disconnects a subscriber that stops reading.

// leaves renders a reply's leaves as strings ("message ch payload").
func leaves(v resp.Value) []string {
	switch v.Kind {
	case resp.KindArray, resp.KindPush, resp.KindSet, resp.KindMap:
		var out []string
		for _, e := range v.Elems {
			out = append(out, leaves(e)...)
		}
		return out
	case resp.KindInt:
		return []string{fmt.Sprint(v.Int)}
	}
	return []string{string(v.Str)}
}

func TestPubSubManyClients(t *testing.T) {
	s := startServer(t)
	const subscribers, publishers, perPublisher = 100, 4, 200
	subs := make([]*conn, subscribers)
	for i := range subs {
		c := dial(t, s)
		if i%2 == 1 {
			c.send("HELLO", "3")
			c.read()
		}
		if i%3 == 0 {
			c.send("PSUBSCRIBE", "c?")
		} else {
			c.send("SUBSCRIBE", "ch")
		}
		c.read()
		subs[i] = c
	}
	admin := dial(t, s)
	admin.send("PUBSUB", "NUMSUB", "ch")
	if got := strings.Join(leaves(admin.read()), " "); got != "ch 66" {
		t.Fatalf("PUBSUB NUMSUB ch: %s", got)
	}
	admin.expect(":1", "PUBSUB", "NUMPAT")
	var wg sync.WaitGroup
	errs := make(chan error, subscribers+publishers)
	for p := range publishers {
		c := dial(t, s)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range perPublisher {
				c.send("PUBLISH", "ch", fmt.Sprintf("%d:%d", p, j))
				if v := c.read(); v.Kind != resp.KindInt || v.Int != subscribers {
					errs <- fmt.Errorf("PUBLISH reached %s, want %d", show(v), subscribers)
					return
				}
			}
		}()
	}
	for i, c := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := make([]int, publishers)
			for range publishers * perPublisher {
				c.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
				v, err := resp.ReadReply(c.br)
				if err != nil {
					errs <- fmt.Errorf("subscriber %d: %v", i, err)
					return
				}
				l := leaves(v)
				var p, j int
				if _, err := fmt.Sscanf(l[len(l)-1], "%d:%d", &p, &j); err != nil || p >= publishers || j != next[p] {
					errs <- fmt.Errorf("subscriber %d: got %v, want message %d of publisher %d", i, l, next[min(p, publishers-1)], p)
					return
				}
				next[p]++
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestKeyspaceNotificationsFamilies(t *testing.T) {
	clock := memtier.NewManualClock(1_000_000)
	s := startServerClock(t, clock)
	sub, c := dial(t, s), dial(t, s)
	c.expect("+OK", "CONFIG", "SET", "notify-keyspace-events", "KEA")
	sub.send("PSUBSCRIBE", "__keyevent@*")
	sub.read()
	// next reads the next keyevent message as "event key".
	next := func() string {
		l := leaves(sub.read())
		return strings.TrimPrefix(l[2], "__keyevent@0__:") + " " + l[3]
	}
	steps := []struct {
		cmd    []string
		events []string
	}{
		{[]string{"SET", "s", "1"}, []string{"set s"}},
		{[]string{"INCRBY", "s", "2"}, []string{"incrby s"}},
		{[]string{"APPEND", "s", "x"}, []string{"append s"}},
		{[]string{"EXPIRE", "s", "100"}, []string{"expire s"}},
		{[]string{"RENAME", "s", "t"}, []string{"rename_from s", "rename_to t"}},
		{[]string{"DEL", "t"}, []string{"del t"}},
		{[]string{"RPUSH", "l", "a", "b"}, []string{"rpush l"}},
		{[]string{"LPOP", "l"}, []string{"lpop l"}},
		{[]string{"HSET", "h", "f", "v"}, []string{"hset h"}},
		{[]string{"HDEL", "h", "f"}, []string{"hdel h", "del h"}},
		{[]string{"SADD", "st", "a"}, []string{"sadd st"}},
		{[]string{"SREM", "st", "a"}, []string{"srem st", "del st"}},
		{[]string{"ZADD", "z", "1", "a"}, []string{"zadd z"}},
		{[]string{"ZREM", "z", "a"}, []string{"zrem z", "del z"}},
		{[]string{"SET", "e", "v", "PX", "10"}, []string{"set e", "expire e"}},
	}
	for _, st := range steps {
		c.send(st.cmd...)
		c.read()
		for _, want := range st.events {
			if got := next(); got != want {
				t.Fatalf("%v: got event %q, want %q", st.cmd, got, want)
			}
		}
	}
	clock.Advance(time.Second)
	c.expect("(nil)", "GET", "e")
	if got := next(); got != "expired e" {
		t.Fatalf("lazy expiry: got event %q", got)
	}
	c.expect("+OK", "SET", "f", "v", "PX", "10")
	next() // set
	next() // expire
	clock.Advance(time.Second)
	// The server cron's active expiry reclaims it: next waits for it.
	if got := next(); got != "expired f" {
		t.Fatalf("active expiry: got event %q", got)
	}
	// Disabled again, writes publish nothing.
	c.expect("+OK", "CONFIG", "SET", "notify-keyspace-events", "")
	c.expect("+OK", "SET", "quiet", "1")
	c.expect(":1", "PUBLISH", "__keyevent@0__:marker", "m")
	if got := next(); got != "marker m" {
		t.Fatalf("after disabling: got event %q", got)
	}
}

// TestSlowSubscriberDisconnected has one subscriber stop reading while
// another keeps up: past client-output-buffer-limit pubsub's hard limit
// the slow one is disconnected, and the other receives every message.
func TestSlowSubscriberDisconnected(t *testing.T) {
	t.Run("hard", func(t *testing.T) { testSlowSubscriber(t, "pubsub 1mb 0 0") })
	// Past the soft limit for longer than 0 seconds: the first message
	// over it starts the clock, a later one ends the client.
	t.Run("soft", func(t *testing.T) { testSlowSubscriber(t, "pubsub 0 512kb 0") })
}

func testSlowSubscriber(t *testing.T, limit string) {
	s := startServer(t)
	admin := dial(t, s)
	admin.expect("+OK", "CONFIG", "SET", "client-output-buffer-limit", limit)
	slow := dial(t, s)
	slow.nc.(*net.TCPConn).SetReadBuffer(4096)
	slow.send("CLIENT", "SETNAME", "slow")
	slow.read()
	slow.send("SUBSCRIBE", "ch")
	slow.read()
	fast := dial(t, s)
	fast.send("SUBSCRIBE", "ch")
	fast.read()

	payload := strings.Repeat("x", 64<<10)
	const maxMessages = 2048 // 128 MB: far past any socket buffering
	var received atomic.Int64
	go func() {
		for {
			fast.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
			v, err := resp.ReadReply(fast.br)
			if err != nil {
				return
			}
			if l := leaves(v); len(l) == 3 && l[2] == payload {
				received.Add(1)
			}
		}
	}()
	pub := dial(t, s)
	published := int64(0)
	maxOmem := 0
	for {
		line := clientLine(pub.do("CLIENT", "LIST"), "name=slow")
		if line == "" {
			break
		}
		if n := clientField(line, "omem"); n > maxOmem {
			maxOmem = n
		}
		if published == maxMessages {
			t.Fatal("the subscriber that does not read was never disconnected")
		}
		pub.send("PUBLISH", "ch", payload)
		pub.read()
		published++
		// Pace the publisher by the fast subscriber, so its own pending
		// output never nears the limit however slowly its reader is
		// scheduled: only the subscriber that does not read can reach it.
		waitReceived(t, &received, published)
	}
	if maxOmem == 0 {
		t.Error("CLIENT LIST never showed the slow subscriber's pending output (omem)")
	}
	// Gone from the registry, and the server has closed its end: what the
	// client sends now is refused.
	slow.nc.SetDeadline(time.Now().Add(10 * time.Second))
	var werr error
	for werr == nil {
		_, werr = slow.nc.Write(encode("PING"))
		if werr == nil {
			_, werr = io.Copy(io.Discard, slow.br)
		}
	}
	var ne net.Error
	if errors.As(werr, &ne) && ne.Timeout() {
		t.Fatalf("the slow subscriber's connection is still open: %v", werr)
	}
	// The fast subscriber is still subscribed and gets every message.
	if got := pub.do("PUBLISH", "ch", payload); got != ":1" {
		t.Fatalf("PUBLISH after the slow subscriber left reached %s, want :1", got)
	}
	published++
	waitReceived(t, &received, published)

}

// clientLine is the CLIENT LIST line containing marker, or "".
func clientLine(list, marker string) string {
	for _, line := range strings.Split(list, "\n") {
		if strings.Contains(line, marker) {
			return line
		}
	}
	return ""
}

// clientField is a numeric field of a CLIENT LIST line.
func clientField(line, name string) int {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, name+"="); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return -1
}

// waitReceived waits until the subscriber's reader has counted want
// messages (bounded, so a lost message fails instead of hanging).
func waitReceived(t *testing.T, received *atomic.Int64, want int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for received.Load() != want {
		if time.Now().After(deadline) {
			t.Fatalf("fast subscriber received %d of %d messages", received.Load(), want)
		}
		time.Sleep(time.Millisecond)
	}
}
