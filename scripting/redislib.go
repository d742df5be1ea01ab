package scripting

import (
	"crypto/sha1"
	"encoding/hex"
	"log/slog"
	"math"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"

	"github.com/structd/structd/commands"
	"github.com/structd/structd/scripting/lualib"
)

// The redis table: redis.call and redis.pcall, the reply helpers, logging,
// redis.setresp and the replication settings Redis 7 still accepts.

// Log levels and replication flags, as Redis numbers them.
const (
	logDebug, logVerbose, logNotice, logWarning = 0, 1, 2, 3
	replNone, replAOF, replReplica, replAll     = 0, 1, 2, 3
)

// versionNum is REDIS_VERSION_NUM for commands.RedisVersion (0x00MMmmpp).
func versionNum() int {
	parts := strings.Split(commands.RedisVersion, ".")
	n := 0
	for i := 0; i < 3; i++ {
		x := 0
		if i < len(parts) {
			x, _ = strconv.Atoi(parts[i])
		}
		n = n<<8 | x&0xff
	}
	return n
}

// redisLib builds the redis table.
func (v *vm) redisLib() *lua.LTable {
	L := v.L
	t := L.NewTable()
	fns := map[string]lua.LGFunction{
		"call":               func(L *lua.LState) int { return v.call(L, true) },
		"pcall":              func(L *lua.LState) int { return v.call(L, false) },
		"error_reply":        errorReply,
		"status_reply":       statusReply,
		"sha1hex":            sha1hexFn,
		"log":                logFn,
		"setresp":            v.setresp,
		"set_repl":           setRepl,
		"replicate_commands": func(L *lua.LState) int { L.Push(lua.LTrue); return 1 },
		"breakpoint":         func(L *lua.LState) int { L.Push(lua.LFalse); return 1 },
		"debug":              func(L *lua.LState) int { return 0 },
		"acl_check_cmd":      aclCheckCmd,
	}
	for name, fn := range fns {
		t.RawSetString(name, L.NewFunction(fn))
	}
	for name, n := range map[string]int{
		"LOG_DEBUG": logDebug, "LOG_VERBOSE": logVerbose, "LOG_NOTICE": logNotice, "LOG_WARNING": logWarning,
		"REPL_NONE": replNone, "REPL_AOF": replAOF, "REPL_SLAVE": replReplica, "REPL_REPLICA": replReplica, "REPL_ALL": replAll,
	} {
		t.RawSetString(name, lua.LNumber(n))
	}
	t.RawSetString("REDIS_VERSION", lua.LString(commands.RedisVersion))
	t.RawSetString("REDIS_VERSION_NUM", lua.LNumber(versionNum()))
	return t
}

// errorTable is Redis's luaPushErrorBuff: "-CODE msg" keeps its code,
// anything else gets ERR.
func errorTable(L *lua.LState, msg string) *lua.LTable {
	code := "ERR"
	if strings.HasPrefix(msg, "-") {
		if i := strings.IndexByte(msg, ' '); i >= 0 {
			code, msg = msg[1:i], msg[i+1:]
		} else {
			msg = msg[1:]
		}
	}
	msg = strings.Trim(msg, "\r\n")
	t := L.CreateTable(0, 1)
	t.RawSetString("err", lua.LString(code+" "+msg))
	return t
}

// raise raises Redis's error table for msg.
func raise(L *lua.LState, msg string) int {
	L.Error(errorTable(L, msg), 0)
	return 0
}

