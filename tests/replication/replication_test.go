package replication_test

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/structd/structd/internal/resp"
)

// loadEveryType writes keys of every type, in two databases, some with
// expiries, under prefix.
func loadEveryType(m *node, prefix string) {
	m.session(
		[]any{"SET", prefix + "str", "hello"},
		[]any{"SET", prefix + "ttl", "v", "EX", 1000},
		[]any{"SET", prefix + "num", 41},
		[]any{"INCR", prefix + "num"},
		[]any{"RPUSH", prefix + "list", "a", "b", "c"},
		[]any{"HSET", prefix + "hash", "f1", "v1", "f2", "v2"},
		[]any{"SADD", prefix + "set", "x", "y", "z"},
		[]any{"SADD", prefix + "intset", 1, 2, 3},
		[]any{"ZADD", prefix + "zset", 1.5, "m1", 2, "m2"},
		[]any{"PEXPIRE", prefix + "hash", 500000},
		[]any{"SETBIT", prefix + "bits", 77, 1},
		[]any{"SELECT", 3},
		[]any{"SET", prefix + "db3", "three"},
		[]any{"LPUSH", prefix + "db3list", 1, 2},
		[]any{"EXPIRE", prefix + "db3list", 9000},
	)
	big := make([]any, 0, 2+2*300)
	big = append(big, "HSET", prefix+"bighash")
	for i := range 300 {
		big = append(big, "field"+strconv.Itoa(i), strings.Repeat("v", i%50))
	}
	m.ok(big...)
}

