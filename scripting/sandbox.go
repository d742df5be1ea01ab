package scripting

import (
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"

	"github.com/structd/structd/scripting/lualib"
)

// The sandbox gives scripts what Redis 7.0 gives them and nothing else:
//   - the base functions below (no print, dofile, loadfile, require,
//     module, getfenv, setfenv, newproxy), coroutine, string, table,
//     math, cjson, cmsgpack, bit, struct and redis; no os, io, debug or
//     package;
//   - read-only globals: the scripts' environment is a proxy of the real
//     globals whose __newindex raises "Attempt to modify a readonly table",
//     and reading a global that does not exist raises "Script attempted to
//     access nonexistent global variable"; the library tables, the string
//     metatable and the globals' metatable are proxies too (the protected
//     tables, Redis's read-only tables), and every raw write refuses them:
//     see protected;
//   - Lua 5.1's number formatting (%.14g) in tostring and error, which
//     gopher-lua formats with Go's shortest representation;
//   - pcall as Redis 7 patches it: an error table {err=...} caught by pcall
//     is returned as its err string;
//   - loadstring refusing precompiled chunks, its functions running in the
//     same read-only environment;
//   - math.random and math.randomseed on Redis's rand48, whose state all
//     scripts share.

// allowedBase are the base functions Redis 7.0 leaves to scripts.
var allowedBase = []string{
	"assert", "collectgarbage", "error", "gcinfo", "getmetatable", "ipairs", "load", "loadstring",
	"next", "pairs", "pcall", "rawequal", "rawget", "rawset", "select", "setmetatable",
	"tonumber", "tostring", "type", "unpack", "xpcall", "_VERSION",
}

// libraries are the library tables scripts see (read-only).
var libraries = []string{"string", "table", "math", "coroutine", "cjson", "cmsgpack", "bit", "struct"}

const errReadonly = "Attempt to modify a readonly table"

// sandbox builds v's globals and environment.
func (v *vm) sandbox() {
	L := v.L
	openLibs(L)
	g := L.G.Global
	real := L.NewTable()
	for _, name := range allowedBase {
		real.RawSetString(name, g.RawGetString(name))
	}
	for _, name := range libraries {
		real.RawSetString(name, g.RawGetString(name))
	}
	v.overrideBase(real)
	v.overrideLibs(real)
	v.overrideMath(real.RawGetString("math").(*lua.LTable))
	v.overrideCoroutine(real.RawGetString("coroutine").(*lua.LTable))
	real.RawSetString("redis", v.redisLib())
	for _, name := range append(libraries, "redis") {
		real.RawSetString(name, v.readonlyProxy(real.RawGetString(name).(*lua.LTable)))
	}
	// gopher-lua's string metatable is the string library itself (its
	// __index is the library): strings get their own, as in Lua 5.1, so
	// that the library holds its functions only.
	g.RawGetString("string").(*lua.LTable).RawSetString("__index", lua.LNil)
	sm := L.NewTable()
	sm.RawSetString("__index", real.RawGetString("string"))
	L.SetMetatable(lua.LString(""), sm)
	v.stringMeta = v.proxyOf(sm)
	real.RawSetString("KEYS", L.NewTable())
	real.RawSetString("ARGV", L.NewTable())
	real.RawSetString("CALL", v.callTable()) // CALL.<alias>(keys, args): alias_call.go

	// A missing global is an error, not nil.
	missing := L.NewTable()
	missing.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("Script attempted to access nonexistent global variable '%s'", luaToString(L.Get(2)))
		return 0
	}))
	L.SetMetatable(real, missing)

	env := v.readonlyProxy(real)
	real.RawSetString("_G", env)
	v.globals, v.env = real, env
	// Functions created from now on (loadstring's) run in the proxy.
	L.Env = env
	L.G.Global = env
	v.handler = L.NewFunction(v.errorHandler)
	v.catchHandler = L.NewFunction(v.nameCaughtError)
}

// envFor is the environment of a chunk compiled as proto: the real
// globals when no function of the chunk assigns a global, else the
// read-only proxy, which refuses the assignment. A script assigns a global
// only by a SETGLOBAL of its own code (a write through _G goes to the
// proxy _G names), so the chunks that cannot write read their globals in
// one table lookup instead of three (the proxy, its metatable, the real
// table); reading a missing one raises the same error either way.
func (v *vm) envFor(proto *lua.FunctionProto) *lua.LTable {
	if assignsGlobals(proto) {
		return v.env
	}
	return v.globals
}

