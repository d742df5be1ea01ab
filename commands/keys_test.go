package commands

import (
	"strings"
	"testing"
	"time"

	"github.com/structd/structd/internal/resp"
	"github.com/structd/structd/memtier"
)

// keyTester runs commands straight through Exec against a keyspace with a
// manual clock, for what the differential corpus cannot check: exact
// timing, and CLUSTER KEYSLOT (which redis-server refuses outside cluster
// mode).
type keyTester struct {
	t     *testing.T
	ks    *memtier.Keyspace
	clock *memtier.ManualClock
	ctx   Ctx
}

func newKeyTester(t *testing.T) *keyTester {
	clock := memtier.NewManualClock(1_700_000_000_000)
	kt := &keyTester{t: t, ks: memtier.New(16, clock), clock: clock}
	kt.ctx = Ctx{W: &resp.Writer{Proto: 2}, Session: &Session{}, KS: kt.ks}
	return kt
}

// do runs one command and returns its raw RESP reply.
func (kt *keyTester) do(args ...string) string {
	kt.t.Helper()
	cmd := All().Lookup([]byte(args[0]))
	if cmd == nil {
		kt.t.Fatalf("no command %s", args[0])
	}
	if cmd.Subcommands != nil {
		cmd = cmd.Subcommands[strings.ToLower(args[1])]
	}
	if !cmd.ArityOK(len(args)) {
		kt.t.Fatalf("%v: wrong arity", args)
	}
	kt.ctx.Args = kt.ctx.Args[:0]
	for _, a := range args {
		kt.ctx.Args = append(kt.ctx.Args, []byte(a))
	}
	kt.ctx.W.Reset()
	Exec(&kt.ctx, cmd)
	return string(kt.ctx.W.Buf)
}

func (kt *keyTester) expect(want string, args ...string) {
	kt.t.Helper()
	if got := kt.do(args...); got != want {
		kt.t.Errorf("%q = %q, want %q", args, got, want)
	}
}

// The values were read from redis-server 7.0.15 started with
// cluster-enabled yes.
func TestClusterKeySlot(t *testing.T) {
	kt := newKeyTester(t)
	for key, slot := range map[string]string{
		"foo": "12182", "123456789": "12739", "{user1000}.following": "3443",
		"{}": "15257", "{": "4092", "}{": "12793", "{a}{b}": "15495",
		"a{}{b}": "15033", "foo{{bar}}zap": "4015", "": "0", "a{b": "13340",
		"{b}": "3300", "xyz{": "10561",
	} {
		kt.expect(":"+slot+"\r\n", "cluster", "keyslot", key)
	}
}

func TestTTLRoundingWithClock(t *testing.T) {
	kt := newKeyTester(t)
	kt.do("set", "k", "v")
	kt.expect(":1\r\n", "expire", "k", "10")
	kt.clock.Advance(9499 * time.Millisecond)
	kt.expect(":1\r\n", "ttl", "k") // 501 ms left rounds up
	kt.expect(":501\r\n", "pttl", "k")
	kt.clock.Advance(2 * time.Millisecond)
	kt.expect(":0\r\n", "ttl", "k") // 499 ms rounds down
	kt.expect(":499\r\n", "pttl", "k")
	kt.clock.Advance(499 * time.Millisecond)
	kt.expect(":-2\r\n", "ttl", "k")
	kt.expect("$-1\r\n", "get", "k")
	kt.expect(":0\r\n", "dbsize")
}

// A deadline equal to now has passed: EXPIREAT now deletes, as Redis's
// checkAlreadyExpired (when <= now).
func TestExpireAtNowDeletes(t *testing.T) {
	kt := newKeyTester(t)
	kt.do("set", "k", "v")
	kt.expect(":1\r\n", "pexpireat", "k", "1700000000001")
	kt.expect(":1\r\n", "pttl", "k")
	kt.expect(":1\r\n", "pexpireat", "k", "1700000000000")
	kt.expect(":0\r\n", "exists", "k")
}

func TestExpiryHidesKeysFromEveryCommand(t *testing.T) {
	kt := newKeyTester(t)
	kt.do("set", "dead", "v", "px", "100")
	kt.do("set", "live", "v")
	kt.clock.Advance(100 * time.Millisecond)
	kt.expect("*1\r\n$4\r\nlive\r\n", "keys", "*")
	kt.expect("*2\r\n$1\r\n0\r\n*1\r\n$4\r\nlive\r\n", "scan", "0")
	kt.expect("$4\r\nlive\r\n", "randomkey")
	kt.expect(":1\r\n", "exists", "dead", "live")
	kt.expect("+none\r\n", "type", "dead")
	kt.expect(":0\r\n", "touch", "dead")
	kt.expect("$-1\r\n", "object", "encoding", "dead")
}

