package commands

import (
	"strings"
	"sync"

	"github.com/structd/structd/internal/resp"
	"github.com/structd/structd/memtier"
	"github.com/structd/structd/memtier/types"
)

// Transactions that roll back (StructD's own): TXN.MULTI ... EXEC, and
// TXN.EVAL and TXN.ESHA.
//
// TXN.MULTI opens a transaction as MULTI does (same queueing, same
// EXECABORT for commands refused while queueing, same WATCH rules), but
// its EXEC runs the queue under an undo log (memtier/undo.go): before each
// write command runs, the before-images of the keys it may change are
// saved (its key positions, plus the target of MOVE and COPY ... DB in the
// other database): whole values, except for big collections, saved as the
// elements the command names or will remove (HSET's fields, ZPOPMIN's and
// ZREMRANGEBYSCORE's members, what SPOP popped, ...) or, for big lists,
// as its pushes and pops at the ends; DEL keeps the value it deletes
// without copying it. The first command that answers an error stops the
// transaction: the later ones do not run, every key is put back, and EXEC
// answers
//
//	-TXNABORTED Transaction rolled back: command #3 (INCR) failed: ERR value is not an integer or out of range
//
// counting the queued commands from 1. TXN.EVAL and TXN.ESHA (a SHA or a
// script alias) run a script as EVAL and EVALSHA do; if it ends with an
// error (uncaught, or an error reply it returns), or any redis.call in it
// got an error reply (even one the script caught with pcall), its writes
// are undone and it answers
//
//	-TXNABORTED Script rolled back: <the script's error>
//	-TXNABORTED Script rolled back: redis.call (INCR) failed: ERR ...
//
// An error of redis.pcall that the script handles does not roll back. A
// script that failed before touching any key for writing (NOSCRIPT, a
// compile error, a bad numkeys) answers its error unchanged: there was
// nothing to roll back, and clients' EVALSHA-then-EVAL fallback works.
//
// A rolled-back transaction leaves no trace of its data changes:
//   - nothing reaches the AOF or replicas: its effects are dropped before
//     EXEC's (or the script's) are logged;
//   - no keyspace notification of it is delivered, and the WATCHes of
//     other clients are not touched: both are held until it commits
//     (UndoLog.Hold), and then delivered in order;
//   - clients blocked on a key it pushed to keep waiting: they are served
//     after the transaction, from its end state;
//   - the checkpointer's dirty marks stay on the keys it restored, which
//     are rewritten with their (unchanged) values.
//
// Connection and server state is not data and is not undone: SELECT,
// CLIENT SETNAME, CONFIG SET inside a rolled-back transaction keep their
// effect, as they would after MULTI/EXEC. Commands whose changes cannot be
// undone at a cost bounded by what they touch are refused (TxnRefusal):
// FLUSHALL, FLUSHDB, SWAPDB, the SCRIPT and FUNCTION commands that change
// scripts or aliases, and SUBSCRIBE and CLIENT REPLY (which would take
// replies out of EXEC's).
//
// Plain MULTI/EXEC, EVAL and EVALSHA keep Redis's no-rollback semantics.

func init() {
	cats := []string{"slow", "scripting"}
	evalFlags := NoScript | Stale | SkipMonitor | NoMandatoryKeys | MovableKeys | KeyspaceWide | MayWait
	evalKeys := func(args [][]byte) []int { return appendNumKeys(nil, args, 2) }
	register(
		&Command{Name: "txn.multi", Arity: 1, Flags: NoScript | Loading | Stale | Fast | AllowBusy,
			Categories: []string{"fast", "transaction"}, Handler: cmdTxnMulti,
			Doc: &Doc{Summary: "Mark the start of a transaction block that EXEC rolls back if any of its commands fails (StructD)",
				Since: "StructD", Group: "transactions", Complexity: "O(1)"}},
		&Command{Name: "txn.eval", Arity: -3, Flags: evalFlags, Keys: evalKeys, Categories: cats,
			Handler: txnEval("eval"),
			Doc: &Doc{Summary: "Execute a Lua script server side, undoing its writes if it fails (StructD)",
				Since: "StructD", Group: "scripting", Complexity: "Depends on the script that is executed."}},
		&Command{Name: "txn.esha", Arity: -3, Flags: evalFlags, Keys: evalKeys, Categories: cats,
			Handler: txnEval("evalsha"),
			Doc: &Doc{Summary: "Execute a cached Lua script (by SHA1 or alias) server side, undoing its writes if it fails (StructD)",
				Since: "StructD", Group: "scripting", Complexity: "Depends on the script that is executed."}},
	)
}

