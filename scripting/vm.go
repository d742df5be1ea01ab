package scripting

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"

	"github.com/structd/structd/commands"
	"github.com/structd/structd/internal/resp"
	"github.com/structd/structd/scripting/lualib"
)

// vm is the engine's Lua state with its sandbox and the per-run state the
// redis.* functions read.
type vm struct {
	L       *lua.LState
	e       *Engine
	globals *lua.LTable // the real globals, behind the read-only _G proxy
	env     *lua.LTable // the read-only _G proxy: the scripts' environment
	// readonly are the proxies scripts may not change (sandbox.go:
	// protected), proxies the proxies made for a real table by proxyOf,
	// stringMeta the string metatable's.
	readonly     map[*lua.LTable]bool
	proxies      map[*lua.LTable]*lua.LTable
	stringMeta   *lua.LTable
	funcs        map[string]*lua.LFunction // compiled scripts, by SHA
	handler      *lua.LFunction            // error handler of the main call
	catchHandler *lua.LFunction            // error handler of pcall and xpcall

	run      *run   // the running script, nil between runs
	runState run    // what run points to while a script runs
	watch    *watch // the runs' watch (busy.go), made by the first
	// keys and argv are KEYS and ARGV of the scripts clients call,
	// refilled by each (pushInput).
	keys, argv *lua.LTable
	inputSet   bool         // the globals KEYS and ARGV are keys and argv
	commands   commandCache // redis.call's
	// tables are the tables of redis.call's replies, refilled by the
	// runs that may (refills).
	tables tablePool
	// gc is what collectgarbage's setpause and setstepmul keep (gc.go).
	gc gcSettings
}

// run is one script execution.
type run struct {
	c        *commands.Ctx
	nested   commands.Ctx
	script   *Script
	readOnly bool // EVAL_RO, or a no-writes script
	resp     int  // redis.setresp: the protocol of redis.call's replies
	// oom is whether the server was over maxmemory when the script
	// started (and the script is not allow-oom): its first write that may
	// grow memory is refused, later ones are not (it cannot stop halfway).
	oom   bool
	wrote bool        // a write command ran
	w     resp.Writer // redis.call's replies, reused by the vm's runs
	// args and argBytes hold the arguments of the run's redis.call
	// commands (commandArgs): appended to, never rewritten while the run's
	// effects may be unlogged. A command's effects are logged before the
	// command returns (and the next script can start), so the next run
	// reuses their storage, unless EXEC ran the script.
	args     [][]byte
	argBytes []byte
	// tables are where redis.call's replies get their tables: the vm's
	// pool when the run refills them (refills), else nil (new ones).
	tables *tablePool
}

// refills reports whether a run of s may refill the tables of the run
// before (KEYS, ARGV, redis.call's replies) rather than make new ones: no
// one can hold them any more. A script keeps nothing past its run (the
// globals and every table reachable from them are read-only). Nor does a
// library's function without upvalues: it reaches no variable of its
// library, and what it could write to elsewhere is read-only too; one
// with upvalues may keep what it was given in them for its next call.
func refills(s *Script) bool {
	return s.fn == nil || !s.fn.IsG && s.fn.Proto.NumUpvalues == 0
}

// maxKeptReply is the largest redis.call reply buffer a vm keeps for its
// next run.
const maxKeptReply = 64 << 10

// lua5MaxCalls bounds the depth of nested calls, as LUAI_MAXCALLS bounds it
// in Lua 5.1 ("stack overflow" past it).
const lua5MaxCalls = 20000

// stateOptions let a C function return Redis's 8000 values (gopher-lua's
// default registry fails before with "registry overflow") and bound the
// call depth at Lua 5.1's (a fixed call stack: gopher-lua's growing one
// panics instead of raising "stack overflow").
var stateOptions = lua.Options{
	RegistrySize:    1024 * 20,
	RegistryMaxSize: 1024 * 1024,
	CallStackSize:   lua5MaxCalls,
	SkipOpenLibs:    true,
}

// newVM builds the sandboxed state (sandbox.go).
func newVM(e *Engine) *vm {
	v := &vm{e: e, L: lua.NewState(stateOptions), readonly: map[*lua.LTable]bool{}, proxies: map[*lua.LTable]*lua.LTable{}, funcs: map[string]*lua.LFunction{}, gc: gcSettings{pause: 200, stepMul: 200}}
	v.sandbox()
	return v
}