// call is redis.call (raise) and redis.pcall: it runs a command as the
// script's client and returns its reply converted to Lua; an error reply
// is raised by redis.call and returned as {err=...} by redis.pcall.
func (v *vm) call(L *lua.LState, raiseErr bool) int {
	var name []byte // the called command, once known
	fail := func(msg string) int {
		if raiseErr {
			if v.run != nil {
				commands.ScriptCallFailed(v.run.c, name, msg) // TXN.EVAL rolls back
			}
			return raise(L, msg)
		}
		L.Push(errorTable(L, msg))
		return 1
	}
	r := v.run
	if r == nil {
		return fail("redis.call is only available while a script runs")
	}
	argc := L.GetTop()
	if argc == 0 {
		return fail("Please specify at least one argument for this redis lib call")
	}
	args, ok := r.commandArgs(L)
	if !ok {
		return fail(errArgTypes)
	}
	name = args[0]
	cmd := v.commands.lookup(args)
	switch {
	case cmd == nil:
		return fail("Unknown Redis command called from script")
	case !cmd.ArityOK(len(args)):
		return fail("Wrong number of args calling Redis command from script")
	case cmd.Flags&commands.NoScript != 0:
		return fail("This Redis command is not allowed from script")
	case cmd.Flags&commands.Write != 0 && r.readOnly:
		return fail("Write commands are not allowed from read-only scripts.")
	case r.oom && !r.wrote && cmd.Flags&commands.DenyOOM != 0:
		return fail(errOOM)
	}
	if cmd.Flags&commands.Write != 0 {
		r.wrote = true
	}
	w := &r.w
	w.Reset()
	w.Proto = r.resp
	start := monoNow()
	commands.ScriptExec(r.c, &r.nested, cmd, args, w)
	// INFO commandstats counts the commands scripts run, as Redis does.
	cmd.Stats.Calls.Add(1)
	cmd.Stats.Usec.Add((monoNow() - start).Microseconds())
	if len(w.Buf) > 0 && w.Buf[0] == '-' {
		cmd.Stats.FailedCalls.Add(1)
		if raiseErr {
			msg, _, _ := strings.Cut(string(w.Buf[1:]), "\r\n")
			commands.ScriptCallFailed(r.c, name, msg) // TXN.EVAL rolls back
		}
	}
	val, _ := replyToLua(L, r.tables, w.Buf)
	if t, ok := val.(*lua.LTable); ok && raiseErr {
		if _, isErr := t.RawGetString("err").(lua.LString); isErr {
			L.Error(t, 0)
		}
	}
	L.Push(val)
	return 1
}

const errArgTypes = "Lua redis lib command arguments must be strings or integers"

// commandArgs converts the Lua arguments of redis.call to a command's
// arguments: strings as they are, numbers as "%.17g"; false if another
// type is among them. They are appended to the run's buffers (r.args,
// r.argBytes): a command's arguments stay as they are until the run's
// effects are logged, and the buffers are allocated once, not for each
// argument (nor, mostly, each run: see run).
func (r *run) commandArgs(L *lua.LState) ([][]byte, bool) {
	n := L.GetTop()
	if r.args == nil {
		r.args = make([][]byte, 0, 16)
		r.argBytes = make([]byte, 0, 256)
	}
	start := len(r.args)
	for i := 1; i <= n; i++ {
		from := len(r.argBytes)
		switch x := L.Get(i).(type) {
		case lua.LString:
			r.argBytes = append(r.argBytes, x...)
		case lua.LNumber:
			r.argBytes = appendArgNumber(r.argBytes, float64(x))
		default:
			r.args = r.args[:start]
			return nil, false
		}
		r.args = append(r.args, r.argBytes[from:len(r.argBytes):len(r.argBytes)])
	}
	args := r.args[start:len(r.args):len(r.args)]
	// A buffer that grew left the earlier arguments where they were,
	// unchanged: the slices above still see them.
	return args, true
}

// appendArgNumber appends f as "%.17g" (Redis's format of a number
// argument): an integer below 1e15 is its digits, without the float
// formatting's cost; infinities and NaNs read as C prints them ("inf",
// "-nan"), as tostring's.
func appendArgNumber(b []byte, f float64) []byte {
	switch {
	case f == math.Trunc(f) && math.Abs(f) < 1e15 && (f != 0 || !math.Signbit(f)):
		return strconv.AppendInt(b, int64(f), 10)
	case math.IsInf(f, 0) || math.IsNaN(f):
		return append(b, formatNumber(f)...)
	}
	return strconv.AppendFloat(b, f, 'g', 17, 64)
}

// commandCache holds the commands a vm's scripts called by the names they
// called them (scripts call the same few, spelled the same, run after
// run), so that redis.call finds them without lowering the name and
// looking it up in the command table, which never changes.
type commandCache struct {
	names [8]string
	cmds  [8]*commands.Command
	next  int // the entry the next miss replaces
}

// lookup is lookupCommand through the cache; a command with subcommands
// is not cached.
func (cc *commandCache) lookup(args [][]byte) *commands.Command {
	for i, name := range cc.names {
		if name == string(args[0]) && cc.cmds[i] != nil {
			return cc.cmds[i]
		}
	}
	cmd := commands.All().Lookup(args[0])
	if cmd == nil || cmd.Subcommands != nil {
		return lookupCommand(args)
	}
	cc.names[cc.next], cc.cmds[cc.next] = string(args[0]), cmd
	cc.next = (cc.next + 1) % len(cc.names)
	return cmd
}

