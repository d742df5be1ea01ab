package commands

import (
	"math"
	"strconv"

	"github.com/structd/structd/internal/resp"
	"github.com/structd/structd/memtier"
	"github.com/structd/structd/memtier/types"
)

// List commands (t_list.c). The blocking forms (BLPOP, BLMOVE, BLMPOP, ...)
// are in blocking.go and reuse the pops below.

func init() {
	lcmd := familyCommand("list")
	lmove := lcmd("lmove", 5, Write|DenyOOM, "slow", cmdLMove)
	lmove.LastKey = 2
	rpoplpush := lcmd("rpoplpush", 3, Write|DenyOOM, "slow", cmdRPopLPush)
	rpoplpush.LastKey = 2
	lmpop := lcmd("lmpop", -4, Write, "slow", cmdLMPop)
	lmpop.FirstKey, lmpop.LastKey, lmpop.KeyStep = 0, 0, 0
	lmpop.Keys = numKeysAt(1)
	register(
		lcmd("lpush", -3, Write|DenyOOM|Fast, "fast", cmdLPush),
		lcmd("rpush", -3, Write|DenyOOM|Fast, "fast", cmdRPush),
		lcmd("lpushx", -3, Write|DenyOOM|Fast, "fast", cmdLPushX),
		lcmd("rpushx", -3, Write|DenyOOM|Fast, "fast", cmdRPushX),
		lcmd("lpop", -2, Write|Fast, "fast", cmdLPop),
		lcmd("rpop", -2, Write|Fast, "fast", cmdRPop),
		lcmd("llen", 2, ReadOnly|Fast, "fast", cmdLLen),
		lcmd("lrange", 4, ReadOnly, "slow", cmdLRange),
		lcmd("lindex", 3, ReadOnly, "slow", cmdLIndex),
		lcmd("lset", 4, Write|DenyOOM, "slow", cmdLSet),
		lcmd("linsert", 5, Write|DenyOOM, "slow", cmdLInsert),
		lcmd("lrem", 4, Write, "slow", cmdLRem),
		lcmd("ltrim", 4, Write, "slow", cmdLTrim),
		lcmd("lpos", -3, ReadOnly, "slow", cmdLPos),
		lmove, rpoplpush, lmpop,
	)
}

// Errors of the list family.
const (
	errIndexRange  = "ERR index out of range"
	errRankZero    = "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"
	errCountNeg    = "ERR COUNT can't be negative"
	errMaxLenNeg   = "ERR MAXLEN can't be negative"
	errNumKeys     = "ERR numkeys should be greater than 0"
	errCountPosArg = "ERR count should be greater than 0"
)

// listFill is list-max-listpack-size, the quicklist node fill.
func listFill(c *Ctx) int {
	if c.Server == nil {
		return types.DefaultListFill
	}
	return c.Server.Config().Limits().Collections.ListMaxListpackSize
}

// lookupList finds the list under key for a read (counting a hit or a
// miss), replying WRONGTYPE (ok false) for another type.
func lookupList(c *Ctx, key []byte) (*types.List, bool) {
	o, ok := c.LookupType(key, memtier.TypeList)
	if o == nil {
		return nil, ok
	}
	return o.Payload().(*types.List), true
}

// lookupListWrite is lookupList for commands that change the key.
func lookupListWrite(c *Ctx, key []byte) (*types.List, bool) {
	o, ok := c.LookupWriteType(key, memtier.TypeList)
	if o == nil {
		return nil, ok
	}
	return o.Payload().(*types.List), true
}

// newListAt creates an empty list under key (Redis's dbAdd of a fresh
// quicklist): storing it marks the key ready for clients blocked on it.
func newListAt(c *Ctx, db *memtier.DB, key []byte) *types.List {
	l := types.NewList()
	db.Set(key, memtier.NewCollection(l))
	return l
}

// listElementsRemoved is Redis's listElementsRemoved: the lpop/rpop event,
// then the key's deletion (and "del") when the list emptied.
func listElementsRemoved(c *Ctx, key []byte, l *types.List, head bool) {
	c.KeyChanged(EventList, popEvent(head), key)
	deleteListIfEmpty(c, key, l)
}

// deleteListIfEmpty removes key when its list has no element left and
// emits "del".
func deleteListIfEmpty(c *Ctx, key []byte, l *types.List) {
	if l.Len() == 0 {
		c.DB.Delete(key)
		c.KeyChanged(EventGeneric, "del", key)
	}
}

func popEvent(head bool) string {
	if head {
		return "lpop"
	}
	return "rpop"
}

func pushEvent(head bool) string {
	if head {
		return "lpush"
	}
	return "rpush"
}