// assignsGlobals reports whether proto or a function nested in it has a
// SETGLOBAL instruction.
func assignsGlobals(proto *lua.FunctionProto) bool {
	for _, inst := range proto.Code {
		if int(inst>>26) == lua.OP_SETGLOBAL { // the opcode's bits, as gopher-lua's opGetOpCode
			return true
		}
	}
	for _, p := range proto.FunctionPrototypes {
		if assignsGlobals(p) {
			return true
		}
	}
	return false
}

// The protected tables are what Redis 7 marks read-only (the globals, every
// table in them, the string metatable, the globals' metatable): here each
// is an empty proxy reading through to the real table. A write through a
// proxy meets its __newindex; the functions that write without
// metamethods check protected first and raise errReadonly without a
// position, as Redis's patched lua_rawset, lua_rawseti and
// lua_setmetatable raise it from inside a C function: rawset,
// setmetatable, table.insert. So a proxy stays empty, and the functions
// that write only into a table's existing elements (table.remove,
// table.sort) find none to write to, as in Redis, where the protected
// tables have no array part. The functions that read without
// metamethods (next, pairs, rawget) and getmetatable read the real table,
// so a script sees what a Redis script sees; a script never holds a real
// table, only its proxy.

// protected reports whether t is a protected table (a proxy).
func (v *vm) protected(t *lua.LTable) bool { return t.Metatable != lua.LNil && v.readonly[t] }

// refuseProtected raises Redis's error for a raw write into a protected
// table.
func refuseProtected(L *lua.LState) {
	L.Error(lua.LString(errReadonly), 0)
}

// behind returns the real table a proxy reads through to (its metatable's
// __index, which FUNCTION LOAD switches for the globals' proxy of the
// functions' state), or t itself when t is no proxy.
func (v *vm) behind(t *lua.LTable) *lua.LTable {
	if !v.protected(t) {
		return t
	}
	if real, ok := t.Metatable.(*lua.LTable).RawGetString("__index").(*lua.LTable); ok {
		return real
	}
	return t
}

// proxyOf returns the protected proxy of t, made once.
func (v *vm) proxyOf(t *lua.LTable) *lua.LTable {
	if p, ok := v.proxies[t]; ok {
		return p
	}
	p := v.readonlyProxy(t)
	v.proxies[t] = p
	return p
}

// readonlyProxy returns an empty table reading through to t and refusing
// writes.
func (v *vm) readonlyProxy(t *lua.LTable) *lua.LTable {
	L := v.L
	p := L.NewTable()
	mt := L.NewTable()
	mt.RawSetString("__index", t)
	mt.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int {
		L.RaiseError(errReadonly)
		return 0
	}))
	mt.RawSetString("__metatable", lua.LFalse)
	L.SetMetatable(p, mt)
	v.readonly[p] = true
	return p
}

