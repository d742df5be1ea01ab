package commands

import (
	"github.com/structd/structd/internal/resp"
	"github.com/structd/structd/memtier"
	"github.com/structd/structd/memtier/types"
)

func init() {
	setCmd := familyCommand("set")
	multi := func(cmd *Command) *Command { cmd.LastKey = -1; return cmd }
	register(
		setCmd("sadd", -3, Write|DenyOOM|Fast, "fast", cmdSAdd),
		setCmd("srem", -3, Write|Fast, "fast", cmdSRem),
		setCmd("smembers", 2, ReadOnly, "slow", cmdSMembers),
		setCmd("sismember", 3, ReadOnly|Fast, "fast", cmdSIsMember),
		setCmd("smismember", -3, ReadOnly|Fast, "fast", cmdSMIsMember),
		setCmd("scard", 2, ReadOnly|Fast, "fast", cmdSCard),
		setCmd("spop", -2, Write|Fast, "fast", cmdSPop),
		setCmd("srandmember", -2, ReadOnly, "slow", cmdSRandMember),
		&Command{Name: "smove", Arity: 4, Flags: Write | Fast, FirstKey: 1, LastKey: 2, KeyStep: 1,
			Categories: familyCategories(Write, "set", "fast"), Handler: cmdSMove},
		multi(setCmd("sinter", -2, ReadOnly, "slow", cmdSInter)),
		multi(setCmd("sunion", -2, ReadOnly, "slow", cmdSUnion)),
		multi(setCmd("sdiff", -2, ReadOnly, "slow", cmdSDiff)),
		multi(setCmd("sinterstore", -3, Write|DenyOOM, "slow", cmdSInterStore)),
		multi(setCmd("sunionstore", -3, Write|DenyOOM, "slow", cmdSUnionStore)),
		multi(setCmd("sdiffstore", -3, Write|DenyOOM, "slow", cmdSDiffStore)),
		&Command{Name: "sintercard", Arity: -3, Flags: ReadOnly, Keys: numKeysAt(1),
			Categories: familyCategories(ReadOnly, "set", "slow"), Handler: cmdSInterCard},
		setCmd("sscan", -3, ReadOnly, "slow", cmdSScan),
	)
}

// Errors of the set family.
const (
	errNumKeysPositive = "ERR numkeys should be greater than 0"
	errNumKeysTooMany  = "ERR Number of keys can't be greater than number of args"
	errLimitNegative   = "ERR LIMIT can't be negative"
)

// spopMoveStrategyMul is Redis's SPOP_MOVE_STRATEGY_MUL: SPOP with a count
// pops members one by one while the members left are more than a fifth
// of those popped, and otherwise rebuilds the set from the members left.
const spopMoveStrategyMul = 5

// setMaxIntset returns set-max-intset-entries.
func setMaxIntset(c *Ctx) int { return collectionLimits(c).SetMaxIntsetEntries }

// lookupSet finds the set under key for a client read (counting a hit or a
// miss); a missing key gives (nil, true), another type replies WRONGTYPE.
func lookupSet(c *Ctx, key []byte) (*types.Set, bool) {
	return payload[types.Set](c.LookupType(key, memtier.TypeSet))
}

// lookupSetWrite is lookupSet for a command about to change the set.
func lookupSetWrite(c *Ctx, key []byte) (*types.Set, bool) {
	return payload[types.Set](c.LookupWriteType(key, memtier.TypeSet))
}

// newSetObject wraps s for storing under a key.
func newSetObject(s *types.Set) *memtier.Object {
	return memtier.NewCollection(s)
}

// cmdSAdd is SADD key member [member ...]: the count of members added. A
// new set starts as an intset when its first member is an integer, as
// Redis's setTypeCreate.
func cmdSAdd(c *Ctx) {
	key := c.Args[1]
	s, ok := lookupSetWrite(c, key)
	if !ok {
		return
	}
	if s == nil {
		s = types.NewSet()
		c.DB.Set(key, newSetObject(s))
	}
	maxIntset := setMaxIntset(c)
	added := int64(0)
	for _, m := range c.Args[2:] {
		if s.Add(m, maxIntset) {
			added++
		}
	}
	if added > 0 {
		c.KeyChanged(EventSet, "sadd", key)
	}
	c.W.Int(added)
}

// cmdSRem is SREM key member [member ...]. A set left empty is deleted,
// with an "srem" then a "del" event.
func cmdSRem(c *Ctx) {
	if s := orZero(c, lookupSetWrite); s != nil {
		removeMembers(c, EventSet, "srem", s.Remove, s.Len)
	}
}

