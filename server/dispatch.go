package server

import (
	"bytes"
	"strings"
	"time"

	"github.com/structd/structd/commands"
	"github.com/structd/structd/scripting"
)

// dispatch runs one request and applies what follows its reply: error
// statistics and the CLIENT REPLY mode (OFF and SKIP discard the reply,
// error replies included, as Redis does).
func (s *Server) dispatch(cl *client, args [][]byte) {
	mark := len(cl.writer.Buf)
	cmd, executed := s.call(cl, args)
	if b := cl.ctx.Blocked; b != nil {
		mark = cl.waitBlocked(b) // BLPOP & co. found nothing: wait (blocking.go)
	}
	if mark > len(cl.writer.Buf) {
		mark = len(cl.writer.Buf) // SUBSCRIBE moved the replies to the pending output
	}
	if !executed && len(cl.writer.Buf) > mark && cl.writer.Buf[mark] == '-' {
		cl.flagTransaction()
		if cmd != nil && cmd.Name == "exec" {
			cl.execAbort(mark)
		}
	}
	if len(cl.writer.Buf) > mark && cl.writer.Buf[mark] == '-' {
		s.countError(cl.writer.Buf[mark:])
		if executed {
			cmd.Stats.FailedCalls.Add(1)
		}
	}
	if cl.session.Reply != commands.ReplyOn {
		cl.applyReplyMode(mark)
	}
}

// call looks the command up, checks arity and authentication in Redis's
// order, waits out a CLIENT PAUSE that holds it, then runs it under its
// locks. It returns the command and whether its handler ran.
func (s *Server) call(cl *client, args [][]byte) (*commands.Command, bool) {
	cmd := s.table.Lookup(args[0])
	if cmd == nil {
		cl.writer.Error(unknownCommand(args))
		return nil, false
	}
	if cmd.Subcommands != nil && len(args) >= 2 {
		sub := cmd.Subcommands[strings.ToLower(string(args[1]))]
		if sub == nil {
			cl.writer.Error("ERR unknown subcommand '" + cString(args[1], 128) +
				"'. Try " + strings.ToUpper(string(args[0])) + " HELP.")
			return nil, false
		}
		cmd = sub
	}
	if !cmd.ArityOK(len(args)) {
		cmd.Stats.RejectedCalls.Add(1)
		cl.writer.Error(commands.WrongArity(cmd.Name))
		return cmd, false
	}
	if cmd.Flags&commands.NoAuth == 0 && cl.authRequired() {
		cmd.Stats.RejectedCalls.Add(1)
		cl.writer.Error("NOAUTH Authentication required.")
		return cmd, false
	}
	master := cl.role.Load() == roleMaster
	if msg := s.replicaRefusal(cl, cmd); msg != "" {
		cmd.Stats.RejectedCalls.Add(1)
		cl.flagTransaction()
		cl.writer.Error(msg)
		return cmd, false
	}
	if s.persist != nil && !master && cl.writesData(cmd) {
		if msg := s.persist.writeError(); msg != "" {
			cmd.Stats.RejectedCalls.Add(1)
			cl.flagTransaction()
			cl.writer.Error(msg)
			return cmd, false
		}
	}
	if s.persist == nil && cmd.Flags&commands.DenyOOM != 0 && s.overMaxMemory() {
		cmd.Stats.RejectedCalls.Add(1)
		cl.flagTransaction()
		cl.writer.Error("OOM command not allowed when used memory > 'maxmemory'.")
		return cmd, false
	}
	gate := s.scriptGate()
	if gate != nil && master {
		// The master's stream waits out a busy script: refusing a command
		// of it would lose a write.
		for gate.Busy() != nil && s.ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
	}
	if gate != nil && !cl.ctx.InExec {
		if msg := s.busyRefusal(gate, cmd, args); msg != "" {
			cmd.Stats.RejectedCalls.Add(1)
			cl.flagTransaction()
			cl.writer.Error(msg)
			return cmd, false
		}
	}
	if cl.gate(cmd, args) {
		return cmd, false
	}
	if s.pause.mode.Load() != uint32(commands.PauseOff) && !cl.ctx.InExec && !master {
		if !s.waitPause(cl, cl.pauseCommand(cmd)) {
			return cmd, false
		}
		cl.cmdStart = s.monoNow() // time paused is not the command's
	}
	cl.writer.Proto = cl.session.Proto
	cl.ctx.Args = args
	cl.lastCmd = cmd
	if cl.calls.cmd != cmd {
		cl.flushCalls() // what runs now sees every earlier call counted
	}
	switch {
	case gate != nil && !cl.ctx.InExec && commands.TouchesWatches(cmd, &cl.session):
		s.execWatchCommand(cl, gate, cmd)
	case gate != nil && !cl.ctx.InExec && cmd.Flags&(commands.AllowBusy|commands.Unlocked) == 0:
		// Wait at the gate, not on the keyspace lock (scripting/busy.go).
		if cmd.Flags&commands.KeyspaceWide != 0 || (cmd.Wide != nil && cmd.Wide(args)) {
			run, msg := gate.Begin()
			if run == nil {
				cmd.Stats.RejectedCalls.Add(1)
				cl.writer.Error(msg)
				return cmd, false
			}
			defer gate.End(run)
		} else {
			if msg := gate.Enter(); msg != "" {
				cmd.Stats.RejectedCalls.Add(1)
				cl.writer.Error(msg)
				return cmd, false
			}
			defer gate.Leave()
		}
		commands.Exec(&cl.ctx, cmd)
	default:
		commands.Exec(&cl.ctx, cmd)
	}
	if cmd.Flags&commands.NoAuth != 0 {
		// AUTH, HELLO and RESET change authentication: the limits Redis
		// applies to unauthenticated clients follow from the next command
		// of the same pipeline on.
		cl.reader.Authenticated = !cl.authRequired()
	}
	end := s.monoNow()
	micros := (end - cl.cmdStart).Microseconds()
	cl.countCall(cmd, micros)
	s.logIfSlow(cl, cmd, args, micros)
	cl.cmdStart = end
	return cmd, true
}

