package scripting

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"

	"github.com/structd/structd/scripting/lualib"
)

// Lua 5.1 behaviours of the base, string, table and math libraries that
// gopher-lua implements differently, where scripts see the difference.

// overrideLibs patches the real (not yet proxied) library tables in g.
func (v *vm) overrideLibs(g *lua.LTable) {
	L := v.L
	m := g.RawGetString("math").(*lua.LTable)
	m.RawSetString("huge", lua.LNumber(posInf()))
	s := g.RawGetString("string").(*lua.LTable)
	s.RawSetString("char", L.NewFunction(strChar))
	s.RawSetString("format", L.NewFunction(strFormat))
	s.RawSetString("rep", L.NewFunction(strRep))
	// string.dump exists in Redis but its output cannot be loaded back
	// (loadstring refuses bytecode); gopher-lua has no bytecode format.
	s.RawSetString("dump", L.NewFunction(func(L *lua.LState) int {
		L.CheckFunction(1)
		L.Push(lua.LString("\x1bLuaQ\x00"))
		return 1
	}))
	t := g.RawGetString("table").(*lua.LTable)
	t.RawSetString("concat", L.NewFunction(tabConcat))
	t.RawSetString("sort", L.NewFunction(tabSort))
	t.RawSetString("insert", L.NewFunction(v.tabInsert))
	t.RawSetString("foreach", L.NewFunction(tabForeach))
	t.RawSetString("foreachi", L.NewFunction(tabForeachi))
	t.RawSetString("setn", L.NewFunction(func(L *lua.LState) int {
		checkTable(L, 1)
		L.Error(lua.LString(callerWhere(L)+"'setn' is obsolete"), 0)
		return 0
	}))
	for name, plain := range map[string]int{"find": 4, "match": 0, "gmatch": 0} {
		s.RawSetString(name, L.NewFunction(patternChecked(s.RawGetString(name).(*lua.LFunction), plain)))
	}
	s.RawSetString("gsub", L.NewFunction(strGsub(patternChecked(s.RawGetString("gsub").(*lua.LFunction), 0))))
	g.RawSetString("tonumber", L.NewFunction(baseToNumber))
}

func posInf() float64 { f, _ := strconv.ParseFloat("+Inf", 64); return f }

// baseToNumber is Lua 5.1's tonumber(e [, base]).
func baseToNumber(L *lua.LState) int {
	base := 10
	if L.GetTop() >= 2 {
		base = int(checkInt(L, 2))
	}
	if base == 10 {
		L.CheckAny(1)
		if x, ok := L.Get(1).(lua.LNumber); ok {
			L.Push(x)
		} else if f, ok := lualib.ToNumber(L.Get(1)); ok {
			L.PushNumber(lua.LNumber(f))
		} else {
			L.Push(lua.LNil)
		}
		return 1
	}
	if base < 2 || base > 36 {
		L.ArgError(2, "base out of range")
	}
	s := strings.TrimSpace(luaToString(L.Get(1)))
	neg := false
	if strings.HasPrefix(s, "-") {
		neg, s = true, s[1:]
	}
	// C's strtoul: a value past 64 bits is ULONG_MAX, and a minus sign
	// negates in unsigned arithmetic ("-11" in base 16 is 2^64 - 17).
	n, err := strconv.ParseUint(s, base, 64)
	if isRange(err) {
		n, err = math.MaxUint64, nil
	}
	if err != nil || s == "" {
		L.Push(lua.LNil)
		return 1
	}
	if neg {
		n = -n
	}
	L.PushNumber(lua.LNumber(float64(n)))
	return 1
}

// strRep is Lua 5.1's string.rep(s, n): n is cast to a C int (2^31 and
// beyond wrap, giving ""), and a result past lualib.MaxOutputBytes fails
// as Lua fails when memory runs out, instead of taking the server's.
func strRep(L *lua.LState) int {
	s := lualib.CheckString(L, 1)
	n := checkInt(L, 2)
	if n <= 0 || s == "" {
		L.Push(lua.LString(""))
		return 1
	}
	if int64(len(s))*n > int64(lualib.MaxOutputBytes) {
		L.RaiseError("not enough memory")
	}
	L.Push(lua.LString(strings.Repeat(s, int(n))))
	return 1
}

