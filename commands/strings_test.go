package commands

import (
	"strconv"
	"strings"
	"testing"

	"github.com/structd/structd/memtier"
)

const wrongType = "-" + ErrWrongType + "\r\n"

// withList returns a key tester whose key "list" holds a list, the case the
// differential corpus cannot build until the collection commands exist.
func withList(t *testing.T) *keyTester {
	kt := newKeyTester(t)
	kt.ks.DB(0).Set([]byte("list"), &memtier.Object{Type: memtier.TypeList, Enc: memtier.EncQuicklist})
	return kt
}

func (kt *keyTester) listIntact() {
	kt.t.Helper()
	if o := kt.ks.DB(0).Peek([]byte("list")); o == nil || o.Type != memtier.TypeList {
		kt.t.Errorf("key list was changed to %+v", o)
	}
}

// The replies were read from redis-server 7.0.15 with "list" made by RPUSH:
// each command checks the arguments it parses before the lookup first.
func TestStringCommandsOnWrongType(t *testing.T) {
	for _, tc := range []struct {
		want string
		args []string
	}{
		{wrongType, []string{"get", "list"}},
		{wrongType, []string{"set", "list", "v", "get"}},
		{wrongType, []string{"set", "list", "v", "nx", "get"}},
		{"-ERR invalid expire time in 'set' command\r\n", []string{"set", "list", "v", "ex", "0", "get"}},
		{":0\r\n", []string{"setnx", "list", "v"}},
		{wrongType, []string{"getset", "list", "v"}},
		{wrongType, []string{"getdel", "list"}},
		{wrongType, []string{"getex", "list", "persist"}},
		{wrongType, []string{"getex", "list", "ex", "0"}},
		{"-ERR syntax error\r\n", []string{"getex", "list", "keepttl"}},
		{wrongType, []string{"append", "list", "x"}},
		{wrongType, []string{"strlen", "list"}},
		{wrongType, []string{"incr", "list"}},
		{wrongType, []string{"decr", "list"}},
		{wrongType, []string{"incrby", "list", "1"}},
		{"-" + ErrNotInteger + "\r\n", []string{"incrby", "list", "abc"}},
		{"-ERR decrement would overflow\r\n", []string{"decrby", "list", "-9223372036854775808"}},
		{wrongType, []string{"incrbyfloat", "list", "abc"}},
		{wrongType, []string{"getrange", "list", "0", "1"}},
		{"-" + ErrNotInteger + "\r\n", []string{"getrange", "list", "a", "b"}},
		{wrongType, []string{"substr", "list", "0", "1"}},
		{wrongType, []string{"setrange", "list", "0", ""}},
		{wrongType, []string{"setrange", "list", "0", "a"}},
		{"-ERR offset is out of range\r\n", []string{"setrange", "list", "-1", "a"}},
		{"*2\r\n$-1\r\n$-1\r\n", []string{"mget", "list", "nokey"}},
		{":0\r\n", []string{"msetnx", "a", "1", "list", "2"}},
		{"-ERR The specified keys must contain string values\r\n", []string{"lcs", "list", "a"}},
		{"-ERR The specified keys must contain string values\r\n", []string{"lcs", "a", "list", "len"}},
		{wrongType, []string{"setbit", "list", "0", "1"}},
		{"-" + errBitOffset + "\r\n", []string{"setbit", "list", "-1", "1"}},
		{"-" + errBitValue + "\r\n", []string{"setbit", "list", "0", "2"}},
		{wrongType, []string{"getbit", "list", "0"}},
		{wrongType, []string{"bitcount", "list", "a", "b"}},
		{wrongType, []string{"bitpos", "list", "1", "a"}},
		{"-" + errBitArg + "\r\n", []string{"bitpos", "list", "2"}},
		{wrongType, []string{"bitop", "not", "d", "list"}},
		{wrongType, []string{"bitop", "and", "d", "a", "list"}},
		{wrongType, []string{"bitfield", "list"}},
		{wrongType, []string{"bitfield", "list", "set", "u8", "0", "1"}},
		{"-ERR syntax error\r\n", []string{"bitfield", "list", "get", "u8", "0", "foo"}},
		{wrongType, []string{"bitfield_ro", "list", "get", "u8", "0"}},
		{"-ERR BITFIELD_RO only supports the GET subcommand\r\n", []string{"bitfield_ro", "list", "set", "u8", "0", "1"}},
	} {
		kt := withList(t)
		kt.expect(tc.want, tc.args...)
		kt.listIntact()
		if o := kt.ks.DB(0).Peek([]byte("a")); o != nil {
			t.Errorf("%q created key a", tc.args)
		}
	}
}

