// Package lualib implements, over gopher-lua, the four C libraries that Redis
// bundles with its Lua 5.1 interpreter: cjson (lua-cjson 2.1.0), cmsgpack
// (lua-cmsgpack 0.4.0), bit (LuaBitOp) and struct (Roberto Ierusalimschy's
// struct). The behaviour (results, error texts, limits) is taken from
// redis-server 7.0.15; the tests hold replies recorded from it.
//
// Invariants:
//   - No input makes a library panic, hang or allocate memory out of
//     proportion to its input: the historical overflows (CVE-2018-11218/11219
//     in cmsgpack, CVE-2020-14147 in struct, bit.tohex's INT_MIN) are errors.
//   - Lua's C stack limit (LUAI_MAXCSTACK, 8000 slots per C call) is simulated
//     where Redis hits it, so "stack overflow (...)" errors come at the same
//     depth or count as in Redis.
//   - The functions never read their own library table after it is built:
//     settings live in Go closures, so the scripting engine may make the
//     tables read-only right after Open.
//
// For the engine: Open(L) sets the four globals; OpenCJSON, OpenCMsgpack,
// OpenBit and OpenStruct set one each; NewCJSON, NewCMsgpack, NewBit and
// NewStruct return a table without setting a global. cjson's settings
// (encode_max_depth and the rest) belong to its table's closures and last as
// long as the state, as in Redis, where they last until SCRIPT FLUSH. Errors
// are raised as luaL_error does, prefixed with the calling Lua function's
// position, so the chunk should be named "user_script" to read like Redis.
// Redis lets a C function return up to 8000 values; gopher-lua's default
// registry (5120 slots) fails before that with "registry overflow", so the
// engine should create its states with lua.Options{RegistrySize: 20480,
// RegistryMaxSize: 262144} or similar.
//
// Known differences from Redis:
//   - cjson.encode and cmsgpack.pack list an object's keys in the order
//     Lua 5.1's next() gives for the same keys inserted one by one (see
//     NextOrder), which is Redis's order for tables filled key by key
//     and for decoded ones, but may differ for a constructor with colliding
//     keys ({name=..., age=..., city=...}), for positive integer keys set out
//     of ascending order, and for integer keys mixed with others: gopher-lua
//     keeps positive integer keys in its array part, in ascending order, and
//     forgets when they were set (24 of 30 random-order integer-key tables
//     came out in another order than Redis's; ascending ones all match).
//   - cjson.null is a full userdata rather than a NULL lightuserdata: type()
//     is "userdata", it compares equal only to itself and prints as
//     "userdata: (nil)", as in Redis, but it has a metatable (for that
//     __tostring) where Redis's has none.
//   - cmsgpack.unpack refuses a map whose integer keys would make gopher-lua
//     fill its array part far beyond the input's size ("MessagePack map key N
//     too sparse to decode"): gopher-lua stores t[k] for 1 <= k < 2^26 in an
//     array padded with nils up to k.
//   - cjson.encode and cmsgpack.pack stop at MaxOutputBytes of output.
//   - cjson.encode_keep_buffer records its setting but changes nothing: each
//     encode builds its result in a fresh buffer.
package lualib

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// maxCStack is Lua 5.1's LUAI_MAXCSTACK: lua_checkstack fails when a C function
// would hold more than this many slots above its base.
const maxCStack = 8000

// MaxOutputBytes bounds the string one cjson.encode or cmsgpack.pack call may
// build. Redis has no such bound; without it a table that holds itself many
// times (t = {t, t, t}) makes the encoders run for ever, since both walk
// repeated references again at every level down to their depth limit.
// Set it before scripts run; it is read without synchronisation.
var MaxOutputBytes = 512 << 20

// Open registers cjson, cmsgpack, bit and struct as globals, as Redis does.
func Open(L *lua.LState) {
	OpenCJSON(L)
	OpenCMsgpack(L)
	OpenBit(L)
	OpenStruct(L)
}

// OpenCJSON sets the global cjson to NewCJSON(L).
func OpenCJSON(L *lua.LState) { L.SetGlobal("cjson", NewCJSON(L)) }

// OpenCMsgpack sets the global cmsgpack to NewCMsgpack(L).
func OpenCMsgpack(L *lua.LState) { L.SetGlobal("cmsgpack", NewCMsgpack(L)) }

