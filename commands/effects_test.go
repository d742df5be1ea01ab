package commands

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/structd/structd/aof"
	"github.com/structd/structd/internal/resp"
	"github.com/structd/structd/memtier"
)

// captureLog is an EffectLog that keeps copies of every effect, in order.
type captureLog struct{ effects []Effect }

func (l *captureLog) LogEffects(effects []Effect) (aof.Pos, error) {
	for _, e := range effects {
		l.add(e.DB, e.Args)
	}
	return aof.Pos{}, nil
}

func (l *captureLog) add(db int, args [][]byte) {
	cp := make([][]byte, len(args))
	for i, a := range args {
		cp[i] = slices.Clone(a)
	}
	l.effects = append(l.effects, Effect{DB: db, Args: cp})
}

// take returns the effects captured since the last take, as strings.
func (l *captureLog) take() [][]string {
	var out [][]string
	for _, e := range l.effects {
		out = append(out, effectStrings(e))
	}
	l.effects = l.effects[:0]
	return out
}

func effectStrings(e Effect) []string {
	s := make([]string, len(e.Args))
	for i, a := range e.Args {
		s[i] = string(a)
	}
	return s
}

// newEffectTester is a keyTester whose writes' effects go to the returned
// log.
func newEffectTester(t *testing.T) (*keyTester, *captureLog) {
	kt := newKeyTester(t)
	log := &captureLog{}
	kt.ctx.Log = log
	return kt, log
}

