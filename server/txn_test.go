package server

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/structd/structd/internal/resp"
)

// Transactions that roll back (TXN.MULTI ... EXEC, TXN.EVAL, TXN.ESHA)
// across real connections: what other clients see of a rolled-back
// transaction (no notification, no WATCH touch, blocked clients keep
// waiting), scripts, and what reaches the AOF and survives a restart.
// commands/txn_test.go covers every kind of write rolled back.

const errNotInt = "ERR value is not an integer or out of range"

// txn runs TXN.MULTI, the commands and EXEC on c and returns EXEC's reply.
func txn(t *testing.T, c *conn, cmds ...[]string) resp.Value {
	t.Helper()
	return runTx(t, c, "TXN.MULTI", cmds...)
}

// expectRolledBack checks EXEC's reply names command n (from 1) and cause.
func expectRolledBack(t *testing.T, v resp.Value, n int, name, cause string) {
	t.Helper()
	want := "-TXNABORTED Transaction rolled back: command #" + strconv.Itoa(n) + " (" + name + ") failed: " + cause
	if got := show(v); got != want {
		t.Fatalf("EXEC: got %q, want %q", got, want)
	}
}

// TestTxnMultiRollsBack: every type, creations, deletions, TTLs and two
// databases, rolled back; the connection's database stays as SELECTed.
func TestTxnMultiRollsBack(t *testing.T) {
	s := startServer(t)
	c := dial(t, s)
	writeEveryType(t, c, "1")
	c.expect(":0", "SETBIT", "bits", "3", "1")
	before := dumpState(t, c)
	v := txn(t, c,
		[]string{"SET", "s1", "changed", "EX", "100"}, []string{"DEL", "h1"}, []string{"RPUSH", "l1", "x"},
		[]string{"SADD", "new", "m"}, []string{"ZADD", "z1", "100", "a"}, []string{"SETBIT", "bits", "9", "1"},
		[]string{"PERSIST", "n1"}, []string{"EXPIRE", "set1", "10"}, []string{"SELECT", "4"},
		[]string{"APPEND", "db31", "x"}, []string{"SET", "in4", "x"}, []string{"MOVE", "in4", "5"},
		[]string{"INCR", "in4-missing-is-fine"}, []string{"HSET", "db31", "f", "v"})
	expectRolledBack(t, v, 14, "HSET", "WRONGTYPE Operation against a key holding the wrong kind of value")
	c.expect("+OK", "SELECT", "0")
	if after := dumpState(t, c); after != before {
		t.Fatalf("after rollback:\n%s\nbefore:\n%s", after, before)
	}
	// A committed TXN.MULTI answers as MULTI does.
	if v := txn(t, c, []string{"SET", "a", "1"}, []string{"INCR", "a"}); flat(v) != "OK 2" {
		t.Fatalf("committed EXEC: %s", flat(v))
	}
}

// TestTxnMultiQueueing: refused and unknown commands abort the
// transaction as in MULTI; DISCARD ends it; neither MULTI form nests.
func TestTxnMultiQueueing(t *testing.T) {
	s := startServer(t)
	c := dial(t, s)
	c.expect("+OK", "TXN.MULTI")
	c.expect("+QUEUED", "SET", "k", "v")
	c.expect("-ERR 'FLUSHALL' is not allowed in TXN.MULTI, TXN.EVAL or TXN.ESHA: it can not be rolled back", "FLUSHALL")
	c.expect("-EXECABORT Transaction discarded because of previous errors.", "EXEC")
	c.expect("(nil)", "GET", "k")
	c.expect("+OK", "TXN.MULTI")
	c.expect("-ERR unknown command 'NOPE', with args beginning with: ", "NOPE")
	c.expect("-EXECABORT Transaction discarded because of previous errors.", "EXEC")
	c.expect("+OK", "TXN.MULTI")
	c.expect("-ERR MULTI calls can not be nested", "MULTI")
	c.expect("-ERR MULTI calls can not be nested", "TXN.MULTI")
	c.expect("+QUEUED", "SET", "k", "v")
	c.expect("+OK", "DISCARD")
	c.expect("(nil)", "GET", "k")
	c.expect("-ERR EXEC without MULTI", "EXEC")
	// CLIENT REPLY OFF hides EXEC's reply, not the failure.
	c.expect("+OK", "SET", "str", "x")
	c.send("CLIENT", "REPLY", "OFF")
	c.send("TXN.MULTI")
	c.send("SET", "k", "v")
	c.send("INCR", "str")
	c.send("EXEC")
	c.expect("+OK", "CLIENT", "REPLY", "ON") // the first reply after OFF
	c.expect("(nil)", "GET", "k")
}

