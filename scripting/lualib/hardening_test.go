package lualib

import (
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
)

// callScript runs script in a fresh state and returns its error, failing the
// test when the error is a Go panic rather than a Lua error.
func callScript(t *testing.T, script string) (lua.LValue, error) {
	t.Helper()
	L := lua.NewState(testStateOptions)
	defer L.Close()
	Open(L)
	err := L.DoString(script)
	var apiErr *lua.ApiError
	if errors.As(err, &apiErr) && apiErr.Type == lua.ApiErrorPanic {
		t.Fatalf("Go panic: %v\n%s", apiErr.Object, apiErr.StackTrace)
	}
	if err != nil {
		return lua.LNil, err
	}
	return L.Get(-1), nil
}

// allocated returns the bytes fn allocated.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestHistoricalBugsAreErrors feeds the inputs behind Redis's Lua library
// CVEs and the unbounded cases gopher-lua adds: each must end in a Lua error
// (never a panic or a hang) having allocated little.
func TestHistoricalBugsAreErrors(t *testing.T) {
	defer func(old int) { MaxOutputBytes = old }(MaxOutputBytes)
	MaxOutputBytes = 1 << 20
	cases := []struct {
		name, script, wantErr string
	}{
		{"cmsgpack nesting (CVE-2018-11218)", `return cmsgpack.unpack(string.rep('\145', 200000) .. '\192')`,
			"stack overflow (in function mp_decode_to_lua_array)"},
		{"cmsgpack map nesting", `return cmsgpack.unpack(string.rep('\129', 200000) .. '\1')`, "stack overflow"},
		{"cmsgpack too many values (CVE-2018-11219)", `return cmsgpack.unpack(string.rep('\192', 100000))`,
			"use unpack_one or unpack_limit instead"},
		{"cmsgpack array32 claim", `return cmsgpack.unpack('\221\255\255\255\255')`, "Missing bytes in input."},
		{"cmsgpack str32 claim", `return cmsgpack.unpack('\219\255\255\255\255')`, "Missing bytes in input."},
		{"cmsgpack sparse key makes gopher-lua fill its array part", `return cmsgpack.unpack('\129\206\3\255\255\255\1')`,
			"too sparse to decode"},
		{"cmsgpack many sparse keys", `return cmsgpack.unpack(string.rep('\129\205\255\255\1', 1000))`, "too sparse to decode"},
		{"cmsgpack wide self reference", `local t = {} for i = 1, 8 do t[i] = t end return cmsgpack.pack(t)`,
			"MessagePack pack output larger than 1048576 bytes"},
		{"cjson shared subtables", `local t = {} for i = 1, 60 do t = {t, t} end return cjson.encode(t)`,
			"Cannot serialise, output larger than 1048576 bytes"},
		{"cjson sparse array allowed by the settings", `cjson.encode_sparse_array(false, 0) return cjson.encode({[1e8] = 1})`,
			"Cannot serialise, output larger than"},
		{"cjson decode nesting", `return cjson.decode(string.rep('[', 200000))`, "Found too many nested data structures (1001)"},
		{"cjson decode nesting past the C stack", `cjson.decode_max_depth(1e9) return cjson.decode(string.rep('[', 200000))`,
			"Found too many nested data structures (7999)"},
		{"cjson encode self reference", `local t = {} t.a = t return cjson.encode(t)`, "excessive nesting (1001)"},
		{"struct integral size overflow (CVE-2020-14147)", `return struct.pack('i99999999999999999999', 1)`, "integral size overflow"},
		{"struct huge c in pack", `return struct.pack('c2147483647', 'a')`, "string too short"},
		{"struct huge c in unpack", `return struct.unpack('c2147483647', 'a')`, "data string too short"},
		{"struct c0 from a huge count", `return struct.unpack('Ic0', '\255\255\255\255abc')`, "data string too short"},
		{"struct huge alignment", `return struct.pack('!1073741824 b d', 1, 2)`, ""},
		{"struct many results", `return struct.unpack(string.rep('b', 100000), string.rep('\0', 100000))`, "stack overflow (too many results)"},
		{"struct size overflow", `return struct.size('c99999999999')`, "integral size overflow"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			n := allocated(func() { _, err = callScript(t, c.script) })
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("error: %v", err)
				}
			} else if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, c.wantErr)
			}
			if n > 256<<20 {
				t.Errorf("allocated %d MB", n>>20)
			}
		})
	}
}

