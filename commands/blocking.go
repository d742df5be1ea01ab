package commands

import (
	"math"
	"math/big"
	"slices"
	"strconv"
	"time"

	"github.com/structd/structd/internal/resp"
	"github.com/structd/structd/memtier"
	"github.com/structd/structd/memtier/types"
)

// Blocking pops: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN,
// BZPOPMAX, BZMPOP.
//
// If a key has data the command acts at once as its non-blocking form.
// Otherwise the handler registers a memtier.Waiter on its keys under the
// locks Exec holds (no push can come between the check and the
// registration) and sets Ctx.Blocked; the connection then waits (see
// Blocked). A command that stores a key clients wait on marks it ready;
// before Exec releases that command's locks, serveReady serves the
// waiters of the ready keys first-blocked-first-served, each taking what
// its command would take, until the key is empty or gone, by running the
// pop on the client's behalf into the client's own reply buffer. A key of
// another type leaves its waiters blocked (Redis 7.0).
//
// Inside MULTI/EXEC (Ctx.InExec) nothing blocks: the commands reply their
// timeout reply at once.

func init() {
	bcmd := func(name string, arity int, flags Flags, family, speed string, h Handler) *Command {
		return &Command{Name: name, Arity: arity, Flags: Write | Blocking | flags, FirstKey: 1, LastKey: -2, KeyStep: 1,
			Categories: append(familyCategories(Write, family, speed), "blocking"), Handler: h}
	}
	blmove := bcmd("blmove", 6, DenyOOM|NoScript, "list", "slow", cmdBLMove)
	blmove.LastKey = 2
	brpoplpush := bcmd("brpoplpush", 4, DenyOOM|NoScript, "list", "slow", cmdBRPopLPush)
	brpoplpush.LastKey = 2
	numkeys := func(c *Command) *Command {
		c.FirstKey, c.LastKey, c.KeyStep = 0, 0, 0
		c.Keys = numKeysAt(2)
		return c
	}
	register(
		bcmd("blpop", -3, NoScript, "list", "slow", cmdBLPop),
		bcmd("brpop", -3, NoScript, "list", "slow", cmdBRPop),
		blmove, brpoplpush,
		numkeys(bcmd("blmpop", -5, 0, "list", "slow", cmdBLMPop)),
		bcmd("bzpopmin", -3, NoScript|Fast, "sortedset", "fast", cmdBZPopMin),
		bcmd("bzpopmax", -3, NoScript|Fast, "sortedset", "fast", cmdBZPopMax),
		numkeys(bcmd("bzmpop", -5, 0, "sortedset", "slow", cmdBZMPop)),
	)
}

// Errors of the blocking commands.
const (
	errTimeoutFloat    = "ERR timeout is not a float or out of range"
	errTimeoutNegative = "ERR timeout is negative"
	errUnblocked       = "UNBLOCKED client unblocked via CLIENT UNBLOCK"
	errUnblockReason   = "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"
)

// maxTimeoutMs is the longest timeout StructD arms a timer for; longer
// ones (Redis accepts up to LLONG_MAX ms) wait forever, which no client can
// tell apart.
const maxTimeoutMs = 100 * 365 * 24 * 3600 * 1000

// parseTimeout parses a timeout in seconds as Redis 7.0's
// getTimeoutFromObjectOrReply: a long double (strtold syntax), times 1000,
// truncated to a long long; a value past the long long range converts, as
// on x86, to LLONG_MIN and so reads as negative. 0 means forever.
func parseTimeout(c *Ctx, i int) (time.Duration, bool) {
	ld, ok := parseLongDouble(c.Args[i])
	if !ok {
		c.W.Error(errTimeoutFloat)
		return 0, false
	}
	if ld.f == nil {
		return 0, true
	}
	ms := new(big.Float).SetPrec(64).Mul(ld.f, big.NewFloat(1000))
	limit := new(big.Float).SetInt64(math.MinInt64) // -2^63, exactly
	if ms.IsInf() || ms.Cmp(limit) <= 0 || ms.Cmp(new(big.Float).Neg(limit)) >= 0 {
		c.W.Error(errTimeoutNegative)
		return 0, false
	}
	n, _ := ms.Int64() // truncates toward zero, as the C cast
	if n < 0 {
		c.W.Error(errTimeoutNegative)
		return 0, false
	}
	if n > maxTimeoutMs {
		n = 0
	}
	return time.Duration(n) * time.Millisecond, true
}

