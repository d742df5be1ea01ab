package scripting_test

import (
	"strings"
	"testing"
)

const (
	noscript   = `(error) "NOSCRIPT No matching script. Please use EVAL."`
	incrBody   = "return redis.call('INCRBY', KEYS[1], ARGV[1])"
	incrSHA    = "8cd00688c05c46bde4a2e60658ef20a2e5c0b248"
	echoBody   = "return {KEYS[1], ARGV[1], #KEYS, #ARGV}"
	aliasError = `(error) "ERR Alias 'incr' already exists: use REPLACE to point it at another script, or NX to keep it"`
)

func TestScriptAliases(t *testing.T) {
	s := startServer(t, t.TempDir(), "appendonly no", `save ""`)
	defer s.Close()
	c := dial(t, s)
	sha := c.do("SCRIPT", "LOAD", incrBody, "incr")
	sha = strings.Trim(sha, `"`)
	if len(sha) != 40 {
		t.Fatalf("SCRIPT LOAD with an alias: %s", sha)
	}
	c.expect("(integer) 5", "EVALSHA", "incr", "1", "n", "5")
	c.expect("(integer) 6", "EVALSHA", sha, "1", "n", "1")
	// TXN.ESHA resolves through EVALSHA: it takes the alias too.
	c.expect("(integer) 6", "TXN.ESHA", "incr", "1", "n", "0")
	c.expect(`(error) "ERR Write commands are not allowed from read-only scripts. script: incr, on @user_script:1."`,
		"EVALSHA_RO", "incr", "1", "n", "1")
	c.expect(noscript, "EVALSHA", "Incr", "1", "n", "1") // aliases are case-sensitive
	c.expect(noscript, "EVALSHA", "nosuch", "0")

	// No flag on an existing alias is an error, NX keeps it, REPLACE
	// points it anew.
	echo := strings.Trim(c.do("SCRIPT", "LOAD", echoBody), `"`)
	c.expect(aliasError, "SCRIPT", "LOAD", echoBody, "incr")
	c.expect(aliasError, "SCRIPT", "ALIAS", echo, "incr")
	c.expect("(nil bulk)", "SCRIPT", "ALIAS", echo, "incr", "NX")
	c.expect("(nil bulk)", "SCRIPT", "LOAD", echoBody, "incr", "nx")
	c.expect("(integer) 7", "EVALSHA", "incr", "1", "n", "1")
	c.expect(`(simple) "OK"`, "SCRIPT", "ALIAS", echo, "echo", "NX")
	c.expect(`(simple) "OK"`, "SCRIPT", "ALIAS", echo, "incr", "REPLACE")
	c.expect("(array of 4)\n1) \"k\"\n2) \"a\"\n3) (integer) 1\n4) (integer) 1", "EVALSHA", "incr", "1", "k", "a")
	c.expect(`"`+incrSHA+`"`, "SCRIPT", "LOAD", incrBody, "incr", "REPLACE")
	c.expect("(array of 4)\n1) \"echo\"\n2) \""+echo+"\"\n3) \"incr\"\n4) \""+incrSHA+"\"", "SCRIPT", "ALIASES")

	// Errors: unknown SHA, bad names, bad flags.
	c.expect(noscript, "SCRIPT", "ALIAS", "ffffffffffffffffffffffffffffffffffffffff", "x")
	for _, bad := range []string{"", "1abc", "a-b", "a.b", strings.Repeat("a", 65), strings.Repeat("ab", 20)} {
		c.expect(`(error) "ERR Invalid alias name: use 1 to 64 letters, digits or underscores, not starting with a digit and not a 40-character SHA1"`,
			"SCRIPT", "ALIAS", echo, bad)
	}
	c.expect(`(error) "ERR syntax error"`, "SCRIPT", "ALIAS", echo, "x", "XX")
	c.expect(`(error) "ERR syntax error"`, "SCRIPT", "LOAD", echoBody, "x", "NX", "more")
	c.expect(`(error) "ERR wrong number of arguments for 'script|alias' command"`, "SCRIPT", "ALIAS", echo)

	// SCRIPT FLUSH empties the cache but keeps aliases and their scripts.
	plain := strings.Trim(c.do("SCRIPT", "LOAD", "return 'plain'"), `"`)
	c.expect(`(simple) "OK"`, "SCRIPT", "FLUSH")
	c.expect(noscript, "EVALSHA", plain, "0")
	c.expect("(array of 2)\n1) (integer) 1\n2) (integer) 0", "SCRIPT", "EXISTS", incrSHA, plain)
	c.expect("(integer) 8", "EVALSHA", "incr", "1", "n", "1")
	c.expect("(integer) 9", "EVALSHA", incrSHA, "1", "n", "1")

	// UNALIAS counts what it removed; the script goes with its last alias.
	c.expect("(integer) 1", "SCRIPT", "UNALIAS", "incr", "incr", "nosuch")
	c.expect(noscript, "EVALSHA", "incr", "1", "n", "1")
	c.expect(noscript, "EVALSHA", incrSHA, "1", "n", "1")
	c.expect(`"`+echo+`"`, "SCRIPT", "LOAD", echoBody)
	c.expect("(integer) 1", "SCRIPT", "UNALIAS", "echo")
	c.expect("(empty array)", "SCRIPT", "ALIASES")

	// RESP3: a map.
	c.do("SCRIPT", "ALIAS", echo, "echo")
	c.do("HELLO", "3")
	c.expect("(map of 1)\n1# \"echo\" => \""+echo+"\"", "SCRIPT", "ALIASES")
}