// OpenBit sets the global bit to NewBit(L).
func OpenBit(L *lua.LState) { L.SetGlobal("bit", NewBit(L)) }

// OpenStruct sets the global struct to NewStruct(L).
func OpenStruct(L *lua.LState) { L.SetGlobal("struct", NewStruct(L)) }

// raise raises msg as a Lua error prefixed with the position of the calling
// Lua function ("user_script:1: "), as luaL_error does.
func raise(L *lua.LState, format string, args ...any) {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	L.RaiseError("%s", msg)
}

// TypeName is luaL_typename, with "no value" for a missing argument.
func TypeName(L *lua.LState, n int) string {
	if n > L.GetTop() {
		return "no value"
	}
	return L.Get(n).Type().String()
}

// typeError is luaL_typerror.
func typeError(L *lua.LState, n int, expected string) {
	L.ArgError(n, fmt.Sprintf("%s expected, got %s", expected, TypeName(L, n)))
}

// ToNumber is lua_tonumber: numbers, and strings that read as a whole as a
// number (strtod, including hex, with surrounding spaces).
func ToNumber(v lua.LValue) (float64, bool) {
	switch x := v.(type) {
	case lua.LNumber:
		return float64(x), true
	case lua.LString:
		return lua.Str2Number(string(x))
	}
	return 0, false
}

// FormatNumber formats f as Lua 5.1 (and so Redis's tostring, string
// coercion and cjson) does: C's "%.14g". gopher-lua's own tostring differs,
// so the engine should format numbers it shows to scripts or clients here.
func FormatNumber(f float64) string { return formatG(f, 14) }

// ParseNumber reads s as Lua 5.1's lua_tonumber reads a string (luaO_str2d:
// strtod's decimal, hexadecimal, inf and nan forms, with surrounding spaces).
func ParseNumber(s string) (float64, bool) { return lua.Str2Number(s) }

// CheckNumber is luaL_checknumber.
func CheckNumber(L *lua.LState, n int) float64 {
	f, ok := ToNumber(L.Get(n))
	if !ok {
		typeError(L, n, "number")
	}
	return f
}

// checkInteger is luaL_checkinteger: the number cast to a 64-bit integer.
func checkInteger(L *lua.LState, n int) int64 {
	return CastInt64(CheckNumber(L, n))
}

// optInteger is luaL_optinteger.
func optInteger(L *lua.LState, n int, def int64) int64 {
	if v := L.Get(n); v == lua.LNil {
		return def
	}
	return checkInteger(L, n)
}

// toString is lua_tolstring: strings, and numbers formatted with %.14g.
func toString(v lua.LValue) (string, bool) {
	switch x := v.(type) {
	case lua.LString:
		return string(x), true
	case lua.LNumber:
		return FormatNumber(float64(x)), true
	}
	return "", false
}

// CheckString is luaL_checklstring.
func CheckString(L *lua.LState, n int) string {
	s, ok := toString(L.Get(n))
	if !ok {
		typeError(L, n, "string")
	}
	return s
}

// CastInt64 converts like a C cast of a double to a 64-bit integer on x86-64
// (cvttsd2si): NaN and out-of-range values give math.MinInt64.
func CastInt64(f float64) int64 {
	if f != f || f >= 9223372036854775808.0 || f < -9223372036854775808.0 {
		return math.MinInt64
	}
	return int64(f)
}

// formatG formats f as C's printf("%.<prec>g"), which is how Lua 5.1 and cjson
// print numbers ("inf", "-inf", "nan" or "-nan", exponents of at least two digits).
func formatG(f float64, prec int) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case f != f:
		if math.Signbit(f) {
			return "-nan"
		}
		return "nan"
	}
	// Go's %g with a precision follows C: %e when exp < -4 or exp >= prec,
	// trailing zeros removed, at least two exponent digits.
	return strconv.FormatFloat(f, 'g', prec, 64)
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlnum(c byte) bool { return isDigit(c) || (c|0x20) >= 'a' && (c|0x20) <= 'z' }

// newLib builds a library table from its functions.
func newLib(L *lua.LState, funcs map[string]lua.LGFunction) *lua.LTable {
	t := L.CreateTable(0, len(funcs)+4)
	for name, fn := range funcs {
		t.RawSetString(name, L.NewFunction(fn))
	}
	return t
}
