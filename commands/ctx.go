package commands

import (
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/structd/structd/aof"
	"github.com/structd/structd/internal/resp"
	"github.com/structd/structd/memtier"
)

// Redis's error replies, shared by every family.
const (
	ErrWrongType   = "WRONGTYPE Operation against a key holding the wrong kind of value"
	ErrNotInteger  = "ERR value is not an integer or out of range"
	ErrNotFloat    = "ERR value is not a valid float"
	ErrSyntax      = "ERR syntax error"
	ErrNoSuchKey   = "ERR no such key"
	ErrOverflow    = "ERR increment or decrement would overflow"
	ErrDBIndex     = "ERR DB index is out of range"
	ErrSameObject  = "ERR source and destination objects are the same"
	ErrNotPositive = "ERR value is out of range, must be positive"
)

// WrongArity is the reply to a command called with the wrong argument count.
func WrongArity(name string) string {
	return "ERR wrong number of arguments for '" + name + "' command"
}

// CommandStats are the INFO commandstats counters of one command.
type CommandStats struct {
	Calls         atomic.Int64
	Usec          atomic.Int64
	RejectedCalls atomic.Int64
	FailedCalls   atomic.Int64
}

// Ctx is what a handler sees: its arguments, the reply writer, the session
// that sent it, the server and the keyspace with the session's database.
type Ctx struct {
	Args    [][]byte
	W       *resp.Writer
	Cmd     *Command
	Session *Session
	Server  Server
	KS      *memtier.Keyspace
	// DB is the session's selected database, valid while the command's
	// locks are held.
	DB *memtier.DB
	// Conn is the connection the command runs on, for the commands that
	// act on the connection itself (EXEC, the pub/sub commands).
	Conn Conn
	// InExec is true while EXEC runs the queued commands of a transaction:
	// the keyspace is already locked exclusively, so Exec takes no locks,
	// and blocking commands (BLPOP, BZPOPMIN, ...) must not block: they
	// answer at once as their non-blocking forms would (nil on timeout),
	// as Redis does inside MULTI (blocking.go).
	InExec bool

	// Blocked is set by a blocking command (BLPOP, ...) that found nothing
	// and registered the client as waiting: the connection must wait on it
	// (see Blocked) and clear it.
	Blocked *Blocked

	// Log receives the effects of the writes this Ctx runs (effects.go);
	// nil when nothing is logged (AOF off, replay).
	Log EffectLog
	// LogPos is the log position after the last effects this Ctx logged,
	// and LogErr the first failure to log one: the connection waits for
	// LogPos to be durable before its replies acknowledge the writes, and
	// answers none of them if LogErr is set. It resets both.
	LogPos aof.Pos
	LogErr error

	// unlocked is work commands inside EXEC left for when EXEC has
	// released the keyspace (afterUnlock).
	unlocked []func()

	scriptTxn scriptTxn // the running TXN.EVAL's redis.call failures (txn.go)
	effects   []Effect
	deferred  []changedKey // keys changed, marked dirty once the effects are known (elements.go)
	changed   bool         // the running handler reported a change
	rewritten bool         // the running handler called Propagate

	// Reused by Exec for key positions and slots: sized for MSET of ten
	// keys, the largest common multi-key command, so it does not allocate.
	slotBuf [24]int
	posBuf  [24]int
}

// Exec runs cmd with the locks its key positions call for: the keyspace
// exclusively for KeyspaceWide commands, otherwise the slots of its keys.
// Before a write command's handler runs, the keys it may change are
// prepared for the running checkpoint (memtier.Keyspace.PrepareWrite,
// invariant 5); after it, its effects go to the log while its locks are
// still held (invariant 3). The caller has checked arity, authentication
// and transaction state.
func Exec(c *Ctx, cmd *Command) {
	c.Cmd = cmd
	mark := len(c.W.Buf)
	defer func() { c.DB = nil }()
	defer recoverDiskError(c, mark)
	wide := cmd.Flags&KeyspaceWide != 0 || (cmd.Wide != nil && cmd.Wide(c.Args))
	switch {
	case c.InExec:
		c.DB = c.KS.DB(c.Session.DB)
		u := c.KS.ActiveUndo()
		if u != nil && !saveBeforeImages(c, u, cmd) {
			return // a transaction that rolls back cannot run it (txn.go)
		}
		effects := len(c.effects)
		prepareWrite(c, cmd, wide)
		runHandler(c, cmd) // EXEC logs the transaction's effects as one unit
		if u != nil {
			savePopped(c, u, cmd, c.effects[effects:])
		}
	case wide:
		execAll(c, cmd)
	case cmd.Flags&Unlocked != 0:
		runHandler(c, cmd)
	default:
		if !execSlots(c, cmd) {
			// A blocked client needs a slot this command did not hold.
			execAll(c, nil)
		}
	}
	if !c.InExec {
		c.runUnlocked()
	}
}