// TestEffects checks the exact effect each rewritten command logs, and that
// commands that change nothing log nothing.
func TestEffects(t *testing.T) {
	const T = 1_700_000_000_000
	ms := func(n int64) string { return strconv.FormatInt(n, 10) }
	type tc struct {
		name  string
		setup [][]string
		cmd   []string
		want  [][]string // nil: nothing logged
	}
	str := func(args ...string) []string { return args }
	k := str("set", "k", "v")
	kTTL := str("set", "k", "v", "px", "200000")
	list := str("rpush", "l", "a", "b", "c")
	zs := str("zadd", "z", "1", "a", "2", "b", "3", "c")
	cases := []tc{
		{"expire", [][]string{k}, str("expire", "k", "100"), [][]string{{"pexpireat", "k", ms(T + 100_000)}}},
		{"pexpire", [][]string{k}, str("pexpire", "k", "1500"), [][]string{{"pexpireat", "k", ms(T + 1500)}}},
		{"expireat", [][]string{k}, str("expireat", "k", ms(T/1000+100)), [][]string{{"pexpireat", "k", ms(T + 100_000)}}},
		{"pexpireat kept", [][]string{k}, str("pexpireat", "k", ms(T+5)), [][]string{{"pexpireat", "k", ms(T + 5)}}},
		{"expire gt refused", [][]string{kTTL}, str("expire", "k", "100", "gt"), nil},
		{"expire gt kept", [][]string{kTTL}, str("expire", "k", "300", "GT"), [][]string{{"pexpireat", "k", ms(T + 300_000), "GT"}}},
		{"expire past", [][]string{k}, str("expire", "k", "-1"), [][]string{{"del", "k"}}},
		{"pexpireat past", [][]string{k}, str("pexpireat", "k", "1"), [][]string{{"del", "k"}}},
		{"expire missing", nil, str("expire", "k", "10"), nil},
		{"persist no ttl", [][]string{k}, str("persist", "k"), nil},
		{"persist", [][]string{kTTL}, str("persist", "k"), [][]string{{"persist", "k"}}},
		{"set ex", nil, str("set", "k", "v", "EX", "10"), [][]string{{"set", "k", "v", "pxat", ms(T + 10_000)}}},
		{"set px get xx", [][]string{k}, str("set", "k", "w", "XX", "GET", "PX", "5"), [][]string{{"set", "k", "w", "pxat", ms(T + 5)}}},
		{"set exat", nil, str("set", "k", "v", "exat", ms(T/1000+7)), [][]string{{"set", "k", "v", "pxat", ms(T + 7000)}}},
		{"set pxat kept", nil, str("set", "k", "v", "pxat", ms(T+7)), [][]string{{"set", "k", "v", "pxat", ms(T + 7)}}},
		{"set plain", nil, str("set", "k", "v"), [][]string{{"set", "k", "v"}}},
		{"set keepttl", [][]string{kTTL}, str("set", "k", "w", "keepttl"), [][]string{{"set", "k", "w", "keepttl"}}},
		{"set nx existing", [][]string{k}, str("set", "k", "w", "NX", "EX", "10"), nil},
		{"set xx missing", nil, str("set", "k", "w", "XX"), nil},
		{"setnx existing", [][]string{k}, str("setnx", "k", "w"), nil},
		{"msetnx existing", [][]string{k}, str("msetnx", "j", "1", "k", "2"), nil},
		{"setex", nil, str("setex", "k", "10", "v"), [][]string{{"set", "k", "v", "pxat", ms(T + 10_000)}}},
		{"psetex", nil, str("psetex", "k", "10", "v"), [][]string{{"set", "k", "v", "pxat", ms(T + 10)}}},
		{"getex ex", [][]string{k}, str("getex", "k", "EX", "10"), [][]string{{"pexpireat", "k", ms(T + 10_000)}}},
		{"getex pxat", [][]string{k}, str("getex", "k", "PXAT", ms(T+10)), [][]string{{"pexpireat", "k", ms(T + 10)}}},
		{"getex persist", [][]string{kTTL}, str("getex", "k", "PERSIST"), [][]string{{"persist", "k"}}},
		{"getex persist no ttl", [][]string{k}, str("getex", "k", "PERSIST"), nil},
		{"getex past", [][]string{k}, str("getex", "k", "EXAT", "1"), [][]string{{"del", "k"}}},
		{"getex plain", [][]string{kTTL}, str("getex", "k"), nil},
		{"getex missing", nil, str("getex", "k", "EX", "10"), nil},
		{"getdel", [][]string{k}, str("getdel", "k"), [][]string{{"del", "k"}}},
		{"getdel missing", nil, str("getdel", "k"), nil},
		{"incrbyfloat", [][]string{str("set", "k", "1")}, str("incrbyfloat", "k", "1.5"), [][]string{{"set", "k", "2.5", "keepttl"}}},
		{"incrbyfloat missing", nil, str("incrbyfloat", "k", "0.1"), [][]string{{"set", "k", "0.1", "keepttl"}}},
		{"hincrbyfloat", [][]string{str("hset", "h", "f", "1")}, str("hincrbyfloat", "h", "f", "0.25"), [][]string{{"hset", "h", "f", "1.25"}}},
		{"del missing", nil, str("del", "k"), nil},
		{"del some", [][]string{k}, str("del", "k", "missing"), [][]string{{"del", "k", "missing"}}},
		{"sadd nothing new", [][]string{str("sadd", "s", "a")}, str("sadd", "s", "a"), nil},
		{"srem missing member", [][]string{str("sadd", "s", "a")}, str("srem", "s", "b"), nil},
		{"zadd nx existing", [][]string{zs}, str("zadd", "z", "nx", "5", "a"), nil},
		{"hdel missing field", [][]string{str("hset", "h", "f", "1")}, str("hdel", "h", "g"), nil},
		{"lrem none", [][]string{list}, str("lrem", "l", "0", "x"), nil},
		{"linsert no pivot", [][]string{list}, str("linsert", "l", "before", "x", "y"), nil},
		{"setrange empty", [][]string{k}, str("setrange", "k", "0", ""), nil},
		{"setbit same", [][]string{str("setbit", "b", "3", "1")}, str("setbit", "b", "3", "1"), nil},
		{"setbit converts int", [][]string{str("set", "b", "1")}, str("setbit", "b", "3", "1"), [][]string{{"setbit", "b", "3", "1"}}},
		{"setbit unchanged raw", [][]string{str("setbit", "b", "3", "1")}, str("setbit", "b", "3", "1"), nil},
		{"bitfield get converts", [][]string{str("set", "b", "12")}, str("bitfield", "b", "get", "u8", "0", "set", "u8", "0", "49"), [][]string{{"bitfield", "b", "get", "u8", "0", "set", "u8", "0", "49"}}},
		{"zremrangebylex", [][]string{str("zadd", "z", "0", "a", "0", "b", "0", "c")}, str("zremrangebylex", "z", "[a", "(c"), [][]string{{"zrem", "z", "a", "b"}}},
		{"zremrangebylex none", [][]string{zs}, str("zremrangebylex", "z", "[x", "[y"), nil},
		{"zrangestore bylex", [][]string{str("zadd", "z", "0", "a", "0", "b", "0", "c")}, str("zrangestore", "d", "z", "[a", "[b", "bylex"),
			[][]string{{"del", "d"}, {"zadd", "d", "0", "a", "0", "b"}}},
		{"zrangestore bylex empty", [][]string{zs, str("set", "d", "x")}, str("zrangestore", "d", "z", "[x", "[y", "bylex"), [][]string{{"del", "d"}}},
		{"zrangestore bylex nothing", [][]string{zs}, str("zrangestore", "d", "z", "[x", "[y", "bylex"), nil},
		{"zrangestore byscore kept", [][]string{zs}, str("zrangestore", "d", "z", "1", "2", "byscore"), [][]string{{"zrangestore", "d", "z", "1", "2", "byscore"}}},
		{"blpop served", [][]string{list}, str("blpop", "missing", "l", "0"), [][]string{{"lpop", "l"}}},
		{"brpop served", [][]string{list}, str("brpop", "l", "1.5"), [][]string{{"rpop", "l"}}},
		{"blmove served", [][]string{list}, str("blmove", "l", "d", "LEFT", "RIGHT", "0"), [][]string{{"lmove", "l", "d", "LEFT", "RIGHT"}}},
		{"brpoplpush served", [][]string{list}, str("brpoplpush", "l", "d", "0"), [][]string{{"lmove", "l", "d", "RIGHT", "LEFT"}}},
		{"blmove wrong dest", [][]string{list, str("set", "d", "x")}, str("blmove", "l", "d", "LEFT", "RIGHT", "0"), nil},
		{"blmpop served", [][]string{list}, str("blmpop", "0", "2", "missing", "l", "RIGHT", "COUNT", "2"), [][]string{{"rpop", "l", "2"}}},
		{"blmpop default count", [][]string{list}, str("blmpop", "0", "1", "l", "LEFT"), [][]string{{"lpop", "l", "1"}}},
		{"bzpopmin served", [][]string{zs}, str("bzpopmin", "z", "0"), [][]string{{"zpopmin", "z", "1"}}},
		{"bzpopmax served", [][]string{zs}, str("bzpopmax", "missing", "z", "0"), [][]string{{"zpopmax", "z", "1"}}},
		{"bzmpop served", [][]string{zs}, str("bzmpop", "0", "1", "z", "MAX", "COUNT", "2"), [][]string{{"zpopmax", "z", "2"}}},
		{"spop all", [][]string{str("sadd", "s", "1", "2", "3")}, str("spop", "s", "5"), [][]string{{"del", "s"}}},
		{"spop zero", [][]string{str("sadd", "s", "1", "2", "3")}, str("spop", "s", "0"), nil},
		{"spop missing", nil, str("spop", "s"), nil},
		{"sort list store kept", [][]string{str("rpush", "l", "3", "1", "2")}, str("sort", "l", "store", "d"), [][]string{{"sort", "l", "store", "d"}}},
		{"sort set store rewritten", [][]string{str("sadd", "s", "b", "a", "c"), str("set", "w_a", "1"), str("set", "w_b", "1")},
			str("sort", "s", "by", "w_*", "alpha", "store", "d"), nil /* checked below from the stored list */},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			kt, log := newEffectTester(t)
			for _, s := range c.setup {
				kt.do(s...)
			}
			log.take()
			reply := kt.do(c.cmd...)
			got := log.take()
			if c.name == "sort set store rewritten" {
				stored := strs(kt.reply("lrange", "d", "0", "-1"))
				want := [][]string{{"del", "d"}, append([]string{"rpush", "d"}, stored...)}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("effects %q, want %q", got, want)
				}
				return
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("%q (reply %q): effects %q, want %q", c.cmd, reply, got, c.want)
			}
		})
	}
}