// blockKind is what a blocked command does when served.
type blockKind uint8

const (
	blockPop   blockKind = iota // BLPOP/BRPOP: [key, element]
	blockMove                   // BLMOVE/BRPOPLPUSH: the element
	blockMPop                   // BLMPOP: [key, [elements]]
	blockZPop                   // BZPOPMIN/BZPOPMAX: [key, member, score]
	blockZMPop                  // BZMPOP: [key, [[member, score], ...]]
)

// blockOp is a blocked command's state: its Waiter's Data. Its fields are
// copies (the request buffer is not the command's to keep), written once
// before the waiter is registered.
type blockOp struct {
	kind    blockKind
	want    memtier.Type // the key type that serves it
	head    bool         // pop from the head (LEFT, MIN)
	toHead  bool         // BLMOVE: push to the head
	dst     []byte       // BLMOVE's destination
	count   int64
	highest bool // BZPOPMAX, BZMPOP MAX
	// reply receives the served reply; the connection appends it to its
	// own writer once woken.
	reply   resp.Writer
	session Session // DB and Proto of the blocked client, for the serving Ctx
}

// Blocked is set on Ctx by a blocking command that found nothing: the
// connection must wait until the waiter is served, the timeout passes
// (0 = never), CLIENT UNBLOCK ends it or the client goes away, then call
// End.
type Blocked struct {
	Timeout time.Duration
	waiter  *memtier.Waiter
	op      *blockOp
	// unblocked is closed by Unblock, after it set unblockErr.
	unblocked  chan struct{}
	unblockErr bool
}

// Done is closed when a command has served the client.
func (b *Blocked) Done() <-chan struct{} { return b.waiter.Done() }

// Unblocked is closed when CLIENT UNBLOCK ended the wait.
func (b *Blocked) Unblocked() <-chan struct{} { return b.unblocked }

// Unblock is CLIENT UNBLOCK, from another connection: it claims the waiter
// so that no command serves it and wakes the client, which then replies as
// on a timeout (or with the UNBLOCKED error). It returns false when the
// wait already ended (served, timed out, unblocked, client gone).
func (b *Blocked) Unblock(withError bool) bool {
	if !b.waiter.Claim() {
		return false
	}
	b.unblockErr = withError
	close(b.unblocked)
	return true
}

// End finishes the wait, whatever ended it, unregisters the waiter from
// all its keys and writes the client's reply to w: the served reply (if a
// command served it, or is serving it right now: End waits for it), the
// UNBLOCKED error or timeout reply of CLIENT UNBLOCK, or, when timedOut,
// the timeout reply. Otherwise (the client is going away) it claims the
// waiter, so no command serves it any more, writes nothing and returns
// false. The caller holds no lock.
func (b *Blocked) End(ks *memtier.Keyspace, w *resp.Writer, timedOut bool) bool {
	claimed := b.waiter.Claim()
	unblocked := false
	if !claimed {
		select {
		case <-b.waiter.Done():
		case <-b.unblocked:
			unblocked = true
		}
	}
	slots := b.waiter.Slots()
	ks.LockSlots(slots)
	ks.RemoveWaiter(b.waiter)
	ks.UnlockSlots(slots)
	switch {
	case unblocked && b.unblockErr:
		w.Error(errUnblocked)
	case unblocked || claimed && timedOut:
		TimeoutReply(w)
	case claimed:
		return false
	default:
		w.Raw(b.op.reply.Buf)
	}
	return true
}

// TimeoutReply writes the reply of a blocking command whose timeout
// passed: a null array (RESP2 *-1, even for BLMOVE; RESP3 _).
func TimeoutReply(w *resp.Writer) { w.NullArray() }

