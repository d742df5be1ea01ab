package scripting

import (
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"

	"github.com/structd/structd/commands"
	"github.com/structd/structd/internal/resp"
)

// CALL.<alias>({keys...}, {argv...}) runs the script an alias names from
// inside another script, in the same atomic context: the same keyspace
// lock, the same effects unit (its writes are logged with the caller's),
// the same read-only state (a caller run by EVAL_RO, or with no-writes,
// cannot write through it). The called script gets its own KEYS, ARGV,
// database selection and redis.setresp, which end with it, and its result
// reaches the caller converted as redis.call would see it as a reply: an
// error reply (or an error the script raised, named by its alias and line)
// is raised in the caller, where redis.pcall can catch it.

// maxCallDepth bounds how deep CALL may nest.
const maxCallDepth = 16

// callTable returns the CALL global: a read-only table whose every field
// is a function running the script of the alias of that name.
func (v *vm) callTable() *lua.LTable {
	L := v.L
	t := L.NewTable()
	mt := L.NewTable()
	mt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		name, ok := L.Get(2).(lua.LString)
		if !ok {
			L.RaiseError("CALL takes an alias: CALL.<alias>(keys, args)")
		}
		L.Push(L.NewClosure(v.callAlias, name))
		return 1
	}))
	t.Metatable = mt
	return v.readonlyProxy(t)
}

// callAlias is CALL.<alias>: its upvalue is the alias.
func (v *vm) callAlias(L *lua.LState) int {
	alias := string(L.Get(lua.UpvalueIndex(1)).(lua.LString))
	r, e := v.run, v.e
	if r == nil {
		return raise(L, "CALL is only available while a script runs")
	}
	if e.callDepth >= maxCallDepth {
		return raise(L, "CALL."+alias+": scripts called through CALL nest deeper than "+strconv.Itoa(maxCallDepth)+" levels")
	}
	s := e.cat.aliased(alias)
	if s == nil {
		return raise(L, "-NOSCRIPT No matching script. Please use EVAL.")
	}
	keys, ok1 := callArgs(L, 1)
	argv, ok2 := callArgs(L, 2)
	if !ok1 || !ok2 {
		return raise(L, "CALL."+alias+" takes a table of keys and a table of arguments (strings or numbers)")
	}
	if r.readOnly && s.Flags&FlagShebang != 0 && s.Flags&FlagNoWrites == 0 {
		return raise(L, "CALL."+alias+": Can not execute a script with write flag from a read-only script.")
	}

	// The callee's state, restored when it returns.
	g := v.globals
	savedKeys, savedArgv := g.RawGetString("KEYS"), g.RawGetString("ARGV")
	savedScript, savedRO, savedResp := r.script, r.readOnly, r.resp
	sess := r.c.Session
	savedDB := sess.DB
	r.script, r.readOnly, r.resp = s, r.readOnly || s.Flags&FlagNoWrites != 0, 2
	e.callDepth++
	top := L.GetTop()
	L.Push(v.compiled(s))
	err := L.PCall(v.pushInput(s, keys, argv), 1, v.handler)
	e.callDepth--
	g.RawSetString("KEYS", savedKeys)
	g.RawSetString("ARGV", savedArgv)
	resp3 := r.resp
	r.script, r.readOnly, r.resp = savedScript, savedRO, savedResp
	sess.DB = savedDB
	if err != nil {
		L.SetTop(top)
		L.Error(calleeError(L, v, s, err), 0)
		return 0
	}
	result := L.Get(-1)
	L.SetTop(top)
	// Through a reply, as the callee's client would see it: redis.call's
	// view of it under the caller's protocol.
	w := resp.Writer{Proto: savedResp}
	writeReply(&w, result, resp3)
	val, _ := replyToLua(L, r.tables, w.Buf)
	if t, ok := val.(*lua.LTable); ok {
		if _, isErr := t.RawGetString("err").(lua.LString); isErr {
			L.Error(t, 0)
		}
	}
	L.Push(val)
	return 1
}

// calledError marks the error tables CALL raises, so that an error
// passing up through several CALLs keeps the callee's position rather than
// gaining one per level.
const calledError = "structd_call"

// calleeError is the error CALL raises in the caller for the callee s's
// err: the callee's error reply, as EVALSHA <alias> would give it, or an
// error that came up from a deeper CALL as it is.
func calleeError(L *lua.LState, v *vm, s *Script, err error) *lua.LTable {
	if aerr, ok := err.(*lua.ApiError); ok {
		if t, ok := aerr.Object.(*lua.LTable); ok && t.RawGetString(calledError) == lua.LTrue {
			return t
		}
	}
	var w resp.Writer
	v.replyError(&commands.Ctx{W: &w}, s, err)
	t := errorTable(L, strings.TrimSuffix(string(w.Buf), "\r\n"))
	t.RawSetString(calledError, lua.LTrue)
	return t
}

// callArgs reads argument n of CALL.<alias>: an array of strings or
// numbers (up to its first nil), or nothing for none.
func callArgs(L *lua.LState, n int) ([][]byte, bool) {
	switch x := L.Get(n).(type) {
	case *lua.LNilType:
		return nil, true
	case *lua.LTable:
		var out [][]byte
		for i := 1; ; i++ {
			switch y := x.RawGetInt(i).(type) {
			case *lua.LNilType:
				return out, true
			case lua.LString:
				out = append(out, []byte(y))
			case lua.LNumber:
				out = append(out, []byte(formatNumber(float64(y))))
			default:
				return nil, false
			}
		}
	}
	return nil, false
}
