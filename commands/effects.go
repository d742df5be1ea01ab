package commands

import "github.com/structd/structd/aof"

// Effects are what the redo log and replicas get of a write (DESIGN.md
// invariant 3): the deterministic commands that redo it exactly. By default
// a command that changed something (reported a KeyChanged, or Changed) is
// logged as it was called, as Redis propagates its argv; a handler whose
// call is not deterministic (relative TTLs, SPOP, INCRBYFLOAT, a blocking
// pop) calls Propagate with the commands that are, and then only those are
// logged, as Redis's alsoPropagate/rewriteClientCommandVector.

// Effect is one logged command and the database it ran in.
type Effect = aof.Command

// EffectLog receives the effects of each command, transaction or served
// blocked client, while the locks of the keys they changed are still held,
// so the log's order is the order in which keys changed. The server
// implements it over the AOF writer.
type EffectLog interface {
	// LogEffects appends effects as one unit (a crash keeps all or none),
	// wrapped in MULTI/EXEC when there is more than one, and returns the
	// log position after them: a reply acknowledging them waits for it to
	// be durable. The args may be reused once it returns.
	LogEffects(effects []Effect) (aof.Pos, error)
}

// Changed records that the command changed the dataset without a key event
// of its own (FLUSHALL of an empty server, SWAPDB), so that it is logged.
func (c *Ctx) Changed() { c.changed = true }

// Propagate logs args, run in the current database, as (one of) the
// deterministic effects of the command, instead of the command itself.
// args must stay unchanged until the command returns.
func (c *Ctx) Propagate(args ...[]byte) {
	c.rewritten = true
	c.effects = append(c.effects, Effect{DB: c.DB.ID(), Args: args})
}

// runHandler runs cmd's handler and gathers its effects into c.effects.
// Handlers run nested (EXEC runs the queued commands through it), so each
// level keeps its own changed/rewritten state.
func runHandler(c *Ctx, cmd *Command) {
	gatherEffects(c, func() { cmd.Handler(c) })
}

// gatherEffects runs fn, a handler or the serving of a blocked client, and
// adds c.Args to c.effects if fn changed something without calling
// Propagate.
func gatherEffects(c *Ctx, fn func()) {
	changed, rewritten := c.changed, c.rewritten
	c.changed, c.rewritten = false, false
	db := c.Session.DB
	if c.DB != nil {
		db = c.DB.ID() // a served blocked client's database
	}
	mark := len(c.effects)
	fn()
	if c.changed && !c.rewritten {
		c.effects = append(c.effects, Effect{DB: db, Args: c.Args})
	}
	if len(c.deferred) > 0 {
		c.resolveChanged(c.effects[mark:])
	}
	c.changed, c.rewritten = changed, rewritten
}

// logEffects hands the effects gathered so far to the log and forgets them.
func (c *Ctx) logEffects() {
	if len(c.effects) == 0 {
		return
	}
	if c.Log != nil {
		pos, err := c.Log.LogEffects(c.effects)
		if err != nil && c.LogErr == nil {
			c.LogErr = err
		}
		if c.LogPos.Less(pos) {
			c.LogPos = pos
		}
	}
	clear(c.effects)
	c.effects = c.effects[:0]
}
