package commands

import "github.com/structd/structd/memtier"

// Transactions, after Redis 7.0's multi.c: MULTI starts queueing, the
// server queues every later command (after checking it exists, its arity
// and authentication: a failure there flags the transaction and EXEC
// answers EXECABORT), and EXEC runs the queue with the keyspace locked
// exclusively, so no other client's command runs in between. A command
// that fails while EXEC runs does not stop the others: there is no
// rollback, as in Redis.

func init() {
	txFlags := NoScript | Loading | Stale | Fast | AllowBusy
	register(
		// MULTI touches no key, and DISCARD and UNWATCH lock the keyspace
		// only for a client watching keys: they answer at once while a
		// script holds it, as Redis's do.
		&Command{Name: "multi", Arity: 1, Flags: txFlags | Unlocked, Categories: []string{"fast", "transaction"}, Handler: cmdMulti},
		&Command{Name: "exec", Arity: 1, Flags: NoScript | Loading | Stale | SkipSlowlog | KeyspaceWide | MayWait,
			Categories: []string{"slow", "transaction"}, Handler: cmdExec},
		&Command{Name: "discard", Arity: 1, Flags: txFlags | Unlocked, Categories: []string{"fast", "transaction"}, Handler: cmdDiscard},
		&Command{Name: "watch", Arity: -2, Flags: txFlags, FirstKey: 1, LastKey: -1, KeyStep: 1,
			Categories: []string{"fast", "transaction"}, Handler: cmdWatch},
		&Command{Name: "unwatch", Arity: 1, Flags: txFlags | Unlocked, Categories: []string{"fast", "transaction"}, Handler: cmdUnwatch},
	)
	onReset(func(c *Ctx) {
		c.Session.Multi.Discard()
		unwatch(c)
	})
}

// Conn is the connection a command runs on, for the commands that act on
// the connection beyond their reply. The server's client implements it.
type Conn interface {
	// Dispatch runs one queued command exactly as the server runs a
	// command it reads (lookup, checks, statistics, CLIENT REPLY mode),
	// writing its reply; EXEC calls it with Ctx.InExec set, so the
	// command takes no locks.
	Dispatch(args [][]byte)
	// Subscribe subscribes the connection to channels, patterns or shard
	// channels, replying for each as Redis does.
	Subscribe(kind SubKind, names [][]byte)
	// Unsubscribe ends subscriptions (all of the kind when names is
	// empty), replying for each.
	Unsubscribe(kind SubKind, names [][]byte)
}

// MultiState is a connection's transaction: whether MULTI is open, the
// queued commands and the keys it WATCHes. The connection goroutine owns it.
type MultiState struct {
	// Active is true between MULTI and EXEC or DISCARD.
	Active bool
	// Aborted is set when a command failed to queue: EXEC answers
	// EXECABORT.
	Aborted bool
	// Rollback is set by TXN.MULTI: EXEC undoes the transaction if a
	// command fails (txn.go).
	Rollback bool
	// Queue holds copies of the queued commands' arguments.
	Queue [][][]byte
	// QueuedBytes is the size of Queue's arguments (CLIENT LIST
	// multi-mem).
	QueuedBytes int
	// Flags are the queued commands' flags together (CLIENT PAUSE WRITE
	// holds an EXEC that writes).
	Flags Flags
	// Watch is the WATCHed keys; EXEC, DISCARD, UNWATCH, RESET and
	// disconnection clear them.
	Watch memtier.Watch
}

// Enqueue copies args onto the queue (the server calls it for each command
// sent after MULTI).
func (m *MultiState) Enqueue(args [][]byte) {
	n := 0
	for _, a := range args {
		n += len(a)
	}
	buf := make([]byte, 0, n)
	cp := make([][]byte, len(args))
	for i, a := range args {
		buf = append(buf, a...)
		cp[i] = buf[len(buf)-len(a) : len(buf) : len(buf)]
	}
	m.Queue = append(m.Queue, cp)
	m.QueuedBytes += n
}

