package scripting_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/structd/structd/scripting"
)

// Sandbox escapes, resource bombs and the historical Redis Lua bugs, run
// end to end through EVAL: each is refused with an error (Redis's text
// where Redis has the same case, recorded from redis-server 7.0.15), and
// the server answers other clients afterwards.

type hardeningCase struct {
	name, script string
	// want is the whole error reply with %s for the script's SHA, or,
	// when it starts with "~", a substring of it.
	want string
}

// heavyCases (20000-deep recursion) take seconds each under the race
// detector, as the memory cases do: those run without it.
var heavyCases = map[string]bool{"__index recursion": true, "__tostring recursion": true,
	"__newindex recursion": true, "deep recursion": true, "non-tail recursion with arguments": true}

var sandboxCases = []hardeningCase{
	{"os", "return os.time()", "ERR user_script:1: Script attempted to access nonexistent global variable 'os' script: %s, on @user_script:1."},
	{"io", "return io.write('x')", "ERR user_script:1: Script attempted to access nonexistent global variable 'io' script: %s, on @user_script:1."},
	{"require", "return require('x')", "ERR user_script:1: Script attempted to access nonexistent global variable 'require' script: %s, on @user_script:1."},
	{"loadfile", "return loadfile('/etc/passwd')", "ERR user_script:1: Script attempted to access nonexistent global variable 'loadfile' script: %s, on @user_script:1."},
	{"dofile", "return dofile('/etc/passwd')", "ERR user_script:1: Script attempted to access nonexistent global variable 'dofile' script: %s, on @user_script:1."},
	{"module", "return module('x')", "ERR user_script:1: Script attempted to access nonexistent global variable 'module' script: %s, on @user_script:1."},
	{"debug", "return debug.getinfo(1)", "ERR user_script:1: Script attempted to access nonexistent global variable 'debug' script: %s, on @user_script:1."},
	{"print", "return type(print)", "ERR user_script:1: Script attempted to access nonexistent global variable 'print' script: %s, on @user_script:1."},
	{"newproxy", "return newproxy(true)", "ERR user_script:1: Script attempted to access nonexistent global variable 'newproxy' script: %s, on @user_script:1."},
	{"getfenv", "return getfenv(1)", "ERR user_script:1: Script attempted to access nonexistent global variable 'getfenv' script: %s, on @user_script:1."},
	{"setfenv", "setfenv(1, {})", "ERR user_script:1: Script attempted to access nonexistent global variable 'setfenv' script: %s, on @user_script:1."},
	{"new global", "x = 1", "ERR user_script:1: Attempt to modify a readonly table script: %s, on @user_script:1."},
	{"_G field", "_G.x = 1", "ERR user_script:1: Attempt to modify a readonly table script: %s, on @user_script:1."},
	{"rawset _G", "rawset(_G, 'x', 1)", "ERR Attempt to modify a readonly table script: %s, on @user_script:1."},
	{"setmetatable _G", "setmetatable(_G, nil)", "ERR Attempt to modify a readonly table script: %s, on @user_script:1."},
	{"library field", "string.foo = 1", "ERR user_script:1: Attempt to modify a readonly table script: %s, on @user_script:1."},
	{"rawset library", "rawset(string, 'rep', nil)", "ERR Attempt to modify a readonly table script: %s, on @user_script:1."},
	{"rawset redis", "rawset(redis, 'call', nil)", "ERR Attempt to modify a readonly table script: %s, on @user_script:1."},
	{"setmetatable cjson", "setmetatable(cjson, {})", "ERR Attempt to modify a readonly table script: %s, on @user_script:1."},
	{"string metatable", "getmetatable('').__index = {}", "ERR user_script:1: Attempt to modify a readonly table script: %s, on @user_script:1."},
	{"string library via metatable", "getmetatable('').__index.upper = nil", "ERR user_script:1: Attempt to modify a readonly table script: %s, on @user_script:1."},
	{"setmetatable string metatable", "setmetatable(getmetatable(''), {})", "~Attempt to modify a readonly table"},
	{"loadstring global", "loadstring('y = 1')()", "~Attempt to modify a readonly table"},
	{"loadstring missing global", "return loadstring('return os')()", "~Script attempted to access nonexistent global variable 'os'"},
	{"global in a coroutine", "local co = coroutine.wrap(function() z = 1 end) co()", "~Attempt to modify a readonly table"},
	{"loop in gettable", "local a = {} local b = {} setmetatable(a, {__index=b}) setmetatable(b, {__index=a}) return a.x", "~user_script:1: "},
	{"__index recursion", "local t = setmetatable({}, {__index=function(t,k) return t[k] end}) return t.x", "~stack overflow"},
	{"__tostring recursion", "local t = setmetatable({}, {__tostring=function(t) return tostring(t) end}) return tostring(t)", "~stack overflow"},
	{"__newindex recursion", "local t = setmetatable({}, {__newindex = function(t, k, v) rawset(t, k, v) t[k+1] = v end}) t[1] = 1", "~stack overflow"},
	{"deep recursion", "local function f() return f() + 1 end return f()", "ERR user_script:1: stack overflow script: %s, on @user_script:1."},
	{"non-tail recursion with arguments", "local function f(n) return 1 + f(n + 1) end return f(0)", "~stack overflow"},
	// Historical Redis Lua bugs.
	{"struct.pack huge size (CVE-2020-14147)", "return struct.pack('>I200000000', 1)", "ERR user_script:1: integral size 200000000 is larger than limit of 32 script: %s, on @user_script:1."},
	{"struct.unpack huge size", "return struct.unpack('i200000000', 'x')", "~larger than limit"},
	{"cjson deep nesting", "return cjson.decode(string.rep('[', 100000))", "ERR user_script:1: Found too many nested data structures (1001) at character 1001 script: %s, on @user_script:1."},
	{"cjson cycle", "local a = {} a.b = a return cjson.encode(a)", "ERR user_script:1: Cannot serialise, excessive nesting (1001) script: %s, on @user_script:1."},
	{"cmsgpack truncated array (CVE-2018-11218)", "return cmsgpack.unpack(string.rep('\\220\\255\\255', 1000))", "ERR user_script:1: Missing bytes in input. script: %s, on @user_script:1."},
	{"cmsgpack cycle", "local a = {} a[1] = a return #cmsgpack.pack(a)", ""},
	{"string.rep bomb", "return string.rep('x', 2^30)", "~not enough memory"},
	{"string.rep of a big string", "local s = string.rep('x', 2^20) return string.rep(s, 2^12)", "~not enough memory"},
	{"table.concat bomb", "local t = {} local s = string.rep('x', 2^20) for i = 1, 3000 do t[i] = s end return #table.concat(t)", "~not enough memory"},
	{"string.format width", "return string.format('%0999d', 1)", "~ERR "},
	// Upstream gopher-lua filled an array up to any index below 2^26 with
	// nils (a 1 GB array), and pushed every value unpack or string.byte
	// was asked for.
	{"sparse table index", "local t = {} t[60000000] = 1 t[2^25] = 2 return {#t, t[60000000], t[2^25]}", ""},
	{"unpack of a huge range", "return unpack({}, 1, 1e9)", "~too many results to unpack"},
	{"string.byte of a huge range", "return string.byte(string.rep('x', 1e6), 1, -1)", "~string slice too long"},
	{"string.find past the end", "return {string.find('abc', 'b', 100, true), string.find('abc', 'b', 2^40)}", ""},
}

