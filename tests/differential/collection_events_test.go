package differential

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/structd/structd/internal/resp"
)

// collectionEventScript exercises every hash and set write, including the
// calls that change nothing (and so must emit nothing) and the ones that
// empty a key (an extra "del").
var collectionEventScript = [][]string{
	{"HSET", "h", "a", "1", "b", "2"},
	{"HSET", "h", "a", "1"},
	{"HMSET", "h", "c", "3"},
	{"HSETNX", "h", "a", "9"},
	{"HSETNX", "h", "d", "4"},
	{"HINCRBY", "h", "n", "5"},
	{"HINCRBY", "h", "a", "x"},
	{"HINCRBYFLOAT", "h", "f", "1.5"},
	{"HINCRBYFLOAT", "h", "c", "inf"},
	{"HDEL", "h", "nofield"},
	{"HDEL", "h", "a", "b"},
	{"HDEL", "h", "c", "d", "n", "f", "x"},
	{"HDEL", "h", "a"},
	{"SET", "str", "v"},
	{"HSET", "str", "a", "1"},
	{"SADD", "s", "1", "2", "3"},
	{"SADD", "s", "1"},
	{"SADD", "s", "x"},
	{"SREM", "s", "nomember"},
	{"SREM", "s", "1"},
	{"SPOP", "s"},
	{"SPOP", "s", "0"},
	{"SPOP", "s", "1"},
	{"SPOP", "s", "5"},
	{"SPOP", "s"},
	{"SPOP", "s", "2"},
	{"SADD", "a", "1", "2", "3"},
	{"SADD", "b", "2", "3", "4"},
	{"SMOVE", "a", "b", "9"},
	{"SMOVE", "a", "b", "2"},
	{"SMOVE", "a", "b", "1"},
	{"SMOVE", "a", "a", "3"},
	{"SMOVE", "a", "c", "3"},
	{"SMOVE", "nokey", "c", "3"},
	{"SINTERSTORE", "d", "b", "c"},
	{"SINTERSTORE", "d", "b", "nokey"},
	{"SINTERSTORE", "d", "b", "nokey"},
	{"SUNIONSTORE", "str", "b", "c"},
	{"SUNIONSTORE", "str", "nokey"},
	{"SDIFFSTORE", "d", "b", "c"},
	{"SDIFFSTORE", "d", "c", "b"},
	{"SDIFFSTORE", "d", "str", "b"},
	{"SREM", "b", "1", "2", "3", "4", "5"},
	{"SPOP", "c", "1"},
}

// TestCollectionEvents runs collectionEventScript on both servers with
// keyspace notifications on and compares the keyevent messages a
// subscriber receives: the events of hash and set commands must be
// Redis's, in Redis's order.
func TestCollectionEvents(t *testing.T) {
	compareEvents(t, collectionEventScript, 20)
}

// compareEvents runs script on both servers with keyspace notifications on
// and requires the keyevent messages a subscriber receives to be the same,
// in the same order, and at least minEvents of them (so that a script that
// silently stopped emitting does not pass).
func compareEvents(t *testing.T, script [][]string, minEvents int) {
	t.Helper()
	needRedis(t)
	flushAll(t)
	got := map[string][]string{}
	for _, srv := range []struct{ name, addr string }{{"redis-server", env.redisAddr}, {"structd", env.structdAddr}} {
		events, err := recordEvents(srv.addr, script)
		if errors.Is(err, errNoNotifications) && srv.name == "structd" {
			t.Skip("structd does not take notify-keyspace-events yet")
		}
		if err != nil {
			t.Fatalf("%s: %v", srv.name, err)
		}
		got[srv.name] = events
	}
	r, s := got["redis-server"], got["structd"]
	if strings.Join(r, "\n") != strings.Join(s, "\n") {
		t.Fatalf("keyevent messages differ\n--- redis-server:\n%s\n--- structd:\n%s", strings.Join(r, "\n"), strings.Join(s, "\n"))
	}
	if len(r) < minEvents {
		t.Fatalf("only %d events recorded: %v", len(r), r)
	}
	t.Logf("%d events: %s", len(r), strings.Join(r, ", "))
}

// errNoNotifications is recordEvents' error when the server refuses to
// turn keyspace notifications on.
var errNoNotifications = errors.New("CONFIG SET notify-keyspace-events failed")

