// Package scripting is StructD's Lua scripting engine, compatible with
// Redis 7.0's EVAL family: scripts run on gopher-lua (Lua 5.1, as Redis)
// in a sandbox holding only what Redis exposes (sandbox.go), call commands
// through redis.call and redis.pcall (redislib.go), and their results are
// converted to replies as Redis converts them (convert.go).
//
// Invariants:
//   - One Lua state serves every script, as in Redis: library settings
//     (cjson's) and math.random's state persist between scripts until SCRIPT
//     FLUSH, which replaces the state. The engine's mutex serializes its
//     use; EVAL is KeyspaceWide anyway, so scripts never wait on it for
//     long.
//   - The state's globals are read-only: a script cannot leave anything
//     behind for the next one but through the data, so the state needs no
//     reset between runs beyond KEYS, ARGV and the RESP version. Nor can
//     it keep a reference to a value past its run: the next run refills
//     the KEYS and ARGV tables and the tables of redis.call's replies
//     (pushInput, tablePool). A library's function can when it has
//     upvalues (its library's locals live on): its runs get new ones.
//   - The cache maps the SHA1 of a script body to its compiled form; it is
//     shared by all clients and survives FLUSHALL, as Redis's.
package scripting

import (
	"crypto/sha1"
	"encoding/hex"
	"strings"
	"sync"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"

	"github.com/structd/structd/commands"
)

func init() { commands.SetScriptEngineFactory(func() commands.ScriptEngine { return New() }) }

// Script is a compiled script of the cache, or a library function
// (functions.go) in the same form, so that both run the same way.
type Script struct {
	SHA  string // lower-case hex SHA1 of Body ("" for a library function)
	Body string
	// Name is how error replies name the script: its SHA, the alias it
	// was called by (a copy of the cached Script), or the function's name.
	Name  string
	Flags Flags // from the #!lua shebang, or the function's flags
	proto *lua.FunctionProto
	// fn is a library function's callback (in the functions' Lua state):
	// it takes the keys and arguments as its two arguments, where a
	// script reads the globals KEYS and ARGV.
	fn *lua.LFunction
}

// compiled returns the Lua function that runs s in v: a library
// function's callback, or the script's chunk, made once per state.
func (v *vm) compiled(s *Script) *lua.LFunction {
	if s.fn != nil {
		return s.fn
	}
	fn := v.funcs[s.SHA]
	if fn == nil {
		fn = v.L.NewFunctionFromProto(s.proto)
		fn.Env = v.envFor(s.proto)
		v.funcs[s.SHA] = fn
	}
	return fn
}

// pushInput hands a run its keys and arguments: a script finds them in
// the globals KEYS and ARGV, a library function gets them as its two
// arguments (pushed on the stack after it). It returns the number of
// arguments pushed.
//
// A script or function the client called refills the vm's two tables of
// the run before when the run refills its tables (refills): no one holds
// them any more. A script CALL.<alias> runs gets new ones, as its caller
// still holds the vm's, and so does a library function with upvalues,
// which may keep what it is given.
func (v *vm) pushInput(s *Script, keys, argv [][]byte) int {
	L := v.L
	reuse := v.e.callDepth == 0 && v.run != nil && v.run.tables != nil
	if s.fn == nil {
		if reuse {
			v.keys, v.argv = refillArray(L, v.keys, keys), refillArray(L, v.argv, argv)
			// Setting a global would void what gopher-lua's field
			// caches know of the globals (FORK.md): the tables are set
			// once, and CALL.<alias> puts them back after its callee.
			if !v.inputSet {
				v.globals.RawSetString("KEYS", v.keys)
				v.globals.RawSetString("ARGV", v.argv)
				v.inputSet = true
			}
			return 0
		}
		v.globals.RawSetString("KEYS", stringArray(L, keys))
		v.globals.RawSetString("ARGV", stringArray(L, argv))
		return 0
	}
	if reuse {
		v.keys, v.argv = refillArray(L, v.keys, keys), refillArray(L, v.argv, argv)
		L.Push(v.keys)
		L.Push(v.argv)
		return 2
	}
	L.Push(stringArray(L, keys))
	L.Push(stringArray(L, argv))
	return 2
}

// Engine is one server's scripting: the script cache, the catalog
// (function libraries and script aliases), and the Lua states that run
// scripts and functions.
type Engine struct {
	cacheMu sync.RWMutex
	cache   map[string]*Script

	cat catalog

	mu  sync.Mutex // held while a script or function runs or loads
	vm  *vm        // the scripts' Lua state
	fvm *vm        // the functions' Lua state (functions.go)
	// loadEnv is what a library's code sees while FUNCTION LOAD runs it,
	// and loading the library being loaded (redis.register_function).
	loadEnv *lua.LTable
	loading *Library
	// callDepth is how deep CALL.<alias> runs are nested (alias_call.go).
	callDepth int
	rng       rand48
	busy      busyState // busy scripts, SCRIPT KILL (busy.go)
}