// TestCallAlias checks CALL.<alias> from inside a script: keys and
// arguments of its own, the result converted as a reply, errors raised in
// the caller naming the callee's alias, depth bounded, read-only kept.
func TestCallAlias(t *testing.T) {
	s := startServer(t, t.TempDir(), "appendonly no", `save ""`)
	defer s.Close()
	c := dial(t, s)
	c.do("SCRIPT", "LOAD", incrBody, "incr")
	c.do("SCRIPT", "LOAD", echoBody, "echo")
	c.do("SCRIPT", "LOAD", "return {1, 2.7, nil, 3}", "cut")
	c.do("SCRIPT", "LOAD", "redis.call('SELECT', 3) return redis.call('SET', 'in3', 'x')", "sel")
	c.do("SCRIPT", "LOAD", "local x = 1\nreturn nosuchglobal", "bad")
	c.do("SCRIPT", "LOAD", "return redis.error_reply('MINE custom')", "errrep")
	c.do("SCRIPT", "LOAD", "return CALL.deep({}, {})", "deep")
	c.do("SCRIPT", "LOAD", "#!lua flags=no-writes\nreturn redis.call('SET', 'k', 'v')", "ro")

	c.expect("(array of 5)\n1) \"k\"\n2) \"a\"\n3) (integer) 1\n4) (integer) 1\n5) \"outer\"",
		"EVAL", "local r = CALL.echo({'k'}, {'a'}) table.insert(r, KEYS[1]) return r", "1", "outer")
	c.expect("(integer) 12", "EVAL", "CALL.incr({KEYS[1]}, {5}) return CALL.incr({KEYS[1]}, {7})", "1", "n")
	c.expect("(array of 2)\n1) (integer) 1\n2) (integer) 2", "EVAL", "return CALL.cut()", "0")
	// The callee's SELECT ends with it.
	c.expect(`"x"`, "EVAL", "CALL.sel() return redis.call('GET', 'in3') or CALL.echo() and redis.call('SELECT', 3) and redis.call('GET', 'in3')", "0")
	c.expect("(nil bulk)", "GET", "in3")

	c.expect(`(error) "ERR user_script:2: Script attempted to access nonexistent global variable 'nosuchglobal' script: bad, on @user_script:2. script: 3153804ca12ca790715607536c1af14ce5dc2d23, on @user_script:1."`,
		"EVAL", "return CALL.bad()", "0")
	c.expect(`"caught: MINE custom"`, "EVAL", "local ok, e = pcall(CALL.errrep) return 'caught: ' .. e", "0")
	c.expect(`(error) "NOSCRIPT No matching script. Please use EVAL. script: eef27af78e5091a429c1552146d9170c73009c39, on @user_script:1."`,
		"EVAL", "return CALL.nosuch()", "0")
	c.expect(`(error) "ERR CALL.deep: scripts called through CALL nest deeper than 16 levels script: deep, on @user_script:1. script: 2c43bbd97c9cb8360d7ead39e954e53a1a96a117, on @user_script:1."`,
		"EVAL", "return CALL.deep()", "0")
	got := c.do("EVAL", "return CALL.ro()", "0")
	if !strings.Contains(got, "Write commands are not allowed from read-only scripts.") {
		t.Errorf("no-writes callee writing: %s", got)
	}
	got = c.do("EVAL_RO", "return CALL.incr({'n'}, {1})", "1", "n")
	if !strings.Contains(got, "Write commands are not allowed from read-only scripts.") {
		t.Errorf("EVAL_RO calling a writer: %s", got)
	}
	c.expect(`(error) "ERR user_script:1: Attempt to modify a readonly table script: 6171595f1e917020130d82c6abcabf7d008d0b35, on @user_script:1."`,
		"EVAL", "CALL.x = 1", "0")
}

// TestCallAliasWritesSurviveRestart checks that what a script writes
// through CALL is logged with the caller's writes, and that the aliases
// come back with the data.
func TestCallAliasWritesSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, "appendonly yes", "appendfsync always", `save ""`)
	c := dial(t, s)
	c.do("SCRIPT", "LOAD", incrBody, "incr")
	// The callee runs in the caller's current database.
	c.expect("(integer) 2", "EVAL", "redis.call('SET', 'before', 'x') CALL.incr({'n'}, {1}) redis.call('SELECT', 2) "+
		"redis.call('SET', 'after', 'y') return CALL.incr({'n'}, {2})", "0")
	s.Close()

	s = startServer(t, dir, "appendonly yes", `save ""`)
	defer s.Close()
	c = dial(t, s)
	c.expect(`"x"`, "GET", "before")
	c.expect(`"1"`, "GET", "n")
	c.expect(`(simple) "OK"`, "SELECT", "2")
	c.expect(`"y"`, "GET", "after")
	c.expect(`"2"`, "GET", "n")
	c.expect("(integer) 3", "EVALSHA", "incr", "1", "n", "1")
}