// recordEvents turns keyspace notifications on at addr, runs script on one
// connection while another subscribes to every keyevent channel of db 0,
// and returns the messages as "event key" lines, up to a final marker
// write. It restores notify-keyspace-events and flushes the keys.
func recordEvents(addr string, script [][]string) ([]string, error) {
	admin, err := dial(addr)
	if err != nil {
		return nil, err
	}
	defer admin.close()
	if v, err := admin.doStrings("CONFIG", "SET", "notify-keyspace-events", "KEA"); err != nil || v.Kind != resp.KindSimple {
		return nil, fmt.Errorf("%w: %v %v", errNoNotifications, v, err)
	}
	defer func() {
		admin.doStrings("CONFIG", "SET", "notify-keyspace-events", "")
		admin.doStrings("FLUSHALL")
	}()
	sub, err := dial(addr)
	if err != nil {
		return nil, err
	}
	defer sub.close()
	if v, err := sub.doStrings("PSUBSCRIBE", "__keyevent@0__:*"); err != nil || v.Kind != resp.KindArray {
		return nil, fmt.Errorf("PSUBSCRIBE: %v %v", v, err)
	}
	for _, args := range script {
		if _, err := admin.doStrings(args...); err != nil {
			return nil, fmt.Errorf("%v: %v", args, err)
		}
	}
	const marker = "__events_done__"
	if _, err := admin.doStrings("SET", marker, "1"); err != nil {
		return nil, err
	}
	var events []string
	for {
		v, err := sub.read()
		if err != nil {
			return events, fmt.Errorf("reading messages after %v: %v", events, err)
		}
		if len(v.Elems) != 4 || string(v.Elems[0].Str) != "pmessage" {
			return events, fmt.Errorf("unexpected message %v", v)
		}
		event := strings.TrimPrefix(string(v.Elems[2].Str), "__keyevent@0__:")
		key := string(v.Elems[3].Str)
		if key == marker {
			return events, nil
		}
		events = append(events, event+" "+key)
	}
}

// collectionReadScript reads hashes and sets that exist and that do not,
// after collectionEventScript's writes, for TestCollectionKeyspaceStats.
var collectionReadScript = [][]string{
	{"HSET", "h", "a", "1", "b", "2"},
	{"SADD", "s", "1", "2"},
	{"SADD", "t", "x"},
	{"HGET", "h", "a"}, {"HGET", "nokey", "a"},
	{"HMGET", "h", "a", "z"}, {"HMGET", "nokey", "a"},
	{"HGETALL", "h"}, {"HKEYS", "nokey"}, {"HVALS", "h"},
	{"HEXISTS", "h", "a"}, {"HLEN", "nokey"}, {"HSTRLEN", "h", "a"},
	{"HRANDFIELD", "h"}, {"HRANDFIELD", "nokey", "2"}, {"HRANDFIELD", "h", "x"},
	{"HSCAN", "h", "0"}, {"HSCAN", "nokey", "0"}, {"HSCAN", "h", "x"},
	{"HGET", "s", "a"},
	{"SMEMBERS", "s"}, {"SMEMBERS", "nokey"},
	{"SISMEMBER", "s", "1"}, {"SMISMEMBER", "nokey", "1", "2"}, {"SCARD", "s"},
	{"SRANDMEMBER", "s"}, {"SRANDMEMBER", "nokey", "3"}, {"SRANDMEMBER", "s", "x"},
	{"SINTER", "s", "t", "nokey"}, {"SINTER", "nokey", "s"}, {"SINTERCARD", "2", "s", "t"},
	{"SUNION", "s", "nokey", "t"}, {"SDIFF", "s", "t"}, {"SSCAN", "s", "0"},
	{"SINTERSTORE", "d", "s", "t"}, {"SUNIONSTORE", "d", "s", "nokey"}, {"SDIFFSTORE", "d", "s", "t"},
	{"SMOVE", "s", "t", "1"}, {"SMOVE", "nokey", "t", "1"}, {"SPOP", "t", "1"}, {"SPOP", "t", "5"}, {"SPOP", "nokey", "5"},
	{"HINCRBY", "h", "a", "1"}, {"HDEL", "nokey", "a"}, {"SREM", "s", "2"},
	{"SCARD", "h"},
}

// TestCollectionKeyspaceStats compares, command by command, how the hash
// and set commands count keyspace hits and misses: reads count them (as
// Redis's lookupKeyRead), writes do not (lookupKeyWrite).
func TestCollectionKeyspaceStats(t *testing.T) {
	compareKeyspaceStats(t, collectionReadScript)
}

// compareKeyspaceStats runs script on a connection to each server and
// compares the keyspace_hits and keyspace_misses each command adds.
func compareKeyspaceStats(t *testing.T, script [][]string) {
	needRedis(t)
	flushAll(t)
	got := map[string][]string{}
	for _, srv := range []struct{ name, addr string }{{"redis-server", env.redisAddr}, {"structd", env.structdAddr}} {
		c, err := dial(srv.addr)
		if err != nil {
			t.Fatal(err)
		}
		hits, misses := keyspaceStats(t, c)
		for _, args := range script {
			if _, err := c.doStrings(args...); err != nil {
				t.Fatalf("%s: %v: %v", srv.name, args, err)
			}
			h, m := keyspaceStats(t, c)
			got[srv.name] = append(got[srv.name], fmt.Sprintf("%s: hits +%d misses +%d", strings.Join(args, " "), h-hits, m-misses))
			hits, misses = h, m
		}
		c.doStrings("FLUSHALL")
		c.close()
	}
	r, s := got["redis-server"], got["structd"]
	for i := range r {
		if r[i] != s[i] {
			t.Errorf("redis-server %s\n      structd %s", r[i], s[i])
		}
	}
}

// keyspaceStats reads keyspace_hits and keyspace_misses from INFO stats.
func keyspaceStats(t *testing.T, c *conn) (hits, misses int64) {
	t.Helper()
	v, err := c.doStrings("INFO", "stats")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(v.Str), "\r\n") {
		name, val, _ := strings.Cut(line, ":")
		n, _ := strconv.ParseInt(val, 10, 64)
		switch name {
		case "keyspace_hits":
			hits = n
		case "keyspace_misses":
			misses = n
		}
	}
	return hits, misses
}
