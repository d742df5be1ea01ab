package server

import (
	"strings"

	"github.com/structd/structd/commands"
)

// dispatch runs one request: command lookup, arity and authentication
// checks in Redis's order, then the command under its locks.
func (s *Server) dispatch(cl *client, args [][]byte) {
	cmd := s.table.Lookup(args[0])
	if cmd == nil {
		cl.writer.Error(unknownCommand(args))
		return
	}
	if cmd.Subcommands != nil && len(args) >= 2 {
		sub := cmd.Subcommands[strings.ToLower(string(args[1]))]
		if sub == nil {
			cl.writer.Error("ERR unknown subcommand '" + truncate(string(args[1]), 128) +
				"'. Try " + strings.ToUpper(cmd.Name) + " HELP.")
			return
		}
		cmd = sub
	}
	if !cmd.ArityOK(len(args)) {
		cmd.Stats.RejectedCalls.Add(1)
		cl.writer.Error(commands.WrongArity(cmd.Name))
		return
	}
	if !cl.session.Authenticated && cmd.Flags&commands.NoAuth == 0 && s.authRequired() {
		cmd.Stats.RejectedCalls.Add(1)
		cl.writer.Error("NOAUTH Authentication required.")
		return
	}
	cl.writer.Proto = cl.session.Proto
	cl.ctx.Args = args
	commands.Exec(&cl.ctx, cmd)
	end := s.monoNow()
	cmd.Stats.Usec.Add((end - cl.cmdStart).Microseconds())
	cl.cmdStart = end
	cmd.Stats.Calls.Add(1)
	s.stats.CommandsProcessed.Add(1)
}

func (s *Server) authRequired() bool {
	s.cfg.RLock()
	defer s.cfg.RUnlock()
	return s.cfg.RequirePass != ""
}

// unknownCommand is Redis's reply to a command it does not know: the name
// and the first arguments, quoted, up to 128 bytes of them.
func unknownCommand(args [][]byte) string {
	var quoted strings.Builder
	for _, a := range args[1:] {
		if quoted.Len() >= 128 {
			break
		}
		quoted.WriteString("'")
		quoted.WriteString(truncate(string(a), 128-quoted.Len()))
		quoted.WriteString("' ")
	}
	return "ERR unknown command '" + truncate(string(args[0]), 128) + "', with args beginning with: " + quoted.String()
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