func cmdTxnMulti(c *Ctx) {
	m := &c.Session.Multi
	if m.Active {
		c.W.Error("ERR MULTI calls can not be nested")
		return
	}
	m.Active, m.Rollback = true, true
	c.W.OK()
}

// refusedInTxn are the commands TxnRefusal refuses besides the writes
// that name no key: those that change scripts, aliases or libraries, or
// take replies out of EXEC's.
var refusedInTxn = map[string]bool{
	"subscribe": true, "psubscribe": true, "ssubscribe": true, "client|reply": true,
	"script|load": true, "script|flush": true, "script|alias": true, "script|unalias": true,
	"function|load": true, "function|delete": true, "function|flush": true, "function|restore": true,
}

// TxnRefusal is the error a transaction that rolls back answers for cmd
// (when TXN.MULTI queues it, or a TXN.EVAL script calls it), or "" if it
// may run: a write must name the keys it changes, so that their
// before-images can be saved.
func TxnRefusal(cmd *Command) string {
	unnamed := cmd.Flags&KeyspaceWide != 0 || !cmd.hasKeys()
	if cmd.Flags&Write != 0 && unnamed || refusedInTxn[cmd.Name] {
		return "ERR '" + displayName(cmd.Name) +
			"' is not allowed in TXN.MULTI, TXN.EVAL or TXN.ESHA: it can not be rolled back"
	}
	return ""
}

// displayName is a command's name as users type it: "CLIENT REPLY".
func displayName(name string) string {
	return strings.ToUpper(strings.ReplaceAll(name, "|", " "))
}

// saveBeforeImages saves, in the active undo log, the before-images of
// the keys cmd may change, or answers TxnRefusal's error and returns
// false. Exec calls it for every command run inside EXEC or a script
// while a log is active, with the keyspace locked.
func saveBeforeImages(c *Ctx, u *memtier.UndoLog, cmd *Command) bool {
	if msg := TxnRefusal(cmd); msg != "" {
		c.W.Error(msg)
		return false
	}
	if cmd.Flags&Write == 0 {
		return true
	}
	if saveListEnds(c, u, cmd) {
		return true
	}
	pick := elementEffects[cmd.Name]
	for _, p := range cmd.AppendKeyPositions(c.posBuf[:0], c.Args) {
		key := c.Args[p]
		if cmd.Name == "del" || cmd.Name == "unlink" {
			u.SaveDeleted(c.DB, key)
			continue
		}
		if !u.SavesElems(c.DB, key) {
			u.SaveKey(c.DB, key) // a small value, or saved whole already
			continue
		}
		if members, ok := zsetMembersRemoved(c, cmd, key); ok {
			u.SaveElems(c.DB, key, members)
			continue
		}
		switch {
		case cmd.Name == "spop":
			u.SaveElems(c.DB, key, nil) // the members it popped: savePopped
		case pick != nil:
			u.SaveElems(c.DB, key, pick(c.Args))
		case cmd.Name == "smove" && len(c.Args) == 4:
			u.SaveElems(c.DB, key, c.Args[3:4])
		default:
			u.SaveKey(c.DB, key)
		}
	}
	saveOtherDB(c, u, cmd)
	return true
}