// overrideBase replaces the base functions whose gopher-lua behaviour
// differs from Redis's where scripts can see it.
func (v *vm) overrideBase(g *lua.LTable) {
	L := v.L
	set := func(name string, fn lua.LGFunction) { g.RawSetString(name, L.NewFunction(fn)) }
	set("tostring", func(L *lua.LState) int {
		x := L.CheckAny(1)
		if n, ok := x.(lua.LNumber); ok {
			L.Push(lua.LString(formatNumber(float64(n))))
			return 1
		}
		L.Push(L.ToStringMeta(x))
		return 1
	})
	set("error", func(L *lua.LState) int {
		obj := L.Get(1) // error() raises nil, as Lua 5.1's luaB_error
		level := L.OptInt(2, 1)
		if n, ok := obj.(lua.LNumber); ok {
			obj = lua.LString(formatNumber(float64(n)))
		}
		L.Error(obj, level)
		return 0
	})
	set("collectgarbage", v.collectGarbage)
	set("gcinfo", gcinfo)
	set("pcall", v.redisPcall)
	set("xpcall", v.xpcall)
	set("rawset", func(L *lua.LState) int {
		t := checkTable(L, 1)
		for n := 2; n <= 3; n++ {
			if L.GetTop() < n {
				L.ArgError(n, "value expected")
			}
		}
		if v.protected(t) {
			refuseProtected(L)
		}
		switch k := L.Get(2).(type) {
		case *lua.LNilType:
			L.Error(lua.LString("table index is nil"), 0)
		case lua.LNumber:
			if k != k {
				L.Error(lua.LString("table index is NaN"), 0)
			}
		}
		t.RawSet(L.Get(2), L.Get(3))
		L.SetTop(1)
		return 1
	})
	origSetMT := g.RawGetString("setmetatable").(*lua.LFunction)
	set("setmetatable", func(L *lua.LState) int {
		if t, ok := L.Get(1).(*lua.LTable); ok && v.protected(t) {
			refuseProtected(L)
		}
		return callThrough(L, origSetMT)
	})
	origGetMT := g.RawGetString("getmetatable").(*lua.LFunction)
	set("getmetatable", func(L *lua.LState) int {
		switch x := L.Get(1).(type) {
		case lua.LString:
			if v.stringMeta != nil {
				L.Push(v.stringMeta)
				return 1
			}
		case *lua.LTable:
			if v.protected(x) {
				// The real table's metatable (the globals' has the
				// missing-global __index), protected; a library has none.
				if mt, ok := v.behind(x).Metatable.(*lua.LTable); ok {
					L.Push(v.proxyOf(mt))
				} else {
					L.Push(lua.LNil)
				}
				return 1
			}
		}
		return callThrough(L, origGetMT)
	})
	// next, pairs and rawget read a proxy's real table, as Lua's read a
	// protected table's own fields. pairs returns its own next, as Lua
	// 5.1's (not the global next).
	nextFn := func(L *lua.LState) int {
		t := v.behind(checkTable(L, 1))
		if !validNextKey(t, L.Get(2)) {
			L.Error(lua.LString("invalid key to 'next'"), 0)
		}
		k, val := t.Next(L.Get(2))
		if k == lua.LNil {
			L.Push(lua.LNil)
			return 1
		}
		L.Push(k)
		L.Push(val)
		return 2
	}
	set("next", nextFn)
	next := L.NewFunction(nextFn)
	set("pairs", func(L *lua.LState) int {
		t := checkTable(L, 1)
		L.Push(next)
		L.Push(t)
		L.Push(lua.LNil)
		return 3
	})
	set("rawget", func(L *lua.LState) int {
		t := v.behind(checkTable(L, 1))
		if L.GetTop() < 2 {
			L.ArgError(2, "value expected")
		}
		L.Push(t.RawGet(L.Get(2)))
		return 1
	})
	set("loadstring", func(L *lua.LState) int {
		src := L.CheckString(1)
		if strings.HasPrefix(src, "\x1b") {
			L.Push(lua.LNil)
			L.Push(lua.LString("loadstring: precompiled chunks are not allowed"))
			return 2
		}
		return v.pushChunk(L, src, chunkID(L.OptString(2, src)))
	})
	set("load", v.baseLoad(g.RawGetString("pcall").(*lua.LFunction), g.RawGetString("xpcall").(*lua.LFunction)))
}

// checkTable is luaL_checktype(L, n, LUA_TTABLE) for function fname.
func checkTable(L *lua.LState, n int) *lua.LTable {
	t, ok := L.Get(n).(*lua.LTable)
	if !ok {
		L.ArgError(n, "table expected, got "+lualib.TypeName(L, n))
	}
	return t
}

// chunkID is Lua 5.1's luaO_chunkid for a string chunk: [string "first
// line..."], cut to fit LUA_IDSIZE (60).
func chunkID(src string) string {
	const idsize = 60
	if strings.HasPrefix(src, "=") || strings.HasPrefix(src, "@") {
		return src[1:]
	}
	line := src
	cut := false
	if i := strings.IndexAny(line, "\r\n"); i >= 0 {
		line, cut = line[:i], true
	}
	room := idsize - len(`[string "..."]`) - 1
	if len(line) > room {
		line, cut = line[:room], true
	}
	if cut {
		return `[string "` + line + `..."]`
	}
	return `[string "` + line + `"]`
}