// state returns the engine's Lua state, creating it if needed. Caller
// holds e.mu.
func (e *Engine) state() *vm {
	if e.vm == nil {
		e.vm = newVM(e)
	}
	return e.vm
}

// exec runs script s for c with keys and argv, writing its reply to c.W.
// Caller holds e.mu.
func (v *vm) exec(c *commands.Ctx, s *Script, keys, argv [][]byte, readOnly bool) {
	L := v.L
	fn := v.compiled(s)
	// The run is the vm's (a vm runs one script at a time), so that a run
	// allocates none; it keeps only the storage of the reply buffer and of
	// the commands' arguments from one run to the next.
	r := &v.runState
	*r = run{c: c, script: s, readOnly: readOnly, resp: 2, w: r.w, args: r.args[:0], argBytes: r.argBytes[:0]}
	if refills(s) {
		r.tables = &v.tables
	}
	r.oom = s.Flags&FlagAllowOOM == 0 && !readOnly && overMaxMemory(c)
	v.run = r
	sess := c.Session
	db, proto := sess.DB, sess.Proto
	// No key expires while the script runs (the keyspace is locked for it
	// all along): it sees one point in time, as in Redis.
	froze := c.KS.FreezeExpiry()
	defer func() {
		if froze {
			c.KS.ThawExpiry()
		}
		sess.DB, sess.Proto = db, proto
		w := r.w
		if cap(w.Buf) > maxKeptReply {
			w.Buf = nil
		}
		// The run's effects are logged when its command ends, after
		// this returns: the arguments stay as they are until the next
		// run writes over them. The effects of a script EXEC ran are
		// logged when the transaction ends, after the scripts queued
		// behind it ran: they keep their storage.
		args, argBytes := r.args, r.argBytes
		if c.InExec || cap(argBytes) > maxKeptReply {
			args, argBytes = nil, nil
		}
		tables := r.tables
		*r = run{w: w, args: args[:0], argBytes: argBytes[:0]} // nothing of the client's stays reachable
		v.run = nil
		L.SetTop(0)
		if tables != nil {
			tables.release() // after the reply: it may be one of them
		}
	}()
	L.SetTop(0)
	L.Push(fn)
	w := v.startWatch(r)
	err := L.PCall(v.pushInput(s, keys, argv), 1, v.handler)
	w.end()
	switch w.reason.Load() {
	case stopNone:
	case stopShutdown:
		// SHUTDOWN NOSAVE: the script's writes are not logged, as Redis
		// exits before propagating them.
		c.Log = nil
		c.W.Error("ERR " + w.Err().Error())
		return
	case stopMemory:
		c.W.Error("ERR " + w.Err().Error() + stopPosition(s, err))
		// What the script held is garbage now: collect it, so that the
		// next script's baseline is not this one's peak.
		L.SetTop(0)
		runtime.GC()
		return
	default:
		c.W.Error("ERR " + w.Err().Error() + stopPosition(s, err))
		return
	}
	if err != nil {
		v.replyTopError(c, s, err)
		return
	}
	writeReply(c.W, L.Get(-1), r.resp)
}

// stringArray returns a Lua array of the strings in args.
func stringArray(L *lua.LState, args [][]byte) *lua.LTable {
	t := L.CreateTable(len(args), 0)
	for _, a := range args {
		t.Append(L.BytesValue(a))
	}
	return t
}

// refillArray makes t the array of the strings in args, or a new array
// when t is nil.
func refillArray(L *lua.LState, t *lua.LTable, args [][]byte) *lua.LTable {
	if t == nil {
		return stringArray(L, args)
	}
	t.Clear()
	for _, a := range args {
		t.Append(L.BytesValue(a))
	}
	return t
}