// zsetMembersRemoved names the members ZPOPMIN, ZPOPMAX, BZPOPMIN,
// BZPOPMAX (the count lowest or highest) or ZREMRANGEBYRANK/SCORE/LEX (the
// range) may remove from the sorted set under key, so that popping from a
// big sorted set (a queue) or trimming it (a sliding-window rate limiter)
// saves those, not the set; false for other commands (the key is then
// saved whole). Arguments the command will refuse name no member.
func zsetMembersRemoved(c *Ctx, cmd *Command, key []byte) ([][]byte, bool) {
	q := zrangeQuery{kind: zrangeRank, end: 0, limit: -1}
	switch cmd.Name {
	case "zpopmin", "zpopmax", "bzpopmin", "bzpopmax":
		q.reverse = strings.HasSuffix(cmd.Name, "max")
		if len(c.Args) == 3 && cmd.Name[0] == 'z' {
			n, ok := resp.ParseInt(c.Args[2])
			if !ok || n < 0 {
				return nil, true
			}
			q.end = n - 1
			if n == 0 {
				return nil, true
			}
		}
	case "zremrangebyrank", "zremrangebyscore", "zremrangebylex":
		kind := map[string]zrangeKind{"zremrangebyrank": zrangeRank, "zremrangebyscore": zrangeScore,
			"zremrangebylex": zrangeLex}[cmd.Name]
		mark := len(c.W.Buf)
		var ok bool
		q, ok = parseZRemRange(c, kind)
		c.W.Buf = c.W.Buf[:mark] // the command answers its own errors
		if !ok {
			return nil, true
		}
	default:
		return nil, false
	}
	o := c.DB.Peek(key)
	if o == nil || o.Type != memtier.TypeZSet {
		return nil, true
	}
	var members [][]byte
	for _, m := range q.collect(o.Payload().(*types.ZSet), nil) {
		members = append(members, m.member.AppendTo(nil))
	}
	return members, true
}

// saveListEnds saves the keys of LPUSH, RPUSH, LPUSHX, RPUSHX, LPOP,
// RPOP, RPOPLPUSH and LMOVE: a big list as the pushes and pops the
// command makes at its ends (a queue's cost does not grow with its
// length), anything else whole. It reports false for other commands.
// Only what the command will do is recorded: pops from a list that is
// there, moves whose destination is absent or a list, no entry for
// arguments it refuses.
func saveListEnds(c *Ctx, u *memtier.UndoLog, cmd *Command) bool {
	type op struct {
		key  []byte
		head bool
		n    int // pushed, or popped when pop
		pop  bool
	}
	var ops [2]op
	key := c.Args[1]
	switch cmd.Name {
	case "lpush", "lpushx", "rpush", "rpushx":
		ops[0] = op{key, cmd.Name[0] == 'l', len(c.Args) - 2, false}
	case "lpop", "rpop":
		n := int64(1)
		if len(c.Args) > 3 {
			return true // refused: changes nothing
		}
		if len(c.Args) == 3 {
			var ok bool
			if n, ok = resp.ParseInt(c.Args[2]); !ok || n < 0 {
				return true // refused: changes nothing
			}
		}
		ops[0] = op{key, cmd.Name[0] == 'l', int(min(n, 1<<31)), true}
	case "rpoplpush", "lmove":
		from, to := false, true
		if cmd.Name == "lmove" {
			mark := len(c.W.Buf)
			var ok bool
			from, to, ok = parseMoveWheres(c)
			c.W.Buf = c.W.Buf[:mark] // the command answers its own errors
			if !ok {
				return true
			}
		}
		src, dst := c.DB.Peek(key), c.DB.Peek(c.Args[2])
		if src == nil || src.Type != memtier.TypeList || dst != nil && dst.Type != memtier.TypeList {
			return true // no move (nil or WRONGTYPE): changes nothing
		}
		ops[0] = op{key, from, 1, true}
		ops[1] = op{c.Args[2], to, 1, false}
	default:
		return false
	}
	for _, o := range ops {
		switch {
		case o.key == nil:
		case !u.SavesList(c.DB, o.key):
			u.SaveKey(c.DB, o.key)
		case o.pop:
			u.SaveListPop(c.DB, o.key, o.head, o.n)
		default:
			u.SaveListPush(c.DB, o.key, o.head, o.n)
		}
	}
	return true
}

