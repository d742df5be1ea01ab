package scripting

import (
	"context"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/structd/structd/commands"
	"github.com/structd/structd/internal/glob"
	"github.com/structd/structd/internal/resp"
)

// Redis 7.0's functions. A library is Lua code with a "#!lua name=<lib>"
// first line; FUNCTION LOAD runs it once in its own Lua state (the
// functions' state, apart from the scripts', as in Redis), where the code
// sees only redis.register_function, redis.log, the log levels and the
// version: the functions it registers are closures that run later, on
// FCALL, in the sandbox scripts get (without KEYS and ARGV: a function
// receives its keys and arguments as its two arguments). A library's locals
// live as long as it does, so upvalues persist between calls.

// Library is a function library: its code and the functions it registered.
type Library struct {
	Name      string
	Code      string      // as loaded, shebang line included
	Functions []*Function // in registration order
}

// Function is one function a library registered.
type Function struct {
	Name        string
	Description string
	HasDesc     bool
	Flags       Flags // FlagShebang (a function always declares its flags) and those given
	lib         *Library
	script      *Script // what FCALL runs
}

// engineName is the only engine: the name FUNCTION LIST and STATS give.
const engineName = "LUA"

// loadTimeout bounds how long FUNCTION LOAD runs a library's code, as
// Redis's LOAD_TIMEOUT_MS; the log's replay has no bound.
const loadTimeout = 500 * time.Millisecond

const errBadName = "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"

// validName reports whether name is a valid library or function name:
// letters, digits and underscores, at least one.
func validName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// obeysLog reports whether c runs a command from the log (replay), which
// must redo what was done and so is never cut short by the load timeout.
func obeysLog(c *commands.Ctx) bool { return c.Conn == nil }

// parseLibraryMeta reads a library's "#!<engine> name=<name>" line, as
// Redis's functionExtractLibMetaData and the checks after it. It returns
// the library's name and the code to compile: the rest after the first
// line, its newline kept so line numbers count the first line.
func parseLibraryMeta(code string) (name, body string, err error) {
	if !strings.HasPrefix(code, "#!") {
		return "", "", &compileError{"ERR Missing library metadata"}
	}
	end := strings.IndexByte(code, '\n')
	if end < 0 {
		return "", "", &compileError{"ERR Invalid library metadata"}
	}
	parts, ok := resp.SplitArgs([]byte(code[:end]), nil)
	if !ok || len(parts) == 0 {
		return "", "", &compileError{"ERR Invalid library metadata"}
	}
	engine := string(parts[0][2:])
	hasName := false
	for _, p := range parts[1:] {
		v, ok := cutPrefixFold(string(p), "name=")
		if !ok {
			return "", "", &compileError{"ERR Invalid metadata value given: " + string(p)}
		}
		if hasName {
			return "", "", &compileError{"ERR Invalid metadata value, name argument was given multiple times"}
		}
		name, hasName = v, true
	}
	switch {
	case !hasName:
		return "", "", &compileError{"ERR Library name was not given"}
	case !validName(name):
		return "", "", &compileError{"ERR " + errBadName}
	case !strings.EqualFold(engine, engineName):
		return "", "", &compileError{"ERR Engine '" + engine + "' not found"}
	}
	return name, code[end:], nil
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return "", false
}

// functionsVM returns the functions' Lua state, creating it if needed: the
// scripts' sandbox without the globals KEYS, ARGV and CALL, and the
// environment library code runs in at load. Caller holds e.mu.
func (e *Engine) functionsVM() *vm {
	if e.fvm != nil {
		return e.fvm
	}
	v := newVM(e)
	for _, g := range []string{"KEYS", "ARGV", "CALL"} {
		v.globals.RawSetString(g, lua.LNil)
	}
	L := v.L
	// At load, the globals are redis and nothing else, and redis holds
	// register_function, log, the log levels and the version; anything
	// else is a missing global, as in Redis.
	missing := v.globals.Metatable
	redisTable := v.globals.RawGetString("redis").(*lua.LTable).Metatable.(*lua.LTable).RawGetString("__index").(*lua.LTable)
	api := L.NewTable()
	api.RawSetString("register_function", L.NewFunction(e.registerFunction))
	for _, name := range []string{"log", "LOG_DEBUG", "LOG_VERBOSE", "LOG_NOTICE", "LOG_WARNING", "REDIS_VERSION", "REDIS_VERSION_NUM"} {
		api.RawSetString(name, redisTable.RawGetString(name))
	}
	api.Metatable = missing
	env := L.NewTable()
	env.RawSetString("redis", v.readonlyProxy(api))
	env.Metatable = missing
	e.fvm, e.loadEnv = v, env
	return v
}