// lookupCommand finds the command (or subcommand) args name; nil if none.
func lookupCommand(args [][]byte) *commands.Command {
	cmd := commands.All().Lookup(args[0])
	if cmd == nil || cmd.Subcommands == nil || len(args) < 2 {
		return cmd
	}
	return cmd.Subcommands[strings.ToLower(string(args[1]))]
}

// errorReply is redis.error_reply(msg): {err=msg}, with ERR added to a
// message without a code.
func errorReply(L *lua.LState) int {
	s, ok := L.Get(1).(lua.LString)
	if L.GetTop() != 1 || !ok {
		L.Push(errorTable(L, "wrong number or type of arguments"))
		return 1
	}
	msg := string(s)
	if !strings.HasPrefix(msg, "-") {
		msg = "-" + msg
	}
	L.Push(errorTable(L, msg))
	return 1
}

// statusReply is redis.status_reply(msg): {ok=msg}.
func statusReply(L *lua.LState) int {
	s, ok := L.Get(1).(lua.LString)
	if L.GetTop() != 1 || !ok {
		L.Push(errorTable(L, "wrong number or type of arguments"))
		return 1
	}
	t := L.CreateTable(0, 1)
	t.RawSetString("ok", s)
	L.Push(t)
	return 1
}

func sha1hexFn(L *lua.LState) int {
	if L.GetTop() != 1 {
		return raise(L, "wrong number of arguments")
	}
	var s string
	switch x := L.Get(1).(type) {
	case lua.LString:
		s = string(x)
	case lua.LNumber:
		s = formatNumber(float64(x))
	}
	sum := sha1.Sum([]byte(s))
	L.Push(lua.LString(hex.EncodeToString(sum[:])))
	return 1
}

// logFn is redis.log(level, msg, ...): the messages joined by spaces go to
// the server log at the matching slog level.
func logFn(L *lua.LState) int {
	argc := L.GetTop()
	if argc < 2 {
		return raise(L, "redis.log() requires two arguments or more.")
	}
	lv, ok := L.Get(1).(lua.LNumber)
	if !ok {
		return raise(L, "First argument must be a number (log level).")
	}
	level := int(lv)
	if level < logDebug || level > logWarning {
		return raise(L, "Invalid debug level.")
	}
	parts := make([]string, 0, argc-1)
	for i := 2; i <= argc; i++ {
		switch x := L.Get(i).(type) {
		case lua.LString, lua.LNumber:
			parts = append(parts, luaToString(x))
		}
	}
	msg := strings.Join(parts, " ")
	switch level {
	case logDebug, logVerbose:
		slog.Debug("script", "msg", msg)
	case logNotice:
		slog.Info("script", "msg", msg)
	default:
		slog.Warn("script", "msg", msg)
	}
	return 0
}

// setresp is redis.setresp(2|3): the protocol of redis.call's replies for
// the rest of this run.
func (v *vm) setresp(L *lua.LState) int {
	if L.GetTop() != 1 {
		return raise(L, "redis.setresp() requires one argument.")
	}
	n, _ := lualib.ToNumber(L.Get(1))
	if n != 2 && n != 3 {
		return raise(L, "RESP version must be 2 or 3.")
	}
	if v.run != nil {
		v.run.resp = int(n)
	}
	return 0
}

// setRepl is redis.set_repl(flags). It validates the flags as Redis does;
// the writes of a script are always logged whole, so that the AOF and the
// data never diverge (Redis would leave them out of the AOF or replicas).
func setRepl(L *lua.LState) int {
	if L.GetTop() != 1 {
		return raise(L, "redis.set_repl() requires two arguments.")
	}
	n, _ := lualib.ToNumber(L.Get(1))
	if f := int64(n); f&^(replAOF|replReplica) != 0 {
		return raise(L, "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.")
	}
	return 0
}

// aclCheckCmd is redis.acl_check_cmd(cmd, ...): StructD's only user may
// run every command, so a known command gives true.
func aclCheckCmd(L *lua.LState) int {
	argc := L.GetTop()
	if argc == 0 {
		return raise(L, "Please specify at least one argument for this redis lib call")
	}
	var r run // the arguments are only looked at
	args, ok := r.commandArgs(L)
	if !ok {
		return raise(L, errArgTypes)
	}
	cmd := lookupCommand(args)
	if cmd == nil || !cmd.ArityOK(argc) {
		return raise(L, "Invalid command passed to redis.acl_check_cmd()")
	}
	L.Push(lua.LTrue)
	return 1
}