func TestFullSyncThenStream(t *testing.T) {
	master := startNode(t)
	loadEveryType(master, "before:")
	master.ok("SET", "short", "gone-soon", "PX", 1500)
	replica := replicaOf(t, master)
	sameData(t, master, replica)
	if n := replica.count("full resynchronization done"); n != 1 {
		t.Fatalf("%d full syncs logged, want 1", n)
	}

	// The stream: every kind of write, transactions, scripts, other
	// databases, non-deterministic commands sent as their effects.
	loadEveryType(master, "after:")
	master.session(
		[]any{"MULTI"},
		[]any{"SET", "tx:a", 1},
		[]any{"SELECT", 5},
		[]any{"SET", "tx:b", 2},
		[]any{"EXEC"},
		[]any{"SADD", "popme", "p1", "p2", "p3"},
		[]any{"SPOP", "popme"},
		[]any{"INCRBYFLOAT", "float", "1.5"},
		[]any{"EVAL", "redis.call('SET', KEYS[1], ARGV[1]); redis.call('RPUSH', KEYS[2], ARGV[1]); return 1", 2, "ev:a", "ev:b", "x"},
		[]any{"DEL", "before:str"},
		[]any{"RENAME", "before:list", "renamed"},
		[]any{"EXPIRE", "before:set", 100},
	)
	inSync(t, master, replica)
	sameData(t, master, replica)

	// Expiry follows the master: its DEL removes the key on the replica.
	eventually(t, "expired key deleted on the replica", func() (bool, string) {
		v := replica.do("EXISTS", "short")
		return v.Int == 0, fmt.Sprint(v)
	})

	// Reads work, writes are refused, WAIT counts the replica.
	if v := replica.do("SET", "x", 1); v.Kind != resp.KindError || string(v.Str) != "READONLY You can't write against a read only replica." {
		t.Fatalf("write on the replica: %v", v)
	}
	if v := replica.do("MULTI"); v.Kind == resp.KindError {
		t.Fatal(v)
	}
	if v := replica.do("EVAL", "return redis.call('SET', 'k', 'v')", 0); v.Kind != resp.KindError || !strings.Contains(string(v.Str), "READONLY") {
		t.Fatalf("script write on the replica: %v", v)
	}
	if v := replica.do("GET", "after:str"); string(v.Str) != "hello" {
		t.Fatalf("read on the replica: %v", v)
	}
	c, _ := master.dial()
	defer c.Close()
	c.do("SET", "waited", 1)
	if v, _ := c.do("WAIT", 1, 5000); v.Int != 1 {
		t.Fatalf("WAIT 1 5000 = %v", v)
	}
	if v, _ := c.do("WAIT", 2, 100); v.Int != 1 {
		t.Fatalf("WAIT 2 100 = %v", v)
	}
	if v := replica.do("WAIT", 1, 0); v.Kind != resp.KindError || !strings.HasPrefix(string(v.Str), "ERR WAIT cannot be used with replica instances") {
		t.Fatalf("WAIT on the replica: %v", v)
	}

	// ROLE and INFO as Redis shapes them.
	role := master.ok("ROLE")
	if len(role.Elems) != 3 || string(role.Elems[0].Str) != "master" || len(role.Elems[2].Elems) != 1 ||
		string(role.Elems[2].Elems[0].Elems[1].Str) != strconv.Itoa(replica.proc.Port) {
		t.Fatalf("ROLE on the master: %v", role)
	}
	role = replica.ok("ROLE")
	if len(role.Elems) != 5 || string(role.Elems[0].Str) != "slave" || role.Elems[2].Int != int64(master.proc.Port) ||
		string(role.Elems[3].Str) != "connected" {
		t.Fatalf("ROLE on the replica: %v", role)
	}
	mi := master.info("replication")
	if mi["role"] != "master" || mi["connected_slaves"] != "1" || !strings.Contains(mi["slave0"], "state=online") ||
		!strings.Contains(mi["slave0"], "port="+strconv.Itoa(replica.proc.Port)) || mi["repl_backlog_active"] != "1" {
		t.Fatalf("INFO replication on the master: %v", mi)
	}
	ri := replica.info("replication")
	if ri["role"] != "slave" || ri["master_port"] != strconv.Itoa(master.proc.Port) || ri["master_sync_in_progress"] != "0" ||
		ri["slave_read_only"] != "1" || ri["slave_priority"] != "100" || ri["replica_announced"] != "1" {
		t.Fatalf("INFO replication on the replica: %v", ri)
	}
	// What Sentinel reads to choose a replica to promote.
	replica.ok("CONFIG", "SET", "slave-priority", "0")
	replica.ok("CONFIG", "SET", "replica-announced", "no")
	if ri := replica.info("replication"); ri["slave_priority"] != "0" || ri["replica_announced"] != "0" {
		t.Fatalf("INFO replication after CONFIG SET replica-priority 0, replica-announced no: %v", ri)
	}
	if v := replica.ok("CONFIG", "GET", "replica-priority"); len(v.Elems) != 2 || string(v.Elems[1].Str) != "0" {
		t.Fatalf("CONFIG GET replica-priority: %v", v)
	}
	if v := replica.do("CLIENT", "LIST", "TYPE", "master"); !strings.Contains(string(v.Str), "flags=M") {
		t.Fatalf("CLIENT LIST TYPE master on the replica: %v", v)
	}
}

// A Redis replica gets a clear refusal: a StructD master ships files, not
// an RDB.
func TestNonStructDReplicaIsRefused(t *testing.T) {
	master := startNode(t)
	c, err := master.dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.do("REPLCONF", "capa", "eof", "capa", "psync2")
	v, err := c.do("PSYNC", "?", -1)
	if err != nil || v.Kind != resp.KindError || !strings.Contains(string(v.Str), "only a StructD replica") {
		t.Fatalf("PSYNC from a replica without the capa: %v %v", v, err)
	}
}