func TestObjectIdleTimeWithClock(t *testing.T) {
	kt := newKeyTester(t)
	kt.do("set", "k", "hello")
	kt.clock.Advance(10 * time.Second)
	kt.ks.RefreshAccessClock()
	kt.expect(":10\r\n", "object", "idletime", "k")
	kt.do("ttl", "k") // no-touch read
	kt.expect(":10\r\n", "object", "idletime", "k")
	kt.do("touch", "k")
	kt.expect(":0\r\n", "object", "idletime", "k")
}

// Each write that changes keys counts its changes (rdb_changes_since_last_save).
func TestKeyCommandsCountChanges(t *testing.T) {
	kt := newKeyTester(t)
	dirty := func() int64 { return kt.ks.Stats.Dirty.Load() }
	kt.do("set", "a", "1")
	kt.do("set", "b", "1")
	for _, c := range []struct {
		args  []string
		delta int64
	}{
		{[]string{"del", "a", "b", "nokey"}, 2},
		{[]string{"set", "a", "1"}, 1},
		{[]string{"rename", "a", "b"}, 2}, // rename_from, rename_to
		{[]string{"copy", "b", "c", "db", "1"}, 1},
		{[]string{"move", "b", "2"}, 2}, // move_from, move_to
		{[]string{"expire", "nokey", "10"}, 0},
		{[]string{"persist", "nokey"}, 0},
	} {
		before := dirty()
		kt.do(c.args...)
		if got := dirty() - before; got != c.delta {
			t.Errorf("%v changed dirty by %d, want %d", c.args, got, c.delta)
		}
	}
}

func TestParseScanCursor(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0", 0, true}, {"", 0, true}, {"+7", 7, true}, {"-0", 0, true},
		{"-1", 1<<64 - 1, true}, {"18446744073709551615", 1<<64 - 1, true},
		{"18446744073709551616", 0, false}, {"-18446744073709551615", 1, true},
		{" 1", 0, false}, {"1 ", 0, false}, {"1x", 0, false}, {"x", 0, false},
		{"-", 0, false}, {"+", 0, false}, {"5\x00junk", 5, true}, {"\x00", 0, true},
		{"0x1", 0, false}, {"1.0", 0, false},
	} {
		got, ok := parseScanCursor([]byte(c.in))
		if got != c.want || ok != c.ok {
			t.Errorf("parseScanCursor(%q) = %d, %v; want %d, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

// emptyCold is a disk tier holding nothing: it makes a keyspace track
// changes for checkpoints.
type emptyCold struct{}

func (emptyCold) Load(int, []byte) (*memtier.Object, int64, error) { return nil, 0, nil }
func (emptyCold) LoadSlot(int, int, func([]byte, *memtier.Object, int64) bool) error {
	return nil
}
func (emptyCold) Probe(int, []byte) (memtier.Type, int64, bool, error) { return 0, 0, false, nil }
func (emptyCold) SlotKeys(int, int, func([]byte, int64) bool) error    { return nil }
func (emptyCold) SlotCounts(int, func(int, int64, int64) bool) error   { return nil }

// Commands that write only the script catalog front-run no slot of a
// running checkpoint (it captured the catalog at P); FLUSHALL front-runs
// every slot holding changes.
func TestCatalogWritesFrontRunNoSlot(t *testing.T) {
	kt := newKeyTester(t)
	if err := kt.ks.AttachStore(emptyCold{}); err != nil {
		t.Fatal(err)
	}
	kt.do("set", "k", "v")
	asides := 0
	kt.ks.BeginCheckpoint(func(db, slot int, write func(memtier.SlotWriter) error) error {
		asides++
		return nil
	})
	defer kt.ks.EndCheckpoint(false)
	for _, args := range [][]string{
		{"function", "delete", "nolib"}, {"function", "flush"},
		{"script", "alias", "0123456789012345678901234567890123456789", "a"}, {"script", "unalias", "a"},
	} {
		kt.do(args...)
		if asides != 0 {
			t.Fatalf("%v front-ran %d slots", args, asides)
		}
	}
	kt.do("flushall")
	if asides == 0 {
		t.Fatal("FLUSHALL front-ran no slot")
	}
}