// redisPcall is pcall as Redis 7 patches it: an error that is a table with
// a string err field is returned as that string. Runtime errors are named
// as Lua 5.1 names them (nameCaughtError).
func (v *vm) redisPcall(L *lua.LState) int {
	L.CheckAny(1)
	f := L.Get(1)
	if !callable(L, f) {
		L.Push(lua.LFalse)
		L.Push(lua.LString("attempt to call a " + f.Type().String() + " value"))
		return 2
	}
	nargs := L.GetTop() - 1
	if err := L.PCall(nargs, lua.MultRet, v.catchHandler); err != nil {
		obj := errorValue(err)
		switch x := obj.(type) {
		case *lua.LTable:
			if s, ok := x.RawGetString("err").(lua.LString); ok {
				obj = s
			}
		case lua.LString:
			obj = lua.LString(lua51Message(string(x)))
		}
		L.Push(lua.LFalse)
		L.Push(obj)
		return 2
	}
	L.Insert(lua.LTrue, 1)
	return L.GetTop()
}

// xpcall is Lua 5.1's xpcall: the handler gets a runtime error's message
// with the variable's name (nameCaughtError), as Lua's own handler would,
// and a handler that fails (or is not callable) makes the result "error in
// error handling".
func (v *vm) xpcall(L *lua.LState) int {
	if L.GetTop() < 2 {
		L.ArgError(2, "value expected")
	}
	fn, handler := L.Get(1), L.Get(2)
	L.SetTop(0)
	handle := func(L *lua.LState, msg lua.LValue) lua.LValue {
		top := L.GetTop()
		defer L.SetTop(top)
		L.Push(handler)
		L.Push(msg)
		if err := L.PCall(1, 1, nil); err != nil {
			return lua.LString("error in error handling")
		}
		return L.Get(-1)
	}
	if !callable(L, fn) {
		L.Push(lua.LFalse)
		L.Push(handle(L, lua.LString("attempt to call a "+fn.Type().String()+" value")))
		return 2
	}
	named := L.NewFunction(func(L *lua.LState) int {
		v.nameCaughtError(L) // pushes the named message
		L.Push(handle(L, L.Get(-1)))
		return 1
	})
	L.Push(fn)
	if err := L.PCall(0, lua.MultRet, named); err != nil {
		L.SetTop(0)
		L.Push(lua.LFalse)
		L.Push(errorValue(err))
		return 2
	}
	L.Insert(lua.LTrue, 1)
	return L.GetTop()
}

// callable reports whether f can be called: a function, or a value whose
// metatable has a __call function.
func callable(L *lua.LState, f lua.LValue) bool {
	return f.Type() == lua.LTFunction || L.GetMetaField(f, "__call").Type() == lua.LTFunction
}

// overrideCoroutine makes coroutines run under the script's watch
// (busy.go): gopher-lua gives a new thread a child context, whose Done a
// SCRIPT KILL request would not reach; create sets the thread's context
// to the watch itself, and wrap is built on create.
func (v *vm) overrideCoroutine(co *lua.LTable) {
	L := v.L
	create := co.RawGetString("create").(*lua.LFunction)
	newCreate := L.NewFunction(func(L *lua.LState) int {
		n := callThrough(L, create)
		if th, ok := L.Get(-1).(*lua.LState); ok && L.Context() != nil {
			th.SetContext(L.Context())
		}
		return n
	})
	co.RawSetString("create", newCreate)
	// Lua 5.1's auxresume refuses a coroutine that is not suspended with
	// its status; gopher-lua words it differently, and resuming a normal
	// one (an outer coroutine from an inner one) takes its stack apart.
	resume := co.RawGetString("resume").(*lua.LFunction)
	co.RawSetString("resume", L.NewFunction(func(L *lua.LState) int {
		if th, ok := L.Get(1).(*lua.LState); ok {
			if status := coStatus(L, th); status != "suspended" {
				L.Push(lua.LFalse)
				L.Push(lua.LString("cannot resume " + status + " coroutine"))
				return 2
			}
		}
		return callThrough(L, resume)
	}))
	// A string error of the coroutine gets the position of the wrapped
	// function's caller, as Lua 5.1's auxwrap adds it (luaL_where).
	proto, err := compileChunk(`local create, resume, error, where = ...
local function pass(ok, ...) if ok then return ... end error(where((...)), 0) end
return function(f) local co = create(f) return function(...) return pass(resume(co, ...)) end end`, wrapChunk)
	if err != nil {
		panic(err) // a constant chunk
	}
	L.Push(L.NewFunctionFromProto(proto))
	L.Push(newCreate)
	L.Push(co.RawGetString("resume"))
	L.Push(L.NewFunction(func(L *lua.LState) int { L.Error(L.Get(1), 0); return 0 }))
	L.Push(L.NewFunction(func(L *lua.LState) int {
		switch e := L.Get(1).(type) {
		case lua.LString:
			L.Push(lua.LString(wrapCallerWhere(L) + string(e)))
		case lua.LNumber:
			L.Push(lua.LString(wrapCallerWhere(L) + formatNumber(float64(e))))
		default:
			L.Push(e)
		}
		return 1
	}))
	L.Call(4, 1)
	wrap := L.Get(-1).(*lua.LFunction)
	L.Pop(1)
	// Lua 5.1's auxwrap checks its argument itself, so the error names
	// 'wrap' at the caller's position.
	co.RawSetString("wrap", L.NewFunction(func(L *lua.LState) int {
		if f, ok := L.Get(1).(*lua.LFunction); !ok || f.IsG {
			L.ArgError(1, "Lua function expected")
		}
		return callThrough(L, wrap)
	}))
}