// parseWhere parses LEFT or RIGHT (true for LEFT), replying a syntax error
// for anything else.
func parseWhere(c *Ctx, i int) (head, ok bool) {
	switch {
	case c.ArgIs(i, "left"):
		return true, true
	case c.ArgIs(i, "right"):
		return false, true
	}
	c.W.Error(ErrSyntax)
	return false, false
}

// rangeInt parses argument i as an integer in [lo, hi] as Redis's
// getRangeLongFromObjectOrReply: msg for a non-integer or an out-of-range
// value, or, when msg is empty, Redis's generic texts for each.
func rangeInt(c *Ctx, i int, lo, hi int64, msg string) (int64, bool) {
	n, ok := resp.ParseInt(c.Args[i])
	switch {
	case ok && n >= lo && n <= hi:
		return n, true
	case msg != "":
	case !ok:
		msg = ErrNotInteger
	case lo == 0 && hi == math.MaxInt64:
		msg = ErrNotPositive
	default:
		msg = "ERR value is out of range, value must between " +
			strconv.FormatInt(lo, 10) + " and " + strconv.FormatInt(hi, 10)
	}
	c.W.Error(msg)
	return 0, false
}

func cmdLPush(c *Ctx)  { pushGeneric(c, true, false) }
func cmdRPush(c *Ctx)  { pushGeneric(c, false, false) }
func cmdLPushX(c *Ctx) { pushGeneric(c, true, true) }
func cmdRPushX(c *Ctx) { pushGeneric(c, false, true) }

// pushGeneric is LPUSH/RPUSH key element [element ...] and their X forms,
// which push only onto an existing list.
func pushGeneric(c *Ctx, head, xx bool) {
	key := c.Args[1]
	l, ok := lookupListWrite(c, key)
	if !ok {
		return
	}
	if l == nil {
		if xx {
			c.W.Int(0)
			return
		}
		l = newListAt(c, c.DB, key)
	}
	fill := listFill(c)
	for _, v := range c.Args[2:] {
		l.Push(v, head, fill)
	}
	c.W.Int(int64(l.Len()))
	c.KeyChanged(EventList, pushEvent(head), key)
}

func cmdLPop(c *Ctx) { popGeneric(c, true) }
func cmdRPop(c *Ctx) { popGeneric(c, false) }

// popGeneric is LPOP/RPOP key [count]: a bulk string without count, an
// array with one (null array for a missing key, empty for count 0).
func popGeneric(c *Ctx, head bool) {
	if len(c.Args) > 3 {
		c.W.Error(WrongArity(c.Cmd.Name))
		return
	}
	hasCount := len(c.Args) == 3
	var count int64
	if hasCount {
		n, ok := rangeInt(c, 2, 0, math.MaxInt64, ErrNotPositive)
		if !ok {
			return
		}
		count = n
	}
	key := c.Args[1]
	l, ok := lookupListWrite(c, key)
	if !ok {
		return
	}
	if l == nil {
		if hasCount {
			c.W.NullArray()
		} else {
			c.W.Null()
		}
		return
	}
	if !hasCount {
		v, _ := l.Pop(head)
		c.W.Bulk(v)
		listElementsRemoved(c, key, l, head)
		return
	}
	if count == 0 {
		c.W.Array(0)
		return
	}
	popRange(c, l, head, count)
	listElementsRemoved(c, key, l, head)
}

// popRange pops up to count elements from one end, replying them as an
// array in pop order.
func popRange(c *Ctx, l *types.List, head bool, count int64) {
	n := int(min(count, int64(l.Len())))
	c.W.Array(n)
	for range n {
		v, _ := l.Pop(head)
		c.W.Bulk(v)
	}
}

// cmdLLen is LLEN key.
func cmdLLen(c *Ctx) {
	if l := orZero(c, lookupList); l != nil {
		c.W.Int(int64(l.Len()))
	}
}

// resolveRange turns LRANGE/LTRIM's start and stop (negative from the end)
// into 0 <= start <= stop < n, or reports the range empty.
func resolveRange(start, stop int64, n int) (int, int, bool) {
	ln := int64(n)
	if start < 0 {
		start += ln
	}
	if stop < 0 {
		stop += ln
	}
	start = max(start, 0)
	if start > stop || start >= ln {
		return 0, 0, false
	}
	return int(start), int(min(stop, ln-1)), true
}

// cmdLRange is LRANGE key start stop.
func cmdLRange(c *Ctx) {
	start, ok := c.Int(2)
	if !ok {
		return
	}
	stop, ok := c.Int(3)
	if !ok {
		return
	}
	l, ok := lookupList(c, c.Args[1])
	if !ok {
		return
	}
	if l == nil {
		c.W.Array(0)
		return
	}
	from, to, ok := resolveRange(start, stop, l.Len())
	if !ok {
		c.W.Array(0)
		return
	}
	c.W.Array(to - from + 1)
	l.Range(from, to, func(e types.Elem) bool {
		writeElem(c.W, e)
		return true
	})
}

