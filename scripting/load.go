package scripting

import (
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"

	"github.com/structd/structd/scripting/lualib"
)

// baseLoad is Lua 5.1's load(func [, chunkname]) as Redis 7.0 leaves it:
// func is called until it returns nil or "" and the pieces (strings or
// numbers) are compiled as one chunk named chunkname ("=(load)" by
// default), in the scripts' environment as loadstring's chunks. It
// returns the function, or nil and the error: a syntax error as its
// message; an error raised by func, or a piece that is not a string, as
// the message handler in force leaves it (lua_load runs the reader under
// the running call's handler: Redis's {err='ERR ...'} table in the
// script's main call, the plain error inside pcall, xpcall or a
// coroutine, whose handlers are not Redis's). A chunk starting with ESC
// is not read as bytecode: the lexer meets char(27), as in Redis.
func (v *vm) baseLoad(protected ...*lua.LFunction) lua.LGFunction {
	return func(L *lua.LState) int {
		reader, ok := L.Get(1).(*lua.LFunction)
		if !ok {
			L.ArgError(1, "function expected, got "+lualib.TypeName(L, 1))
		}
		name := "=(load)"
		if L.GetTop() >= 2 && L.Get(2) != lua.LNil {
			name = lualib.CheckString(L, 2)
		}
		var src strings.Builder
		for {
			L.Push(reader)
			if err := L.PCall(0, 1, nil); err != nil {
				if ctx := L.Context(); ctx != nil && ctx.Err() != nil {
					panic(err) // SCRIPT KILL or the time limit: not the reader's error
				}
				return v.loadFailed(L, protected, errorValue(err))
			}
			piece := L.Get(-1)
			L.Pop(1)
			var s string
			switch x := piece.(type) {
			case *lua.LNilType:
			case lua.LString:
				s = string(x)
			case lua.LNumber:
				s = formatNumber(float64(x))
			default:
				msg := lua.LString(callerWhere(L) + "reader function must return a string")
				return v.loadFailed(L, protected, msg)
			}
			if s == "" {
				break
			}
			if src.Len()+len(s) > lualib.MaxOutputBytes {
				L.Push(lua.LNil)
				L.Push(lua.LString("not enough memory"))
				return 2
			}
			src.WriteString(s)
		}
		return v.pushChunk(L, src.String(), chunkID(name))
	}
}

// pushChunk compiles src as the chunk id and pushes its function, in the
// scripts' environment, or nil and the syntax error.
func (v *vm) pushChunk(L *lua.LState, src, id string) int {
	proto, err := compileChunk(src, id)
	if err != nil {
		L.Push(lua.LNil)
		L.Push(lua.LString(err.Error()))
		return 2
	}
	fn := L.NewFunctionFromProto(proto)
	fn.Env = v.envFor(proto)
	L.Push(fn)
	return 1
}

// loadFailed pushes load's nil and the reader's error e, through Redis's
// message handler when that is the handler in force: in the script's own
// thread with no pcall or xpcall on the stack.
func (v *vm) loadFailed(L *lua.LState, protected []*lua.LFunction, e lua.LValue) int {
	if L == v.L && !onStack(L, protected) {
		L.Push(v.handler)
		L.Push(e)
		L.Call(1, 1)
		e = L.Get(-1)
		L.Pop(1)
	}
	L.Push(lua.LNil)
	L.Push(e)
	return 2
}

// onStack reports whether one of fns runs in a frame on L's stack.
func onStack(L *lua.LState, fns []*lua.LFunction) bool {
	for level := 1; ; level++ {
		dbg, ok := L.GetStack(level)
		if !ok {
			return false
		}
		f, err := L.GetInfo("f", dbg, lua.LNil)
		if err != nil {
			return false
		}
		for _, fn := range fns {
			if f == fn {
				return true
			}
		}
		if dbg.What == "main" {
			return false // the outermost frame: GetStack returns it again past it
		}
	}
}

// callerWhere is luaL_where(L, 1) in a Go function: the position of the
// Lua code that called it, "<source>:<line>: ", or "" when a Go function
// (pcall) called it.
func callerWhere(L *lua.LState) string {
	dbg, ok := L.GetStack(1)
	if !ok {
		return ""
	}
	if _, err := L.GetInfo("Sl", dbg, lua.LNil); err != nil || dbg.What == "G" || dbg.CurrentLine < 0 {
		return ""
	}
	return dbg.Source + ":" + strconv.Itoa(dbg.CurrentLine) + ": "
}

// errorValue is the Lua value an error carries: the object raised, or
// the message of an error that is not a Lua error.
func errorValue(err error) lua.LValue {
	if aerr, ok := err.(*lua.ApiError); ok {
		return aerr.Object
	}
	return lua.LString(err.Error())
}