// replyError answers a script that raised an error: the handler turned
// it into a table {err=, source=, line=}, replied as Redis 7 does:
// "<err> script: <sha>, on <source>:<line>.".
func (v *vm) replyError(c *commands.Ctx, s *Script, err error) {
	aerr, ok := err.(*lua.ApiError)
	if !ok {
		c.W.Error("ERR Error running script " + s.Name + ", " + firstLine(err.Error()))
		return
	}
	t, ok := aerr.Object.(*lua.LTable)
	if !ok {
		// The handler itself failed: the stack was full (stack overflow).
		// The position is the message's prefix ("user_script:1: ...").
		msg := lua.LVAsString(aerr.Object)
		c.W.Error("ERR " + firstLine(msg) + positionSuffix(s, msg))
		return
	}
	c.W.Error(errField(t) + tablePosition(s, t))
}

// replyTopError is replyError for the script the client called, with the
// traceback the handler recorded (only errors raised in nested calls
// have one: see traceback).
func (v *vm) replyTopError(c *commands.Ctx, s *Script, err error) {
	if aerr, ok := err.(*lua.ApiError); ok {
		if t, ok := aerr.Object.(*lua.LTable); ok {
			if tb, ok := t.RawGetString("stack").(lua.LString); ok && t.RawGetString(calledError) != lua.LTrue {
				c.W.Error(errField(t) + tablePosition(s, t) + string(tb))
				return
			}
		}
	}
	v.replyError(c, s, err)
}

// stopPosition is the " script: <name>, on <source>:<line>." of a script
// stopped by its watch, from the error the stop raised.
func stopPosition(s *Script, err error) string {
	aerr, ok := err.(*lua.ApiError)
	if !ok {
		return ""
	}
	if t, ok := aerr.Object.(*lua.LTable); ok {
		return tablePosition(s, t)
	}
	return positionSuffix(s, lua.LVAsString(aerr.Object))
}

// tablePosition is the " script: <name>, on <source>:<line>." of an error
// table the handler filled, or "".
func tablePosition(s *Script, t *lua.LTable) string {
	src, line := t.RawGetString("source"), t.RawGetString("line")
	if ls, ok := src.(lua.LString); ok {
		if ln, ok := line.(lua.LNumber); ok {
			return fmt.Sprintf(" script: %s, on %s:%d.", s.Name, string(ls), int64(ln))
		}
	}
	return ""
}

// positionSuffix is the " script: <sha>, on @user_script:<line>." of an
// error message that starts with its position, or "".
func positionSuffix(s *Script, msg string) string {
	rest, ok := strings.CutPrefix(msg, "user_script:")
	if !ok {
		return ""
	}
	i := strings.IndexByte(rest, ':')
	if i <= 0 {
		return ""
	}
	return " script: " + s.Name + ", on @user_script:" + rest[:i] + "."
}