// TestTxnMultiNotifications: a rolled-back transaction delivers no
// keyspace notification (not even "new" or "keymiss"); a committed one
// delivers the same as MULTI/EXEC.
func TestTxnMultiNotifications(t *testing.T) {
	s := startServer(t)
	sub, c := dial(t, s), dial(t, s)
	c.expect("+OK", "CONFIG", "SET", "notify-keyspace-events", "KEAnm")
	c.expect("+OK", "SET", "str", "x")
	sub.send("PSUBSCRIBE", "__key*")
	sub.read()
	next := func() string {
		l := leaves(sub.read())
		return l[2] + " " + l[3]
	}
	cmds := [][]string{{"SET", "a", "1"}, {"RPUSH", "l", "x"}, {"HSET", "h", "f", "v"}, {"EXPIRE", "str", "100"},
		{"GET", "missing"}}
	expectRolledBack(t, txn(t, c, append(cmds, []string{"INCR", "str"})...), 6, "INCR", errNotInt)
	c.expect(":1", "PUBLISH", "__keyspace@0__:marker", "m")
	if got := next(); got != "__keyspace@0__:marker m" {
		t.Fatalf("after the rollback the subscriber got %q", got)
	}
	read := func(n int) []string {
		var got []string
		for range n {
			got = append(got, next())
		}
		return got
	}
	if v := txn(t, c, cmds...); v.Kind != resp.KindArray {
		t.Fatalf("EXEC: %s", flat(v))
	}
	committed := read(16) // 4 changes, 3 new keys, a keymiss, each on two channels
	c.expect(":3", "DEL", "a", "l", "h")
	c.expect(":1", "PERSIST", "str")
	read(8)
	execTx(t, c, cmds...)
	if plain := read(16); !slices.Equal(committed, plain) {
		t.Fatalf("TXN.MULTI delivered %q\nMULTI delivered %q", committed, plain)
	}
}

// TestTxnMultiBlockedClient: a client blocked on a list the transaction
// pushed to, then rolled back, gets nothing and keeps waiting.
func TestTxnMultiBlockedClient(t *testing.T) {
	s := startServer(t)
	admin, c := dial(t, s), dial(t, s)
	c.expect("+OK", "SET", "str", "x")
	waiter := blockOn(t, s, admin, 1, "BLPOP", "q", "0")
	zwaiter := blockOn(t, s, admin, 2, "BZPOPMIN", "zq", "0")
	expectRolledBack(t, txn(t, c, []string{"RPUSH", "q", "a", "b"}, []string{"ZADD", "zq", "1", "m"},
		[]string{"INCR", "str"}), 3, "INCR", errNotInt)
	// EXEC serves blocked clients before it answers: none was.
	if n := blockedClients(t, admin); n != 2 {
		t.Fatalf("blocked clients after the rollback: %d", n)
	}
	c.expect("(nil)", "LPOP", "q")
	c.expect(":1", "RPUSH", "q", "c")
	if got := waiter.readFlat(); got != "q c" {
		t.Fatalf("blocked client got %q", got)
	}
	// A committed one serves them, from its end state.
	if v := txn(t, c, []string{"ZADD", "zq", "1", "m", "2", "n"}, []string{"ZREM", "zq", "m"}); flat(v) != "2 1" {
		t.Fatalf("EXEC: %s", flat(v))
	}
	if got := zwaiter.readFlat(); got != "zq n 2" {
		t.Fatalf("blocked client got %q", got)
	}
}

// TestTxnMultiWatch: WATCH works with TXN.MULTI, and a rolled-back
// transaction does not touch what other clients watch (a committed one
// does).
func TestTxnMultiWatch(t *testing.T) {
	s := startServer(t)
	a, b := dial(t, s), dial(t, s)
	a.expect("+OK", "SET", "str", "x")
	a.expect("+OK", "WATCH", "k")
	b.expect("+OK", "SET", "k", "theirs")
	if v := txn(t, a, []string{"SET", "k", "mine"}); !isNullArray(v) {
		t.Fatalf("EXEC after another client's write: %s", flat(v))
	}
	a.expect("$theirs", "GET", "k")

	b.expect("+OK", "WATCH", "w")
	expectRolledBack(t, txn(t, a, []string{"SET", "w", "x"}, []string{"INCR", "str"}), 2, "INCR", errNotInt)
	if v := execTx(t, b, []string{"SET", "w", "b"}); flat(v) != "OK" {
		t.Fatalf("EXEC of the watcher after a rollback: %s", flat(v))
	}
	b.expect("+OK", "WATCH", "w")
	if v := txn(t, a, []string{"SET", "w", "a"}); flat(v) != "OK" {
		t.Fatalf("EXEC: %s", flat(v))
	}
	if v := execTx(t, b, []string{"SET", "w", "b"}); !isNullArray(v) {
		t.Fatalf("EXEC of the watcher after a commit: %s", flat(v))
	}
}

