package scripting

import (
	"github.com/structd/structd/commands"
	"github.com/structd/structd/internal/resp"
)

// Eval implements EVAL, EVALSHA, EVAL_RO and EVALSHA_RO (commands.ScriptEngine).
// It runs under the exclusive keyspace lock (the commands are KeyspaceWide).
func (e *Engine) Eval(c *commands.Ctx, byHash, readOnly bool) {
	numkeys, ok := numKeys(c, commands.ErrNotInteger)
	if !ok {
		return
	}
	var s *Script
	if byHash {
		if s = e.Resolve(c.Args[1]); s == nil {
			c.W.Error("NOSCRIPT No matching script. Please use EVAL.")
			return
		}
	} else {
		var err error
		if s, err = e.Load(c.Args[1]); err != nil {
			c.W.Error(err.Error())
			return
		}
	}
	if readOnly && s.Flags&FlagShebang != 0 && s.Flags&FlagNoWrites == 0 {
		c.W.Error("ERR Can not execute a script with write flag using *_ro command.")
		return
	}
	if refusedForMemory(c, s) {
		c.W.Error(errOOM[1:])
		return
	}
	keys := c.Args[3 : 3+numkeys]
	argv := c.Args[3+numkeys:]
	e.mu.Lock()
	defer e.mu.Unlock()
	e.state().exec(c, s, keys, argv, readOnly || s.Flags&FlagNoWrites != 0)
}

// numKeys reads the numkeys argument of EVAL or FCALL (c.Args[2]),
// replying the error if it is not a count of the arguments that follow:
// notNumber if it is no integer.
func numKeys(c *commands.Ctx, notNumber string) (int64, bool) {
	n, ok := resp.ParseInt(c.Args[2])
	switch {
	case !ok:
		c.W.Error(notNumber)
	case n > int64(len(c.Args)-3):
		c.W.Error("ERR Number of keys can't be greater than number of args")
	case n < 0:
		c.W.Error("ERR Number of keys can't be negative")
	default:
		return n, true
	}
	return 0, false
}

// ScriptExists is SCRIPT EXISTS: 1 or 0 per SHA.
func (e *Engine) ScriptExists(c *commands.Ctx, shas [][]byte) {
	c.W.Array(len(shas))
	for _, sha := range shas {
		if e.Lookup(sha) != nil {
			c.W.Int(1)
		} else {
			c.W.Int(0)
		}
	}
}

// ScriptFlush is SCRIPT FLUSH: empties the cache and resets the Lua state.
func (e *Engine) ScriptFlush(c *commands.Ctx) {
	e.Flush()
	c.W.OK()
}
