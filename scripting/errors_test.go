package scripting_test

import (
	"fmt"
	"testing"

	"github.com/structd/structd/scripting"
)

// Script errors name the script and line as Redis 7.0 does; an error
// raised in nested calls also carries the Lua traceback after
// scripting.StackMarker, innermost frame first, on one line.
func TestScriptErrorTraceback(t *testing.T) {
	s := startServer(t, t.TempDir(), "appendonly no", `save ""`)
	defer s.Close()
	c := dial(t, s)
	cases := []struct{ script, want string }{
		// One frame: exactly Redis's reply.
		{"return x", "ERR user_script:1: Script attempted to access nonexistent global variable 'x' script: %[1]s, on @user_script:1."},
		{"\n\nreturn redis.call('nosuch')", "ERR Unknown Redis command called from script script: %[1]s, on @user_script:3."},
		// Nested calls: the traceback follows.
		{"local function inner() return x end\nlocal function outer() return inner() + 1 end\nlocal r = outer()\nreturn r",
			"ERR user_script:1: Script attempted to access nonexistent global variable 'x' script: %[1]s, on @user_script:1." +
				" stack: @user_script:1 in function 'inner' <- @user_script:2 in function 'outer' <- @user_script:3 in main chunk"},
		{"local t = {}\nfunction t.f(k)\n  return redis.call('INCR', k)\nend\nredis.call('SET', 's', 'str')\nlocal v = t.f('s')\nreturn v",
			"ERR value is not an integer or out of range script: %[1]s, on @user_script:3." +
				" stack: @user_script:3 in function 'f' <- @user_script:6 in main chunk"},
		{"local f = function() error('boom') end\nlocal r = f()\nreturn r",
			"ERR user_script:1: boom script: %[1]s, on @user_script:1. stack: @user_script:1 in function 'f' <- @user_script:2 in main chunk"},
		// A tail call replaced the caller's frame.
		{"local function inner() return x end\nlocal function outer() return inner() end\nlocal r = outer()\nreturn r",
			"ERR user_script:1: Script attempted to access nonexistent global variable 'x' script: %[1]s, on @user_script:1." +
				" stack: @user_script:1 in function <@user_script:1> <- (tail call) <- @user_script:3 in main chunk"},
	}
	for _, tc := range cases {
		want := `(error) "` + fmt.Sprintf(tc.want, scripting.SHA1Hex([]byte(tc.script))) + `"`
		c.expect(want, "EVAL", tc.script, "0")
	}
	// Deep recursion lists eight frames, then "...".
	got := c.do("EVAL", "local function f(n) if n == 0 then return x end return 1 + f(n - 1) end\nreturn f(20)", "0")
	if want := "stack: " + repeatFrames("@user_script:1 in function 'f'", 8) + " <- ...\""; len(got) < len(want) || got[len(got)-len(want):] != want {
		t.Errorf("deep traceback: %s", got)
	}
}

func repeatFrames(frame string, n int) string {
	out := frame
	for i := 1; i < n; i++ {
		out += " <- " + frame
	}
	return out
}