// TestTxnEval: TXN.EVAL and TXN.ESHA roll back on an uncaught error, an
// error reply, or a redis.call error the script caught; not on a
// redis.pcall error it handled. EVAL keeps Redis's semantics.
func TestTxnEval(t *testing.T) {
	s := startServer(t)
	c := dial(t, s)
	c.expect("+OK", "SET", "str", "x")
	const uncaught = "redis.call('SET', 'a', '1') redis.call('RPUSH', 'l', 'x') return redis.call('INCR', KEYS[1])"
	got := c.do("TXN.EVAL", uncaught, "1", "str")
	if !strings.HasPrefix(got, "-TXNABORTED Script rolled back: "+errNotInt) {
		t.Fatalf("uncaught: %q", got)
	}
	c.expect(":0", "EXISTS", "a", "l")

	const caught = "redis.call('SET', 'a', '1') local ok = pcall(redis.call, 'INCR', KEYS[1]) return 'done'"
	c.expect("-TXNABORTED Script rolled back: redis.call (INCR) failed: "+errNotInt, "TXN.EVAL", caught, "1", "str")
	c.expect(":0", "EXISTS", "a")

	const handled = "redis.call('SET', 'a', '1') local r = redis.pcall('INCR', KEYS[1]) if r.err then return 'handled' end"
	c.expect("$handled", "TXN.EVAL", handled, "1", "str")
	c.expect("$1", "GET", "a")

	c.expect("-TXNABORTED Script rolled back: LIMIT reached", "TXN.EVAL",
		"redis.call('SET', 'b', '1') return redis.error_reply('LIMIT reached')", "0")
	c.expect(":0", "EXISTS", "b")

	c.expect("-TXNABORTED Script rolled back: redis.call (FLUSHALL) failed: ERR 'FLUSHALL' is not allowed in TXN.MULTI, TXN.EVAL or TXN.ESHA: it can not be rolled back",
		"TXN.EVAL", "redis.call('SET', 'b', '1') pcall(redis.call, 'FLUSHALL') return 1", "0")
	c.expect(":0", "EXISTS", "b")

	// EVAL does not roll back.
	if got := c.do("EVAL", uncaught, "1", "str"); !strings.HasPrefix(got, "-"+errNotInt) {
		t.Fatalf("EVAL: %q", got)
	}
	c.expect(":2", "EXISTS", "a", "l")
	c.expect(":2", "DEL", "a", "l")

	// TXN.ESHA runs a loaded script; an unknown SHA is NOSCRIPT, unchanged.
	sha := flat(c.sendRead("SCRIPT", "LOAD", uncaught))
	if got := c.do("TXN.ESHA", sha, "1", "str"); !strings.HasPrefix(got, "-TXNABORTED Script rolled back: "+errNotInt) {
		t.Fatalf("TXN.ESHA: %q", got)
	}
	c.expect(":0", "EXISTS", "a", "l")
	c.expect("-NOSCRIPT No matching script. Please use EVAL.", "TXN.ESHA", strings.Repeat("0", 40), "0")
	c.expect(":1", "TXN.ESHA", flat(c.sendRead("SCRIPT", "LOAD", "return redis.call('INCR', KEYS[1])")), "1", "n")
	c.expect("$1", "GET", "n")

	// TXN.ESHA takes an alias wherever EVALSHA does; an aliased script run
	// by CALL.<alias> inside a TXN.EVAL is part of its transaction.
	c.expect("$"+sha, "SCRIPT", "LOAD", uncaught, "bump")
	if got := c.do("TXN.ESHA", "bump", "1", "str"); !strings.HasPrefix(got, "-TXNABORTED Script rolled back: "+errNotInt) {
		t.Fatalf("TXN.ESHA alias: %q", got)
	}
	c.expect(":0", "EXISTS", "a", "l")
	c.expect("-NOSCRIPT No matching script. Please use EVAL.", "TXN.ESHA", "nosuchalias", "0")
	got = c.do("TXN.EVAL", "redis.call('SET', 'c', '1') pcall(CALL.bump, {KEYS[1]}, {}) return 1", "1", "str")
	if !strings.HasPrefix(got, "-TXNABORTED Script rolled back: redis.call (INCR) failed: "+errNotInt) {
		t.Fatalf("TXN.EVAL with CALL.bump: %q", got)
	}
	c.expect(":0", "EXISTS", "a", "c", "l")

	// Inside MULTI, TXN.EVAL undoes its own writes only; inside TXN.MULTI
	// its failure fails the transaction.
	v := execTx(t, c, []string{"SET", "before", "1"}, []string{"TXN.EVAL", caught, "1", "str"}, []string{"SET", "after", "1"})
	if len(v.Elems) != 3 || !strings.HasPrefix(show(v.Elems[1]), "-TXNABORTED") {
		t.Fatalf("MULTI with a failing TXN.EVAL: %s", v)
	}
	c.expect(":2", "EXISTS", "before", "after")
	c.expect(":0", "EXISTS", "a")
	expectRolledBack(t, txn(t, c, []string{"SET", "c", "1"}, []string{"TXN.EVAL", caught, "1", "str"}), 2, "TXN.EVAL",
		"TXNABORTED Script rolled back: redis.call (INCR) failed: "+errNotInt)
	expectRolledBack(t, txn(t, c, []string{"SET", "c", "1"}, []string{"EVAL", uncaught, "1", "str"}), 2, "EVAL",
		errNotInt+" script: "+flat(c.sendRead("SCRIPT", "LOAD", uncaught))+", on @user_script:1.")
	c.expect(":0", "EXISTS", "a", "c", "l")

	// Registered like EVAL.
	info := flat(c.sendRead("COMMAND", "INFO", "TXN.EVAL", "TXN.ESHA", "TXN.MULTI"))
	for _, want := range []string{"txn.eval -3 noscript stale skip_monitor no_mandatory_keys movablekeys",
		"txn.esha -3", "txn.multi 1"} {
		if !strings.Contains(info, want) {
			t.Errorf("COMMAND INFO lacks %q: %s", want, info)
		}
	}
	if docs := flat(c.sendRead("COMMAND", "DOCS", "TXN.EVAL")); !strings.Contains(docs, "undoing its writes") {
		t.Errorf("COMMAND DOCS TXN.EVAL: %s", docs)
	}
}