// errField is the err field of an error table as a string ("" if none).
func errField(t *lua.LTable) string {
	switch e := t.RawGetString("err").(type) {
	case lua.LString:
		return string(e)
	case lua.LNumber:
		return formatNumber(float64(e))
	}
	return ""
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// errorHandler is the message handler of a script's main call, Redis's
// __redis__err__handler: a non-table error becomes {err='ERR '..msg}, and
// the table gets the source and current line of the innermost Lua function
// on the stack (where the error was raised, or which called the Go
// function that raised it).
func (v *vm) errorHandler(L *lua.LState) int {
	e := L.Get(1)
	where, fn := errorFrame(L)
	t, ok := e.(*lua.LTable)
	if !ok {
		msg := luaToString(e)
		if where != nil {
			msg = v.nameRuntimeError(L, where, fn, msg)
		} else {
			msg = lua51Message(msg)
		}
		t = L.NewTable()
		t.RawSetString("err", lua.LString("ERR "+msg))
	}
	if where != nil {
		t.RawSetString("source", lua.LString(luaSource(where.Source)))
		t.RawSetString("line", lua.LNumber(where.CurrentLine))
		if tb := traceback(L); tb != "" {
			t.RawSetString("stack", lua.LString(tb))
		}
	}
	L.Push(t)
	return 1
}

// errorFrame is the innermost script frame on the stack of a message
// handler (the frame that raised the error, or that called the Go function
// that raised it), or nil when no script frame is there.
func errorFrame(L *lua.LState) (*lua.Debug, *lua.LFunction) {
	for level := 1; ; level++ {
		dbg, ok := L.GetStack(level)
		if !ok {
			return nil, nil
		}
		f, err := L.GetInfo("Slf", dbg, lua.LNil)
		if err != nil {
			return nil, nil
		}
		if !scriptFrame(dbg) {
			level += wrapTailLevels(dbg)
			continue
		}
		return dbg, f.(*lua.LFunction)
	}
}

// nameCaughtError is the message handler of the scripts' pcall and xpcall:
// it runs before the stack unwinds, so a runtime error gets Lua 5.1's words
// with the variable's name ("attempt to index local 't' (a nil value)")
// exactly as an uncaught one does. Other values pass through unchanged.
func (v *vm) nameCaughtError(L *lua.LState) int {
	e := L.Get(1)
	if msg, ok := e.(lua.LString); ok {
		if where, fn := errorFrame(L); where != nil {
			e = lua.LString(v.nameRuntimeError(L, where, fn, string(msg)))
		}
	}
	L.Push(e)
	return 1
}

// Error replies of scripts raised inside nested Lua calls carry, after
// Redis's text, a short Lua traceback that Redis does not have (issue 5,
// "better errors"): the Lua frames from the innermost out, one per frame,
// joined by " <- " after " stack: ", so the reply stays one line (an error
// in the main chunk has no suffix: Redis's position names its one frame;
// an error coming up through CALL.<alias> names the callee's position):
//
//	ERR user_script:2: Script attempted to access nonexistent global
//	variable 'x' script: <sha>, on @user_script:2. stack: @user_script:2
//	in function 'inner' <- @user_script:4 in function 'outer' <-
//	@user_script:6 in main chunk
//
// A frame is "<source>:<line> in function '<name>'", "in main chunk", or
// "in function <<source>:<line defined>>" for an unnamed function, and
// "(tail call)" where a tail call replaced frames. At most
// tracebackFrames frames are listed; "..." stands for the rest. The
// suffix always starts with StackMarker, at the end of the reply: the
// differential tests compare replies up to it (tests/differential).
const (
	StackMarker     = " stack: "
	tracebackFrames = 8
)

// traceback lists the Lua frames on L's stack (Go functions are left
// out), innermost first.
func traceback(L *lua.LState) string {
	var frames []string
	for level := 1; ; level++ {
		dbg, ok := L.GetStack(level)
		if !ok {
			break
		}
		if _, err := L.GetInfo("nSl", dbg, lua.LNil); err != nil {
			break
		}
		if !scriptFrame(dbg) {
			level += wrapTailLevels(dbg)
			continue
		}
		if len(frames) == tracebackFrames {
			frames = append(frames, "...")
			break
		}
		src := luaSource(dbg.Source)
		frame := src + ":" + strconv.Itoa(dbg.CurrentLine)
		switch {
		case dbg.LineDefined == 0:
			frame += " in main chunk"
		case dbg.Name != "" && dbg.Name != "main chunk" && !strings.HasPrefix(dbg.Name, "<"):
			frame += " in function '" + dbg.Name + "'"
		default:
			frame += " in function <" + src + ":" + strconv.Itoa(dbg.LineDefined) + ">"
		}
		frames = append(frames, frame)
		if dbg.What == "tail" || dbg.What == "main" && dbg.LineDefined != 0 {
			// A tail call replaced its caller's frame.
			frames = append(frames, "(tail call)")
		}
		if dbg.What == "main" {
			break // the outermost frame: GetStack returns it again past it
		}
	}
	if len(frames) < 2 {
		return "" // the position Redis gives says it all
	}
	return StackMarker + strings.Join(frames, " <- ")
}

// luaSource is Lua 5.1's source name of a chunk: "@user_script" for the
// script, the code itself for a chunk loadstring compiled.
func luaSource(name string) string {
	if strings.HasPrefix(name, `[string "`) && strings.HasSuffix(name, `"]`) {
		return strings.TrimSuffix(strings.TrimPrefix(name, `[string "`), `"]`)
	}
	return "@" + name
}

// openLibs opens the libraries Redis loads: base, table, string, math,
// coroutine (part of base in Lua 5.1), cjson, cmsgpack, bit and struct.
func openLibs(L *lua.LState) {
	for _, open := range []lua.LGFunction{lua.OpenBase, lua.OpenTable, lua.OpenString, lua.OpenMath, lua.OpenCoroutine} {
		L.Push(L.NewFunction(open))
		L.Call(0, 0)
	}
	lualib.Open(L)
}