// cmdLIndex is LINDEX key index.
func cmdLIndex(c *Ctx) {
	l, ok := lookupList(c, c.Args[1])
	if !ok {
		return
	}
	if l == nil {
		c.W.Null()
		return
	}
	idx, ok := c.Int(2)
	if !ok {
		return
	}
	if idx < 0 {
		idx += int64(l.Len())
	}
	if idx < 0 || idx >= int64(l.Len()) {
		c.W.Null()
		return
	}
	e, _ := l.Index(int(idx))
	writeElem(c.W, e)
}

// cmdLSet is LSET key index element.
func cmdLSet(c *Ctx) {
	key := c.Args[1]
	l, ok := lookupListWrite(c, key)
	if !ok {
		return
	}
	if l == nil {
		c.W.Error(ErrNoSuchKey)
		return
	}
	idx, ok := c.Int(2)
	if !ok {
		return
	}
	if idx < 0 {
		idx += int64(l.Len())
	}
	if idx < 0 || idx >= int64(l.Len()) || !l.Set(int(idx), c.Args[3], listFill(c)) {
		c.W.Error(errIndexRange)
		return
	}
	c.W.OK()
	c.KeyChanged(EventList, "lset", key)
}

// cmdLInsert is LINSERT key BEFORE|AFTER pivot element.
func cmdLInsert(c *Ctx) {
	var after bool
	switch {
	case c.ArgIs(2, "after"):
		after = true
	case c.ArgIs(2, "before"):
	default:
		c.W.Error(ErrSyntax)
		return
	}
	key := c.Args[1]
	l := orZero(c, lookupListWrite)
	if l == nil {
		return
	}
	n := l.InsertPivot(c.Args[3], c.Args[4], after, listFill(c))
	if n >= 0 {
		c.KeyChanged(EventList, "linsert", key)
	}
	c.W.Int(int64(n))
}

// cmdLRem is LREM key count element.
func cmdLRem(c *Ctx) {
	count, ok := c.Int(2)
	if !ok {
		return
	}
	key := c.Args[1]
	l := orZero(c, lookupListWrite)
	if l == nil {
		return
	}
	// A list never holds more; and |LONG_MIN| would not fit the limit.
	count = max(min(count, math.MaxInt32), -math.MaxInt32)
	removed := l.Remove(c.Args[3], int(count))
	if removed > 0 {
		c.KeyChanged(EventList, "lrem", key)
		deleteListIfEmpty(c, key, l)
	}
	c.W.Int(int64(removed))
}

// cmdLTrim is LTRIM key start stop.
func cmdLTrim(c *Ctx) {
	start, ok := c.Int(2)
	if !ok {
		return
	}
	stop, ok := c.Int(3)
	if !ok {
		return
	}
	key := c.Args[1]
	l, ok := lookupListWrite(c, key)
	if !ok {
		return
	}
	if l == nil {
		c.W.OK()
		return
	}
	if from, to, ok := resolveRange(start, stop, l.Len()); ok {
		l.Trim(from, to)
	} else {
		l.Trim(1, 0)
	}
	c.KeyChanged(EventList, "ltrim", key)
	deleteListIfEmpty(c, key, l)
	c.W.OK()
}

// cmdLPos is LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len].
func cmdLPos(c *Ctx) {
	rank, count, maxlen := int64(1), int64(-1), int64(0)
	for j := 3; j < len(c.Args); j++ {
		more := j+1 < len(c.Args)
		var ok bool
		switch {
		case c.ArgIs(j, "rank") && more:
			j++
			// Redis 7.0 takes any long: RANK LONG_MIN stays negative once
			// negated, and so matches from the first match from the tail.
			if rank, ok = c.Int(j); !ok {
				return
			}
			if rank == 0 {
				c.W.Error(errRankZero)
				return
			}
		case c.ArgIs(j, "count") && more:
			j++
			if count, ok = rangeInt(c, j, 0, math.MaxInt64, errCountNeg); !ok {
				return
			}
		case c.ArgIs(j, "maxlen") && more:
			j++
			if maxlen, ok = rangeInt(c, j, 0, math.MaxInt64, errMaxLenNeg); !ok {
				return
			}
		default:
			c.W.Error(ErrSyntax)
			return
		}
	}
	reverse := rank < 0
	if reverse {
		rank = -rank
	}
	l, ok := lookupList(c, c.Args[1])
	if !ok {
		return
	}
	if l == nil {
		if count != -1 {
			c.W.Array(0)
		} else {
			c.W.Null()
		}
		return
	}
	m := types.NewMatcher(c.Args[2])
	var found []int
	var scanned, matches int64
	l.Each(reverse, func(i int, e types.Elem) bool {
		if maxlen != 0 && scanned >= maxlen {
			return false
		}
		scanned++
		if !m.Match(e) {
			return true
		}
		matches++
		if matches < rank {
			return true
		}
		found = append(found, i)
		// Without COUNT one match ends the search; COUNT 0 means all.
		return count == 0 || count > 0 && matches-rank+1 < count
	})
	if count == -1 {
		if len(found) == 0 {
			c.W.Null()
		} else {
			c.W.Int(int64(found[0]))
		}
		return
	}
	c.W.Array(len(found))
	for _, i := range found {
		c.W.Int(int64(i))
	}
}