// TestBitTohexIntMin is the historical crash: negating INT32_MIN digits.
func TestBitTohexIntMin(t *testing.T) {
	v, err := callScript(t, `return bit.tohex(65535, -2147483648) .. bit.tohex(-1, -2147483648)`)
	if err != nil || v.String() != "0000FFFFFFFFFFFF" {
		t.Fatalf("got %v, %v", v, err)
	}
}

// TestTablesMayBeReadOnly checks that the functions work without their
// tables: the engine protects the tables, so nothing may be read back.
func TestTablesMayBeReadOnly(t *testing.T) {
	v, err := callScript(t, `
local null, enc, dec, new = cjson.null, cjson.encode, cjson.decode, cjson.new
local prec, pack, unpack = cjson.encode_number_precision, cmsgpack.pack, cmsgpack.unpack
local band, spack = bit.band, struct.pack
for _, lib in ipairs({cjson, cmsgpack, bit, struct}) do
  for k in pairs(lib) do lib[k] = nil end
end
prec(3)
local other = new()
return table.concat({tostring(dec('null') == null), enc({1/3, null}), other.encode(1/3),
  tostring(other.decode('[null]')[1] == null), unpack(pack('x')), band(7, 3), spack('>h', 1)}, ' ')`)
	if err != nil {
		t.Fatal(err)
	}
	if want := "true [0.333,null] 0.33333333333333 true x 3 \x00\x01"; v.String() != want {
		t.Fatalf("got %q, want %q", v.String(), want)
	}
}

// TestOpenEach checks that each library opens alone as its global.
func TestOpenEach(t *testing.T) {
	for name, open := range map[string]func(*lua.LState){
		"cjson": OpenCJSON, "cmsgpack": OpenCMsgpack, "bit": OpenBit, "struct": OpenStruct,
	} {
		L := lua.NewState()
		open(L)
		for _, other := range []string{"cjson", "cmsgpack", "bit", "struct"} {
			_, isTable := L.GetGlobal(other).(*lua.LTable)
			if isTable != (other == name) {
				t.Errorf("Open%s: global %s is a table: %v", name, other, isTable)
			}
		}
		L.Close()
	}
}

// runFuzzCall calls lib.fn with args in a fresh state: it may fail with a Lua
// error, never with a Go panic.
func runFuzzCall(t *testing.T, lib, fn string, args ...lua.LValue) {
	L := lua.NewState(testStateOptions)
	defer L.Close()
	Open(L)
	f := L.GetField(L.GetGlobal(lib), fn)
	err := L.CallByParam(lua.P{Fn: f, NRet: lua.MultRet, Protect: true}, args...)
	var apiErr *lua.ApiError
	if errors.As(err, &apiErr) && apiErr.Type == lua.ApiErrorPanic {
		t.Fatalf("%s.%s panicked: %v\n%s", lib, fn, apiErr.Object, apiErr.StackTrace)
	}
}

func FuzzCMsgpackUnpack(f *testing.F) {
	for _, s := range []string{"\x93\x01\xc0\x03", "\x81\xa1a\x05", "\xdd\xff\xff\xff\xff", "\xcf\xff\xff\xff\xff\xff\xff\xff\xff",
		"\x81\xc0\x01", "\x81\xce\x03\xff\xff\xff\x01", "\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00", "\xd9\x03abc", "\xc1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		runFuzzCall(t, "cmsgpack", "unpack", lua.LString(s))
		runFuzzCall(t, "cmsgpack", "unpack_one", lua.LString(s), lua.LNumber(len(s)/2))
		runFuzzCall(t, "cmsgpack", "unpack_limit", lua.LString(s), lua.LNumber(2), lua.LNumber(1))
	})
}