// block registers the client on keys with op, or, inside a transaction,
// replies at once what the command replies when it cannot block.
func block(c *Ctx, keys [][]byte, timeout time.Duration, op *blockOp) {
	if c.InExec {
		if op.kind == blockMove {
			c.W.Null()
		} else {
			c.W.NullArray()
		}
		return
	}
	op.reply.Proto = c.W.Proto
	op.session.DB = c.Session.DB
	op.session.Proto = c.Session.Proto
	if op.dst != nil {
		op.dst = slices.Clone(op.dst)
	}
	w := memtier.NewWaiter(c.Session.DB, keys, op)
	c.KS.AddWaiter(w)
	c.Blocked = &Blocked{Timeout: timeout, waiter: w, op: op, unblocked: make(chan struct{})}
}

func cmdBLPop(c *Ctx) { blockingPop(c, true) }
func cmdBRPop(c *Ctx) { blockingPop(c, false) }

// blockingPop is BLPOP/BRPOP key [key ...] timeout.
func blockingPop(c *Ctx, head bool) {
	timeout, ok := parseTimeout(c, len(c.Args)-1)
	if !ok {
		return
	}
	keys := c.Args[1 : len(c.Args)-1]
	key, l, ok := firstNonEmptyList(c, keys)
	if !ok {
		return
	}
	if l != nil {
		popWithKey(c, key, l, head)
		propagateServed(c, &blockOp{kind: blockPop, head: head}, key)
		return
	}
	block(c, keys, timeout, &blockOp{kind: blockPop, want: memtier.TypeList, head: head})
}

// popWithKey pops one element and replies [key, element] (BLPOP, BRPOP).
func popWithKey(c *Ctx, key []byte, l *types.List, head bool) {
	v, _ := l.Pop(head)
	c.W.Array(2)
	c.W.Bulk(key)
	c.W.Bulk(v)
	listElementsRemoved(c, key, l, head)
}

// cmdBLMove is BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout.
func cmdBLMove(c *Ctx) {
	if from, to, ok := parseMoveWheres(c); ok {
		blmoveGeneric(c, from, to, 5)
	}
}

// cmdBRPopLPush is BRPOPLPUSH source destination timeout.
func cmdBRPopLPush(c *Ctx) { blmoveGeneric(c, false, true, 3) }

func blmoveGeneric(c *Ctx, from, to bool, timeoutAt int) {
	timeout, ok := parseTimeout(c, timeoutAt)
	if !ok {
		return
	}
	src := c.Args[1]
	sl, ok := lookupListWrite(c, src)
	if !ok {
		return
	}
	if sl != nil {
		lmoveFrom(c, src, sl, c.Args[2], from, to)
		propagateServed(c, &blockOp{kind: blockMove, head: from, toHead: to, dst: c.Args[2]}, src)
		return
	}
	block(c, c.Args[1:2], timeout, &blockOp{kind: blockMove, want: memtier.TypeList,
		head: from, toHead: to, dst: c.Args[2]})
}

// cmdBLMPop is BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count].
func cmdBLMPop(c *Ctx) {
	a, ok := parseLMPop(c, 2)
	if !ok {
		return
	}
	timeout, ok := parseTimeout(c, 1)
	if !ok {
		return
	}
	key, l, ok := firstNonEmptyList(c, a.keys)
	if !ok {
		return
	}
	if l != nil {
		lmpopFrom(c, key, l, a.head, a.count)
		propagateServed(c, &blockOp{kind: blockMPop, head: a.head, count: a.count}, key)
		return
	}
	block(c, a.keys, timeout, &blockOp{kind: blockMPop, want: memtier.TypeList, head: a.head, count: a.count})
}

func cmdBZPopMin(c *Ctx) { blockingZPop(c, false) }
func cmdBZPopMax(c *Ctx) { blockingZPop(c, true) }

// blockingZPop is BZPOPMIN/BZPOPMAX key [key ...] timeout.
func blockingZPop(c *Ctx, highest bool) {
	timeout, ok := parseTimeout(c, len(c.Args)-1)
	if !ok {
		return
	}
	keys := c.Args[1 : len(c.Args)-1]
	key, z, ok := firstNonEmptyZSet(c, keys)
	if !ok {
		return
	}
	if z != nil {
		zpopGeneric(c, key, z, highest, 1, zpopKeyFlat)
		propagateServed(c, &blockOp{kind: blockZPop, highest: highest, count: 1}, key)
		return
	}
	block(c, keys, timeout, &blockOp{kind: blockZPop, want: memtier.TypeZSet, highest: highest, count: 1})
}