func TestScriptsAndFunctionsReachReplicas(t *testing.T) {
	master := startNode(t)
	lib1 := "#!lua name=lib1\nredis.register_function{function_name='getit', callback=function(keys) return redis.call('GET', keys[1]) end, flags={'no-writes'}}\nredis.register_function('setit', function(keys, args) return redis.call('SET', keys[1], args[1]) end)"
	master.ok("FUNCTION", "LOAD", lib1)
	master.ok("SCRIPT", "LOAD", "return redis.call('GET', KEYS[1])", "reader")
	master.ok("SET", "k", "v1")
	replica := replicaOf(t, master) // the full sync carries the catalog

	// And the stream carries later changes.
	lib2 := "#!lua name=lib2\nredis.register_function{function_name='lenit', callback=function(keys) return redis.call('STRLEN', keys[1]) end, flags={'no-writes'}}"
	master.ok("FUNCTION", "LOAD", lib2)
	master.ok("SCRIPT", "LOAD", "return redis.call('SET', KEYS[1], ARGV[1])", "writer")
	master.ok("EVALSHA", "writer", 1, "k2", "from-alias")
	master.ok("FCALL", "setit", 1, "k3", "from-function")
	inSync(t, master, replica)

	if v := replica.ok("FCALL_RO", "getit", 1, "k"); string(v.Str) != "v1" {
		t.Fatalf("FCALL_RO getit on the replica: %v", v)
	}
	if v := replica.ok("FCALL_RO", "lenit", 1, "k"); v.Int != 2 {
		t.Fatalf("FCALL_RO lenit on the replica: %v", v)
	}
	if v := replica.ok("EVALSHA", "reader", 1, "k2"); string(v.Str) != "from-alias" {
		t.Fatalf("EVALSHA reader on the replica: %v", v)
	}
	if v := replica.ok("GET", "k3"); string(v.Str) != "from-function" {
		t.Fatalf("FCALL's write on the replica: %v", v)
	}
	aliases := replica.ok("SCRIPT", "ALIASES").String()
	if !strings.Contains(aliases, "reader") || !strings.Contains(aliases, "writer") {
		t.Fatalf("SCRIPT ALIASES on the replica: %s", aliases)
	}
	if v := replica.ok("FUNCTION", "LIST"); len(v.Elems) != 2 {
		t.Fatalf("FUNCTION LIST on the replica: %v", v)
	}
	master.ok("FUNCTION", "DELETE", "lib2")
	master.ok("SCRIPT", "UNALIAS", "writer")
	inSync(t, master, replica)
	if v := replica.do("EVALSHA", "writer", 1, "x", "y"); v.Kind != resp.KindError || !strings.HasPrefix(string(v.Str), "NOSCRIPT") {
		t.Fatalf("EVALSHA of an alias removed on the master: %v", v)
	}
	if v := replica.ok("FUNCTION", "LIST"); len(v.Elems) != 1 {
		t.Fatalf("FUNCTION LIST after FUNCTION DELETE on the master: %v", v)
	}
}

func TestRolledBackTransactionsLeaveNoTrace(t *testing.T) {
	master := startNode(t)
	master.ok("SET", "word", "x")
	master.ok("RPUSH", "list", "keep")
	replica := replicaOf(t, master)
	before := master.info("replication")["master_repl_offset"]

	out := master.session(
		[]any{"TXN.MULTI"},
		[]any{"SET", "txn:a", 1},
		[]any{"RPUSH", "list", "rolled-back"},
		[]any{"DEL", "word"},
		[]any{"INCR", "word"},
		[]any{"HSET", "list", "f", "v"}, // WRONGTYPE: everything above is undone
		[]any{"EXEC"},
	)
	if exec := out[len(out)-1]; exec.Kind != resp.KindError || !strings.HasPrefix(string(exec.Str), "TXNABORTED") {
		t.Fatalf("TXN.MULTI with a failing command: EXEC answered %v", exec)
	}
	v := master.do("TXN.EVAL", "redis.call('SET', 'txn:b', 1); return redis.call('INCR', KEYS[1])", 1, "list")
	if v.Kind != resp.KindError || !strings.HasPrefix(string(v.Str), "TXNABORTED") {
		t.Fatalf("TXN.EVAL with a failing call: %v", v)
	}
	if after := master.info("replication")["master_repl_offset"]; after != before {
		t.Fatalf("rolled-back transactions moved the stream from %s to %s", before, after)
	}
	master.ok("SET", "marker", 1)
	inSync(t, master, replica)
	sameData(t, master, replica)
	for _, k := range []string{"txn:a", "txn:b"} {
		if v := replica.do("EXISTS", k); v.Int != 0 {
			t.Fatalf("%s, written by a rolled-back transaction, exists on the replica", k)
		}
	}
	if v := replica.do("LRANGE", "list", 0, -1); len(v.Elems) != 1 {
		t.Fatalf("list on the replica: %v", v)
	}
}