// savePopped completes the element entry of a big set SPOP popped from,
// once it ran, with the members it popped: those its effects SREM.
func savePopped(c *Ctx, u *memtier.UndoLog, cmd *Command, effects []Effect) {
	if cmd.Name != "spop" {
		return
	}
	key := c.Args[1]
	for _, e := range effects {
		if e.DB == c.DB.ID() && len(e.Args) > 2 && strings.EqualFold(string(e.Args[0]), "srem") &&
			string(e.Args[1]) == string(key) {
			u.SaveRemoved(c.DB, key, e.Args[2:])
		}
	}
}

// saveOtherDB saves the key MOVE and COPY ... DB write in a database
// other than the session's. An index the command will refuse is skipped.
func saveOtherDB(c *Ctx, u *memtier.UndoLog, cmd *Command) {
	at := 0
	switch cmd.Name {
	case "move":
		at = 2
	case "copy":
		for i := 3; i+1 < len(c.Args); i++ {
			if c.ArgIs(i, "db") {
				at = i + 1
			}
		}
	}
	if at == 0 {
		return
	}
	n, ok := resp.ParseInt(c.Args[at])
	if !ok || n < 0 || n >= int64(c.KS.NumDBs()) {
		return
	}
	key := c.Args[1]
	if cmd.Name == "copy" {
		key = c.Args[2]
	}
	u.SaveKey(c.KS.DB(int(n)), key)
}

// holdKeyChange holds, until the transaction commits, what a change to
// key tells other clients: their WATCHes and the keyspace notification.
// A change to a key with no before-image is a write path that escaped
// saveBeforeImages: it is counted (tests require none).
func holdKeyChange(c *Ctx, u *memtier.UndoLog, db *memtier.DB, class EventClass, event string, key []byte) {
	if !u.Saved(db, key) {
		c.KS.UndoStats.Unsaved.Add(1)
	}
	// Nobody can WATCH while the transaction holds the keyspace.
	watched := c.KS.WatchedKeys() > 0
	notify := c.Server != nil && c.Server.Config().Limits().KeyspaceEvents&classFlag(class) != 0
	if !watched && !notify {
		return
	}
	k, ks, srv, conn := string(key), c.KS, c.Server, c.Conn
	u.Hold(func() {
		if watched {
			ks.TouchWatched(db, []byte(k))
		}
		if notify {
			notifyKeyspaceEvent(&Ctx{Server: srv, Conn: conn}, class, event, []byte(k), db.ID())
		}
	})
}

// undoLogs recycles undo logs (their maps and slices) across
// transactions; one that grew past maxPooledUndo entries is dropped.
var undoLogs = sync.Pool{New: func() any { return memtier.NewUndoLog() }}

const maxPooledUndo = 4096

// beginUndo starts an undo log (a recycled one) on c's keyspace. The
// caller holds LockAll and ends it with endUndo.
func beginUndo(c *Ctx) *memtier.UndoLog {
	u := undoLogs.Get().(*memtier.UndoLog)
	u.HashLimits, u.ZSetLimits, u.MaxIntset, u.ListFill = hashLimits(c), zsetLimits(c), setMaxIntset(c), listFill(c)
	c.KS.BeginUndo(u)
	return u
}

// endUndo ends u: committing (held events delivered) or rolling back. It
// does nothing if u was ended already, so a deferred endUndo(c, u, false)
// rolls back only a transaction that did not finish (a handler panicked:
// a bug).
func endUndo(c *Ctx, u *memtier.UndoLog, commit bool) {
	if c.KS.ActiveUndo() != u {
		return
	}
	if u.Len() <= maxPooledUndo {
		defer undoLogs.Put(u) // emptied below
	}
	if !commit {
		u.Rollback(c.KS)
	}
	c.KS.EndUndo()
	if commit {
		u.Commit(c.KS)
	}
}