// coStatus is Lua 5.1's costatus of th seen from L: running (L itself),
// normal (a thread that resumed L, directly or not), dead or suspended.
// gopher-lua's Status calls only L's direct resumer normal.
func coStatus(L, th *lua.LState) string {
	if th.Dead {
		return "dead"
	}
	for t := L; t != nil; t = t.Parent {
		if t == th {
			if t == L {
				return "running"
			}
			return "normal"
		}
	}
	return "suspended"
}

// wrapChunk names the chunk of coroutine.wrap, whose frames stand for Lua
// 5.1's C function auxwrap: error positions skip them (scriptFrame).
const wrapChunk = "=coroutine.wrap"

// scriptFrame reports whether dbg (filled with "S" and "l") is a frame of
// the script's Lua code: not a Go function's, nor coroutine.wrap's.
func scriptFrame(dbg *lua.Debug) bool {
	return dbg.What != "G" && dbg.CurrentLine >= 0 && dbg.Source != wrapChunk
}

// wrapTailLevels is the levels to skip past coroutine.wrap's frame dbg:
// its wrapper tail-calls pass, and GetStack counts the replaced frame as
// a level of its own (Lua's "(tail call)"), at which it returns the
// bottom frame, not the wrapper's caller.
func wrapTailLevels(dbg *lua.Debug) int {
	if dbg.Source == wrapChunk && dbg.What == "tail" {
		return 1
	}
	return 0
}

// wrapCallerWhere is auxwrap's luaL_where(L, 1), called from a Go
// function that coroutine.wrap's chunk calls: the position of the frame
// that called the wrapped function, "<source>:<line>: ", or "" when that
// is a Go function (pcall) as it is for a C function in Lua.
func wrapCallerWhere(L *lua.LState) string {
	for level := 1; ; level++ {
		dbg, ok := L.GetStack(level)
		if !ok {
			return ""
		}
		if _, err := L.GetInfo("Sl", dbg, lua.LNil); err != nil {
			return ""
		}
		if dbg.Source == wrapChunk {
			level += wrapTailLevels(dbg)
			continue
		}
		if dbg.What == "G" || dbg.CurrentLine < 0 {
			return ""
		}
		return dbg.Source + ":" + strconv.Itoa(dbg.CurrentLine) + ": "
	}
}

// overrideMath puts Redis's rand48-based random and randomseed in math.
func (v *vm) overrideMath(m *lua.LTable) {
	L := v.L
	rng := &v.e.rng
	m.RawSetString("random", L.NewFunction(func(L *lua.LState) int {
		r := float64(rng.next()%rand48Max) / float64(rand48Max)
		switch L.GetTop() {
		case 0:
			L.Push(lua.LNumber(r))
		case 1:
			u := checkInt(L, 1)
			if u < 1 {
				L.ArgError(1, "interval is empty")
			}
			L.Push(lua.LNumber(floor(r*float64(u)) + 1))
		case 2:
			l := checkInt(L, 1)
			u := checkInt(L, 2)
			if l > u {
				L.ArgError(2, "interval is empty")
			}
			L.Push(lua.LNumber(floor(r*float64(u-l+1)) + float64(l)))
		default:
			L.RaiseError("wrong number of arguments")
		}
		return 1
	}))
	m.RawSetString("randomseed", L.NewFunction(func(L *lua.LState) int {
		rng.seed(int32(checkInt(L, 1)))
		return 0
	}))
}

// checkInt is luaL_checkint: a number (or numeric string) cast to int.
func checkInt(L *lua.LState, n int) int64 {
	return int64(int32(lualib.CastInt64(lualib.CheckNumber(L, n))))
}
