package commands

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/structd/structd/aof"
	"github.com/structd/structd/memtier"
	"github.com/structd/structd/memtier/types"
)

// TXN.MULTI's rollback through the command layer, without a network: a
// fake connection dispatches the queue as the server does, a fake log
// records what would reach the AOF, and the keyspace is compared whole
// before and after. The server tests (server/txn_test.go) cover what
// needs real connections: notifications, blocked clients, WATCH, scripts,
// restarts.

// txnConn dispatches queued commands as the server's client does for EXEC.
type txnConn struct{ c *Ctx }

func (tc txnConn) Dispatch(args [][]byte) {
	cmd := All().Lookup(args[0])
	if cmd.Subcommands != nil {
		cmd = cmd.Subcommands[strings.ToLower(string(args[1]))]
	}
	tc.c.Args = args
	Exec(tc.c, cmd)
}
func (txnConn) Subscribe(SubKind, [][]byte)   {}
func (txnConn) Unsubscribe(SubKind, [][]byte) {}

// recLog is an EffectLog keeping copies of the logged units.
type recLog struct{ units []string }

func (l *recLog) LogEffects(effects []Effect) (aof.Pos, error) {
	var b strings.Builder
	for _, e := range effects {
		fmt.Fprintf(&b, "[%d]", e.DB)
		for _, a := range e.Args {
			fmt.Fprintf(&b, " %q", a)
		}
		b.WriteString("\n")
	}
	l.units = append(l.units, b.String())
	return aof.Pos{}, nil
}

func newTxnTester(t *testing.T) (*keyTester, *recLog) {
	kt := newKeyTester(t)
	kt.ctx.Conn = txnConn{&kt.ctx}
	log := &recLog{}
	kt.ctx.Log = log
	return kt, log
}

// run runs cmds in a transaction opened by multi ("multi" or
// "txn.multi") and returns EXEC's reply.
func (kt *keyTester) run(multi string, cmds [][]string) string {
	kt.t.Helper()
	kt.expect("+OK\r\n", multi)
	for _, cmd := range cmds {
		args := make([][]byte, len(cmd))
		for i, a := range cmd {
			args[i] = []byte(a)
		}
		if msg := TxnRefusal(lookupArgs(args)); msg != "" && multi == "txn.multi" {
			kt.t.Fatalf("%v refused: %s", cmd, msg)
		}
		kt.ctx.Session.Multi.Enqueue(args)
	}
	return kt.do("exec")
}

func lookupArgs(args [][]byte) *Command {
	cmd := All().Lookup(args[0])
	if cmd.Subcommands != nil {
		cmd = cmd.Subcommands[strings.ToLower(string(args[1]))]
	}
	return cmd
}