// TestEffectsSPop checks SPOP's effects against the members it returned:
// SREM of them, or when most of the set goes, DEL and SADD of what is left
// with the key's deadline.
func TestEffectsSPop(t *testing.T) {
	kt, log := newEffectTester(t)
	kt.do("sadd", "s", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p")
	log.take()
	m := string(kt.reply("spop", "s").Str)
	if got := log.take(); fmt.Sprint(got) != fmt.Sprint([][]string{{"srem", "s", m}}) {
		t.Errorf("spop: effects %q, want srem s %s", got, m)
	}
	popped := strs(kt.reply("spop", "s", "2"))
	if got := log.take(); len(got) != 1 || fmt.Sprint(got[0]) != fmt.Sprint(append([]string{"srem", "s"}, popped...)) {
		t.Errorf("spop s 2 = %q: effects %q", popped, got)
	}
	kt.do("pexpire", "s", "5000")
	log.take()
	kt.reply("spop", "s", "12") // of 13 members: most go, one is kept
	left := strs(kt.reply("smembers", "s"))
	want := [][]string{{"del", "s"}, append([]string{"sadd", "s"}, left...), {"pexpireat", "s", strconv.FormatInt(1_700_000_005_000, 10)}}
	if got := log.take(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("spop s 12: effects %q, want %q", got, want)
	}
}

// TestEffectsReplay is invariant 3 at the command level: a seeded random
// stream of writes and reads over every type runs on keyspace A while its
// clock advances; the effects A logged are then replayed through Exec into
// a fresh keyspace B, and A and B must hold the same keys with the same
// types, values, encodings and deadlines. B's clock stays at the stream's
// start during the replay, so no key expires there: a replay must get the
// same result however late it runs (Redis expires nothing while loading;
// keys that expired in A are logged as the DEL Redis propagates for them,
// from memtier's OnExpired hook, as the server does). Set EFFECTS_SEED to
// rerun a seed, EFFECTS_STEPS for a longer stream.
func TestEffectsReplay(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("EFFECTS_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("EFFECTS_SEED %q: %v", s, err)
		}
		seed = n
	}
	t.Logf("seed %d (EFFECTS_SEED=%d to rerun)", seed, seed)
	steps := 4000
	if testing.Short() {
		steps = 1000
	}
	if s := os.Getenv("EFFECTS_STEPS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("EFFECTS_STEPS %q: %v", s, err)
		}
		steps = n
	}
	a, log := newEffectTester(t)
	start := a.clock.NowMs()
	a.ks.OnExpired = func(db *memtier.DB, key string) {
		log.add(db.ID(), [][]byte{[]byte("del"), []byte(key)})
	}
	g := &streamGen{r: rand.New(rand.NewPCG(seed, seed^0x5eed)), kt: a}
	// EFFECTS_LOCKSTEP=1 replays each step's effects at once into a
	// keyspace with A's clock and compares after every step, to find the
	// first command whose effects diverge.
	var lock *keyTester
	if os.Getenv("EFFECTS_LOCKSTEP") != "" {
		lock = newKeyTester(t)
	}
	replayed := 0
	for i := 0; i < steps; i++ {
		a.clock.Advance(time.Duration(g.r.IntN(40)) * time.Millisecond)
		a.ctx.Session.DB = g.r.IntN(3)
		args := g.next()
		if args == nil {
			continue
		}
		a.do(args...)
		if a.ctx.Blocked != nil {
			t.Fatalf("step %d: %q blocked", i, args)
		}
		if lock != nil {
			lock.clock.Advance(time.Duration(a.clock.NowMs()-lock.clock.NowMs()) * time.Millisecond)
			for _, e := range log.effects[replayed:] {
				lock.ctx.Session.DB = e.DB
				t.Logf("step %d %q: effect %q", i, args, effectStrings(e))
				lock.do(effectStrings(e)...)
			}
			replayed = len(log.effects)
			db := a.ctx.Session.DB
			compareKeyspaces(t, a, lock)
			a.ctx.Session.DB = db
			if t.Failed() {
				t.Fatalf("step %d: %q diverged", i, args)
			}
		}
	}
	a.ks.OnExpired = nil
	effects := slices.Clone(log.effects)
	t.Logf("%d commands, %d effects", steps, len(effects))

	b := newKeyTester(t)
	if b.clock.NowMs() != start {
		t.Fatalf("B's clock starts at %d, A's at %d", b.clock.NowMs(), start)
	}
	for i, e := range effects {
		b.ctx.Session.DB = e.DB
		if reply := b.do(effectStrings(e)...); strings.HasPrefix(reply, "-") {
			t.Fatalf("effect %d %q (db %d) replayed with %q", i, effectStrings(e), e.DB, reply)
		}
	}
	b.clock.Advance(time.Duration(a.clock.NowMs()-start) * time.Millisecond)
	compareKeyspaces(t, a, b)
}