// Writes that replace the value whatever its type.
func TestStringCommandsOverwriteOtherTypes(t *testing.T) {
	for _, args := range [][]string{
		{"set", "list", "v"},
		{"mset", "list", "v"},
		{"setex", "list", "100", "v"},
		{"bitop", "or", "list", "s"},
	} {
		kt := withList(t)
		kt.do("set", "s", "v")
		kt.do(args...)
		kt.expect("$1\r\nv\r\n", "get", "list")
	}
	kt := withList(t)
	kt.expect(":0\r\n", "bitop", "or", "list", "nokey")
	kt.expect(":0\r\n", "exists", "list")
}

// INCR rewrites an int-encoded value in place; the reply and the stored
// value must still be right across digit-count changes.
func TestIncrInPlace(t *testing.T) {
	kt := newKeyTester(t)
	kt.do("set", "n", "8")
	for want := 9; want <= 1002; want++ {
		kt.expect(":"+strconv.Itoa(want)+"\r\n", "incr", "n")
	}
	kt.expect("$4\r\n1002\r\n", "get", "n")
	kt.expect(":-3\r\n", "decrby", "n", "1005")
	kt.expect("$2\r\n-3\r\n", "get", "n")
}

// A write far past proto-max-bulk-len fails before allocating anything.
func TestStringLimitsDoNotAllocate(t *testing.T) {
	kt := newKeyTester(t)
	for _, args := range [][]string{
		{"setrange", "k", "9223372036854775807", "a"},
		{"setrange", "k", "536870912", "a"},
		{"setbit", "k", "4294967296", "1"},
		{"bitfield", "k", "set", "u8", "4294967296", "1"},
	} {
		allocs := testing.AllocsPerRun(5, func() { kt.do(args...) })
		if !strings.HasPrefix(kt.do(args...), "-ERR") || allocs > 8 {
			t.Errorf("%q: reply %q after %v allocations", args, kt.do(args...), allocs)
		}
	}
}

// GET, SET and INCR are the benchmark's hot path: GET and INCR allocate
// nothing, SET only the object and its bytes.
func TestStringHotPathAllocations(t *testing.T) {
	kt := newKeyTester(t)
	kt.do("set", "k", "v")
	kt.do("set", "n", "1")
	for _, tc := range []struct {
		max  float64
		args []string
	}{
		{0, []string{"get", "k"}},
		{2, []string{"set", "k", "value"}},
		{0, []string{"incr", "n"}},
		{4, []string{"mset", "k", "a", "n", "2"}},
	} {
		cmd := All().Lookup([]byte(tc.args[0]))
		args := make([][]byte, len(tc.args))
		for i, a := range tc.args {
			args[i] = []byte(a)
		}
		if n := testing.AllocsPerRun(100, func() {
			kt.ctx.Args = args
			kt.ctx.W.Reset()
			Exec(&kt.ctx, cmd)
		}); n > tc.max {
			t.Errorf("%q: %v allocations, want at most %v", tc.args, n, tc.max)
		}
	}
}