func FuzzCJSONDecode(f *testing.F) {
	for _, s := range []string{`{"a":[1,2,{"b":null}]}`, `"\ud83d\ude00"`, `[1e400, -0x10, +1, nan, Infinity]`,
		`"\u12"`, `[[[[[`, "\x00[", `{"a" 1}`, `"abc`, `0x`, `-`, `1e`, `"\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		runFuzzCall(t, "cjson", "decode", lua.LString(s))
	})
}

func FuzzStruct(f *testing.F) {
	for _, c := range [][2]string{{">i4", "\x00\x00\x01\x00"}, {"b c0", "\x03abcdef"}, {"!8 b d", strings.Repeat("\x01", 16)},
		{"s", "hi"}, {"i16", strings.Repeat("\xff", 16)}, {"c99999999999", "a"}, {"!3", ""}, {"Ic0", "\xff\xff\xff\xffa"}} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, format, data string) {
		runFuzzCall(t, "struct", "unpack", lua.LString(format), lua.LString(data))
		runFuzzCall(t, "struct", "size", lua.LString(format))
		runFuzzCall(t, "struct", "pack", lua.LString(format), lua.LNumber(len(data)), lua.LString(data), lua.LNumber(-1.5))
	})
}

func FuzzBit(f *testing.F) {
	f.Add(65535.0, -2147483648.0)
	f.Add(1e300, 1.5)
	f.Fuzz(func(t *testing.T, x, n float64) {
		for _, fn := range []string{"tohex", "band", "lshift", "arshift", "rol", "ror", "tobit", "bswap"} {
			runFuzzCall(t, "bit", fn, lua.LNumber(x), lua.LNumber(n))
		}
	})
}

// TestNextOrderIsAPermutation checks on random tables that NextOrder lists
// every key exactly once, whatever the mix of key types and sizes.
func TestNextOrderIsAPermutation(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	L := lua.NewState()
	defer L.Close()
	for round := 0; round < 500; round++ {
		tb := L.NewTable()
		n := rng.IntN(200)
		for i := 0; i < n; i++ {
			var k lua.LValue
			switch rng.IntN(6) {
			case 0:
				k = lua.LNumber(rng.IntN(300) + 1)
			case 1:
				k = lua.LNumber(rng.NormFloat64() * 1e6)
			case 2:
				k = lua.LBool(rng.IntN(2) == 0)
			case 3:
				k = L.NewTable()
			default:
				k = lua.LString(strconv.Itoa(rng.IntN(1000)))
			}
			tb.RawSet(k, lua.LNumber(i))
		}
		want := map[lua.LValue]bool{}
		tb.ForEach(func(k, _ lua.LValue) { want[k] = true })
		got := NextOrder(tb)
		seen := map[lua.LValue]bool{}
		for _, k := range got {
			if seen[k] || !want[k] {
				t.Fatalf("round %d: key %v listed twice or not in the table", round, k)
			}
			seen[k] = true
		}
		if len(seen) != len(want) {
			t.Fatalf("round %d: %d keys listed, table has %d", round, len(seen), len(want))
		}
	}
}

// TestFormatAndParseNumber pins the exported number helpers to Lua 5.1's
// results in redis-server 7.0.15 (tostring(x) and tonumber(s) there).
func TestFormatAndParseNumber(t *testing.T) {
	for _, c := range []struct {
		f    float64
		want string
	}{
		{0.1, "0.1"}, {1e15, "1e+15"}, {1e14, "1e+14"}, {123456789012345, "1.2345678901234e+14"},
		{math.Copysign(0, -1), "-0"}, {1.0 / 3, "0.33333333333333"}, {1e-5, "1e-05"}, {100, "100"},
		{math.Inf(1), "inf"}, {math.Inf(-1), "-inf"},
	} {
		if got := FormatNumber(c.f); got != c.want {
			t.Errorf("FormatNumber(%v) = %q, want %q", c.f, got, c.want)
		}
	}
	for _, c := range []struct {
		s    string
		want float64
		ok   bool
	}{
		{"10", 10, true}, {" 0x10 ", 16, true}, {"1e3", 1000, true}, {"  -2.5\t", -2.5, true},
		{"1e", 0, false}, {"abc", 0, false}, {"", 0, false}, {"1 2", 0, false}, {".5", 0.5, true}, {"5.", 5, true},
		// Plain digits (smallDecimal) up to 15, and past them (strtod).
		{"0", 0, true}, {"007", 7, true}, {"1732847123456", 1732847123456, true}, {"999999999999999", 999999999999999, true},
		{"9007199254740993", 9007199254740992, true}, {"12345678901234567890", 12345678901234567890, true},
	} {
		got, ok := ParseNumber(c.s)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("ParseNumber(%q) = %v, %v; want %v, %v", c.s, got, ok, c.want, c.ok)
		}
	}
}