// parseMoveWheres parses LMOVE's and BLMOVE's wherefrom and whereto
// (arguments 3 and 4), replying a syntax error for either.
func parseMoveWheres(c *Ctx) (from, to, ok bool) {
	if from, ok = parseWhere(c, 3); !ok {
		return false, false, false
	}
	if to, ok = parseWhere(c, 4); !ok {
		return false, false, false
	}
	return from, to, true
}

// cmdLMove is LMOVE source destination LEFT|RIGHT LEFT|RIGHT.
func cmdLMove(c *Ctx) {
	if from, to, ok := parseMoveWheres(c); ok {
		lmoveGeneric(c, from, to)
	}
}

// cmdRPopLPush is RPOPLPUSH source destination: LMOVE RIGHT LEFT.
func cmdRPopLPush(c *Ctx) { lmoveGeneric(c, false, true) }

// lmoveGeneric moves one element from the list at argument 1 to the list at
// argument 2, replying it (null when the source is missing).
func lmoveGeneric(c *Ctx, from, to bool) {
	src := c.Args[1]
	sl, ok := lookupListWrite(c, src)
	if !ok {
		return
	}
	if sl == nil {
		c.W.Null()
		return
	}
	lmoveFrom(c, src, sl, c.Args[2], from, to)
}

// lmoveFrom is the move itself, for LMOVE and a served BLMOVE: src holds
// the non-empty list sl. A destination of another type replies WRONGTYPE
// and changes nothing. Events come in Redis's order: the push on the
// destination, the pop on the source, then its "del" if it emptied.
func lmoveFrom(c *Ctx, src []byte, sl *types.List, dst []byte, from, to bool) {
	dl, ok := lookupListWrite(c, dst)
	if !ok {
		return
	}
	v, _ := sl.Pop(from)
	if dl == nil { // (src == dst found sl itself, so it is never recreated)
		dl = newListAt(c, c.DB, dst)
	}
	dl.Push(v, to, listFill(c))
	c.KeyChanged(EventList, pushEvent(to), dst)
	c.W.Bulk(v)
	c.KeyChanged(EventList, popEvent(from), src)
	deleteListIfEmpty(c, src, sl)
}

// lmpopArgs are LMPOP's (and BLMPOP's) parsed arguments.
type lmpopArgs struct {
	keys  [][]byte
	head  bool
	count int64
}

// parseLMPop parses "numkeys key [key ...] LEFT|RIGHT [COUNT count]" from
// argument at (1 for LMPOP, 2 for BLMPOP), replying Redis's errors.
func parseLMPop(c *Ctx, at int) (lmpopArgs, bool) {
	keys, right, count, ok := parseMPop(c, at, "left", "right")
	return lmpopArgs{keys, !right, count}, ok
}

// firstNonEmptyList returns the first of keys holding a list, replying
// WRONGTYPE (ok false) when a key before it holds another type.
func firstNonEmptyList(c *Ctx, keys [][]byte) ([]byte, *types.List, bool) {
	for _, k := range keys {
		l, ok := lookupListWrite(c, k)
		if !ok {
			return nil, nil, false
		}
		if l != nil {
			return k, l, true
		}
	}
	return nil, nil, true
}

// lmpopFrom pops up to count elements of key's list and replies
// [key, [elements]], for LMPOP and BLMPOP.
func lmpopFrom(c *Ctx, key []byte, l *types.List, head bool, count int64) {
	c.W.Array(2)
	c.W.Bulk(key)
	popRange(c, l, head, count)
	listElementsRemoved(c, key, l, head)
}

// cmdLMPop is LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count].
func cmdLMPop(c *Ctx) {
	a, ok := parseLMPop(c, 1)
	if !ok {
		return
	}
	key, l, ok := firstNonEmptyList(c, a.keys)
	if !ok {
		return
	}
	if l == nil {
		c.W.NullArray()
		return
	}
	lmpopFrom(c, key, l, a.head, a.count)
}
