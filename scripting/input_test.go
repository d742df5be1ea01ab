package scripting_test

import (
	"strings"
	"testing"
)

// A script the client called gets KEYS and ARGV refilled from the run
// before (pushInput): whatever that run did to them is gone, and a script
// CALL runs meanwhile does not touch its caller's.
func TestKeysAndArgvAreNewEachRun(t *testing.T) {
	s := startServer(t, t.TempDir(), "appendonly no", `save ""`)
	defer s.Close()
	c := dial(t, s)
	// The error handler adds the position to the table raised: KEYS.
	if got := c.do("EVAL", "setmetatable(KEYS, {__index = function() return 'meta' end}) "+
		"KEYS.x, KEYS[4], ARGV[9] = 1, 'd', 'i' table.insert(ARGV, 'z') error(KEYS)", "2", "a", "b", "c"); !strings.HasPrefix(got, "(error)") {
		t.Fatalf("error(KEYS): %s", got)
	}
	c.expect("(array of 7)\n1) \"k\"\n2) \"nil\"\n3) \"nil\"\n4) \"nil\"\n5) \"nil\"\n6) (integer) 1\n7) (integer) 0",
		"EVAL", "return {KEYS[1], tostring(KEYS[2]), tostring(getmetatable(KEYS)), tostring(KEYS.x), tostring(KEYS.line), #KEYS, #ARGV}", "1", "k")
	for i := 0; i < 3; i++ { // many arguments, then few
		c.expect("(integer) 3", "EVAL", "for i = 1, 100 do ARGV[i] = i end return #KEYS", "3", "a", "b", "c")
		c.expect("(array of 2)\n1) (integer) 0\n2) (integer) 1", "EVAL", "return {#KEYS, #ARGV}", "0", "x")
	}
	c.do("SCRIPT", "LOAD", "KEYS[1] = 'changed' return KEYS[1]", "inner")
	c.expect("(array of 4)\n1) \"changed\"\n2) \"outer\"\n3) \"outer\"\n4) \"arg\"",
		"EVAL", "local k = KEYS local r = CALL.inner({'x'}, {}) return {r, k[1], KEYS[1], ARGV[1]}", "1", "outer", "arg")
}

// redis.call's reply tables are refilled from run to run (tablePool):
// each call of a run gets its own, and what a run did to one is gone in
// the next.
func TestReplyTablesAreNewEachRun(t *testing.T) {
	s := startServer(t, t.TempDir(), "appendonly no", `save ""`)
	defer s.Close()
	c := dial(t, s)
	c.expect("(integer) 1", "EVAL", "local a = redis.call('TIME') setmetatable(a, {__index = function() return 'meta' end}) "+
		"a.f, a[5] = 1, 'e' local e = redis.pcall('NOSUCH') e.x = 1 return 1", "0")
	c.expect("(array of 6)\n1) \"nil\"\n2) \"nil\"\n3) (integer) 2\n4) \"false\"\n5) \"false\"\n6) \"nil\"",
		"EVAL", "local a = redis.call('HMGET', 'nokey', 'f1', 'f2') local b = redis.call('TIME') local e = redis.pcall('NOSUCH') "+
			"return {tostring(getmetatable(a)), tostring(a.f), #a, tostring(a[1]), tostring(rawequal(a, b)), tostring(e.x)}", "0")
	// More replies in one run than the pool keeps, all kept by the script.
	c.expect("(integer) 200", "EVAL", "local all, seen = {}, {} for i = 1, 200 do local r = redis.call('MGET', 'k'..i, 'k') "+
		"if seen[r] or #r ~= 2 then return -i end seen[r] = true all[i] = r end "+
		"for i = 1, 200 do if #all[i] ~= 2 then return -i end end return #all", "0")
}

// A library function without upvalues refills its keys, arguments and
// reply tables from call to call as a script does; one with upvalues may
// keep them, and gets new ones each call.
func TestFunctionTablesAcrossCalls(t *testing.T) {
	s := startServer(t, t.TempDir(), "appendonly no", `save ""`)
	defer s.Close()
	c := dial(t, s)
	c.expect(`"plain"`, "FUNCTION", "LOAD", "#!lua name=plain\n"+
		"redis.register_function('dirty', function(keys, args) setmetatable(keys, {}) keys.x, args[7] = 1, 'g' "+
		"local r = redis.call('TIME') r.y = 1 return 1 end)\n"+
		"redis.register_function('look', function(keys, args) local r = redis.call('MGET', 'a', 'b') "+
		"return {tostring(getmetatable(keys)), tostring(keys.x), #keys, #args, tostring(r.y), #r} end)")
	c.expect("(integer) 1", "FCALL", "dirty", "2", "k1", "k2", "a1")
	c.expect("(array of 6)\n1) \"nil\"\n2) \"nil\"\n3) (integer) 1\n4) (integer) 0\n5) \"nil\"\n6) (integer) 2", "FCALL", "look", "1", "k")
	c.expect(`"keeps"`, "FUNCTION", "LOAD", "#!lua name=keeps\nlocal kept = {}\n"+
		"redis.register_function('keep', function(keys, args) kept[#kept + 1] = {keys, args, redis.call('MGET', keys[1])} return #kept end)\n"+
		"redis.register_function('kept', function() local out = {} for i, k in ipairs(kept) do "+
		"out[i] = k[1][1] .. k[2][1] .. tostring(k[3][1]) end return out end)")
	c.expect("(integer) 1", "FCALL", "keep", "1", "a", "1")
	c.expect("(integer) 2", "FCALL", "keep", "1", "b", "2")
	c.expect("(array of 2)\n1) \"a1false\"\n2) \"b2false\"", "FCALL", "kept", "0")
}