// strChar is string.char: each argument a byte value.
func strChar(L *lua.LState) int {
	n := L.GetTop()
	b := make([]byte, n)
	for i := 1; i <= n; i++ {
		c := checkInt(L, i)
		if c < 0 || c > 255 {
			L.ArgError(i, "invalid value")
		}
		b[i-1] = byte(c)
	}
	L.Push(lua.LString(b))
	return 1
}

// tabInsert is Lua 5.1's table.insert(t, [pos,] value), refusing a
// protected table (sandbox.go) before it writes, as Redis's lua_rawseti
// refuses it.
func (v *vm) tabInsert(L *lua.LState) int {
	t := checkTable(L, 1)
	e := t.Len() + 1 // the first empty element
	pos := e
	switch L.GetTop() {
	case 2:
	case 3:
		pos = int(checkInt(L, 2))
		if pos > e {
			e = pos
		}
	default:
		L.RaiseError("wrong number of arguments to 'insert'")
	}
	if v.protected(t) {
		refuseProtected(L)
	}
	for i := e; i > pos; i-- { // move up the elements from pos
		t.RawSetInt(i, t.RawGetInt(i-1))
	}
	t.RawSetInt(pos, L.Get(L.GetTop()))
	return 0
}

// tabForeach is Lua 5.1's table.foreach(t, f): f(k, v) for each pair in
// next's order, stopping at the first non-nil result, which it returns.
func tabForeach(L *lua.LState) int {
	t := checkTable(L, 1)
	f := checkFunction(L, 2)
	for k, val := t.Next(lua.LNil); k != lua.LNil; k, val = t.Next(k) {
		L.Push(f)
		L.Push(k)
		L.Push(val)
		L.Call(2, 1)
		if L.Get(-1) != lua.LNil {
			return 1
		}
		L.Pop(1)
	}
	return 0
}

// tabForeachi is Lua 5.1's table.foreachi(t, f): f(i, t[i]) for i from 1
// to #t, stopping at the first non-nil result, which it returns.
func tabForeachi(L *lua.LState) int {
	t := checkTable(L, 1)
	f := checkFunction(L, 2)
	n := t.Len()
	for i := 1; i <= n; i++ {
		L.Push(f)
		L.Push(lua.LNumber(i))
		L.Push(t.RawGetInt(i))
		L.Call(2, 1)
		if L.Get(-1) != lua.LNil {
			return 1
		}
		L.Pop(1)
	}
	return 0
}

// checkFunction is luaL_checktype(L, n, LUA_TFUNCTION) for function fname.
func checkFunction(L *lua.LState, n int) *lua.LFunction {
	f, ok := L.Get(n).(*lua.LFunction)
	if !ok {
		L.ArgError(n, "function expected, got "+lualib.TypeName(L, n))
	}
	return f
}

// strGsub wraps string.gsub (gsub) to refuse, as Lua 5.1's add_value
// does, a replacement that a table or function gives and that is neither
// false, nil, a string nor a number: gopher-lua replaces the match with
// the value's tostring. The table is read with its metamethods, by the
// first capture (or the whole match), as gopher-lua reads it.
func strGsub(gsub lua.LGFunction) lua.LGFunction {
	return func(L *lua.LState) int {
		var lookup func(L *lua.LState) lua.LValue
		switch repl := L.Get(3).(type) {
		case *lua.LTable:
			lookup = func(L *lua.LState) lua.LValue { return L.GetTable(repl, L.Get(1)) }
		case *lua.LFunction:
			lookup = func(L *lua.LState) lua.LValue {
				L.Insert(repl, 1)
				L.Call(L.GetTop()-1, 1)
				return L.Get(-1)
			}
		default:
			return gsub(L)
		}
		// The error's position is gsub's caller's (luaL_where(L, 1)), read
		// before gopher-lua's gsub and the lookup put their frames on top.
		where := callerWhere(L)
		L.Replace(3, L.NewFunction(func(L *lua.LState) int {
			val := lookup(L)
			switch x := val.(type) {
			case lua.LString, lua.LNumber, *lua.LNilType:
			case lua.LBool:
				if x {
					refuseReplacement(L, where, val)
				}
			default:
				refuseReplacement(L, where, val)
			}
			L.Push(val)
			return 1
		}))
		return gsub(L)
	}
}