func TestLongDoubleParseAndFormat(t *testing.T) {
	for _, tc := range []struct{ in, out string }{
		// Expected values from redis-server 7.0.15 INCRBYFLOAT on a
		// missing key (x86-64, 80-bit long double).
		{"0.1", "0.1"},
		{"10.5", "10.5"},
		{"3.0e3", "3000"},
		{"5.0e-5", "0.00005"},
		{"1.23e+20", "123000000000000000000"},
		{"-0", "0"},
		{"-0.0000000000000000001", "0"},
		{"1.5e-17", "0.00000000000000002"},
		{"2.5e-17", "0.00000000000000002"},
		{"0x1p-18", "0.00000381469726562"},
		{"0x10", "16"},
		{"0X.8P1", "1"},
		{"1.", "1"},
		{"+.5", "0.5"},
		{"3.14159265358979323846264338327950288", "3.14159265358979324"},
		{"1e300", "1000000000000000000008997324079559193870523944273290747938260082321265646596180935755849152083750497190350372508614274835903592556184672983913096260520748646287327135641843653294084255107606016789726652932370030551382947620994540294772781889620606179267611627097410650567187386105690089424915104006144"},
		{"1e-4950", "0"},
	} {
		x, ok := parseLongDouble([]byte(tc.in))
		if !ok {
			t.Errorf("parse %q failed", tc.in)
			continue
		}
		if got := string(x.appendHuman(nil)); got != tc.out {
			t.Errorf("%q formats as %q, want %q", tc.in, got, tc.out)
		}
	}
	for _, in := range []string{
		"", " 1", "1 ", "\t1", "abc", "1e", "1e+", ".", "1.2.3", "--1", "1\x00",
		"nan", "-nan", "NaN", "0x", "0x1p", "0xg", "1e5000", "-1e5000", "1e-5000",
		"0x1p-16446", strings.Repeat("1", maxLongDoubleChars),
	} {
		if _, ok := parseLongDouble([]byte(in)); ok {
			t.Errorf("parse %q succeeded", in)
		}
	}
}

func TestLongDoubleAdd(t *testing.T) {
	for _, tc := range []struct{ a, b, sum string }{
		{"0.1", "0.2", "0.3"}, // 0.30000000000000004 in float64
		{"1.1", "2.2", "3.3"},
		{"10.5", "-10.5", "0"},
		{"9007199254740993", "1", "9007199254740994"},
		{"18446744073709551615", "1", "18446744073709551616"},
		{"1e308", "1e308", "199999999999999999993371759311691291321120199694831134415594095989843469737676123744200253843777078640893494450108026446304269499187921167194841628860392837535918200039206381557326219209014213335878306791577877829121087126122536729803237260434173178506889763247582601711514636284849020905456510092687857156096"},
	} {
		a, _ := parseLongDouble([]byte(tc.a))
		b, _ := parseLongDouble([]byte(tc.b))
		s, ok := a.add(b)
		if got := string(s.appendHuman(nil)); !ok || got != tc.sum {
			t.Errorf("%s + %s = %q (ok %v), want %q", tc.a, tc.b, got, ok, tc.sum)
		}
	}
	for _, tc := range [][2]string{{"inf", "1"}, {"1", "-inf"}, {"inf", "-inf"}, {"1.18973149535723176502e+4932", "1e4932"}} {
		a, _ := parseLongDouble([]byte(tc[0]))
		b, _ := parseLongDouble([]byte(tc[1]))
		if _, ok := a.add(b); ok {
			t.Errorf("%s + %s should be refused", tc[0], tc[1])
		}
	}
}

func TestClampRange(t *testing.T) {
	const minInt, maxInt = -1 << 63, 1<<63 - 1
	for _, tc := range []struct {
		start, end, n, from, to int64
		ok                      bool
	}{
		{0, -1, 5, 0, 4, true},
		{-3, -1, 5, 2, 4, true},
		{-1, -3, 5, 0, 0, false},
		{10, 20, 5, 0, 0, false},
		{-100, 2, 5, 0, 2, true},
		{minInt, maxInt, 3, 0, 2, true},
		{maxInt, minInt, 3, 0, 0, false},
		{0, 0, 0, 0, 0, false},
	} {
		from, to, ok := clampRange(tc.start, tc.end, tc.n)
		if from != tc.from || to != tc.to || ok != tc.ok {
			t.Errorf("clampRange(%d, %d, %d) = %d, %d, %v", tc.start, tc.end, tc.n, from, to, ok)
		}
	}
}