// New returns an engine with an empty cache and catalog.
func New() *Engine {
	e := &Engine{cache: map[string]*Script{}, cat: newCatalog()}
	e.rng.x = 0x1234ABCD330E // rand48's initial state, as Redis starts
	return e
}

// SHA1Hex is the lower-case hex SHA1 of b, a script's name in the cache.
func SHA1Hex(b []byte) string {
	sum := sha1.Sum(b)
	return hex.EncodeToString(sum[:])
}

// compileError is a script that failed its shebang or compilation; msg is
// the whole error reply.
type compileError struct{ msg string }

func (e *compileError) Error() string { return e.msg }

// Load returns the cached script with body, compiling and caching it if
// needed.
func (e *Engine) Load(body []byte) (*Script, error) {
	sha := SHA1Hex(body)
	e.cacheMu.RLock()
	s := e.cache[sha]
	e.cacheMu.RUnlock()
	if s != nil {
		return s, nil
	}
	s, err := compile(sha, string(body))
	if err != nil {
		return nil, err
	}
	e.cacheMu.Lock()
	if old := e.cache[sha]; old != nil {
		s = old
	} else {
		e.cache[sha] = s
	}
	e.cacheMu.Unlock()
	return s, nil
}

// Lookup returns the script named sha (any case), or nil: a cached one, or
// one an alias names (alias.go).
func (e *Engine) Lookup(sha []byte) *Script {
	if len(sha) != 40 {
		return nil
	}
	e.cacheMu.RLock()
	s := e.cache[string(sha)] // no copy: SHAs are usually sent in lower case
	e.cacheMu.RUnlock()
	if s != nil {
		return s
	}
	key := strings.ToLower(string(sha))
	if key != string(sha) {
		e.cacheMu.RLock()
		s = e.cache[key]
		e.cacheMu.RUnlock()
	}
	if s == nil {
		s = e.cat.pinnedScript(key)
	}
	return s
}

// Resolve returns the script EVALSHA names: by its SHA, or by an alias
// (then the Script's Name is the alias); nil if none. TXN.ESHA resolves
// through EVALSHA, so it takes aliases too.
func (e *Engine) Resolve(name []byte) *Script {
	if s := e.Lookup(name); s != nil {
		return s
	}
	return e.cat.aliased(string(name))
}

// Flush empties the cache and replaces the Lua state, as SCRIPT FLUSH.
func (e *Engine) Flush() {
	e.cacheMu.Lock()
	e.cache = map[string]*Script{}
	e.cacheMu.Unlock()
	e.mu.Lock()
	if e.vm != nil {
		e.vm.L.Close()
		e.vm = nil
	}
	e.mu.Unlock()
}

// compile parses the shebang and compiles the body of a script; the
// shebang line is removed from the code but its newline is kept, so line
// numbers count it, as in Redis.
func compile(sha, body string) (*Script, error) {
	flags, code, err := parseShebang(body)
	if err != nil {
		return nil, err
	}
	proto, err := compileChunk(code, "user_script")
	if err != nil {
		return nil, &compileError{"ERR Error compiling script (new function): " + err.Error()}
	}
	return &Script{SHA: sha, Body: body, Name: sha, Flags: flags, proto: proto}, nil
}

// compileChunk compiles Lua source named name, with Lua 5.1's syntax error
// texts ("user_script:1: unexpected symbol near '+'").
func compileChunk(src, name string) (proto *lua.FunctionProto, err error) {
	defer func() {
		if r := recover(); r != nil { // the parser must not take the server down
			proto, err = nil, &compileError{name + ": " + "syntax error"}
		}
	}()
	chunk, perr := parse.Parse(strings.NewReader(src), name)
	if perr != nil {
		return nil, &compileError{luaSyntaxError(perr, src, name)}
	}
	proto, cerr := lua.Compile(chunk, name)
	if cerr != nil {
		return nil, &compileError{name + ": " + cerr.Error()}
	}
	// A main chunk has no arg table in Lua 5.1 (its parser marks only
	// functions declared with ... as needing one), but gopher-lua builds
	// one on every call of a chunk that does not use ..., in a register
	// no name reaches: three maps per script run.
	proto.IsVarArg &^= lua.VarArgNeedsArg
	return proto, nil
}