func refuseReplacement(L *lua.LState, where string, val lua.LValue) {
	L.Error(lua.LString(where+"invalid replacement value (a "+val.Type().String()+")"), 0)
}

// tabConcat is table.concat(t [, sep [, i [, j]]]).
func tabConcat(L *lua.LState) int {
	t := L.CheckTable(1)
	sep := ""
	if L.GetTop() >= 2 && L.Get(2) != lua.LNil {
		s, ok := L.Get(2).(lua.LString)
		if !ok {
			if n, isNum := L.Get(2).(lua.LNumber); isNum {
				s = lua.LString(formatNumber(float64(n)))
			} else {
				L.ArgError(2, "string expected, got "+L.Get(2).Type().String())
			}
		}
		sep = string(s)
	}
	i := int64(1)
	if L.GetTop() >= 3 && L.Get(3) != lua.LNil {
		i = checkInt(L, 3)
	}
	j := int64(t.Len())
	if L.GetTop() >= 4 && L.Get(4) != lua.LNil {
		j = checkInt(L, 4)
	}
	// Bounded as string.rep, before anything is built: not the server's
	// memory.
	size := 0
	for k := i; k <= j && size <= lualib.MaxOutputBytes; k++ {
		if x, ok := t.RawGetInt(int(k)).(lua.LString); ok {
			size += len(x)
		}
		size += len(sep)
	}
	if size > lualib.MaxOutputBytes {
		L.RaiseError("not enough memory")
	}
	var b strings.Builder
	for k := i; k <= j; k++ {
		switch x := t.RawGetInt(int(k)).(type) {
		case lua.LString:
			b.WriteString(string(x))
		case lua.LNumber:
			b.WriteString(formatNumber(float64(x)))
		default:
			L.RaiseError("invalid value (%s) at index %d in table for 'concat'", x.Type(), k)
		}
		if k < j {
			b.WriteString(sep)
		}
	}
	L.Push(lua.LString(b.String()))
	return 1
}

// lua51Message rewrites the runtime error messages gopher-lua words
// differently from Lua 5.1 ("cannot perform add operation between nil and
// number" is "attempt to perform arithmetic on a nil value"). Lua 5.1 also
// names the variable ("local 'x'") where gopher-lua cannot tell it; those
// keep the unnamed form.
func lua51Message(msg string) string {
	const marker = "cannot perform "
	i := strings.Index(msg, marker)
	if i < 0 {
		if j := strings.Index(msg, "attempt to index a non-table object("); j >= 0 {
			rest := msg[j+len("attempt to index a non-table object("):]
			if k := strings.IndexByte(rest, ')'); k >= 0 {
				return msg[:j] + "attempt to index a " + rest[:k] + " value"
			}
		}
		return msg
	}
	var op, a, b string
	if _, err := fmt.Sscanf(msg[i+len(marker):], "%s operation between %s and %s", &op, &a, &b); err != nil {
		return msg
	}
	bad := a
	if op == "concat" {
		if a == "string" || a == "number" {
			bad = b
		}
		return msg[:i] + "attempt to concatenate a " + bad + " value"
	}
	if a == "number" {
		bad = b
	}
	return msg[:i] + "attempt to perform arithmetic on a " + bad + " value"
}