// logIfSlow adds a command that ran for micros to the slow log when
// slowlog-log-slower-than says it is slow, as Redis's call() does after
// the command (EXEC is not logged: the commands it ran are).
func (s *Server) logIfSlow(cl *client, cmd *commands.Command, args [][]byte, micros int64) {
	lim := s.cfg.Limits()
	if lim.SlowlogSlowerThan < 0 || micros < int64(lim.SlowlogSlowerThan) || cmd.Flags&commands.SkipSlowlog != 0 {
		return
	}
	name, _, _, _ := cl.session.Identity()
	s.slowlog.Add(cmd, args, micros, cl.addr, name, lim.SlowlogMaxLen)
}

// SlowLog implements commands.Server.
func (s *Server) SlowLog() *commands.SlowLog { return &s.slowlog }

// execWatchCommand runs a command that changes the WATCH registry
// (commands.TouchesWatches). Those are allowed while a script is busy but
// need the keyspace lock it holds: like other commands they wait at the
// gate while a script runs, and once it turns busy they run inside it,
// between two of its instructions (scripting.Engine.RunInBusyScript), as
// Redis runs them from the event loop it serves while a script is busy.
func (s *Server) execWatchCommand(cl *client, gate *scripting.Gate, cmd *commands.Command) {
	busy, _ := s.scripts.(interface{ RunInBusyScript(func()) bool })
	for {
		if gate.Enter() == "" {
			defer gate.Leave()
			commands.Exec(&cl.ctx, cmd)
			return
		}
		if busy != nil && busy.RunInBusyScript(func() {
			cl.ctx.InExec = true // the script holds the keyspace exclusively
			defer func() { cl.ctx.InExec = false }()
			commands.Exec(&cl.ctx, cmd)
		}) {
			return
		}
		// The busy script returned, and the run it was part of (an EXEC)
		// goes on: wait for its next script or its end.
		time.Sleep(time.Millisecond)
	}
}

// scriptGate is the gate of the server's script engine (nil without one):
// while a script runs, commands wait there rather than on the keyspace
// lock, so that they can be answered BUSY once it runs too long.
func (s *Server) scriptGate() *scripting.Gate {
	if e, ok := s.scripts.(interface{ Gate() *scripting.Gate }); ok {
		return e.Gate()
	}
	return nil
}

// busyRefusal is the error for cmd while a script is busy, as Redis's
// processCommand and shutdownCommand answer: BUSY for every command but
// the allow-busy ones, and for SHUTDOWN without NOSAVE; SHUTDOWN NOSAVE
// stops the script (its writes are not logged) and goes on.
func (s *Server) busyRefusal(g *scripting.Gate, cmd *commands.Command, args [][]byte) string {
	run := g.Busy()
	if run == nil {
		return ""
	}
	if cmd.Flags&commands.AllowBusy == 0 {
		return run.BusyError()
	}
	if cmd.Name == "shutdown" {
		for _, a := range args[1:] {
			if strings.EqualFold(string(a), "nosave") {
				if e, ok := s.scripts.(interface{ StopForShutdown() }); ok {
					e.StopForShutdown()
				}
				return ""
			}
		}
		return run.BusyError()
	}
	return ""
}