// compareKeyspaces requires a and b to hold the same keys in databases 0-2,
// read through the commands.
func compareKeyspaces(t *testing.T, a, b *keyTester) {
	t.Helper()
	keys := 0
	for db := 0; db < 3; db++ {
		a.ctx.Session.DB, b.ctx.Session.DB = db, db
		ka, kb := sortedStrs(a.reply("keys", "*")), sortedStrs(b.reply("keys", "*"))
		if fmt.Sprint(ka) != fmt.Sprint(kb) {
			t.Fatalf("db %d: keys\n A %q\n B %q", db, ka, kb)
		}
		for _, k := range ka {
			keys++
			da, db2 := dumpKey(a, k), dumpKey(b, k)
			if da == db2 {
				continue
			}
			// INCRBYFLOAT stores its sum as a plain string and is logged as
			// SET, which int-encodes an integral value: Redis's replicas and
			// AOF reloads differ from the master the same way.
			if strings.Replace(da, "encoding embstr", "encoding int", 1) == db2 {
				continue
			}
			t.Errorf("db %d key %q:\n A %s\n B %s", db, k, clip(da), clip(db2))
		}
	}
	t.Logf("%d keys compared", keys)
}

// clip shortens a key's description for a failure message.
func clip(s string) string {
	if len(s) > 2000 {
		return s[:2000] + "..."
	}
	return s
}