// aofBytes is the content of the AOF segments under dir, in order.
func aofBytes(t *testing.T, dir string) []byte {
	t.Helper()
	segs, _ := filepath.Glob(filepath.Join(dir, "appendonlydir", "appendonly.aof.*"))
	slices.Sort(segs)
	var all []byte
	for _, seg := range segs {
		b, err := os.ReadFile(seg)
		if err != nil {
			t.Fatal(err)
		}
		// Under appendfsync always the open segment is preallocated: its
		// unwritten end reads as zeros (a log never ends with a zero byte).
		all = append(all, bytes.TrimRight(b, "\x00")...)
	}
	return all
}

// TestTxnRollbackPersistence: a rolled-back transaction or script leaves
// nothing in the AOF, and after a restart the data is what it was before
// it; so after a checkpoint of the keys it restored (dirty, tombstones),
// including cold keys faulted in by the transaction. appendfsync always:
// a reply waits for the log to be written, so the AOF can be read.
func TestTxnRollbackPersistence(t *testing.T) {
	dir := t.TempDir()
	s := mustPersistentServer(t, dir, `save ""`, "appendfsync always")
	c := dial(t, s)
	writeEveryType(t, c, "1")
	args := []string{"HSET", "big"}
	for i := range 2000 {
		args = append(args, "f"+strconv.Itoa(i), "v")
	}
	c.expect(":2000", args...)
	c.expect("+OK", "SAVE")
	writeEveryType(t, c, "2") // an AOF tail
	want := dumpState(t, c)
	aof := aofBytes(t, dir)
	rolledBack := func(c *conn) {
		t.Helper()
		expectRolledBack(t, txn(t, c, []string{"SET", "rolledback", "x"}, []string{"DEL", "s1", "l2"},
			[]string{"HSET", "big", "f1", "rolledback", "rolledback", "v"}, []string{"HDEL", "big", "f2"},
			[]string{"SET", "s2", "rolledback", "EX", "5"}, []string{"INCR", "s2"}), 6, "INCR",
			"ERR value is not an integer or out of range")
		if got := c.do("TXN.EVAL", "redis.call('SET', 'rolledback', 'x') redis.call('ZADD', 'z1', 5, 'rolledback') "+
			"return redis.call('HINCRBY', 'big', 'f1', 1)", "0"); !strings.HasPrefix(got, "-TXNABORTED") {
			t.Fatalf("TXN.EVAL: %q", got)
		}
	}
	rolledBack(c)
	c.expect("+OK", "SET", "marker", "1") // acknowledged: logged behind anything earlier
	after := aofBytes(t, dir)
	if !bytes.HasPrefix(after, aof) || bytes.Contains(after[len(aof):], []byte("rolledback")) ||
		!bytes.Contains(after[len(aof):], []byte("marker")) {
		t.Fatalf("the AOF after a rollback and SET marker got %q", after[len(aof):])
	}
	c.expect(":1", "DEL", "marker")
	if got := dumpState(t, c); got != want {
		t.Fatalf("after rollback:\n%s\nwant:\n%s", got, want)
	}
	s.Close()

	// Restart: the keys are cold; roll back a transaction that faults
	// them in, checkpoint what it restored, restart again.
	s2 := mustPersistentServer(t, dir, `save ""`, "appendfsync always")
	c2 := dial(t, s2)
	rolledBack(c2)
	c2.expect(":0", "EXISTS", "rolledback")
	c2.expect("+OK", "SAVE")
	s2.Close()
	s3 := mustPersistentServer(t, dir, `save ""`, "appendfsync always")
	c3 := dial(t, s3)
	if got := dumpState(t, c3); got != want {
		t.Fatalf("after rollback, checkpoint and restart:\n%s\nwant:\n%s", got, want)
	}
	c3.expect(":2000", "HLEN", "big")
	c3.expect("$v", "HGET", "big", "f1")
	// A committed one is logged and replayed.
	if v := txn(t, c3, []string{"SET", "kept", "1"}, []string{"HSET", "big", "f1", "w"}); flat(v) != "OK 0" {
		t.Fatalf("EXEC: %s", flat(v))
	}
	s3.Close()
	c4 := dial(t, mustPersistentServer(t, dir, `save ""`, "appendfsync always"))
	c4.expect("$1", "GET", "kept")
	c4.expect("$w", "HGET", "big", "f1")
}