// Discard drops the transaction (not the watched keys).
func (m *MultiState) Discard() {
	m.Active, m.Aborted, m.Rollback, m.Queue, m.QueuedBytes, m.Flags = false, false, false, nil, 0, 0
}

// QueuesCommand reports whether the server queues cmd for a session in
// MULTI rather than running it: everything but the commands that end or
// manage the transaction and QUIT and RESET.
func QueuesCommand(cmd *Command) bool {
	switch cmd.Name {
	case "exec", "discard", "multi", "txn.multi", "watch", "quit", "reset":
		return false
	}
	return true
}

func cmdMulti(c *Ctx) {
	m := &c.Session.Multi
	if m.Active {
		c.W.Error("ERR MULTI calls can not be nested")
		return
	}
	m.Active = true
	c.W.OK()
}

func cmdDiscard(c *Ctx) {
	m := &c.Session.Multi
	if !m.Active {
		c.W.Error("ERR DISCARD without MULTI")
		return
	}
	m.Discard()
	unwatch(c)
	c.W.OK()
}

// unwatch forgets the keys the client watches, for DISCARD, UNWATCH and
// RESET, which run Unlocked: outside EXEC they take the keyspace lock only
// if the client watches keys, so that they answer at once while a script
// is busy; inside EXEC the keyspace is already held exclusively.
func unwatch(c *Ctx) {
	if c.InExec {
		c.KS.Unwatch(&c.Session.Multi.Watch, true)
		return
	}
	c.KS.UnwatchUnlocked(&c.Session.Multi.Watch)
}

// TouchesWatches reports whether cmd, sent by the client of session,
// changes the keyspace's WATCH registry: WATCH, and DISCARD, UNWATCH and
// RESET of a client that watches keys. They are allowed while a script is
// busy, as in Redis, yet need the keyspace lock the script holds (the
// registry is guarded by it): the server runs them inside the busy script.
func TouchesWatches(cmd *Command, session *Session) bool {
	if cmd.Flags&AllowBusy == 0 {
		return false // every data command: one test, no name compared
	}
	switch cmd.Name {
	case "watch":
		return true
	case "discard", "unwatch", "reset":
		return session.Multi.Watch.Watching()
	}
	return false
}

// cmdExec runs under the exclusive keyspace lock (KeyspaceWide).
func cmdExec(c *Ctx) {
	m := &c.Session.Multi
	if !m.Active {
		c.W.Error("ERR EXEC without MULTI")
		return
	}
	if m.Aborted {
		m.Discard()
		c.KS.Unwatch(&m.Watch, true)
		c.W.Error("EXECABORT Transaction discarded because of previous errors.")
		return
	}
	if m.Watch.Dirty() || c.KS.WatchedExpired(&m.Watch) {
		m.Discard()
		c.KS.Unwatch(&m.Watch, true)
		c.W.NullArray()
		return
	}
	queue, rollback := m.Queue, m.Rollback
	m.Discard()
	c.KS.Unwatch(&m.Watch, true)
	args, cmd := c.Args, c.Cmd
	if rollback {
		execTxn(c, queue) // TXN.MULTI (txn.go)
	} else {
		c.W.Array(len(queue))
		c.InExec = true
		for _, q := range queue {
			c.Conn.Dispatch(q)
		}
		c.InExec = false
	}
	c.Args, c.Cmd = args, cmd
	c.DB = c.KS.DB(c.Session.DB)
	// Clients blocked on keys the transaction filled are served now, with
	// the keyspace still locked, so they see its end state (blocking.go).
	ServeReadyKeys(c)
}

func cmdWatch(c *Ctx) {
	m := &c.Session.Multi
	if m.Active {
		c.W.Error("ERR WATCH inside MULTI is not allowed")
		return
	}
	for _, key := range c.Args[1:] {
		c.KS.Watch(&m.Watch, c.DB, key)
	}
	c.W.OK()
}

func cmdUnwatch(c *Ctx) {
	unwatch(c)
	c.W.OK()
}
