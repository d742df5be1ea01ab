package commands

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/structd/structd/internal/resp"
)

// reply runs a command and parses its reply.
func (kt *keyTester) reply(args ...string) resp.Value {
	kt.t.Helper()
	raw := kt.do(args...)
	v, err := resp.ReadReply(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		kt.t.Fatalf("%q: unreadable reply %q: %v", args, raw, err)
	}
	return v
}

// strs returns the string elements of an array reply.
func strs(v resp.Value) []string {
	out := make([]string, len(v.Elems))
	for i, e := range v.Elems {
		out[i] = string(e.Str)
	}
	return out
}

// fillHash stores n fields "f<i>" = "v<i>" under key, in one HSET.
func fillHash(kt *keyTester, key string, n int) {
	args := []string{"hset", key}
	for i := 0; i < n; i++ {
		args = append(args, "f"+strconv.Itoa(i), "v"+strconv.Itoa(i))
	}
	kt.expect(":"+strconv.Itoa(n)+"\r\n", args...)
}

// HRANDFIELD's picks are random: check what must hold of every pick, in
// both encodings.
func TestHRandFieldPicks(t *testing.T) {
	for _, n := range []int{5, 600} { // listpack, hashtable
		kt := newKeyTester(t)
		fillHash(kt, "h", n)
		for _, count := range []int{1, 2, n / 2, n - 1} {
			v := kt.reply("hrandfield", "h", strconv.Itoa(count), "withvalues")
			if len(v.Elems) != 2*count {
				t.Fatalf("n=%d count=%d: %d elements", n, count, len(v.Elems))
			}
			seen := map[string]bool{}
			for i := 0; i < len(v.Elems); i += 2 {
				f, val := string(v.Elems[i].Str), string(v.Elems[i+1].Str)
				if seen[f] {
					t.Fatalf("n=%d count=%d: field %s twice", n, count, f)
				}
				seen[f] = true
				if "v"+strings.TrimPrefix(f, "f") != val {
					t.Fatalf("n=%d: field %s paired with %s", n, f, val)
				}
			}
		}
		v := kt.reply("hrandfield", "h", "-50")
		if len(v.Elems) != 50 {
			t.Fatalf("n=%d: negative count gave %d", n, len(v.Elems))
		}
		for _, f := range strs(v) {
			if kt.do("hexists", "h", f) != ":1\r\n" {
				t.Fatalf("n=%d: picked %q, not a field", n, f)
			}
		}
	}
}

// A pick with repetitions is cut, and the connection marked for closing,
// once the reply outgrows maxRandomReplyBytes, instead of growing until
// memory runs out as -9223372036854775807 would.
func TestRandomPickReplyIsBounded(t *testing.T) {
	defer func(old int) { maxRandomReplyBytes = old }(maxRandomReplyBytes)
	maxRandomReplyBytes = 1 << 16
	for _, args := range [][]string{
		{"hrandfield", "h", "-9223372036854775807"},
		{"hrandfield", "h", "-4611686018427387903", "withvalues"},
		{"srandmember", "s", "-9223372036854775807"},
	} {
		kt := newKeyTester(t)
		kt.do("hset", "h", "a", "1")
		kt.do("sadd", "s", "x")
		raw := kt.do(args...)
		if len(raw) > 2*maxRandomReplyBytes {
			t.Errorf("%v: %d bytes", args, len(raw))
		}
		if !kt.ctx.Session.CloseAfterReply {
			t.Errorf("%v: connection not marked for closing", args)
		}
	}
}

// Every field present for the whole of an HSCAN is returned, while other
// fields come and go and the hashtable grows and shrinks between calls.
func TestHScanUnderChanges(t *testing.T) {
	kt := newKeyTester(t)
	fillHash(kt, "h", 1000)
	seen := map[string]bool{}
	cursor := "0"
	for step := 0; ; step++ {
		v := kt.reply("hscan", "h", cursor, "count", "7")
		items := strs(v.Elems[1])
		for i := 0; i < len(items); i += 2 {
			seen[items[i]] = true
		}
		// Churn fields outside f0..f999: add a burst, delete another.
		kt.do("hset", "h", fmt.Sprintf("x%d", step), "1", fmt.Sprintf("y%d", step), "2")
		if step%3 == 0 {
			kt.do("hdel", "h", fmt.Sprintf("x%d", step/2))
		}
		cursor = string(v.Elems[0].Str)
		if cursor == "0" {
			break
		}
		if step > 100000 {
			t.Fatal("scan did not finish")
		}
	}
	for i := 0; i < 1000; i++ {
		if !seen["f"+strconv.Itoa(i)] {
			t.Fatalf("f%d never returned", i)
		}
	}
}

// The hash and set commands the benchmarks run allocate nothing when the
// key exists.
func TestCollectionHotPathAllocations(t *testing.T) {
	kt := newKeyTester(t)
	kt.do("hset", "h", "a", "1", "b", "2")
	kt.do("sadd", "s", "1", "2", "x")
	kt.do("sadd", "is", "1", "2")
	for _, a := range [][]string{
		{"hget", "h", "a"}, {"hset", "h", "a", "3"}, {"hincrby", "h", "a", "1"}, {"hexists", "h", "b"},
		{"hlen", "h"}, {"hgetall", "h"}, {"hdel", "h", "zz"}, {"hmget", "h", "a", "b"},
		{"sismember", "s", "x"}, {"sadd", "s", "x"}, {"sadd", "is", "2"}, {"scard", "s"},
		{"srem", "s", "zz"}, {"smembers", "is"},
	} {
		cmd := All().Lookup([]byte(a[0]))
		args := make([][]byte, len(a))
		for i, x := range a {
			args[i] = []byte(x)
		}
		if n := testing.AllocsPerRun(100, func() {
			kt.ctx.Args = args
			kt.ctx.W.Reset()
			Exec(&kt.ctx, cmd)
		}); n > 0 {
			t.Errorf("%q: %v allocations", a, n)
		}
	}
}
