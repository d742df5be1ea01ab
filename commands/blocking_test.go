package commands

import (
	"bytes"
	"testing"
	"time"

	"github.com/structd/structd/internal/resp"
)

// blockedBy runs a blocking command on its own session of kt's keyspace
// and returns what it registered.
func blockedBy(t *testing.T, kt *keyTester, args ...string) *Blocked {
	t.Helper()
	c := &Ctx{W: &resp.Writer{Proto: 2}, Session: &Session{}, KS: kt.ks}
	for _, a := range args {
		c.Args = append(c.Args, []byte(a))
	}
	Exec(c, All().Lookup(c.Args[0]))
	if c.Blocked == nil {
		t.Fatalf("%v did not block; replied %q", args, c.W.Buf)
	}
	if len(c.W.Buf) != 0 {
		t.Fatalf("%v blocked after replying %q", args, c.W.Buf)
	}
	return c.Blocked
}

// served reports whether b was served and its reply.
func served(t *testing.T, kt *keyTester, b *Blocked) string {
	t.Helper()
	select {
	case <-b.Done():
	default:
		t.Fatal("not served")
	}
	var w resp.Writer
	if !b.End(kt.ks, &w, false) {
		t.Fatal("End reports not served")
	}
	return string(w.Buf)
}

func TestBlockedServedInOrder(t *testing.T) {
	kt := newKeyTester(t)
	b1 := blockedBy(t, kt, "blpop", "k", "other", "0")
	b2 := blockedBy(t, kt, "brpop", "other", "k", "0")
	b3 := blockedBy(t, kt, "blmpop", "0", "1", "k", "LEFT", "COUNT", "5")
	b4 := blockedBy(t, kt, "bzpopmin", "k", "0.5")
	if b4.Timeout != 500*time.Millisecond {
		t.Fatalf("timeout %v", b4.Timeout)
	}
	kt.expect(":4\r\n", "rpush", "k", "a", "b", "c", "d")
	if got := served(t, kt, b1); got != "*2\r\n$1\r\nk\r\n$1\r\na\r\n" {
		t.Errorf("BLPOP got %q", got)
	}
	if got := served(t, kt, b2); got != "*2\r\n$1\r\nk\r\n$1\r\nd\r\n" {
		t.Errorf("BRPOP got %q", got)
	}
	if got := served(t, kt, b3); got != "*2\r\n$1\r\nk\r\n*2\r\n$1\r\nb\r\n$1\r\nc\r\n" {
		t.Errorf("BLMPOP got %q", got)
	}
	// The zset waiter is left waiting by a list; it gives up.
	select {
	case <-b4.Done():
		t.Fatal("BZPOPMIN served by a list")
	default:
	}
	var w resp.Writer
	if !b4.End(kt.ks, &w, true) || string(w.Buf) != "*-1\r\n" {
		t.Fatalf("timed-out BZPOPMIN: %q", w.Buf)
	}
	kt.expect(":0\r\n", "exists", "k")
	kt.expect(":1\r\n", "zadd", "k", "1", "m")
	kt.expect(":1\r\n", "zcard", "k") // nobody waits any more
}

func TestBlockedEquivalent(t *testing.T) {
	for _, tc := range []struct {
		op   *blockOp
		want string
	}{
		{&blockOp{kind: blockPop, head: true}, "lpop k"},
		{&blockOp{kind: blockPop}, "rpop k"},
		{&blockOp{kind: blockMove, head: false, toHead: true, dst: []byte("d")}, "lmove k d RIGHT LEFT"},
		{&blockOp{kind: blockMPop, head: true, count: 3}, "lpop k 3"},
		{&blockOp{kind: blockZPop, highest: true, count: 1}, "zpopmax k 1"},
		{&blockOp{kind: blockZMPop, count: 2}, "zpopmin k 2"},
	} {
		args := tc.op.equivalent([]byte("k"))
		if got := string(bytes.Join(args, []byte(" "))); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.op, got, tc.want)
		}
		if cmd := All().Lookup(args[0]); cmd == nil || !cmd.ArityOK(len(args)) {
			t.Errorf("%q is no valid command", args)
		}
	}
}