// buildLibrary compiles a library's code and runs it to collect the
// functions it registers, as Redis's luaEngineCreate; the library is not
// linked. Caller holds e.mu.
func (e *Engine) buildLibrary(name, code, body string, timeout bool) (*Library, error) {
	proto, err := compileChunk(body, "user_function")
	if err != nil {
		return nil, &compileError{"ERR Error compiling function: " + err.Error()}
	}
	v := e.functionsVM()
	L := v.L
	lib := &Library{Name: name, Code: code}
	e.loading = lib
	defer func() { e.loading = nil }()
	// The chunk and the closures it makes share the globals proxy, which
	// reads through to the load environment while the chunk runs, and to
	// the real globals afterwards, when the functions are called.
	mt := v.env.Metatable.(*lua.LTable)
	mt.RawSetString("__index", e.loadEnv)
	defer mt.RawSetString("__index", v.globals)
	var ctx context.Context
	if timeout {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.Background(), loadTimeout)
		defer cancel()
		L.SetContext(ctx)
		defer L.RemoveContext()
	}
	fn := L.NewFunctionFromProto(proto)
	fn.Env = v.env
	L.SetTop(0)
	L.Push(fn)
	err = L.PCall(0, 0, v.handler)
	L.SetTop(0)
	switch {
	case err != nil && ctx != nil && ctx.Err() != nil:
		return nil, &compileError{"ERR Error registering functions: ERR FUNCTION LOAD timeout"}
	case err != nil:
		return nil, &compileError{"ERR Error registering functions: " + luaErrorMessage(err)}
	case len(lib.Functions) == 0:
		return nil, &compileError{"ERR No functions registered"}
	}
	// Loaded: the proxy reads through to the real globals from now on, so
	// a function that assigns none may read them directly (envFor).
	for _, f := range lib.Functions {
		if fn := f.script.fn; !fn.IsG && fn.Env == v.env {
			fn.Env = v.envFor(fn.Proto)
		}
	}
	return lib, nil
}

// luaErrorMessage is the message of an error a Lua call raised through the
// error handler: the err field of its table ("ERR user_function:2: ...").
func luaErrorMessage(err error) string {
	aerr, ok := err.(*lua.ApiError)
	if !ok {
		return "ERR " + firstLine(err.Error())
	}
	if t, ok := aerr.Object.(*lua.LTable); ok {
		return errField(t)
	}
	return "ERR " + firstLine(lua.LVAsString(aerr.Object))
}

// registerFunction is redis.register_function, callable only while
// FUNCTION LOAD runs a library's code: (name, callback), or one table of
// named arguments function_name, callback, flags and description.
func (e *Engine) registerFunction(L *lua.LState) int {
	lib := e.loading
	if lib == nil {
		return raise(L, "redis.register_function can only be called on FUNCTION LOAD command")
	}
	f, fn, msg := registerArgs(L)
	if msg != "" {
		return raise(L, msg)
	}
	if !validName(f.Name) {
		return raise(L, errBadName)
	}
	for _, g := range lib.Functions {
		if g.Name == f.Name {
			return raise(L, "Function already exists in the library")
		}
	}
	f.Flags |= FlagShebang
	f.lib = lib
	f.script = &Script{Name: f.Name, Flags: f.Flags, fn: fn}
	lib.Functions = append(lib.Functions, f)
	return 0
}

// registerArgs reads redis.register_function's arguments, as Redis's
// luaRegisterFunctionReadArgs; msg is the error to raise.
func registerArgs(L *lua.LState) (f *Function, fn *lua.LFunction, msg string) {
	f = &Function{}
	switch L.GetTop() {
	case 2:
		name, ok := luaStringValue(L.Get(1))
		if !ok {
			return nil, nil, "first argument to redis.register_function must be a string"
		}
		if fn, ok = L.Get(2).(*lua.LFunction); !ok {
			return nil, nil, "second argument to redis.register_function must be a function"
		}
		f.Name = name
		return f, fn, ""
	case 1:
	default:
		return nil, nil, "wrong number of arguments to redis.register_function"
	}
	t, ok := L.Get(1).(*lua.LTable)
	if !ok {
		return nil, nil, "calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments)."
	}
	hasName := false
	t.ForEach(func(k, v lua.LValue) {
		if msg != "" {
			return
		}
		key, ok := luaStringValue(k)
		if !ok {
			msg = "named argument key given to redis.register_function is not a string"
			return
		}
		switch strings.ToLower(key) {
		case "function_name":
			if f.Name, hasName = luaStringValue(v); !hasName {
				msg = "function_name argument given to redis.register_function must be a string"
			}
		case "description":
			if f.Description, f.HasDesc = luaStringValue(v); !f.HasDesc {
				msg = "description argument given to redis.register_function must be a string"
			}
		case "callback":
			if fn, ok = v.(*lua.LFunction); !ok {
				msg = "callback argument given to redis.register_function must be a function"
			}
		case "flags":
			flags, ok := v.(*lua.LTable)
			if !ok {
				msg = "flags argument to redis.register_function must be a table representing function flags"
				return
			}
			if f.Flags, ok = readFunctionFlags(flags); !ok {
				msg = "unknown flag given"
			}
		default:
			msg = "unknown argument given to redis.register_function"
		}
	})
	switch {
	case msg != "":
		return nil, nil, msg
	case !hasName:
		return nil, nil, "redis.register_function must get a function name argument"
	case fn == nil:
		return nil, nil, "redis.register_function must get a callback argument"
	}
	return f, fn, ""
}