// cmdSMembers is SMEMBERS key, which Redis 7.0 serves as a one-key SINTER:
// a set reply, empty for a missing key.
func cmdSMembers(c *Ctx) {
	s, ok := lookupSet(c, c.Args[1])
	if !ok {
		return
	}
	if s == nil {
		c.W.Set(0)
		return
	}
	writeSetMembers(c, s)
}

// writeSetMembers replies with every member of s as a set, in its order
// (ascending for an intset).
func writeSetMembers(c *Ctx, s *types.Set) {
	c.W.Set(s.Len())
	s.Each(func(m types.Elem) bool { writeElem(c.W, m); return true })
}

func cmdSIsMember(c *Ctx) {
	s, ok := lookupSet(c, c.Args[1])
	if !ok {
		return
	}
	c.W.Int(boolInt(s != nil && s.Contains(c.Args[2])))
}

// cmdSMIsMember is SMISMEMBER key member [member ...]: integers 1 and 0, in
// RESP3 too.
func cmdSMIsMember(c *Ctx) {
	s, ok := lookupSet(c, c.Args[1])
	if !ok {
		return
	}
	c.W.Array(len(c.Args) - 2)
	for _, m := range c.Args[2:] {
		c.W.Int(boolInt(s != nil && s.Contains(m)))
	}
}

func cmdSCard(c *Ctx) {
	if s := orZero(c, lookupSet); s != nil {
		c.W.Int(int64(s.Len()))
	}
}

// cmdSPop is SPOP key [count]. Every SPOP emits one "spop" event (and "del"
// when it empties the set). The members are random, so the log gets the
// effects (invariant 3), as Redis propagates them: SREM of the popped
// members, DEL when the whole set goes; when most of the set goes, the
// kept members are logged instead (DEL, SADD, and the deadline), which also
// redoes the intset the kept members may become.
func cmdSPop(c *Ctx) {
	switch {
	case len(c.Args) == 3:
		spopWithCount(c)
		return
	case len(c.Args) > 3:
		c.W.Error(ErrSyntax)
		return
	}
	key := c.Args[1]
	s, ok := lookupSetWrite(c, key)
	if !ok {
		return
	}
	if s == nil {
		c.W.Null()
		return
	}
	m := s.Pop()
	c.KeyChanged(EventSet, "spop", key)
	c.Propagate(cmdName("srem"), key, m)
	c.W.Bulk(m)
	if s.Len() == 0 {
		c.DB.Delete(key)
		c.KeyChanged(EventGeneric, "del", key)
	}
}

func spopWithCount(c *Ctx) {
	count, ok := resp.ParseInt(c.Args[2])
	if !ok || count < 0 {
		c.W.Error(ErrNotPositive)
		return
	}
	key := c.Args[1]
	o, ok := c.LookupWriteType(key, memtier.TypeSet)
	if !ok {
		return
	}
	if o == nil || count == 0 {
		c.W.Set(0)
		return
	}
	s := o.Payload().(*types.Set)
	size := int64(s.Len())
	c.KeyChanged(EventSet, "spop", key)
	switch {
	case count >= size:
		// The whole set, in its order, and the key goes. Redis replies
		// through SUNION, whose read lookup counts a keyspace hit.
		c.DB.Get(key)
		writeSetMembers(c, s)
		c.DB.Delete(key)
		c.KeyChanged(EventGeneric, "del", key)
		c.Propagate(cmdName("del"), key)
	case (size-count)*spopMoveStrategyMul > count:
		c.W.Set(int(count))
		popped := make([][]byte, 0, count)
		for ; count > 0; count-- {
			m := s.Pop()
			c.W.Bulk(m)
			popped = append(popped, m)
		}
		propagateBatched(c, "srem", key, popped)
	default:
		// Most of the set goes: pick the members that stay into a new set
		// (created from its first member, so a hashtable of integers can
		// become an intset again), and reply with what is left of the old.
		left := types.NewSet()
		maxIntset := setMaxIntset(c)
		for i := size - count; i > 0; i-- {
			m := s.Pop()
			left.Add(m, maxIntset)
		}
		writeSetMembers(c, s)
		o.SetPayload(left)
		c.Propagate(cmdName("del"), key)
		propagateBatched(c, "sadd", key, left.Members())
		if at := c.DB.Expire(key); at != -1 {
			c.Propagate(cmdName("pexpireat"), key, intArg(at))
		}
	}
}

// effectBatch is the most members one logged SREM, SADD or RPUSH carries
// when a command's effect is a long list of them (Redis's SPOP batches
// its SREMs by 1024 too).
const effectBatch = 1024

// propagateBatched logs "name key item..." over items, at most effectBatch
// items a command. items must stay unchanged until the command returns.
func propagateBatched(c *Ctx, name string, key []byte, items [][]byte) {
	for len(items) > 0 {
		n := min(len(items), effectBatch)
		args := make([][]byte, 0, n+2)
		args = append(args, cmdName(name), key)
		c.Propagate(append(args, items[:n]...)...)
		items = items[n:]
	}
}

