package scripting

import (
	"runtime/metrics"

	lua "github.com/yuin/gopher-lua"

	"github.com/structd/structd/scripting/lualib"
)

// collectgarbage and gcinfo, after Lua 5.1's luaB_collectgarbage, over
// Go's collector, which scripts share with the whole server:
//
//   - "count" (a float) and gcinfo (an integer) answer the server's live
//     Go heap in KB, as of the last collection: gopher-lua does not count
//     its own memory, so that is the one measure there is, and it includes
//     the dataset in memory (Redis's counts its Lua heap only).
//   - "collect" and "step" force no collection: a full one of a heap that
//     holds the dataset takes seconds with the keyspace locked, where
//     Redis's collects its small Lua heap; Go's collector reclaims script
//     garbage on its own schedule. They answer as Lua does when no cycle
//     finished (0, and false).
//   - "setpause" and "setstepmul" keep their values per VM (later scripts
//     see them, as Redis's shared Lua state does) and answer the previous
//     one; "stop" and "restart" answer 0.
//
// Options and arguments are checked as Lua's are.

// gcOptions are collectgarbage's options, in Lua's order.
var gcOptions = []string{"stop", "restart", "collect", "count", "step", "setpause", "setstepmul"}

// gcSettings are the values setpause and setstepmul keep (Lua's defaults).
type gcSettings struct{ pause, stepMul int64 }

// liveHeapKB is the live Go heap as of the last collection, in KB.
func liveHeapKB() float64 {
	s := [1]metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s[:])
	return float64(s[0].Value.Uint64()) / 1024
}

func (v *vm) collectGarbage(L *lua.LState) int {
	opt := "collect"
	if L.Get(1) != lua.LNil {
		opt = lualib.CheckString(L, 1)
	}
	found := false
	for _, o := range gcOptions {
		found = found || o == opt
	}
	if !found {
		L.ArgError(1, "invalid option '"+opt+"'")
	}
	var arg int64
	if L.Get(2) != lua.LNil {
		arg = checkInt(L, 2)
	}
	switch opt {
	case "count":
		L.Push(lua.LNumber(liveHeapKB()))
	case "step":
		L.Push(lua.LFalse)
	case "setpause":
		L.Push(lua.LNumber(v.gc.pause))
		v.gc.pause = arg
	case "setstepmul":
		L.Push(lua.LNumber(v.gc.stepMul))
		v.gc.stepMul = arg
	default: // stop, restart, collect
		L.Push(lua.LNumber(0))
	}
	return 1
}

func gcinfo(L *lua.LState) int {
	L.Push(lua.LNumber(int64(liveHeapKB())))
	return 1
}