// dumpKeyspace renders every key of every database (type, encoding,
// content in order, expiry), sorted.
func dumpKeyspace(ks *memtier.Keyspace) string {
	var lines []string
	ks.LockAll()
	defer ks.UnlockAll()
	for i := range ks.NumDBs() {
		db := ks.DB(i)
		if db.Size() == 0 {
			continue
		}
		for s := range memtier.NumSlots {
			db.SlotKeys(s, func(key string, o *memtier.Object) bool {
				lines = append(lines, fmt.Sprintf("%d %s %s %s %d %s", i, key, o.Type, o.EncodingName(),
					db.Expire([]byte(key)), renderValue(o)))
				return true
			})
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func renderValue(o *memtier.Object) string {
	var parts []string
	switch v := o.Payload().(type) {
	case nil:
		return strconv.Quote(string(o.Bytes()))
	case *types.List:
		v.Each(false, func(_ int, e types.Elem) bool { parts = append(parts, e.String()); return true })
	case *types.Hash:
		v.Each(func(f, val types.Elem) bool { parts = append(parts, f.String()+"="+val.String()); return true })
		slices.Sort(parts) // a restored field may come back in another place
	case *types.Set:
		v.Each(func(m types.Elem) bool { parts = append(parts, m.String()); return true })
		slices.Sort(parts)
	case *types.ZSet:
		v.Each(func(m types.Elem, score float64) bool {
			parts = append(parts, m.String()+":"+strconv.FormatFloat(score, 'g', -1, 64))
			return true
		})
	}
	return strings.Join(parts, ",")
}

// seedEveryType writes keys of every type, some with TTLs, some big enough
// to be undone element by element, in databases 0 and 3.
func seedEveryType(kt *keyTester) {
	kt.t.Helper()
	cmds := [][]string{
		{"set", "str", "hello"}, {"set", "num", "41"}, {"set", "ttl", "v", "ex", "1000"},
		{"setbit", "bits", "7", "1"},
		{"rpush", "list", "a", "b", "c"}, {"rpush", "dst", "z"},
		{"hset", "hash", "f1", "v1", "f2", "v2"},
		{"sadd", "set", "1", "2", "3"}, {"sadd", "set2", "x", "y"},
		{"zadd", "zset", "1", "a", "2", "b"},
		{"hset", "longhash", "f", strings.Repeat("x", 100)}, // hashtable encoding, one field
		{"expire", "hash", "5000"},
	}
	for i := range 600 {
		n := strconv.Itoa(i)
		cmds = append(cmds, []string{"hset", "bighash", "f" + n, "v" + n},
			[]string{"sadd", "bigset", "m" + n}, []string{"zadd", "bigzset", n, "m" + n},
			[]string{"rpush", "biglist", "e" + n})
	}
	cmds = append(cmds, []string{"expire", "bigzset", "9000"}, []string{"select", "3"},
		[]string{"set", "three", "3"}, []string{"rpush", "l3", "x"}, []string{"select", "0"})
	for _, c := range cmds {
		if r := kt.do(c...); strings.HasPrefix(r, "-") {
			kt.t.Fatalf("%v: %s", c, r)
		}
	}
}

// fail is a command that fails at run time: INCR of a string.
var fail = []string{"incr", "str"}

// everyWrite is one write command of each kind, over every type, with
// creations, deletions, expiry changes, database changes and big
// collections changed element by element and then whole.
var everyWrite = [][]string{
	{"set", "str", "changed"}, {"setnx", "new1", "x"}, {"setex", "new2", "100", "x"},
	{"psetex", "new3", "100000", "x"}, {"mset", "num", "1", "new4", "y"}, {"msetnx", "new5", "z"},
	{"getset", "new5", "w"}, {"getdel", "new4"}, {"getex", "ttl", "persist"}, {"append", "new1", "yy"},
	{"setrange", "new1", "5", "abc"}, {"set", "num", "41"}, {"incr", "num"}, {"decr", "num"},
	{"incrby", "num", "10"}, {"decrby", "num", "3"}, {"incrbyfloat", "num", "0.5"},
	{"setbit", "bits", "100", "1"}, {"bitfield", "bits", "set", "u8", "0", "255"},
	{"bitop", "or", "bitsor", "bits", "str"}, {"del", "ttl"}, {"unlink", "bitsor"},
	{"expire", "str", "100"}, {"pexpire", "new1", "100000"}, {"expireat", "new2", "1800000000"},
	{"pexpireat", "new3", "1800000000000"}, {"persist", "hash"}, {"rename", "new1", "renamed"},
	{"renamenx", "renamed", "renamed2"}, {"copy", "list", "listcopy"}, {"copy", "list", "l3", "db", "3", "replace"},
	{"move", "set2", "3"}, {"lpush", "list", "x"}, {"rpush", "newlist", "a", "b", "c"},
	{"lpushx", "list", "y"}, {"rpushx", "list", "z"}, {"lpop", "list"}, {"rpop", "list"},
	{"lset", "list", "0", "q"}, {"linsert", "list", "before", "q", "p"}, {"lrem", "list", "0", "b"},
	{"ltrim", "newlist", "0", "1"}, {"lmove", "list", "dst", "left", "right"},
	{"rpoplpush", "newlist", "dst"}, {"lmpop", "1", "newlist", "left"}, {"blpop", "dst", "0"},
	{"blmove", "list", "newlist2", "right", "left", "0"},
	{"hset", "hash", "f3", "v3"}, {"hsetnx", "hash", "f4", "v4"}, {"hmset", "hash", "f1", "x"},
	{"hdel", "hash", "f2"}, {"hincrby", "hash", "n", "5"}, {"hincrbyfloat", "hash", "n", "1.5"},
	{"hdel", "longhash", "f"}, // empties a hashtable-encoded hash: the key goes
	{"sadd", "set", "4", "x"}, {"srem", "set", "1"}, {"sadd", "one", "only"}, {"spop", "one"}, {"smove", "set", "newset", "2"},
	{"sinterstore", "inter", "set", "newset"}, {"sunionstore", "union", "set", "newset"},
	{"sdiffstore", "diff", "set", "newset"},
	{"zadd", "zset", "3", "c"}, {"zincrby", "zset", "5", "a"}, {"zrem", "zset", "b"},
	{"zadd", "newzset", "1", "x", "2", "y", "3", "z", "4", "w"}, {"zpopmin", "newzset"}, {"zpopmax", "newzset"},
	{"zmpop", "1", "newzset", "min"}, {"bzpopmin", "newzset", "0"},
	{"zremrangebyrank", "zset", "0", "0"}, {"zremrangebyscore", "zset", "0", "1"},
	{"zremrangebylex", "zset", "-", "+"}, {"zunionstore", "zu", "1", "bigzset"},
	{"zinterstore", "zi", "1", "bigzset"}, {"zdiffstore", "zd", "1", "bigzset"},
	{"zrangestore", "zr", "bigzset", "0", "9"}, {"sort", "list", "alpha", "store", "sorted"},
	// Big collections: element entries, then whole changes of the same keys.
	{"hset", "bighash", "f1", "changed", "new", "field"}, {"hdel", "bighash", "f2", "f3"},
	{"hincrby", "bighash", "counter", "7"}, {"sadd", "bigset", "new"}, {"srem", "bigset", "m1", "m2"},
	{"smove", "bigset", "set", "m3"}, {"zadd", "bigzset", "1000", "m1", "5", "new"},
	{"zincrby", "bigzset", "1", "m2"}, {"zrem", "bigzset", "m4"},
	{"zpopmin", "bigzset", "2"}, {"zpopmax", "bigzset"}, {"bzpopmax", "bigzset", "0"},
	{"zremrangebyscore", "bigzset", "100", "110"}, {"zremrangebyrank", "bigzset", "0", "3"},
	{"lpush", "biglist", "a", "b"}, {"rpop", "biglist", "2"}, {"lmove", "biglist", "list", "right", "left"},
	{"rpoplpush", "biglist", "biglist"}, {"lmove", "list", "biglist", "left", "right"},
	{"lpop", "biglist", "1000"}, {"rpush", "biglist", "again"}, // emptied, deleted, created anew
	{"rename", "bighash", "bighash2"}, {"hset", "bighash2", "f5", "again"}, {"zpopmin", "bigzset", "3"},
	{"select", "3"}, {"set", "three", "changed"}, {"del", "l3"}, {"set", "created3", "x"}, {"select", "0"},
}

// TestTxnRollbackEveryWrite runs every kind of write in a TXN.MULTI that
// then fails: the keyspace is as before, nothing is logged, and EXEC names
// the failing command. Without the failure the same queue commits.
func TestTxnRollbackEveryWrite(t *testing.T) {
	kt, log := newTxnTester(t)
	seedEveryType(kt)
	before := dumpKeyspace(kt.ks)
	logged := len(log.units)

	queue := append(slices.Clone(everyWrite), fail, []string{"set", "never", "run"})
	got := kt.run("txn.multi", queue)
	want := fmt.Sprintf("-TXNABORTED Transaction rolled back: command #%d (INCR) failed: %s\r\n",
		len(everyWrite)+1, ErrNotInteger)
	if got != want {
		t.Fatalf("EXEC = %q, want %q", got, want)
	}
	if after := dumpKeyspace(kt.ks); after != before {
		t.Fatalf("after rollback:\n%s\nbefore:\n%s", after, before)
	}
	if len(log.units) != logged {
		t.Fatalf("a rolled-back transaction logged %q", log.units[logged:])
	}
	if n := kt.ks.UndoStats.Unsaved.Load(); n != 0 {
		t.Fatalf("%d changes to keys without a before-image", n)
	}
	if kt.ctx.Session.DB != 0 {
		t.Fatalf("session db %d", kt.ctx.Session.DB)
	}

	// The same writes, committed, equal MULTI/EXEC's: reply, data, log.
	plain, plainLog := newTxnTester(t)
	seedEveryType(plain)
	plainLogged := len(plainLog.units)
	wantReply := plain.run("multi", everyWrite)
	if got := kt.run("txn.multi", everyWrite); got != wantReply {
		t.Fatalf("TXN.MULTI EXEC = %q\nMULTI EXEC = %q", got, wantReply)
	}
	if a, b := dumpKeyspace(kt.ks), dumpKeyspace(plain.ks); a != b {
		t.Fatalf("after TXN.MULTI:\n%s\nafter MULTI:\n%s", a, b)
	}
	if a, b := log.units[logged:], plainLog.units[plainLogged:]; !slices.Equal(a, b) {
		t.Fatalf("TXN.MULTI logged %q\nMULTI logged %q", a, b)
	}
	if n := kt.ks.UndoStats.Unsaved.Load(); n != 0 {
		t.Fatalf("%d changes to keys without a before-image", n)
	}
}

// TestTxnPlainMultiDoesNotRollBack keeps Redis's semantics for MULTI.
func TestTxnPlainMultiDoesNotRollBack(t *testing.T) {
	kt, _ := newTxnTester(t)
	kt.expect("+OK\r\n", "set", "str", "x")
	got := kt.run("multi", [][]string{{"set", "a", "1"}, fail, {"set", "b", "2"}})
	if want := "*3\r\n+OK\r\n-" + ErrNotInteger + "\r\n+OK\r\n"; got != want {
		t.Fatalf("EXEC = %q, want %q", got, want)
	}
	kt.expect("$1\r\n1\r\n", "get", "a")
	kt.expect("$1\r\n2\r\n", "get", "b")
}

// TestTxnBigCollectionsUndoElements: a transaction touching a few
// elements of collections of 20000 copies those elements, not the
// collections, and rolls back exactly.
func TestTxnBigCollectionsUndoElements(t *testing.T) {
	kt, _ := newTxnTester(t)
	const n = 20000
	for _, typ := range []string{"hash", "set", "zset"} {
		args := []string{map[string]string{"hash": "hset", "set": "sadd", "zset": "zadd"}[typ], typ}
		for i := range n {
			s := strconv.Itoa(i)
			switch typ {
			case "hash":
				args = append(args, "f"+s, "v"+s)
			case "set":
				args = append(args, "m"+s)
			case "zset":
				args = append(args, s, "m"+s)
			}
		}
		kt.do(args...)
	}
	list := []string{"rpush", "biglist"}
	for i := range n {
		list = append(list, "e"+strconv.Itoa(i))
	}
	kt.do(list...)
	lex := []string{"zadd", "lexz"}
	for i := range n {
		lex = append(lex, "0", "m"+strconv.Itoa(i))
	}
	kt.do(lex...)
	kt.expect("+OK\r\n", "set", "str", "x")
	before := dumpKeyspace(kt.ks)
	copied := kt.ks.UndoStats.Copied.Load()
	got := kt.run("txn.multi", [][]string{
		{"hset", "hash", "f1", "x", "new", "y"}, {"hdel", "hash", "f2"}, {"hincrby", "hash", "cnt", "1"},
		{"sadd", "set", "new"}, {"srem", "set", "m1", "m2"},
		{"zadd", "zset", "-1", "m1", "7", "new"}, {"zincrby", "zset", "1", "m2"}, {"zrem", "zset", "m3"},
		{"zpopmin", "zset", "2"}, {"zpopmax", "zset"}, {"bzpopmin", "zset", "0"},
		{"zremrangebyscore", "zset", "10", "(13"}, {"zremrangebyrank", "zset", "-2", "-1"},
		{"spop", "set"}, {"spop", "set", "3"}, {"zremrangebylex", "lexz", "[m10", "(m100"},
		{"del", "lexz"}, {"zadd", "lexz", "1", "x"}, {"unlink", "lexz"}, // no copy of lexz
		{"set", "set", "overwritten"}, // a copy of the set, whole (its elements so far)
		{"lpush", "biglist", "x", "y"}, {"rpush", "biglist", "z"}, {"lpop", "biglist"}, {"rpop", "biglist", "3"},
		{"lpushx", "biglist", "p"}, {"rpushx", "biglist", "q"}, {"rpoplpush", "biglist", "biglist"},
		{"lmove", "biglist", "newlist", "left", "right"}, {"lmove", "biglist", "biglist", "right", "left"},
		{"lpop", "biglist", "0"}, {"lmove", "biglist", "set", "left", "left"}, // WRONGTYPE: changes nothing
	})
	if want := "-TXNABORTED Transaction rolled back: command #31 (LMOVE) failed: " + ErrWrongType + "\r\n"; got != want {
		t.Fatalf("EXEC = %q, want %q", got, want)
	}
	// 2+1+1 hash fields, 1+2+1+3 set members, 2+1+1+2+1+1+3+2+1 zset
	// members, the whole set (n+1-2-1-3) when SET overwrote it, 1+3+1+1+1
	// popped list elements (the failed LMOVE saves nothing).
	if d, want := kt.ks.UndoStats.Copied.Load()-copied, int64(25+n-5+7); d != want {
		t.Fatalf("the undo log copied %d elements, want %d", d, want)
	}
	if after := dumpKeyspace(kt.ks); after != before {
		t.Fatal("big collections differ after rollback")
	}
	// A pop the command refuses records nothing to push back.
	got = kt.run("txn.multi", [][]string{{"lpop", "biglist", "1", "2"}})
	if !strings.HasPrefix(got, "-TXNABORTED Transaction rolled back: command #1 (LPOP) failed: ERR wrong number") {
		t.Fatalf("EXEC = %q", got)
	}
	if after := dumpKeyspace(kt.ks); after != before {
		t.Fatal("big collections differ after rollback")
	}
}

// TestTxnRollbackRestoresExpiry: TTLs set, changed and removed inside the
// transaction come back, and a key that expired before it stays gone.
func TestTxnRollbackRestoresExpiry(t *testing.T) {
	kt, _ := newTxnTester(t)
	kt.expect("+OK\r\n", "set", "str", "x")
	kt.expect("+OK\r\n", "set", "a", "1", "ex", "100")
	kt.expect("+OK\r\n", "set", "b", "2")
	kt.expect("+OK\r\n", "set", "soon", "x", "px", "10")
	kt.clock.Advance(20_000_000) // 20 s: soon has expired, not reclaimed
	before := dumpKeyspace(kt.ks)
	got := kt.run("txn.multi", [][]string{
		{"persist", "a"}, {"expire", "b", "5"}, {"set", "soon", "back", "keepttl"},
		{"set", "c", "3", "ex", "10"}, fail,
	})
	if !strings.HasPrefix(got, "-TXNABORTED") {
		t.Fatalf("EXEC = %q", got)
	}
	if after := dumpKeyspace(kt.ks); after != before {
		t.Fatalf("after rollback:\n%s\nbefore:\n%s", after, before)
	}
	kt.expect(":-2\r\n", "ttl", "soon")
	kt.expect(":-1\r\n", "ttl", "b")
}

// TestTxnRefusesWhatCannotBeUndone: keyspace-wide writes and the like are
// refused (TXN.MULTI queues nothing for them: the server answers this
// error and EXECABORT later).
func TestTxnRefusesWhatCannotBeUndone(t *testing.T) {
	for _, name := range []string{"flushall", "flushdb", "swapdb", "subscribe", "client|reply", "script|flush"} {
		cmd := lookupFull(All(), name)
		if cmd == nil {
			t.Fatalf("no command %s", name)
		}
		if TxnRefusal(cmd) == "" {
			t.Errorf("%s is allowed in a transaction that rolls back", name)
		}
	}
	if got := TxnRefusal(lookupFull(All(), "flushall")); got !=
		"ERR 'FLUSHALL' is not allowed in TXN.MULTI, TXN.EVAL or TXN.ESHA: it can not be rolled back" {
		t.Errorf("refusal text %q", got)
	}
	for _, name := range []string{"set", "move", "copy", "eval", "txn.eval", "select", "get", "publish", "sort"} {
		if msg := TxnRefusal(lookupFull(All(), name)); msg != "" {
			t.Errorf("%s refused: %s", name, msg)
		}
	}
}

// TestTxnMultiNesting: TXN.MULTI is MULTI's sibling: neither nests in the
// other, and DISCARD ends it.
func TestTxnMultiNesting(t *testing.T) {
	kt, _ := newTxnTester(t)
	kt.expect("+OK\r\n", "txn.multi")
	kt.expect("-ERR MULTI calls can not be nested\r\n", "multi")
	kt.expect("-ERR MULTI calls can not be nested\r\n", "txn.multi")
	kt.expect("+OK\r\n", "discard")
	if m := &kt.ctx.Session.Multi; m.Active || m.Rollback {
		t.Fatalf("after DISCARD: active %v rollback %v", m.Active, m.Rollback)
	}
	kt.expect("+OK\r\n", "multi")
	kt.expect("-ERR MULTI calls can not be nested\r\n", "txn.multi")
	kt.expect("+OK\r\n", "discard")
	if QueuesCommand(lookupFull(All(), "txn.multi")) {
		t.Fatal("TXN.MULTI would be queued")
	}
}

// BenchmarkTxnExec compares EXEC of a MULTI and of a TXN.MULTI that
// read and write a small hash (a rate limiter's step), and a big one
// (element undo): the cost of the undo log on the success path.
func BenchmarkTxnExec(b *testing.B) {
	for _, size := range []int{2, 5000} {
		for _, multi := range []string{"multi", "txn.multi"} {
			b.Run(fmt.Sprintf("%s/hash%d", multi, size), func(b *testing.B) {
				kt, _ := newTxnTester(&testing.T{})
				kt.ctx.Log = nil
				for i := range size {
					kt.do("hset", "bucket", "f"+strconv.Itoa(i), "1")
				}
				queue := [][][]byte{
					{[]byte("hmget"), []byte("bucket"), []byte("f0"), []byte("f1")},
					{[]byte("hset"), []byte("bucket"), []byte("f0"), []byte("2"), []byte("f1"), []byte("3")},
				}
				exec := []string{"exec"}
				b.ReportAllocs()
				for b.Loop() {
					kt.do(multi)
					m := &kt.ctx.Session.Multi
					m.Queue = append(m.Queue, queue...)
					kt.do(exec...)
				}
			})
		}
	}
}

// TestTxnRollbackRandom runs 200 transactions of random writes over a few
// keys of every type, big and small (so whole, element and list-end undo
// entries mix on the same keys, and keys change type, empty and come
// back), each ended by a failing command: every rollback gives back the
// keyspace as it was, with no change escaping its before-image.
func TestTxnRollbackRandom(t *testing.T) {
	kt, log := newTxnTester(t)
	rng := rand.New(rand.NewPCG(5, 7))
	pick := func(list ...string) string { return list[rng.IntN(len(list))] }
	elem := func() string { return "m" + strconv.Itoa(rng.IntN(300)) }
	num := func() string { return strconv.Itoa(rng.IntN(300)) }
	// Keys keep their type (h hash, z sorted set, l list, s set) except
	// for a rare SET, so that most commands succeed and transactions run
	// long before their failing end.
	randomWrite := func() []string {
		typ := pick("h", "z", "l", "s")
		k, k2 := typ+pick("1", "2"), typ+pick("1", "2")
		any := pick("h1", "z1", "l1", "s1", "h2", "z2", "l2", "s2")
		switch rng.IntN(60) {
		case 0:
			return []string{"set", any, elem()}
		case 1, 2:
			return []string{"del", any}
		case 3:
			return []string{"expire", any, num()}
		case 4:
			return []string{"persist", any}
		case 5:
			return []string{"copy", typ + "1", typ + "2", "replace"}
		case 6:
			return []string{"unlink", any}
		}
		switch typ {
		case "h":
			return pickCmd(rng, []string{"hset", k, elem(), num(), elem(), num()}, []string{"hdel", k, elem(), elem()},
				[]string{"hincrby", k, elem(), "1"})
		case "z":
			return pickCmd(rng, []string{"zadd", k, num(), elem(), num(), elem()}, []string{"zrem", k, elem()},
				[]string{"zpopmin", k, pick("1", "2", "500")}, []string{"zremrangebyscore", k, num(), num()},
				[]string{"zpopmax", k}, []string{"zremrangebyrank", k, "0", pick("0", "3")},
				[]string{"zincrby", k, "2", elem()})
		case "l":
			return pickCmd(rng, []string{pick("lpush", "rpush"), k, elem(), elem(), elem()},
				[]string{pick("lpop", "rpop"), k, pick("1", "5", "1000")}, []string{pick("lpushx", "rpushx"), k, elem()},
				[]string{"lmove", k, k2, pick("left", "right"), pick("left", "right")}, []string{"rpoplpush", k, k2},
				[]string{"lrem", k, "0", elem()}, []string{"ltrim", k, "1", "-2"})
		default:
			return pickCmd(rng, []string{"sadd", k, elem(), elem()}, []string{"srem", k, elem()},
				[]string{"spop", k, pick("1", "3", "400")}, []string{"smove", k, k2, elem()},
				[]string{"sunionstore", k, k, k2}, []string{"spop", k})
		}
	}
	// Big starting values, so element and list-end entries are used.
	grow := func(cmd ...string) {
		args := append([]string(nil), cmd...)
		for i := range 400 {
			s := strconv.Itoa(i)
			switch cmd[0] {
			case "zadd":
				args = append(args, s, "m"+s)
			case "hset":
				args = append(args, "m"+s, s)
			default:
				args = append(args, "m"+s)
			}
		}
		kt.do(args...)
	}
	kt.expect("+OK\r\n", "set", "str", "x")
	for round := range 200 {
		if round%50 == 0 {
			kt.do("del", "h1", "h2", "z1", "z2", "l1", "l2", "s1", "s2")
			for _, n := range []string{"1", "2"} {
				grow("hset", "h"+n)
				grow("zadd", "z"+n)
				grow("rpush", "l"+n)
				grow("sadd", "s"+n)
			}
		}
		// Commit some, to move the starting point.
		if round%3 == 0 {
			var queue [][]string
			for range 5 {
				queue = append(queue, randomWrite())
			}
			kt.do("multi")
			for _, q := range queue {
				args := make([][]byte, len(q))
				for i, a := range q {
					args[i] = []byte(a)
				}
				kt.ctx.Session.Multi.Enqueue(args)
			}
			kt.do("exec")
		}
		before, logged := dumpKeyspace(kt.ks), len(log.units)
		queue := make([][]string, 0, 21)
		for range 20 {
			queue = append(queue, randomWrite())
		}
		got := kt.run("txn.multi", append(queue, fail))
		if !strings.HasPrefix(got, "-TXNABORTED") {
			t.Fatalf("round %d: EXEC = %q", round, got)
		}
		if after := dumpKeyspace(kt.ks); after != before {
			t.Fatalf("round %d: %q\nafter rollback:\n%s\nbefore:\n%s", round, queue, after, before)
		}
		if len(log.units) != logged {
			t.Fatalf("round %d: logged %q", round, log.units[logged:])
		}
	}
	if n := kt.ks.UndoStats.Unsaved.Load(); n != 0 {
		t.Fatalf("%d changes to keys without a before-image", n)
	}
	if kt.ks.UndoStats.ElementEntries.Load() == 0 {
		t.Fatal("no element or list-end entry was used")
	}
}

// pickCmd returns one of cmds at random.
func pickCmd(rng *rand.Rand, cmds ...[]string) []string { return cmds[rng.IntN(len(cmds))] }