// memoryCases grow without bound; the watchdog stops them.
var memoryCases = []hardeningCase{
	{"huge table", "local t = {} for i = 1, 1e9 do t[i] = i end return #t", "~not enough memory"},
	{"huge hash table", "local t = {} for i = 1, 1e9 do t['k'..i] = i end", "~not enough memory"},
	{"concatenation loop", "local s = 'x' while true do s = s .. s end", "~not enough memory"},
	{"concatenation into a table", "local t, s = {}, string.rep('x', 4096) local i = 0 while true do i = i + 1 t[i] = s .. i end", "~not enough memory"},
	// Each coroutine is a Lua state with its own stacks: memory runs out
	// first.
	{"coroutine recursion", "local function f() return coroutine.wrap(f)() end return f()", "~not enough memory"},
	{"tables through a metatable", "local mt = {} mt.__index = function(t, k) local n = setmetatable({}, mt) rawset(t, k, n) return n end local root = setmetatable({}, mt) local x, i = root, 0 while true do i = i + 1 x = x[i] end", "~not enough memory"},
}

func isMemoryCase(tc hardeningCase) bool {
	for _, m := range memoryCases {
		if m.name == tc.name {
			return true
		}
	}
	return false
}

func TestScriptHardening(t *testing.T) {
	defer func(old uint64) { scripting.ScriptMemoryLimit = old }(scripting.ScriptMemoryLimit)
	scripting.ScriptMemoryLimit = 64 << 20
	s := startServer(t, t.TempDir(), "appendonly no", `save ""`)
	defer s.Close()
	c := dial(t, s)
	other := dial(t, s)
	other.expect(`(simple) "OK"`, "SET", "k", "v")
	cases := append(append([]hardeningCase{}, sandboxCases...), memoryCases...)
	for _, tc := range cases {
		if raceEnabled && (heavyCases[tc.name] || isMemoryCase(tc)) {
			continue
		}
		if only := os.Getenv("HARDENING_CASE"); only != "" && !strings.Contains(only, "/"+tc.name+"/") {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			got := c.do("EVAL", tc.script, "0")
			if tc.want == "" {
				if strings.HasPrefix(got, "(error)") {
					t.Errorf("%s: %s", tc.script, got)
				}
			} else if sub, ok := strings.CutPrefix(tc.want, "~"); ok {
				if !strings.HasPrefix(got, `(error) "`) || !strings.Contains(got, sub) {
					t.Errorf("%s:\n got %s\nwant an error with %q", tc.script, got, sub)
				}
			} else if want := fmt.Sprintf(`(error) "`+tc.want+`"`, scripting.SHA1Hex([]byte(tc.script))); got != want {
				t.Errorf("%s:\n got %s\nwant %s", tc.script, got, want)
			}
			other.t = t
			other.expect(`"v"`, "GET", "k")
		})
	}
	if s.HandlerPanics() != 0 {
		t.Fatal("a command panicked")
	}
}