// afterUnlock runs fn, which takes keyspace locks itself or waits for
// goroutines that do: at once in an Unlocked command, or, in a command
// inside EXEC (which holds the whole keyspace), once EXEC has released it,
// before EXEC's reply is sent.
func (c *Ctx) afterUnlock(fn func()) {
	if c.InExec {
		c.unlocked = append(c.unlocked, fn)
		return
	}
	fn()
}

// runUnlocked runs the work afterUnlock kept, in order.
func (c *Ctx) runUnlocked() {
	for i, fn := range c.unlocked {
		c.unlocked[i] = nil
		fn()
	}
	c.unlocked = c.unlocked[:0]
}

// prepareWrite front-runs the running checkpoint over what a write
// command may change: its keys, or every slot for a keyspace-wide one. Caller holds those slots' locks.
func prepareWrite(c *Ctx, cmd *Command, wide bool) {
	switch {
	case cmd.Flags&Write == 0, cmd.Flags&CatalogWrite != 0:
	case wide:
		c.KS.PrepareWriteAll()
	default:
		c.KS.PrepareWrite(c.Args, cmd.AppendKeyPositions(c.posBuf[:0], c.Args))
	}
}

// recoverDiskError answers a command that needed a key from the disk tier
// and could not read it (memtier.DiskError) with the error, in place of
// whatever it had written. Other panics are bugs and go on up.
func recoverDiskError(c *Ctx, mark int) {
	v := recover()
	if v == nil {
		return
	}
	de, ok := v.(*memtier.DiskError)
	if !ok {
		panic(v)
	}
	c.W.Buf = c.W.Buf[:mark]
	c.W.Error("ERR " + de.Error())
	clear(c.effects)
	c.effects = c.effects[:0]
	if !c.InExec {
		clear(c.unlocked) // EXEC's replies, OKs included, are gone
		c.unlocked = c.unlocked[:0]
	}
	c.changed, c.rewritten = false, false
}

// execAll runs cmd (if any) with the keyspace locked exclusively, then
// serves clients blocked on keys it filled. The deferred unlock keeps the
// server usable if a handler panics (a bug: the connection reports it).
func execAll(c *Ctx, cmd *Command) {
	c.KS.LockAll()
	defer c.KS.UnlockAll()
	c.DB = c.KS.DB(c.Session.DB)
	if cmd != nil {
		prepareWrite(c, cmd, true)
		runHandler(c, cmd)
		c.logEffects()
	}
	ServeReadyKeys(c) // blocked clients, after the whole command
}

// execSlots runs cmd holding the locks of its keys' slots and serves the
// blocked clients it can with them; false means some are left for execAll.
func execSlots(c *Ctx, cmd *Command) bool {
	positions := cmd.AppendKeyPositions(c.posBuf[:0], c.Args)
	slots := c.keySlots(positions)
	c.KS.LockSlots(slots)
	defer c.KS.UnlockSlots(slots)
	c.DB = c.KS.DB(c.Session.DB)
	if cmd.Flags&Write != 0 {
		c.KS.PrepareWrite(c.Args, positions)
	}
	runHandler(c, cmd)
	c.logEffects()
	return serveReadyIn(c, slots) // blocked clients (blocking.go)
}