// execTxn runs a TXN.MULTI transaction's queue for EXEC (see the top of
// this file). The caller has checked WATCH and discarded the transaction
// state; the keyspace is locked exclusively.
func execTxn(c *Ctx, queue [][][]byte) {
	u := beginUndo(c)
	defer endUndo(c, u, false) // ended below, unless a handler panics
	mark, effects := len(c.W.Buf), len(c.effects)
	// Replies must be seen to tell a failure, whatever CLIENT REPLY says:
	// the mode applies to EXEC's reply as a whole once it returns.
	reply := c.Session.Reply
	c.Session.Reply = ReplyOn
	defer func() { c.Session.Reply = reply }()
	c.W.Array(len(queue))
	failed := -1
	var cause string
	c.InExec = true
	for i, q := range queue {
		at := len(c.W.Buf)
		c.Conn.Dispatch(q)
		if len(c.W.Buf) > at && c.W.Buf[at] == '-' {
			failed, cause = i, errorText(c.W.Buf[at:])
			break
		}
	}
	c.InExec = false
	if failed < 0 {
		endUndo(c, u, true)
		return
	}
	endUndo(c, u, false)
	dropEffects(c, effects)
	c.W.Buf = c.W.Buf[:mark]
	c.W.Error("TXNABORTED Transaction rolled back: command #" + itoa(int64(failed+1)) +
		" (" + strings.ToUpper(string(queue[failed][0])) + ") failed: " + cause)
}

// errorText is an error reply's message, without '-' and CRLF.
func errorText(reply []byte) string {
	end := len(reply)
	for i, b := range reply {
		if b == '\r' {
			end = i
			break
		}
	}
	return string(reply[1:end])
}

// dropEffects forgets the effects gathered since mark: a rolled-back
// transaction logs nothing.
func dropEffects(c *Ctx, mark int) {
	clear(c.effects[mark:])
	c.effects = c.effects[:mark]
}

// scriptTxn is a running TXN.EVAL's state: its first failed redis.call.
type scriptTxn struct {
	active, failed bool
	cmd, msg       string
}

// ScriptCallFailed records that a redis.call (not redis.pcall) of the
// script running in c got an error reply, or raised an error before
// running its command: a TXN.EVAL then rolls back even if the script
// catches the error. name is the called command's name (nil if unknown).
// Outside TXN.EVAL and TXN.ESHA it does nothing.
func ScriptCallFailed(c *Ctx, name []byte, msg string) {
	t := &c.scriptTxn
	if !t.active || t.failed {
		return
	}
	t.failed, t.cmd, t.msg = true, strings.ToUpper(string(name)), strings.TrimPrefix(msg, "-")
}

// txnEval is the handler of TXN.EVAL (via EVAL's handler) and TXN.ESHA
// (via EVALSHA's, which takes aliases): the script runs exactly as
// there, under an undo log, its own unless a TXN.MULTI's is active (then
// its failure fails that transaction, which rolls back everything).
func txnEval(via string) Handler {
	return func(c *Ctx) {
		u := c.KS.ActiveUndo()
		own := u == nil
		if own {
			u = beginUndo(c)
			defer endUndo(c, u, false) // ended below, unless a handler panics
		}
		mark, effects, entries := len(c.W.Buf), len(c.effects), u.Len()
		outer := c.scriptTxn
		c.scriptTxn = scriptTxn{active: true}
		var t scriptTxn
		func() {
			defer func() { t, c.scriptTxn = c.scriptTxn, outer }()
			All()[via].Handler(c)
		}()
		replyErr := len(c.W.Buf) > mark && c.W.Buf[mark] == '-'
		if !t.failed && (!replyErr || u.Len() == entries) {
			if own {
				endUndo(c, u, true) // success, or failed before touching anything
			}
			return
		}
		cause := ""
		if replyErr {
			cause = errorText(c.W.Buf[mark:])
		} else {
			cause = "redis.call (" + t.cmd + ") failed: " + t.msg
		}
		if own {
			endUndo(c, u, false)
			dropEffects(c, effects)
		}
		c.W.Buf = c.W.Buf[:mark]
		c.W.Error("TXNABORTED Script rolled back: " + cause)
	}
}