// protectedFingerprint lists, sorted, every field of the protected tables
// a script can reach (the globals, the tables in them, the string
// metatable and the globals' metatable) with its value's type, each
// table's length, first array element and metatable: what a refused raw
// write must leave as it was. Run after a write attempt, it is also the
// next script, which must see nothing of it.
const protectedFingerprint = `local out, seen = {}, {}
local function walk(name, t)
  if seen[t] then return end
  seen[t] = true
  out[#out + 1] = name .. ' #' .. #t .. ' [1]=' .. type(rawget(t, 1)) .. ' mt=' .. type(getmetatable(t))
  for k, v in pairs(t) do
    local key = name .. '.' .. tostring(k)
    if k ~= 'KEYS' and k ~= 'ARGV' then
      out[#out + 1] = key .. '=' .. type(v)
      if type(v) == 'table' then walk(key, v) end
    end
  end
end
walk('_G', _G)
walk('stringmt', getmetatable(''))
walk('Gmt', getmetatable(_G))
table.sort(out)
return out`

// TestProtectedTablesUnchanged: every raw write a script can aim at a
// protected table is refused with Redis's text, whether the script
// catches the error or not, and leaves the tables as they were for the
// next script, a script that assigns no global (which reads the real
// globals directly) as well as one that does.
func TestProtectedTablesUnchanged(t *testing.T) {
	s := startServer(t, t.TempDir(), "appendonly no", `save ""`)
	defer s.Close()
	c := dial(t, s)
	before := c.do("EVAL", protectedFingerprint, "0")
	if !strings.Contains(before, `"_G.string=table"`) || !strings.Contains(before, `"_G.string.upper=function"`) {
		t.Fatalf("the fingerprint does not see the libraries: %s", before)
	}
	const refused = "Attempt to modify a readonly table"
	var writes []string
	for _, lib := range []string{"_G", "string", "table", "math", "redis", "cjson", "cmsgpack", "bit", "struct", "coroutine", "getmetatable('')", "getmetatable(_G)"} {
		writes = append(writes,
			"table.insert("+lib+", 'leak')",
			"table.insert("+lib+", 1, 'leak')",
			"table.insert("+lib+", 7, 'leak')",
			"rawset("+lib+", 'leak', 1)",
			"rawset("+lib+", 1, 'leak')",
			"setmetatable("+lib+", {__index = function() return 'leak' end})",
			"setmetatable("+lib+", nil)",
			"local t = "+lib+" t.leak = 1",
			"local t = "+lib+" t[1] = 'leak'",
			"table.remove("+lib+")",
			"table.remove("+lib+", 1)",
			"table.sort("+lib+")",
		)
	}
	writes = append(writes,
		"getmetatable('').__index = {upper = function() return 'leak' end}",
		"getmetatable('').__index.upper = nil",
		"getmetatable(_G).__index = nil",
		"loadstring('table.insert(string, 1)')()",
		"local co = coroutine.create(function() table.insert(redis, 1) end) local ok, e = coroutine.resume(co) if not ok then error(e, 0) end",
		"coroutine.wrap(function() rawset(math, 'leak', 1) end)()",
	)
	for _, w := range writes {
		for _, script := range []string{w, "local ok, e = pcall(function() " + w + " end) return e"} {
			got := c.do("EVAL", script, "0")
			if !strings.Contains(got, refused) && !strings.Contains(w, "table.remove") && !strings.Contains(w, "table.sort") {
				t.Errorf("%s: got %s, want %q", script, got, refused)
			}
			if after := c.do("EVAL", protectedFingerprint, "0"); after != before {
				t.Fatalf("after %s the protected tables changed:\n got %s\nwant %s", script, after, before)
			}
			// The next script reads the real globals (it assigns none).
			c.expect(`(nil bulk)`, "EVAL", "return rawget(string, 1) or rawget(string, 'leak') or string.leak or rawget(_G, 'leak') or redis[1]", "0")
		}
	}
}