// cmdSRandMember is SRANDMEMBER key [count]: with a count, an array (not a
// set) of distinct members, or of -count members that may repeat.
func cmdSRandMember(c *Ctx) {
	switch {
	case len(c.Args) > 3:
		c.W.Error(ErrSyntax)
		return
	case len(c.Args) == 2:
		s, ok := lookupSet(c, c.Args[1])
		if !ok {
			return
		}
		if s == nil {
			c.W.Null()
			return
		}
		s.Random(1, func(m types.Elem) { writeElem(c.W, m) })
		return
	}
	count, ok := parseRandomCount(c, 2)
	if !ok {
		return
	}
	s, ok := lookupSet(c, c.Args[1])
	if !ok {
		return
	}
	if s == nil || count == 0 {
		c.W.Array(0)
		return
	}
	emit := func(m types.Elem) { writeElem(c.W, m) }
	if count < 0 {
		c.W.Array(int(-count))
		for i := count; i < 0 && !randomReplyFull(c); i++ {
			s.Random(-1, emit)
		}
		return
	}
	n := min(count, int64(s.Len()))
	c.W.Array(int(n))
	s.Random(int(n), emit)
}

// cmdSMove is SMOVE source destination member. A missing source answers 0
// before the destination's type is checked, as in Redis; the events are
// "srem" on the source (and "del" if it empties), "sadd" on the
// destination when the member was not there.
func cmdSMove(c *Ctx) {
	srcKey, dstKey, member := c.Args[1], c.Args[2], c.Args[3]
	srcObj := c.DB.LookupWrite(srcKey)
	dstObj := c.DB.LookupWrite(dstKey)
	if srcObj == nil {
		c.W.Int(0)
		return
	}
	if srcObj.Type != memtier.TypeSet || dstObj != nil && dstObj.Type != memtier.TypeSet {
		c.W.Error(ErrWrongType)
		return
	}
	src := srcObj.Payload().(*types.Set)
	if srcObj == dstObj {
		c.W.Int(boolInt(src.Contains(member)))
		return
	}
	if !src.Remove(member) {
		c.W.Int(0)
		return
	}
	c.KeyChanged(EventSet, "srem", srcKey)
	if src.Len() == 0 {
		c.DB.Delete(srcKey)
		c.KeyChanged(EventGeneric, "del", srcKey)
	}
	var dst *types.Set
	if dstObj == nil {
		dst = types.NewSet()
		c.DB.Set(dstKey, newSetObject(dst))
	} else {
		dst = dstObj.Payload().(*types.Set)
	}
	if dst.Add(member, setMaxIntset(c)) {
		c.KeyChanged(EventSet, "sadd", dstKey)
	}
	c.W.Int(1)
}

// lookupSets finds the sets under keys for a client read (the STORE forms
// too count hits and misses, as Redis 7.0's): nil for a missing key (an
// empty set). Any other type replies WRONGTYPE, whatever the other keys
// hold.
func lookupSets(c *Ctx, keys [][]byte) ([]*types.Set, bool) {
	sets := make([]*types.Set, len(keys))
	for i, k := range keys {
		s, ok := lookupSet(c, k)
		if !ok {
			return nil, false
		}
		sets[i] = s
	}
	return sets, true
}

// storeSetResult stores a computed set under dst for the STORE forms,
// replacing whatever dst held (and its TTL), and replies with its size. An
// empty result deletes dst instead, with a "del" event if dst existed.
func storeSetResult(c *Ctx, dst []byte, s *types.Set, event string) {
	if s == nil || s.Len() == 0 {
		c.W.Int(0)
		if c.DB.Delete(dst) {
			c.KeyChanged(EventGeneric, "del", dst)
		}
		return
	}
	c.DB.Set(dst, newSetObject(s))
	c.W.Int(int64(s.Len())) // the reply precedes the event, as in Redis
	c.KeyChanged(EventSet, event, dst)
}

// hasNil reports whether some key of a set operation is missing.
func hasNil(sets []*types.Set) bool {
	for _, s := range sets {
		if s == nil {
			return true
		}
	}
	return false
}

func cmdSInter(c *Ctx) {
	sets, ok := lookupSets(c, c.Args[1:])
	if !ok {
		return
	}
	if hasNil(sets) {
		c.W.Set(0)
		return
	}
	// The members are written to a side buffer: their count is known at
	// the end.
	side := resp.Writer{Proto: c.W.Proto}
	n := 0
	types.Inter(sets, func(m types.Elem) bool {
		writeElem(&side, m)
		n++
		return true
	})
	c.W.Set(n)
	c.W.Raw(side.Buf)
}