// keySlots returns the sorted, distinct slots of the keys at positions.
func (c *Ctx) keySlots(positions []int) []int {
	slots := c.slotBuf[:0]
	for _, p := range positions {
		slots = append(slots, memtier.SlotOf(c.Args[p]))
	}
	if len(slots) > 1 {
		slices.Sort(slots)
		slots = slices.Compact(slots)
	}
	return slots
}

// Arg returns argument i as a string (for option names and small values).
func (c *Ctx) Arg(i int) string { return string(c.Args[i]) }

// ArgIs reports whether argument i equals opt, ignoring case.
func (c *Ctx) ArgIs(i int, opt string) bool {
	return len(c.Args[i]) == len(opt) && strings.EqualFold(string(c.Args[i]), opt)
}

// Int parses argument i as an integer, replying with Redis's error if it is
// not one.
func (c *Ctx) Int(i int) (int64, bool) {
	n, ok := resp.ParseInt(c.Args[i])
	if !ok {
		c.W.Error(ErrNotInteger)
	}
	return n, ok
}

// Float parses argument i as a double the way Redis's getDoubleFromObject
// does (strtod syntax, "inf" accepted, NaN and trailing garbage refused),
// replying with ErrNotFloat if it is not one.
func (c *Ctx) Float(i int) (float64, bool) {
	f, ok := ParseFloat(c.Args[i])
	if !ok {
		c.W.Error(ErrNotFloat)
	}
	return f, ok
}

// ParseFloat parses b as Redis's string2d: strtod syntax with no leading
// space, no NaN, finite or infinite.
func ParseFloat(b []byte) (float64, bool) {
	if len(b) == 0 || isSpaceByte(b[0]) || isSpaceByte(b[len(b)-1]) {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); !ok || ne.Err != strconv.ErrRange {
			return 0, false
		}
	}
	if f != f { // NaN
		return 0, false
	}
	return f, true
}

func isSpaceByte(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// LookupType returns the object under key if it has type t. It replies
// WRONGTYPE (and returns ok false) if the key holds another type; a missing
// key gives (nil, true).
func (c *Ctx) LookupType(key []byte, t memtier.Type) (*memtier.Object, bool) {
	o := c.DB.Get(key)
	if o != nil && o.Type != t {
		c.W.Error(ErrWrongType)
		return nil, false
	}
	return o, true
}

// LookupWriteType is LookupType for a command about to write the key: like
// Redis's lookupKeyWrite it refreshes the access time without counting a
// keyspace hit or miss.
func (c *Ctx) LookupWriteType(key []byte, t memtier.Type) (*memtier.Object, bool) {
	o := c.DB.LookupWrite(key)
	if o != nil && o.Type != t {
		c.W.Error(ErrWrongType)
		return nil, false
	}
	return o, true
}

// EventClass is the keyspace-notification class of a change, as the
// notify-keyspace-events flags name them.
type EventClass uint8

// The event classes.
const (
	EventGeneric EventClass = iota // g: DEL, EXPIRE, RENAME, ...
	EventString                    // $
	EventList                      // l
	EventSet                       // s
	EventHash                      // h
	EventZSet                      // z
	EventStream                    // t
)

// KeyChanged records that the command changed key, with Redis's event name
// for it ("set", "del", "expire", "incrby", ...). Every write handler calls
// it once per changed key, exactly where Redis calls notifyKeyspaceEvent:
// it is the hook for the change counter, WATCH, keyspace notifications and
// the redo log.
func (c *Ctx) KeyChanged(class EventClass, event string, key []byte) {
	c.KeyChangedIn(c.DB, class, event, key)
}

// KeyChangedIn is KeyChanged for a key of database db, which may not be the
// session's (MOVE, COPY ... DB).
func (c *Ctx) KeyChangedIn(db *memtier.DB, class EventClass, event string, key []byte) {
	c.KS.Stats.Dirty.Add(1)
	c.changed = true
	c.markChanged(db, key)
	if u := c.KS.ActiveUndo(); u != nil {
		holdKeyChange(c, u, db, class, event, key) // until it commits (txn.go)
		return
	}
	c.KS.TouchWatched(db, key)
	notifyKeyspaceEvent(c, class, event, key, db.ID())
}