// callStats are a connection's calls of one command not yet added to the
// shared counters (INFO commandstats, total_commands_processed): a pipeline
// of the same data command adds them once, not once per command, so
// connections on different cores do not contend for the counters' cache
// lines. They are added before any other command runs and before replies
// are sent, so whoever reads the counters after a reply sees its calls.
type callStats struct {
	cmd         *commands.Command
	calls, usec int64
}

// countCall counts one call of cmd that took usec microseconds; call has
// added the waiting calls of any other command before cmd ran. Only data
// commands (reads and writes of keys, none of which reads the counters)
// wait in cl.calls, and not past a block.
func (cl *client) countCall(cmd *commands.Command, usec int64) {
	cl.calls.cmd = cmd
	cl.calls.calls++
	cl.calls.usec += usec
	if cmd.Flags&(commands.Write|commands.ReadOnly) == 0 || cl.ctx.Blocked != nil {
		cl.flushCalls()
	}
}

// flushCalls adds the waiting calls to the shared counters.
func (cl *client) flushCalls() {
	c := &cl.calls
	if c.calls == 0 {
		return
	}
	c.cmd.Stats.Usec.Add(c.usec)
	c.cmd.Stats.Calls.Add(c.calls)
	cl.srv.stats.CommandsProcessed.Add(c.calls)
	*c = callStats{}
}

// overMaxMemory reports whether a pure cache uses more than maxmemory: it
// then refuses the commands that may grow memory, as Redis's noeviction
// policy (a persistent server drops clean keys instead: persist.go).
func (s *Server) overMaxMemory() bool {
	max := s.cfg.Limits().MaxMemory
	if max <= 0 {
		return false
	}
	used, _ := commands.MemoryUsage()
	return int64(used) > max
}

// writesData reports whether cmd may change the dataset, for the MISCONF
// check: a write command, or EXEC of a transaction that queued one. PING
// is refused too, as Redis refuses it, so a health check notices.
func (cl *client) writesData(cmd *commands.Command) bool {
	if cl.ctx.InExec {
		return false // checked when EXEC began
	}
	switch {
	case cmd.Flags&commands.Write != 0, cmd.Name == "ping":
		return true
	case cmd.Name == "exec":
		return cl.session.Multi.Active && cl.session.Multi.Flags&commands.Write != 0
	}
	return false
}

// authRequired is Redis's authRequired: the client has not authenticated
// and the default user has a password (requirepass). Clearing requirepass
// thus lets unauthenticated connections in, as in Redis.
func (cl *client) authRequired() bool {
	return !cl.session.Authenticated && cl.srv.cfg.Limits().RequirePass != ""
}

// applyReplyMode discards the reply written since mark when CLIENT REPLY
// says so, and advances SKIP: the command after CLIENT REPLY SKIP loses
// its reply, the one after that gets it again.
func (cl *client) applyReplyMode(mark int) {
	switch cl.session.Reply {
	case commands.ReplyOff:
		cl.writer.Buf = cl.writer.Buf[:mark]
	case commands.ReplySkip:
		cl.writer.Buf = cl.writer.Buf[:mark]
		cl.session.Reply = commands.ReplyOn
	case commands.ReplySkipNext:
		cl.session.Reply = commands.ReplySkip
	}
}

// countError counts an error reply by its prefix for INFO errorstats.
func (s *Server) countError(reply []byte) {
	s.stats.ErrorReplies.Add(1)
	end := 1
	for end < len(reply) && end < 64 && reply[end] != ' ' && reply[end] != '\r' {
		end++
	}
	s.stats.errMu.Lock()
	if s.stats.errorCounts == nil {
		s.stats.errorCounts = map[string]int64{}
	}
	if len(s.stats.errorCounts) < 128 { // bound the table, as Redis does
		s.stats.errorCounts[string(reply[1:end])]++
	} else if _, ok := s.stats.errorCounts[string(reply[1:end])]; ok {
		s.stats.errorCounts[string(reply[1:end])]++
	}
	s.stats.errMu.Unlock()
}

// unknownCommand is Redis's reply to a command it does not know: the name
// and the first arguments, quoted, up to 128 bytes of them. Each is cut at
// its first NUL byte, as Redis's C-string formatting cuts it.
func unknownCommand(args [][]byte) string {
	var quoted strings.Builder
	for _, a := range args[1:] {
		if quoted.Len() >= 128 {
			break
		}
		room := 128 - quoted.Len()
		quoted.WriteString("'")
		quoted.WriteString(cString(a, room))
		quoted.WriteString("' ")
	}
	return "ERR unknown command '" + cString(args[0], 128) + "', with args beginning with: " + quoted.String()
}

// cString is b as C's "%.*s" prints it: up to n bytes, stopping at NUL.
func cString(b []byte, n int) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	if len(b) > n {
		b = b[:n]
	}
	return string(b)
}