func sortedStrs(v resp.Value) []string {
	s := strs(v)
	slices.Sort(s)
	return s
}

// dumpKey describes key through the read commands: type, encoding,
// deadline and full content (sorted where the type has no order).
func dumpKey(kt *keyTester, key string) string {
	typ := string(kt.reply("type", key).Str)
	enc := string(kt.reply("object", "encoding", key).Str)
	ttl := kt.reply("pexpiretime", key).Int
	var content []string
	switch typ {
	case "string":
		content = []string{string(kt.reply("get", key).Str)}
	case "list":
		content = strs(kt.reply("lrange", key, "0", "-1"))
	case "set":
		content = sortedStrs(kt.reply("smembers", key))
	case "hash":
		v := strs(kt.reply("hgetall", key))
		pairs := make([]string, 0, len(v)/2)
		for i := 0; i+1 < len(v); i += 2 {
			pairs = append(pairs, v[i]+"="+v[i+1])
		}
		slices.Sort(pairs)
		content = pairs
	case "zset":
		content = strs(kt.reply("zrange", key, "0", "-1", "withscores"))
	}
	return fmt.Sprintf("type %s encoding %s expiretime %d %q", typ, enc, ttl, content)
}

// streamGen draws random commands over a small set of keys per type, so
// that commands meet existing keys, wrong types, expiries and encoding
// conversions.
type streamGen struct {
	r  *rand.Rand
	kt *keyTester
}

func (g *streamGen) pick(opts ...string) string { return opts[g.r.IntN(len(opts))] }

func (g *streamGen) key(prefix string) string {
	if g.r.IntN(20) == 0 { // sometimes another type's key: WRONGTYPE
		prefix = g.pick("s", "l", "h", "S", "z")
	}
	return prefix + strconv.Itoa(g.r.IntN(4))
}

