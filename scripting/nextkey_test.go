package scripting

import (
	"testing"

	lua "github.com/yuin/gopher-lua"
)

// heldKey reads two unexported fields of gopher-lua's LTable: a gopher-lua
// that renames them must fail here, not turn next's check off unnoticed.
func TestNextKeyFieldsKnown(t *testing.T) {
	if !fieldsKnown {
		t.Fatal("gopher-lua's LTable has no array []LValue and k2i map[LValue]int: heldKey cannot tell dead keys")
	}
	L := lua.NewState()
	defer L.Close()
	tb := L.NewTable()
	tb.RawSetInt(1, lua.LNumber(1))
	tb.RawSetInt(2, lua.LNumber(2))
	tb.RawSetString("a", lua.LNumber(3))
	tb.RawSet(lua.LNumber(2.5), lua.LNumber(4))
	tb.RawSetInt(2, lua.LNil)
	tb.RawSetString("a", lua.LNil)
	tb.RawSet(lua.LNumber(2.5), lua.LNil)
	for _, tc := range []struct {
		key  lua.LValue
		want bool
	}{
		{lua.LNil, true},
		{lua.LNumber(1), true},   // live
		{lua.LNumber(2), true},   // dead, in the array
		{lua.LString("a"), true}, // dead, string key
		{lua.LNumber(2.5), true}, // dead, hash key
		{lua.LNumber(3), false},
		{lua.LNumber(1.5), false},
		{lua.LString("b"), false},
		{lua.LTrue, false},
	} {
		if got := validNextKey(tb, tc.key); got != tc.want {
			t.Errorf("validNextKey(%v) = %v, want %v", tc.key, got, tc.want)
		}
	}
}

func TestLua51Compat(t *testing.T) {
	e := New()
	for _, tc := range []struct{ body, want string }{
		{"return next({a = 1}, 'zz')", "-ERR invalid key to 'next'"},
		{"local t = {x = 1, y = 2, 10, 20} for k in pairs(t) do t[k] = nil end return next(t) == nil", ":1\r\n"},
		{"local co = coroutine.create(function() end) coroutine.resume(co) local ok, e = coroutine.resume(co) return e", "$28\r\ncannot resume dead coroutine\r\n"},
		{"local outer outer = coroutine.create(function() local inner = coroutine.create(function() return coroutine.resume(outer) end) return coroutine.resume(inner) end) local _, _, _, e = coroutine.resume(outer) return e", "$30\r\ncannot resume normal coroutine\r\n"},
		{"return {pcall(string.gsub, 'abc', '%w', {a = {}})}", "*2\r\n$-1\r\n"},
		{"return select(2, pcall(string.gsub, 'abc', '%w', {a = {}}))", "$35\r\ninvalid replacement value (a table)\r\n"},
		{"return select(2, pcall(table.setn, {}, 1))", "$18\r\n'setn' is obsolete\r\n"},
		{"return table.foreachi({5, 6}, function(i, v) if i == 2 then return v end end)", ":6\r\n"},
		{"local i = 0 return load(function() i = i + 1 if i == 1 then return 'return 7' end end)()", ":7\r\n"},
		{"local f, e = load(function() return true end) return e.err", "$55\r\nERR user_script:1: reader function must return a string\r\n"},
	} {
		got := evalReply(t, e, tc.body, 2)
		if len(got) < len(tc.want) || got[:len(tc.want)] != tc.want {
			t.Errorf("%s:\n got %q\nwant %q...", tc.body, got, tc.want)
		}
	}
}
