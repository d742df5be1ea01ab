package scripting

import "github.com/structd/structd/commands"

// errOOM is Redis's reply to a write refused for memory.
const errOOM = "-OOM command not allowed when used memory > 'maxmemory'."

// overMaxMemory reports whether the server runs as a pure cache over its
// maxmemory, the state in which it refuses commands that may grow memory
// (a persistent server drops clean keys instead, and refuses nothing). It
// is Redis's pre_command_oom_state, read once when a script starts.
func overMaxMemory(c *commands.Ctx) bool {
	if c.Server == nil || c.Server.Persistence() != nil {
		return false
	}
	max := c.Server.Config().PersistenceSettings().MaxMemory
	if max <= 0 {
		return false
	}
	used, _ := commands.MemoryUsage()
	return int64(used) > max
}

// refusedForMemory reports whether EVAL must refuse script s for memory: a
// script with a shebang that may write and lacks allow-oom is a command
// that may grow memory, as Redis's scriptFlagsToCmdFlags marks it.
func refusedForMemory(c *commands.Ctx, s *Script) bool {
	return s.Flags&FlagShebang != 0 && s.Flags&(FlagAllowOOM|FlagNoWrites) == 0 && overMaxMemory(c)
}
