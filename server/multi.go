package server

import (
	"strings"

	"github.com/structd/structd/commands"
)

// The connection side of transactions and subscribed mode, hooked into
// call (dispatch.go) at the point Redis's processCommand checks them.

// Dispatch implements commands.Conn: EXEC runs each queued command through
// the same path as a command read from the socket. Each is timed on its
// own, and EXEC stays the connection's current command (CLIENT LIST cmd=)
// and keeps its start time, so its own time includes the queue's, as in
// Redis.
func (cl *client) Dispatch(args [][]byte) {
	outer, start := cl.lastCmd, cl.cmdStart
	cl.cmdStart = cl.srv.monoNow()
	cl.srv.dispatch(cl, args)
	cl.lastCmd, cl.cmdStart = outer, start
}

// gate applies, to a command that passed lookup, arity and authentication,
// the checks Redis makes before running it: the RESP2 subscribed-mode
// restriction, the commands MULTI refuses, and queueing inside MULTI. It
// returns true when it answered in the command's place (error or QUEUED).
func (cl *client) gate(cmd *commands.Command, args [][]byte) bool {
	if cl.ctx.InExec {
		return false // EXEC runs what it queued, as Redis's call() does
	}
	if cl.session.Subscriptions > 0 && cl.session.Proto == 2 && !allowedSubscribed(cmd) {
		cl.writer.Error("ERR Can't execute '" + cmd.Name +
			"': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context")
		return true
	}
	m := &cl.session.Multi
	if !m.Active {
		return false
	}
	if cmd.Flags&commands.NoMulti != 0 {
		cl.writer.Error("ERR Command not allowed inside a transaction")
		return true
	}
	if !commands.QueuesCommand(cmd) {
		return false
	}
	if m.Rollback {
		if msg := commands.TxnRefusal(cmd); msg != "" {
			cl.writer.Error(msg) // flags the transaction: EXEC answers EXECABORT
			return true
		}
	}
	m.Enqueue(args)
	m.Flags |= cmd.Flags
	cl.writer.Simple("QUEUED")
	return true
}

// pauseCommand is the command CLIENT PAUSE judges: for EXEC, one with the
// flags of every queued command, so a transaction that writes waits out a
// PAUSE WRITE as Redis makes it wait.
func (cl *client) pauseCommand(cmd *commands.Command) *commands.Command {
	if m := &cl.session.Multi; cmd.Name == "exec" && m.Active {
		return &commands.Command{Name: cmd.Name, Flags: cmd.Flags | m.Flags}
	}
	return cmd
}

// allowedSubscribed reports whether a RESP2 client in subscribed mode may
// run cmd.
func allowedSubscribed(cmd *commands.Command) bool {
	switch cmd.Name {
	case "ping", "subscribe", "ssubscribe", "unsubscribe", "sunsubscribe",
		"psubscribe", "punsubscribe", "quit", "reset":
		return true
	}
	return false
}

// flagTransaction marks the open transaction failed after a command was
// rejected before queueing (unknown, wrong arity, not authenticated, not
// allowed): EXEC will answer EXECABORT, as Redis's flagTransaction.
func (cl *client) flagTransaction() {
	if cl.session.Multi.Active {
		cl.session.Multi.Aborted = true
	}
}

// releaseState drops what a departing client holds beyond its goroutine:
// its subscriptions and watched keys.
func (cl *client) releaseState() {
	cl.unsubscribeAll()
	if cl.session.Multi.Watch.Watching() {
		cl.srv.ks.RLockAll()
		cl.srv.ks.Unwatch(&cl.session.Multi.Watch, false)
		cl.srv.ks.RUnlockAll()
	}
}

// addStateInfo completes a CLIENT LIST snapshot with the transaction,
// subscription and output-buffer fields, as published by the client.
func (cl *client) addStateInfo(ci *commands.ClientInfo) {
	tx := cl.pubMulti.Load()
	ci.Multi = int(tx) - 1
	if tx > 0 {
		ci.Flags = addFlag(ci.Flags, 'x')
	}
	subs := cl.pubSubs.Load()
	ci.Sub = int(subs & (1<<21 - 1))
	ci.PSub = int(subs >> 21 & (1<<21 - 1))
	ci.SSub = int(subs >> 42)
	if subs != 0 {
		ci.Flags = addFlag(ci.Flags, 'P')
	}
	if o := cl.out.Load(); o != nil {
		ci.OMem = int(o.omem.Load())
		ci.OLL = int(o.oll.Load())
		ci.TotMem += ci.OMem
	}
}

// addFlag adds a CLIENT LIST flag letter, replacing "N" (no flags).
func addFlag(flags string, f byte) string {
	if flags == "N" {
		return string(f)
	}
	return flags + string(f)
}

// publishTx publishes the transaction state for CLIENT LIST: 0 outside
// MULTI, else 1 + the number of queued commands.
func (cl *client) publishTx() {
	if m := &cl.session.Multi; m.Active {
		cl.pubMulti.Store(int64(len(m.Queue)) + 1)
	} else {
		cl.pubMulti.Store(0)
	}
}

// execAbort turns the rejection of EXEC itself (wrong arity, say), written
// at mark, into Redis's EXECABORT reply and discards the transaction, as
// Redis's execCommandAbort.
func (cl *client) execAbort(mark int) {
	msg := string(cl.writer.Buf[mark+1 : len(cl.writer.Buf)-2])
	msg = strings.TrimPrefix(msg, "ERR ")
	cl.writer.Buf = cl.writer.Buf[:mark]
	cl.writer.Error("EXECABORT Transaction discarded because of: " + msg)
	m := &cl.session.Multi
	m.Discard()
	if m.Watch.Watching() {
		cl.srv.ks.RLockAll()
		cl.srv.ks.Unwatch(&m.Watch, false)
		cl.srv.ks.RUnlockAll()
	}
}