// cmdBZMPop is BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count].
func cmdBZMPop(c *Ctx) {
	a, ok := parseZMPop(c, 2)
	if !ok {
		return
	}
	timeout, ok := parseTimeout(c, 1)
	if !ok {
		return
	}
	key, z, ok := firstNonEmptyZSet(c, a.keys)
	if !ok {
		return
	}
	if z != nil {
		zpopGeneric(c, key, z, a.highest, a.count, zpopKeyPairs)
		propagateServed(c, &blockOp{kind: blockZMPop, highest: a.highest, count: a.count}, key)
		return
	}
	block(c, a.keys, timeout, &blockOp{kind: blockZMPop, want: memtier.TypeZSet, highest: a.highest, count: a.count})
}

// propagateServed logs a blocking command that found data at once as the
// non-blocking command it amounted to (invariant 3), as a client served
// later is logged: its timeout and other keys mean nothing to a replay.
// Nothing is logged when the pop changed nothing (BLMOVE to a key of
// another type).
func propagateServed(c *Ctx, op *blockOp, key []byte) {
	if c.changed {
		c.Propagate(op.equivalent(key)...)
	}
}

// equivalent is the non-blocking command a served op amounts to (as Redis
// rewrites a served BLPOP to LPOP for propagation): the serving Ctx's Args
// and Cmd, for whatever logs commands.
func (op *blockOp) equivalent(key []byte) [][]byte {
	side := func(head bool) []byte {
		if head {
			return []byte("LEFT")
		}
		return []byte("RIGHT")
	}
	count := []byte(strconv.FormatInt(op.count, 10))
	switch op.kind {
	case blockMove:
		return [][]byte{[]byte("lmove"), key, op.dst, side(op.head), side(op.toHead)}
	case blockPop, blockMPop:
		name := []byte("rpop")
		if op.head {
			name = []byte("lpop")
		}
		if op.kind == blockPop {
			return [][]byte{name, key}
		}
		return [][]byte{name, key, count}
	default:
		name := []byte("zpopmin")
		if op.highest {
			name = []byte("zpopmax")
		}
		return [][]byte{name, key, count}
	}
}

// serve runs op's pop on key's non-empty value o, on behalf of the blocked
// client, with c writing into the client's reply buffer.
func (op *blockOp) serve(c *Ctx, key []byte, o *memtier.Object) {
	switch op.kind {
	case blockPop:
		popWithKey(c, key, o.Payload().(*types.List), op.head)
	case blockMove:
		lmoveFrom(c, key, o.Payload().(*types.List), op.dst, op.head, op.toHead)
	case blockMPop:
		lmpopFrom(c, key, o.Payload().(*types.List), op.head, op.count)
	case blockZPop:
		zpopGeneric(c, key, o.Payload().(*types.ZSet), op.highest, 1, zpopKeyFlat)
	case blockZMPop:
		zpopGeneric(c, key, o.Payload().(*types.ZSet), op.highest, op.count, zpopKeyPairs)
	}
}

// ServeReadyKeys serves the clients blocked on keys that became ready
// (were created, or replaced) while the keyspace was locked exclusively.
// The caller holds LockAll: EXEC after its whole transaction, a script
// after it ends (so blocked clients see the transaction's end state, as in
// Redis), and Exec itself after any KeyspaceWide command. It returns at
// once when no key is ready, and calling it again is harmless. Served
// clients' pushes (BLMOVE) may make more keys ready; they are served too,
// until none is left.
func ServeReadyKeys(c *Ctx) {
	if !c.KS.ReadyPending() {
		return
	}
	p := servePass{c: c, all: true}
	p.run()
}

