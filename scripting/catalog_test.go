package scripting_test

import (
	"testing"
)

// TestEnginePerServer checks that two servers in one process have their
// own script caches: a script loaded into one is unknown to the other.
func TestEnginePerServer(t *testing.T) {
	a := startServer(t, t.TempDir(), "appendonly no", `save ""`)
	defer a.Close()
	b := startServer(t, t.TempDir(), "appendonly no", `save ""`)
	defer b.Close()
	ca, cb := dial(t, a), dial(t, b)
	sha := `"e0e1f9fabfc9d4800c877a703b823ac0578ff8db"` // return 1
	ca.expect(sha, "SCRIPT", "LOAD", "return 1")
	ca.expect("(integer) 1", "EVALSHA", sha[1:len(sha)-1], "0")
	cb.expect("(array of 1)\n1) (integer) 0", "SCRIPT", "EXISTS", sha[1:len(sha)-1])
	cb.expect(`(error) "NOSCRIPT No matching script. Please use EVAL."`, "EVALSHA", sha[1:len(sha)-1], "0")
	cb.expect(sha, "SCRIPT", "LOAD", "return 1")
	cb.expect(`(simple) "OK"`, "SCRIPT", "FLUSH")
	ca.expect("(integer) 1", "EVALSHA", sha[1:len(sha)-1], "0")
}