// stopLink stops the replica (SIGSTOP) and has the master drop its
// connection, so the replica finds it gone only once it runs again.
func stopLink(t *testing.T, master, replica *node) {
	t.Helper()
	if err := syscall.Kill(replica.proc.Pid(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	master.ok("CLIENT", "KILL", "TYPE", "replica")
	eventually(t, "master sees the replica gone", func() (bool, string) {
		v := master.info("replication")["connected_slaves"]
		return v == "0", v
	})
}

// resumeLink lets the replica run again and waits until it holds the
// master's data.
func resumeLink(t *testing.T, master, replica *node) {
	t.Helper()
	syscall.Kill(replica.proc.Pid(), syscall.SIGCONT)
	inSync(t, master, replica)
	sameData(t, master, replica)
}

func TestPartialAndFullResync(t *testing.T) {
	master := startNode(t, "--repl-backlog-size", "64kb")
	loadEveryType(master, "a:")
	replica := replicaOf(t, master)

	// Within the backlog: the replica continues.
	stopLink(t, master, replica)
	for i := range 100 {
		master.ok("SET", "within:"+strconv.Itoa(i), i)
	}
	resumeLink(t, master, replica)
	if n := master.count("partial resynchronization accepted"); n != 1 {
		t.Fatalf("%d partial resyncs on the master, want 1", n)
	}

	// And after CLIENT KILL TYPE master on the replica side.
	replica.ok("CLIENT", "KILL", "TYPE", "master")
	master.ok("SET", "after-kill", 1)
	inSync(t, master, replica)
	if n := master.count("partial resynchronization accepted"); n < 2 {
		t.Fatalf("%d partial resyncs on the master, want 2", n)
	}

	// Beyond the backlog: a full resync.
	stopLink(t, master, replica)
	value := strings.Repeat("x", 1000)
	for i := range 300 {
		master.ok("SET", "beyond:"+strconv.Itoa(i), value)
	}
	resumeLink(t, master, replica)
	if n := replica.count("full resynchronization done"); n != 2 {
		t.Fatalf("%d full syncs on the replica, want 2", n)
	}
}

func TestReplicaOfNoOne(t *testing.T) {
	master := startNode(t)
	master.ok("SET", "k", "v")
	replica := replicaOf(t, master)
	old := replica.info("replication")["master_replid"]
	if v := replica.ok("REPLICAOF", "127.0.0.1", master.proc.Port); string(v.Str) != "OK Already connected to specified master" {
		t.Fatalf("REPLICAOF the same master: %v", v)
	}
	if v := replica.do("REPLICAOF", "127.0.0.1", "notaport"); string(v.Str) != "ERR Invalid master port" {
		t.Fatalf("REPLICAOF with a bad port: %v", v)
	}
	if v := replica.ok("REPLICAOF", "NO", "ONE"); string(v.Str) != "OK" {
		t.Fatalf("REPLICAOF NO ONE: %v", v)
	}
	ri := replica.info("replication")
	if ri["role"] != "master" || ri["master_replid2"] != old || ri["master_replid"] == old {
		t.Fatalf("INFO replication after promotion: %v", ri)
	}
	replica.ok("SET", "written", "after-promotion")
	if v := replica.ok("GET", "k"); string(v.Str) != "v" {
		t.Fatalf("data after promotion: %v", v)
	}
	// REPLICAOF NO ONE returned once the link had stopped applying.
	master.ok("SET", "not-replicated", 1)
	if v := replica.do("EXISTS", "not-replicated"); v.Int != 0 {
		t.Fatal("a promoted replica still applies its old master's writes")
	}
	if v := replica.ok("CONFIG", "GET", "replicaof"); len(v.Elems) != 2 || len(v.Elems[1].Str) != 0 {
		t.Fatalf("CONFIG GET replicaof after promotion: %v", v)
	}

	// The old master can now follow the promoted one (a full resync: it
	// wrote after the promotion, so its history is not the promoted one's).
	master.ok("REPLICAOF", "127.0.0.1", replica.proc.Port)
	inSync(t, replica, master)
	if v := master.ok("GET", "written"); string(v.Str) != "after-promotion" {
		t.Fatalf("old master, now a replica: %v", v)
	}
}

func TestReplicaRestart(t *testing.T) {
	master := startNode(t)
	loadEveryType(master, "r:")
	replica := replicaOf(t, master)
	replica.stop() // a clean shutdown records the offset
	for i := range 50 {
		master.ok("SET", "while-down:"+strconv.Itoa(i), i)
	}
	replica.start()
	// It serves its own data at once, before the link is back.
	if v := replica.do("GET", "r:str"); string(v.Str) != "hello" {
		t.Fatalf("restarted replica: %v", v)
	}
	inSync(t, master, replica)
	sameData(t, master, replica)
	if n := master.count("partial resynchronization accepted"); n != 1 {
		t.Fatalf("%d partial resyncs after the replica's restart, want 1", n)
	}

	// A master restart keeps its replication ID: the replica continues.
	master.stop()
	master.start()
	replica.ok("REPLICAOF", "127.0.0.1", master.proc.Port)
	master.ok("SET", "after-master-restart", 1)
	inSync(t, master, replica)
	sameData(t, master, replica)
	if n := replica.count("full resynchronization done"); n != 1 {
		t.Fatalf("%d full syncs on the replica, want 1 (restarts continue with PSYNC)", n)
	}
}

func TestMasterAuth(t *testing.T) {
	master := startNode(t) // redisproc waits for a PONG: the password comes after
	master.ok("CONFIG", "SET", "requirepass", "s3cret")
	master.pass = "s3cret"
	master.ok("SET", "k", "v")
	replica := startNode(t, "--replicaof", "127.0.0.1", strconv.Itoa(master.proc.Port), "--masterauth", "wrong")
	eventually(t, "refusal logged", func() (bool, string) {
		return replica.count("unable to AUTH to the master") > 0, "no refusal logged yet"
	})
	if v := replica.ok("CONFIG", "SET", "masterauth", "s3cret"); string(v.Str) != "OK" {
		t.Fatal(v)
	}
	inSync(t, master, replica)
	sameData(t, master, replica)
}

// TestFailoverInsideMulti runs the role changes as Sentinel sends them in a
// failover, each inside MULTI/EXEC: REPLICAOF NO ONE to the promoted
// replica, REPLICAOF host port to the old master, each with CONFIG REWRITE
// and CLIENT KILL after it. EXEC holds the keyspace, which a role change
// also needs: it once waited for itself there, and the server hung.
func TestFailoverInsideMulti(t *testing.T) {
	master := startNode(t)
	master.ok("SET", "k", "v")
	replica := replicaOf(t, master)
	// A client of the replica's that CLIENT KILL TYPE normal drops.
	other, err := replica.dial()
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.do("PING"); err != nil {
		t.Fatal(err)
	}

	sentinelSlaveOf := func(n *node, host, port any) resp.Value {
		t.Helper()
		out := n.session(
			[]any{"MULTI"},
			[]any{"SLAVEOF", host, port},
			[]any{"CONFIG", "REWRITE"},
			[]any{"CLIENT", "KILL", "TYPE", "normal"},
			[]any{"CLIENT", "KILL", "TYPE", "pubsub"},
			[]any{"EXEC"},
		)
		exec := out[len(out)-1]
		if exec.Kind != resp.KindArray || len(exec.Elems) != 4 {
			t.Fatalf("EXEC of SLAVEOF %v %v: %v", host, port, exec)
		}
		if string(exec.Elems[0].Str) != "OK" {
			t.Fatalf("SLAVEOF %v %v inside EXEC: %v", host, port, exec.Elems[0])
		}
		return exec
	}

	sentinelSlaveOf(replica, "NO", "ONE")
	if ri := replica.info("replication"); ri["role"] != "master" {
		t.Fatalf("role after SLAVEOF NO ONE in EXEC: %v", ri)
	}
	if _, err := other.do("PING"); err == nil {
		t.Fatal("CLIENT KILL TYPE normal inside EXEC left another client connected")
	}
	replica.ok("SET", "written", "after-promotion")

	sentinelSlaveOf(master, "127.0.0.1", replica.proc.Port)
	if mi := master.info("replication"); mi["role"] != "slave" {
		t.Fatalf("role after SLAVEOF host port in EXEC: %v", mi)
	}
	inSync(t, replica, master)
	if v := master.ok("GET", "written"); string(v.Str) != "after-promotion" {
		t.Fatalf("old master, now a replica: %v", v)
	}
}