// cmdSInterStore is SINTERSTORE destination key [key ...]. The result is
// built as Redis builds it, an intset that converts as members arrive.
func cmdSInterStore(c *Ctx) {
	dst := c.Args[1]
	sets, ok := lookupSets(c, c.Args[2:])
	if !ok {
		return
	}
	if hasNil(sets) {
		// A missing source: Redis deletes dst and notifies before it
		// replies (an empty intersection replies first: storeSetResult).
		if c.DB.Delete(dst) {
			c.KeyChanged(EventGeneric, "del", dst)
		}
		c.W.Int(0)
		return
	}
	out := types.NewSet()
	maxIntset := setMaxIntset(c)
	var buf []byte
	types.Inter(sets, func(m types.Elem) bool {
		buf = m.AppendTo(buf[:0])
		out.Add(buf, maxIntset)
		return true
	})
	storeSetResult(c, dst, out, "sinterstore")
}

// cmdSInterCard is SINTERCARD numkeys key [key ...] [LIMIT limit].
func cmdSInterCard(c *Ctx) {
	numKeys, ok := resp.ParseInt(c.Args[1])
	if !ok || numKeys < 1 {
		c.W.Error(errNumKeysPositive)
		return
	}
	if numKeys > int64(len(c.Args)-2) {
		c.W.Error(errNumKeysTooMany)
		return
	}
	end := 2 + int(numKeys)
	limit := int64(0)
	for i := end; i < len(c.Args); i++ {
		if !c.ArgIs(i, "limit") || i+1 >= len(c.Args) {
			c.W.Error(ErrSyntax)
			return
		}
		i++
		if limit, ok = resp.ParseInt(c.Args[i]); !ok || limit < 0 {
			c.W.Error(errLimitNegative)
			return
		}
	}
	sets, ok := lookupSets(c, c.Args[2:end])
	if !ok {
		return
	}
	if hasNil(sets) {
		c.W.Int(0)
		return
	}
	c.W.Int(int64(types.InterCard(sets, int(limit))))
}

func cmdSUnion(c *Ctx) {
	sets, ok := lookupSets(c, c.Args[1:])
	if !ok {
		return
	}
	writeSetMembers(c, types.Union(sets, setMaxIntset(c)))
}

func cmdSUnionStore(c *Ctx) {
	sets, ok := lookupSets(c, c.Args[2:])
	if !ok {
		return
	}
	storeSetResult(c, c.Args[1], types.Union(sets, setMaxIntset(c)), "sunionstore")
}

func cmdSDiff(c *Ctx) {
	sets, ok := lookupSets(c, c.Args[1:])
	if !ok {
		return
	}
	writeSetMembers(c, diffSets(sets, setMaxIntset(c)))
}

func cmdSDiffStore(c *Ctx) {
	sets, ok := lookupSets(c, c.Args[2:])
	if !ok {
		return
	}
	storeSetResult(c, c.Args[1], diffSets(sets, setMaxIntset(c)), "sdiffstore")
}

// diffSets computes SDIFF with the algorithm Redis picks, because the two
// can leave the result in different encodings: the first (test each member
// of the first set against the others) when its work, halved, is no more
// than the second's (copy the first set, then remove the others' members),
// which converts to a hashtable on whatever the first set holds. nil
// entries are missing keys; a first set repeated later gives nothing.
func diffSets(sets []*types.Set, maxIntset int) *types.Set {
	first := sets[0]
	if first == nil {
		return types.NewSet()
	}
	work1, work2 := 0, 0
	for i, s := range sets {
		if s == nil {
			continue
		}
		if i > 0 && s == first {
			return types.NewSet()
		}
		work1 += first.Len()
		work2 += s.Len()
	}
	if work1/2 <= work2 {
		return types.Diff(sets, maxIntset)
	}
	out := types.NewSet()
	var buf []byte
	first.Each(func(m types.Elem) bool {
		out.Add(m.AppendTo(buf[:0]), maxIntset)
		return true
	})
	for _, s := range sets[1:] {
		if s == nil {
			continue
		}
		s.Each(func(m types.Elem) bool {
			buf = m.AppendTo(buf[:0])
			out.Remove(buf)
			return true
		})
		if out.Len() == 0 {
			break
		}
	}
	return out
}

// cmdSScan is SSCAN key cursor [MATCH pattern] [COUNT count].
func cmdSScan(c *Ctx) {
	scanValue(c, memtier.TypeSet, false, func(o *memtier.Object, cursor uint64, emit func(name, value types.Elem)) uint64 {
		return o.Payload().(*types.Set).Scan(cursor, func(m types.Elem) { emit(m, types.Elem{}) })
	})
}