// serveReadyIn serves ready keys in the slots a command holds (slots, as
// Exec locked them), before Exec releases them. Serving a BLMOVE may need
// the lock of its destination's slot: serveReadyIn takes it with
// TryLockSlot, which never waits, so no lock cycle can form. If that slot
// is busy it stops, puts the unserved keys back and returns false: Exec
// then releases everything, takes LockAll (holding nothing while it waits)
// and finishes with ServeReadyKeys. Nothing is lost in between: a ready
// key stays on the list until some holder of its slot, or the LockAll
// pass, takes it.
func serveReadyIn(c *Ctx, slots []int) bool {
	if !c.KS.ReadyPending() {
		return true
	}
	p := servePass{c: c, slots: slots}
	defer p.release()
	return p.run()
}

// servePass is one round of serving: the slots whose locks it may use.
type servePass struct {
	c     *Ctx
	all   bool  // LockAll is held
	slots []int // the command's slots, sorted
	extra []int // slots taken with TryLockSlot, released at the end
}

func (p *servePass) holds(s int) bool {
	if p.all {
		return true
	}
	_, found := slices.BinarySearch(p.slots, s)
	return found || slices.Contains(p.extra, s)
}

// lock makes sure the pass holds slot s, without waiting.
func (p *servePass) lock(s int) bool {
	if p.holds(s) {
		return true
	}
	if !p.c.KS.TryLockSlot(s) {
		return false
	}
	p.extra = append(p.extra, s)
	return true
}

func (p *servePass) release() {
	for _, s := range p.extra {
		p.c.KS.UnlockSlot(s)
	}
}

// run serves ready keys of held slots until none is left; false means it
// stopped at a busy slot and put the rest back.
func (p *servePass) run() bool {
	for {
		batch := p.c.KS.TakeReady(p.holds)
		if len(batch) == 0 {
			return true
		}
		for i, rk := range batch {
			if !p.serveKey(rk) {
				for _, r := range batch[i:] {
					p.c.KS.MarkReady(r)
				}
				return false
			}
		}
	}
}

// serveKey serves the waiters of one ready key in the order they blocked,
// while the key holds a value of the type they wait for. It returns false
// if it had to stop at a waiter whose destination slot is busy.
func (p *servePass) serveKey(rk memtier.ReadyKey) bool {
	db := p.c.KS.DB(rk.DB)
	key := []byte(rk.Key)
	for _, w := range p.c.KS.Waiters(rk.DB, rk.Key) {
		if w.Claimed() {
			continue
		}
		o := db.LookupWrite(key)
		if o == nil {
			return true
		}
		op := w.Data.(*blockOp)
		if o.Type != op.want {
			continue
		}
		if op.dst != nil && !p.lock(memtier.SlotOf(op.dst)) {
			return false
		}
		if !w.Claim() {
			continue // its client gave up meanwhile
		}
		sc := &Ctx{W: &op.reply, Session: &op.session, Server: p.c.Server, KS: p.c.KS, DB: db, InExec: true, Log: p.c.Log}
		sc.Args = op.equivalent(key)
		sc.Cmd = registry[string(sc.Args[0])]
		p.c.KS.PrepareWrite(sc.Args, sc.Cmd.AppendKeyPositions(sc.posBuf[:0], sc.Args))
		gatherEffects(sc, func() { op.serve(sc, key, o) })
		sc.logEffects() // before the client wakes: it waits on the log from then
		w.Wake()
	}
	return true
}

// cmdClientUnblock is CLIENT UNBLOCK client-id [TIMEOUT|ERROR]: 1 if the
// client was blocked in a blocking command and is now unblocked, else 0.
func cmdClientUnblock(c *Ctx) {
	if len(c.Args) > 4 {
		c.W.Error("ERR unknown subcommand or wrong number of arguments for '" + c.Arg(1) + "'. Try CLIENT HELP.")
		return
	}
	withError := false
	if len(c.Args) == 4 {
		switch {
		case c.ArgIs(3, "timeout"):
		case c.ArgIs(3, "error"):
			withError = true
		default:
			c.W.Error(errUnblockReason)
			return
		}
	}
	id, ok := c.Int(2)
	if !ok {
		return
	}
	if c.Server.UnblockClient(id, withError) {
		c.W.Int(1)
	} else {
		c.W.Int(0)
	}
}