// TestTxnRollbackDuringCheckpoints rolls transactions back (and commits
// some) while background checkpoints walk the keyspace: every restore
// reaches its slot after the running checkpoint wrote it (invariant 5:
// UnpreparedWrites stays zero), and a restart serves what was served.
func TestTxnRollbackDuringCheckpoints(t *testing.T) {
	dir := t.TempDir()
	s := mustPersistentServer(t, dir, `save ""`)
	c := dial(t, s)
	for i := range 2000 {
		n := strconv.Itoa(i)
		c.expect("+OK", "SET", "k"+n, n)
	}
	c.expect("+OK", "SET", "str", "x")
	for round := range 5 {
		c.expect("+Background saving started", "BGSAVE")
		for i := range 40 {
			a, b := "k"+strconv.Itoa((round*40+i)*7%2000), "k"+strconv.Itoa((round*40+i)*13%2000)
			last := []string{"INCR", "str"}
			if i%10 == 0 {
				last = []string{"INCR", b} // commits
			}
			v := txn(t, c, []string{"INCR", a}, []string{"DEL", b}, []string{"SET", "new" + a, "x"}, last)
			if got := show(v); i%10 != 0 && !strings.HasPrefix(got, "-TXNABORTED") {
				t.Fatalf("EXEC: %s", got)
			}
		}
		deadline := time.Now().Add(30 * time.Second)
		for infoField(t, c, "rdb_bgsave_in_progress") == "1" {
			if time.Now().After(deadline) {
				t.Fatal("BGSAVE never ended")
			}
			time.Sleep(time.Millisecond)
		}
	}
	if n := s.ks.Persist.UnpreparedWrites.Load(); n != 0 {
		t.Fatalf("%d writes reached a slot the running checkpoint had not written", n)
	}
	want := dumpState(t, c)
	s.Close()
	if got := dumpState(t, dial(t, mustPersistentServer(t, dir, `save ""`))); got != want {
		t.Fatal("the data after a restart differs from the data before")
	}
}