// member is a small integer (intsets, listpack integers) or a word.
func (g *streamGen) member() string {
	if g.r.IntN(2) == 0 {
		return strconv.Itoa(g.r.IntN(30))
	}
	return g.pick("a", "b", "c", "d", "e", "f", "g", "h", "ii", "jj", strings.Repeat("x", 70))
}

func (g *streamGen) members(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = g.member()
	}
	return out
}

func (g *streamGen) num() string { return strconv.Itoa(g.r.IntN(21) - 10) }

// ttl is a relative time in ms that often passes within the stream.
func (g *streamGen) ttl() string { return strconv.Itoa(1 + g.r.IntN(3000)) }

func (g *streamGen) nowMs() int64 { return g.kt.clock.NowMs() }

func (g *streamGen) exists(key string) bool { return g.kt.reply("exists", key).Int == 1 }

// next returns the next command, or nil to skip a step (a blocking
// command whose first key is missing would block).
func (g *streamGen) next() []string {
	c := func(args ...string) []string { return args }
	cat := func(head []string, tail ...string) []string { return append(head, tail...) }
	switch g.r.IntN(18) {
	case 0, 1: // strings
		k := g.key("s")
		switch g.r.IntN(16) {
		case 0:
			return c("set", k, g.member())
		case 1:
			opts := c("set", k, g.member())
			switch g.r.IntN(6) {
			case 0:
				opts = append(opts, "EX", strconv.Itoa(1+g.r.IntN(3)))
			case 1:
				opts = append(opts, "PX", g.ttl())
			case 2:
				opts = append(opts, "PXAT", strconv.FormatInt(g.nowMs()+int64(g.r.IntN(4000))-500, 10))
			case 3:
				opts = append(opts, "EXAT", strconv.FormatInt(g.nowMs()/1000+int64(g.r.IntN(4)), 10))
			case 4:
				opts = append(opts, "KEEPTTL")
			}
			if g.r.IntN(3) == 0 {
				opts = append(opts, g.pick("NX", "XX"))
			}
			if g.r.IntN(3) == 0 {
				opts = append(opts, "GET")
			}
			return opts
		case 2:
			return c(g.pick("setex", "psetex"), k, strconv.Itoa(1+g.r.IntN(3)), g.member())
		case 3:
			return c("setnx", k, g.member())
		case 4:
			return c("getset", k, g.member())
		case 5:
			return c("getdel", k)
		case 6:
			switch g.r.IntN(5) {
			case 0:
				return c("getex", k, "EX", "2")
			case 1:
				return c("getex", k, "PX", g.ttl())
			case 2:
				return c("getex", k, "PXAT", strconv.FormatInt(g.nowMs()+int64(g.r.IntN(4000))-1000, 10))
			case 3:
				return c("getex", k, "PERSIST")
			}
			return c("getex", k)
		case 7:
			return c("append", k, g.member())
		case 8:
			return c(g.pick("incr", "decr"), k)
		case 9:
			return c(g.pick("incrby", "decrby"), k, g.num())
		case 10:
			return c("incrbyfloat", k, g.pick("0.5", "1.25", "-3", "1e3", "0.1"))
		case 11:
			return c("setrange", k, strconv.Itoa(g.r.IntN(10)), g.member())
		case 12:
			return c(g.pick("mset", "msetnx"), k, g.member(), g.key("s"), g.member())
		case 13:
			return c("setbit", k, strconv.Itoa(g.r.IntN(64)), g.pick("0", "1"))
		case 14:
			return c("bitfield", k, "incrby", "u8", strconv.Itoa(8*g.r.IntN(4)), g.num(), "set", "i4", "0", g.num())
		}
		return c("bitop", g.pick("and", "or", "xor"), k, g.key("s"), g.key("s"))
	case 2, 3: // generic
		k := g.key(g.pick("s", "l", "h", "S", "z"))
		switch g.r.IntN(12) {
		case 0:
			return c(g.pick("del", "unlink"), k, g.key(g.pick("s", "l")))
		case 1:
			return cat(c(g.pick("expire", "pexpire"), k, g.ttl()), g.pick("NX", "XX", "GT", "LT"))[:3+g.r.IntN(2)]
		case 2:
			return c("expire", k, strconv.Itoa(g.r.IntN(4)))
		case 3:
			return c("expireat", k, strconv.FormatInt(g.nowMs()/1000+int64(g.r.IntN(4))-1, 10))
		case 4:
			return c("pexpireat", k, strconv.FormatInt(g.nowMs()+int64(g.r.IntN(4000))-1000, 10))
		case 5:
			return c("persist", k)
		case 6:
			return c(g.pick("rename", "renamenx"), k, k[:1]+strconv.Itoa(g.r.IntN(4)))
		case 7:
			args := c("copy", k, k[:1]+strconv.Itoa(g.r.IntN(4)))
			if g.r.IntN(2) == 0 {
				args = append(args, "DB", strconv.Itoa(g.r.IntN(3)))
			}
			if g.r.IntN(2) == 0 {
				args = append(args, "REPLACE")
			}
			return args
		case 8:
			return c("move", k, strconv.Itoa(g.r.IntN(3)))
		case 9:
			if g.r.IntN(20) == 0 {
				return c("swapdb", strconv.Itoa(g.r.IntN(3)), strconv.Itoa(g.r.IntN(3)))
			}
			if g.r.IntN(60) == 0 {
				return c("flushdb")
			}
			return c("ttl", k)
		case 10:
			return c("randomkey")
		}
		return c("scan", "0", "count", "50")
	case 4, 5, 6: // lists
		k := g.key("l")
		switch g.r.IntN(16) {
		case 0, 1:
			return cat(c(g.pick("lpush", "rpush"), k), g.members(1+g.r.IntN(5))...)
		case 2:
			return c(g.pick("lpushx", "rpushx"), k, g.member())
		case 3:
			return c(g.pick("lpop", "rpop"), k)
		case 4:
			return c(g.pick("lpop", "rpop"), k, strconv.Itoa(g.r.IntN(4)))
		case 5:
			return c("lset", k, strconv.Itoa(g.r.IntN(6)-3), g.member())
		case 6:
			return c("linsert", k, g.pick("before", "after"), g.member(), g.member())
		case 7:
			return c("lrem", k, strconv.Itoa(g.r.IntN(5)-2), g.member())
		case 8:
			return c("ltrim", k, strconv.Itoa(g.r.IntN(4)), strconv.Itoa(g.r.IntN(20)-3))
		case 9:
			return c("lmove", k, g.key("l"), g.pick("LEFT", "RIGHT"), g.pick("LEFT", "RIGHT"))
		case 10:
			return c("rpoplpush", k, g.key("l"))
		case 11:
			return c("lmpop", "2", k, g.key("l"), g.pick("LEFT", "RIGHT"), "COUNT", strconv.Itoa(1+g.r.IntN(3)))
		case 12:
			return c("lrange", k, "0", "-1")
		}
		if !g.exists(k) {
			return nil
		}
		switch g.r.IntN(5) {
		case 0:
			return c(g.pick("blpop", "brpop"), k, g.key("l"), "0.01")
		case 1:
			return c("blmove", k, g.key("l"), g.pick("LEFT", "RIGHT"), g.pick("LEFT", "RIGHT"), "0")
		case 2:
			return c("brpoplpush", k, g.key("l"), "0")
		}
		return c("blmpop", "0", "2", k, g.key("l"), g.pick("LEFT", "RIGHT"), "COUNT", strconv.Itoa(1+g.r.IntN(3)))
	case 7, 8, 9: // hashes
		k := g.key("h")
		switch g.r.IntN(9) {
		case 0, 1:
			args := c(g.pick("hset", "hmset"), k)
			for i := g.r.IntN(4); i >= 0; i-- {
				args = append(args, g.member(), g.member())
			}
			return args
		case 2:
			return c("hsetnx", k, g.member(), g.member())
		case 3:
			return c("hdel", k, g.member(), g.member())
		case 4:
			return c("hincrby", k, g.member(), g.num())
		case 5:
			return c("hincrbyfloat", k, g.member(), g.pick("0.5", "1.25", "-3", "0.1"))
		case 6:
			return c("hrandfield", k, "-3", "withvalues")
		case 7:
			return c("hgetall", k)
		}
		return c("hget", k, g.member())
	case 10, 11, 12: // sets
		k := g.key("S")
		switch g.r.IntN(12) {
		case 0, 1:
			return cat(c("sadd", k), g.members(1+g.r.IntN(6))...)
		case 2:
			// Past set-max-intset-entries (512): a hashtable of integers,
			// which SPOP may turn back into an intset.
			args := c("sadd", k)
			for i := 0; i < 600; i++ {
				args = append(args, strconv.Itoa(g.r.IntN(5000)))
			}
			return args
		case 3:
			return cat(c("srem", k), g.members(1+g.r.IntN(3))...)
		case 4:
			return c("spop", k)
		case 5:
			return c("spop", k, strconv.Itoa(g.r.IntN(8)))
		case 6:
			return c("spop", k, strconv.Itoa(300+g.r.IntN(400)))
		case 7:
			return c("smove", k, g.key("S"), g.member())
		case 8:
			return c(g.pick("sinterstore", "sunionstore", "sdiffstore"), g.key("S"), k, g.key("S"))
		case 9:
			return c("srandmember", k, "-3")
		case 10:
			return c("sort", k, "by", g.pick("nosort", "w_*"), "alpha", "limit", "0", strconv.Itoa(g.r.IntN(20)),
				"store", g.key("l"))
		}
		return c("sort", k, "by", "w_*", "get", "#", "get", "w_*", "alpha", "store", g.key("l"))
	case 13:
		if g.r.IntN(2) == 0 {
			return c("set", "w_"+g.member(), strconv.Itoa(g.r.IntN(3)))
		}
		return c("sort", g.key("l"), "alpha", "store", g.key("l"))
	default: // sorted sets
		k := g.key("z")
		switch g.r.IntN(16) {
		case 0, 1:
			args := c("zadd", k)
			if g.r.IntN(3) == 0 {
				args = append(args, g.pick("NX", "XX", "GT", "LT", "CH"))
			}
			for i := g.r.IntN(4); i >= 0; i-- {
				args = append(args, g.pick("1", "2.5", "-1", "0.1", "3", "inf", "-0", "1e300"), g.member())
			}
			return args
		case 2:
			return c("zadd", k, "INCR", g.pick("0.1", "1", "-2.5"), g.member())
		case 3:
			return c("zincrby", k, g.pick("0.1", "1", "-2.5", "1e10"), g.member())
		case 4:
			return c("zrem", k, g.member(), g.member())
		case 5:
			return c("zremrangebyrank", k, strconv.Itoa(g.r.IntN(3)), strconv.Itoa(g.r.IntN(3)))
		case 6:
			return c("zremrangebyscore", k, "-1", g.pick("0", "1", "(2"))
		case 7:
			return c("zremrangebylex", k, "[a", g.pick("[c", "(e"))
		case 8:
			return c(g.pick("zpopmin", "zpopmax"), k, strconv.Itoa(g.r.IntN(3)))
		case 9:
			return c("zmpop", "2", k, g.key("z"), g.pick("MIN", "MAX"), "COUNT", strconv.Itoa(1+g.r.IntN(3)))
		case 10:
			if g.r.IntN(2) == 0 {
				return c("zrangestore", g.key("z"), k, "[a", g.pick("[c", "(jj", "+"), "bylex")
			}
			return c("zrangestore", g.key("z"), k, "0", strconv.Itoa(g.r.IntN(5)))
		case 11:
			return c(g.pick("zunionstore", "zinterstore", "zdiffstore"), g.key("z"), "2", k, g.key("z"))
		case 12:
			return c("zrandmember", k, "-2", "withscores")
		}
		if !g.exists(k) {
			return nil
		}
		switch g.r.IntN(3) {
		case 0:
			return c(g.pick("bzpopmin", "bzpopmax"), k, g.key("z"), "0")
		case 1:
			return c("bzmpop", "0", "2", k, g.key("z"), g.pick("MIN", "MAX"), "COUNT", strconv.Itoa(1+g.r.IntN(3)))
		}
		return c("zrange", k, "0", "-1", "withscores")
	}
}