// readFunctionFlags reads the array of flag names of a registration (any
// case); false if one is not a flag.
func readFunctionFlags(t *lua.LTable) (Flags, bool) {
	var flags Flags
	for i := 1; ; i++ {
		v := t.RawGetInt(i)
		if v == lua.LNil {
			return flags, true
		}
		name, ok := luaStringValue(v)
		if !ok {
			return 0, false
		}
		f, ok := flagNamed(name, true)
		if !ok {
			return 0, false
		}
		flags |= f
	}
}

// luaStringValue is lua_tostring for the values lua_isstring accepts:
// strings, and numbers in their %.14g form.
func luaStringValue(v lua.LValue) (string, bool) {
	switch x := v.(type) {
	case lua.LString:
		return string(x), true
	case lua.LNumber:
		return formatNumber(float64(x)), true
	}
	return "", false
}

// createLibrary builds the library code defines, checking first, as Redis,
// that it may be added: a library of that name exists only if replace. It
// returns the library and the one it replaces, if any; nothing is linked.
// Caller holds e.mu.
func (e *Engine) createLibrary(code string, replace, timeout bool) (lib, old *Library, err error) {
	name, body, err := parseLibraryMeta(code)
	if err != nil {
		return nil, nil, err
	}
	old = e.cat.library(name)
	if old != nil && !replace {
		return nil, nil, &compileError{"ERR Library '" + name + "' already exists"}
	}
	lib, err = e.buildLibrary(name, code, body, timeout)
	return lib, old, err
}

// FunctionLoad implements commands.FunctionEngine: FUNCTION LOAD.
func (e *Engine) FunctionLoad(c *commands.Ctx, code []byte, replace bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	lib, old, err := e.createLibrary(string(code), replace, !obeysLog(c))
	if err != nil {
		c.W.Error(err.Error())
		return
	}
	cat := &e.cat
	cat.mu.Lock()
	if f := cat.collision(lib, old); f != "" {
		cat.mu.Unlock()
		c.W.Error("ERR Function " + f + " already exists")
		return
	}
	if old != nil {
		cat.unlink(old)
	}
	cat.link(lib)
	cat.changed()
	cat.mu.Unlock()
	// Logged with REPLACE: what it replaced (nothing, or a library of
	// that name) is what replay finds, and a replay that runs it twice
	// ends in the same state.
	c.CatalogChanged([]byte("FUNCTION"), []byte("LOAD"), []byte("REPLACE"), code)
	c.W.BulkString(lib.Name)
}

// collision returns the name of a function of lib that another library
// than except already has, or "". Caller holds mu.
func (cat *catalog) collision(lib, except *Library) string {
	for _, f := range lib.Functions {
		if g := cat.funcs[strings.ToLower(f.Name)]; g != nil && g.lib != except {
			return f.Name
		}
	}
	return ""
}

// FunctionList implements commands.FunctionEngine: FUNCTION LIST, the
// libraries ordered by name (Redis's order is its hash table's).
func (e *Engine) FunctionList(c *commands.Ctx, pattern []byte, withCode bool) {
	libs := e.cat.libraries()
	if pattern != nil {
		kept := libs[:0]
		for _, l := range libs {
			if glob.MatchFold(pattern, l.Name) {
				kept = append(kept, l)
			}
		}
		libs = kept
	}
	w := c.W
	w.Array(len(libs))
	for _, l := range libs {
		if withCode {
			w.Map(4)
		} else {
			w.Map(3)
		}
		w.BulkString("library_name")
		w.BulkString(l.Name)
		w.BulkString("engine")
		w.BulkString(engineName)
		w.BulkString("functions")
		w.Array(len(l.Functions))
		for _, f := range l.Functions {
			w.Map(3)
			w.BulkString("name")
			w.BulkString(f.Name)
			w.BulkString("description")
			if f.HasDesc {
				w.BulkString(f.Description)
			} else {
				w.Null()
			}
			w.BulkString("flags")
			names := f.Flags.names()
			w.Set(len(names))
			for _, n := range names {
				w.Simple(n)
			}
		}
		if withCode {
			w.BulkString("library_code")
			w.BulkString(l.Code)
		}
	}
}

// FunctionDelete implements commands.FunctionEngine: FUNCTION DELETE.
func (e *Engine) FunctionDelete(c *commands.Ctx, name []byte) {
	cat := &e.cat
	cat.mu.Lock()
	lib := cat.libs[string(name)]
	if lib != nil {
		cat.unlink(lib)
		cat.changed()
	}
	cat.mu.Unlock()
	if lib == nil {
		c.W.Error("ERR Library not found")
		return
	}
	c.CatalogChanged([]byte("FUNCTION"), []byte("DELETE"), name)
	c.W.OK()
}

// FunctionFlush implements commands.FunctionEngine: FUNCTION FLUSH drops
// every library and the functions' Lua state with them.
func (e *Engine) FunctionFlush(c *commands.Ctx) {
	e.mu.Lock()
	e.flushFunctions()
	e.mu.Unlock()
	c.CatalogChanged([]byte("FUNCTION"), []byte("FLUSH"))
	c.W.OK()
}

// flushFunctions drops every library and the functions' Lua state.
// Caller holds e.mu.
func (e *Engine) flushFunctions() {
	cat := &e.cat
	cat.mu.Lock()
	clear(cat.libs)
	clear(cat.funcs)
	cat.changed()
	cat.mu.Unlock()
	if e.fvm != nil {
		e.fvm.L.Close()
		e.fvm, e.loadEnv = nil, nil
	}
}

// FunctionStats implements commands.FunctionEngine: FUNCTION STATS. No
// function can be running while it runs (a function holds the keyspace),
// so running_script is always null.
func (e *Engine) FunctionStats(c *commands.Ctx) {
	// FUNCTION STATS takes no lock (it is allow-busy). Redis answers it
	// during a script only once the script is busy; until then it waits
	// for the script's end, as here. Inside EXEC the run at the gate is
	// the transaction itself.
	if r := e.busy.gate.cur.Load(); r != nil && !c.InExec {
		e.busy.gate.wait(r)
	}
	name, command, ran, function, running := e.busyScript()
	if running && !function {
		c.W.Error(errBusyEval) // as Redis 7.0 answers while an EVAL script is busy
		return
	}
	cat := &e.cat
	cat.mu.RLock()
	nlibs, nfuncs := len(cat.libs), len(cat.funcs)
	cat.mu.RUnlock()
	w := c.W
	w.Map(2)
	w.BulkString("running_script")
	if running {
		w.Map(3)
		w.BulkString("name")
		w.BulkString(name)
		w.BulkString("command")
		w.Array(len(command))
		for _, a := range command {
			w.Bulk(a)
		}
		w.BulkString("duration_ms")
		w.Int(ran.Milliseconds())
	} else {
		w.Null()
	}
	w.BulkString("engines")
	w.Map(1)
	w.BulkString(engineName)
	w.Map(2)
	w.BulkString("libraries_count")
	w.Int(int64(nlibs))
	w.BulkString("functions_count")
	w.Int(int64(nfuncs))
}

// FCall implements commands.FunctionEngine: FCALL and FCALL_RO, under the
// exclusive keyspace lock (the commands are KeyspaceWide).
func (e *Engine) FCall(c *commands.Ctx, readOnly bool) {
	f := e.cat.function(c.Args[1])
	if f == nil {
		c.W.Error("ERR Function not found")
		return
	}
	numkeys, ok := numKeys(c, "ERR Bad number of keys provided")
	if !ok {
		return
	}
	s := f.script
	if readOnly && s.Flags&FlagNoWrites == 0 {
		c.W.Error("ERR Can not execute a script with write flag using *_ro command.")
		return
	}
	if refusedForMemory(c, s) {
		c.W.Error(errOOM[1:])
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.functionsVM().exec(c, s, c.Args[3:3+numkeys], c.Args[3+numkeys:], readOnly || s.Flags&FlagNoWrites != 0)
}
