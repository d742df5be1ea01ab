package commands

import (
	"strconv"

	"github.com/structd/structd/config"
	"github.com/structd/structd/internal/glob"
	"github.com/structd/structd/internal/resp"
	"github.com/structd/structd/memtier"
	"github.com/structd/structd/memtier/types"
)

func init() {
	hashCmd := familyCommand("hash")
	register(
		hashCmd("hset", -4, Write|DenyOOM|Fast, "fast", cmdHSet),
		hashCmd("hmset", -4, Write|DenyOOM|Fast, "fast", cmdHMSet),
		hashCmd("hsetnx", 4, Write|DenyOOM|Fast, "fast", cmdHSetNX),
		hashCmd("hget", 3, ReadOnly|Fast, "fast", cmdHGet),
		hashCmd("hmget", -3, ReadOnly|Fast, "fast", cmdHMGet),
		hashCmd("hgetall", 2, ReadOnly, "slow", cmdHGetAll),
		hashCmd("hkeys", 2, ReadOnly, "slow", cmdHKeys),
		hashCmd("hvals", 2, ReadOnly, "slow", cmdHVals),
		hashCmd("hdel", -3, Write|Fast, "fast", cmdHDel),
		hashCmd("hexists", 3, ReadOnly|Fast, "fast", cmdHExists),
		hashCmd("hlen", 2, ReadOnly|Fast, "fast", cmdHLen),
		hashCmd("hstrlen", 3, ReadOnly|Fast, "fast", cmdHStrLen),
		hashCmd("hincrby", 4, Write|DenyOOM|Fast, "fast", cmdHIncrBy),
		hashCmd("hincrbyfloat", 4, Write|DenyOOM|Fast, "fast", cmdHIncrByFloat),
		hashCmd("hrandfield", -2, ReadOnly, "slow", cmdHRandField),
		hashCmd("hscan", -3, ReadOnly, "slow", cmdHScan),
	)
}

// Errors of the hash family.
const (
	errHashNotInteger = "ERR hash value is not an integer"
	errHashNotFloat   = "ERR hash value is not a float"
	errIncrNaNOrInf   = "ERR value is NaN or Infinity"
	// errWithValuesRange is HRANDFIELD's (and ZRANDMEMBER's) refusal of a
	// count whose doubled reply length would overflow.
	errWithValuesRange = "ERR value is out of range"
	// errLongRange is getRangeLongFromObjectOrReply's text for a count
	// outside -LONG_MAX..LONG_MAX.
	errLongRange = "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
)

// maxRandomReplyBytes bounds the reply of a random pick with repetitions
// (HRANDFIELD and SRANDMEMBER with a negative count). Redis writes such a
// reply until the client's output buffer limit closes the connection; with
// no limit configured it would write until memory runs out. Past this size
// the reply is cut and the connection closed after it, as Redis closes a
// client that overruns its limit. A variable so tests can lower it.
var maxRandomReplyBytes = 512 << 20

// randomReplyFull reports whether a random pick with repetitions must stop,
// and if so marks the connection for closing.
func randomReplyFull(c *Ctx) bool {
	if c.W.Len() <= maxRandomReplyBytes {
		return false
	}
	if c.Session != nil {
		c.Session.CloseAfterReply = true
	}
	return true
}

// collectionLimits returns the compact-encoding thresholds in force.
func collectionLimits(c *Ctx) *config.CollectionLimits {
	if c.Server == nil {
		return &config.DefaultCollectionLimits
	}
	return &c.Server.Config().Limits().Collections
}

// hashLimits returns the hash-max-listpack-* thresholds in force.
func hashLimits(c *Ctx) types.Limits {
	cl := collectionLimits(c)
	return types.Limits{Entries: cl.HashMaxListpackEntries, Value: clampInt(cl.HashMaxListpackValue)}
}

// lookupHash finds the hash under key for a client read (counting a hit or
// a miss); a missing key gives (nil, true), another type replies WRONGTYPE.
func lookupHash(c *Ctx, key []byte) (*types.Hash, bool) {
	return payload[types.Hash](c.LookupType(key, memtier.TypeHash))
}

// lookupHashWrite is lookupHash for a command about to change the hash.
func lookupHashWrite(c *Ctx, key []byte) (*types.Hash, bool) {
	return payload[types.Hash](c.LookupWriteType(key, memtier.TypeHash))
}

// payload unwraps the collection of a LookupType result: nil for a missing
// key, ok false when WRONGTYPE was replied.
func payload[P any](o *memtier.Object, ok bool) (*P, bool) {
	if o == nil {
		return nil, ok
	}
	return o.Payload().(*P), true
}

// createHash stores a new empty hash under key (which holds nothing) and
// returns it, as Redis's hashTypeLookupWriteOrCreate does. The caller adds
// a field before releasing the lock, so no empty hash is ever visible.
func createHash(c *Ctx, key []byte) *types.Hash {
	h := types.NewHash()
	c.DB.Set(key, memtier.NewCollection(h))
	return h
}

// cmdHSet is HSET key field value [field value ...]: the count of new fields.
func cmdHSet(c *Ctx) { hsetGeneric(c, false) }

// cmdHMSet is HMSET, HSET's deprecated form that replies OK.
func cmdHMSet(c *Ctx) { hsetGeneric(c, true) }

// hsetGeneric serves HSET and HMSET; replyOK picks HMSET's reply.
func hsetGeneric(c *Ctx, replyOK bool) {
	if len(c.Args)%2 != 0 {
		c.W.Error(WrongArity(c.Cmd.Name))
		return
	}
	key := c.Args[1]
	h, ok := lookupHashWrite(c, key)
	if !ok {
		return
	}
	if h == nil {
		h = createHash(c, key)
	}
	lim := hashLimits(c)
	// Like hashTypeTryConversion, one oversized argument converts the hash
	// before anything is stored.
	h.ConvertIfTooLong(c.Args[2:], lim)
	created := int64(0)
	for i := 2; i < len(c.Args); i += 2 {
		if h.Set(c.Args[i], c.Args[i+1], lim) {
			created++
		}
	}
	// Redis replies before it notifies: a RESP3 client subscribed to its
	// own events sees the reply first.
	if replyOK {
		c.W.OK()
	} else {
		c.W.Int(created)
	}
	c.KeyChanged(EventHash, "hset", key)
}

func cmdHSetNX(c *Ctx) {
	key, field := c.Args[1], c.Args[2]
	h, ok := lookupHashWrite(c, key)
	if !ok {
		return
	}
	if h != nil && h.Exists(field) {
		c.W.Int(0)
		return
	}
	if h == nil {
		h = createHash(c, key)
	}
	lim := hashLimits(c)
	h.ConvertIfTooLong(c.Args[2:4], lim)
	h.Set(field, c.Args[3], lim)
	c.KeyChanged(EventHash, "hset", key)
	c.W.Int(1)
}

func cmdHGet(c *Ctx) {
	h, ok := lookupHash(c, c.Args[1])
	if !ok {
		return
	}
	if h == nil {
		c.W.Null()
		return
	}
	v, found := h.Get(c.Args[2])
	if !found {
		c.W.Null()
		return
	}
	writeElem(c.W, v)
}

func cmdHMGet(c *Ctx) {
	h, ok := lookupHash(c, c.Args[1])
	if !ok {
		return
	}
	c.W.Array(len(c.Args) - 2)
	for _, field := range c.Args[2:] {
		if h == nil {
			c.W.Null()
			continue
		}
		if v, found := h.Get(field); found {
			writeElem(c.W, v)
		} else {
			c.W.Null()
		}
	}
}

// The parts of each pair HGETALL, HKEYS and HVALS reply with.
const (
	hashFields = 1 << iota
	hashValues
)

func cmdHGetAll(c *Ctx) { hgetallGeneric(c, hashFields|hashValues) }
func cmdHKeys(c *Ctx)   { hgetallGeneric(c, hashFields) }
func cmdHVals(c *Ctx)   { hgetallGeneric(c, hashValues) }

// hgetallGeneric replies with the hash's fields, values or both: a map for
// both (a flat array in RESP2), an array otherwise, in the hash's order
// (insertion order while it is a listpack).
func hgetallGeneric(c *Ctx, parts int) {
	h, ok := lookupHash(c, c.Args[1])
	if !ok {
		return
	}
	n := 0
	if h != nil {
		n = h.Len()
	}
	if parts == hashFields|hashValues {
		c.W.Map(n)
	} else {
		c.W.Array(n)
	}
	if h == nil {
		return
	}
	h.Each(func(f, v types.Elem) bool {
		if parts&hashFields != 0 {
			writeElem(c.W, f)
		}
		if parts&hashValues != 0 {
			writeElem(c.W, v)
		}
		return true
	})
}

// cmdHDel is HDEL key field [field ...]. A hash left empty is deleted, with
// an "hdel" then a "del" event, as Redis does.
func cmdHDel(c *Ctx) {
	if h := orZero(c, lookupHashWrite); h != nil {
		removeMembers(c, EventHash, "hdel", h.Delete, h.Len)
	}
}

// orZero looks up argument 1 with lookup and returns the value, or
// replies 0 for a missing key (Redis's lookupKey*OrReply with czero) and
// returns nil, as it does after WRONGTYPE. Every family's lookups fit it.
func orZero[P any](c *Ctx, lookup func(*Ctx, []byte) (*P, bool)) *P {
	p, ok := lookup(c, c.Args[1])
	if ok && p == nil {
		c.W.Int(0)
	}
	return p
}

// removeMembers removes the elements named by arguments 2 on from the
// collection under argument 1 (HDEL, SREM) and replies with the count. The
// key is deleted as soon as the collection is empty; the event (then
// "del" if the key went) is emitted when anything was removed.
func removeMembers(c *Ctx, class EventClass, event string, remove func([]byte) bool, length func() int) {
	key := c.Args[1]
	deleted, removed := int64(0), false
	for _, m := range c.Args[2:] {
		if remove(m) {
			deleted++
			if length() == 0 {
				c.DB.Delete(key)
				removed = true
				break
			}
		}
	}
	if deleted > 0 {
		c.KeyChanged(class, event, key)
		if removed {
			c.KeyChanged(EventGeneric, "del", key)
		}
	}
	c.W.Int(deleted)
}

func cmdHExists(c *Ctx) {
	h, ok := lookupHash(c, c.Args[1])
	if !ok {
		return
	}
	c.W.Int(boolInt(h != nil && h.Exists(c.Args[2])))
}

func cmdHLen(c *Ctx) {
	if h := orZero(c, lookupHash); h != nil {
		c.W.Int(int64(h.Len()))
	}
}

func cmdHStrLen(c *Ctx) {
	if h := orZero(c, lookupHash); h != nil {
		c.W.Int(int64(h.StrLen(c.Args[2])))
	}
}

// cmdHIncrBy is HINCRBY key field increment. The increment is parsed
// before the key is looked up, as in Redis.
func cmdHIncrBy(c *Ctx) {
	incr, ok := c.Int(3)
	if !ok {
		return
	}
	h, v, found, ok := lookupHashField(c)
	if !ok {
		return
	}
	var cur int64
	if found {
		if v.IsInt {
			cur = v.I
		} else if cur, ok = resp.ParseInt(v.S); !ok {
			c.W.Error(errHashNotInteger)
			return
		}
	}
	if addOverflows(cur, incr) {
		c.W.Error(ErrOverflow)
		return
	}
	cur += incr
	var buf [20]byte
	c.W.Int(cur) // the reply precedes the event, as in Redis
	storeHashField(c, h, strconv.AppendInt(buf[:0], cur, 10), "hincrby")
}

// cmdHIncrByFloat is HINCRBYFLOAT key field increment, in long double
// arithmetic with INCRBYFLOAT's formatting. An infinite increment is
// refused before the key is looked up.
func cmdHIncrByFloat(c *Ctx) {
	incr, ok := parseLongDouble(c.Args[3])
	if !ok {
		c.W.Error(ErrNotFloat)
		return
	}
	if incr.f != nil && incr.f.IsInf() {
		c.W.Error(errIncrNaNOrInf)
		return
	}
	h, v, found, ok := lookupHashField(c)
	if !ok {
		return
	}
	var cur longDouble
	if found {
		var buf [24]byte
		if cur, ok = parseLongDouble(v.AppendTo(buf[:0])); !ok {
			c.W.Error(errHashNotFloat)
			return
		}
	}
	sum, ok := cur.add(incr)
	if !ok {
		c.W.Error(errFloatOverflow)
		return
	}
	val := sum.appendHuman(nil)
	c.W.Bulk(val) // the reply precedes the event, as in Redis
	storeHashField(c, h, val, "hincrbyfloat")
	// Logged as the value it stored (Redis's HSET key field value).
	c.Propagate(cmdName("hset"), c.Args[1], c.Args[2], val)
}

// lookupHashField finds, for HINCRBY and HINCRBYFLOAT, the hash under
// argument 1 (nil when missing) and the value of field argument 2.
func lookupHashField(c *Ctx) (h *types.Hash, v types.Elem, found, ok bool) {
	h, ok = lookupHashWrite(c, c.Args[1])
	if h != nil {
		v, found = h.Get(c.Args[2])
	}
	return h, v, found, ok
}

// storeHashField sets field argument 2 of h (created under argument 1 when
// nil) to val and emits event.
func storeHashField(c *Ctx, h *types.Hash, val []byte, event string) {
	if h == nil {
		h = createHash(c, c.Args[1])
	}
	h.Set(c.Args[2], val, hashLimits(c))
	c.KeyChanged(EventHash, event, c.Args[1])
}

// cmdHRandField is HRANDFIELD key [count [WITHVALUES]].
func cmdHRandField(c *Ctx) {
	if len(c.Args) == 2 {
		h, ok := lookupHash(c, c.Args[1])
		if !ok {
			return
		}
		if h == nil {
			c.W.Null()
			return
		}
		h.Random(1, func(f, _ types.Elem) { writeElem(c.W, f) })
		return
	}
	count, ok := parseRandomCount(c, 2)
	if !ok {
		return
	}
	withValues := false
	switch {
	case len(c.Args) > 4 || len(c.Args) == 4 && !c.ArgIs(3, "withvalues"):
		c.W.Error(ErrSyntax)
		return
	case len(c.Args) == 4:
		withValues = true
		if count < -maxInt64/2 || count > maxInt64/2 {
			c.W.Error(errWithValuesRange)
			return
		}
	}
	h, ok := lookupHash(c, c.Args[1])
	if !ok {
		return
	}
	if h == nil || count == 0 {
		c.W.Array(0)
		return
	}
	// RESP3 pairs each field with its value in a two-element array; RESP2
	// flattens them.
	pairs := withValues && c.W.Resp3()
	emit := func(f, v types.Elem) {
		if pairs {
			c.W.Array(2)
		}
		writeElem(c.W, f)
		if withValues {
			writeElem(c.W, v)
		}
	}
	n := int64(h.Len())
	replyLen := func(k int64) {
		if withValues && !pairs {
			k *= 2
		}
		c.W.Array(int(k))
	}
	if count < 0 {
		replyLen(-count)
		for i := count; i < 0 && !randomReplyFull(c); i++ {
			h.Random(-1, emit)
		}
		return
	}
	replyLen(min(count, n))
	h.Random(int(min(count, n)), emit)
}

// parseRandomCount parses the count of HRANDFIELD and SRANDMEMBER, which
// Redis reads as a long in -LONG_MAX..LONG_MAX.
func parseRandomCount(c *Ctx, i int) (int64, bool) {
	n, ok := c.Int(i)
	if !ok {
		return 0, false
	}
	if n == minInt64 {
		c.W.Error(errLongRange)
		return 0, false
	}
	return n, true
}

// cmdHScan is HSCAN key cursor [MATCH pattern] [COUNT count]: fields and
// values.
func cmdHScan(c *Ctx) {
	scanValue(c, memtier.TypeHash, true, func(o *memtier.Object, cursor uint64, emit func(name, value types.Elem)) uint64 {
		return o.Payload().(*types.Hash).Scan(cursor, emit)
	})
}

// scanValue serves HSCAN and SSCAN: the cursor is parsed first; a missing
// key answers an empty scan before the options are read, as in Redis. step
// runs one step of the value's scan, calling emit for each element (with
// its value when pairs). MATCH applies to the element, not the value.
func scanValue(c *Ctx, t memtier.Type, pairs bool, step func(o *memtier.Object, cursor uint64, emit func(name, value types.Elem)) uint64) {
	cursor, ok := parseScanCursor(c.Args[2])
	if !ok {
		c.W.Error("ERR invalid cursor")
		return
	}
	o, ok := c.LookupType(c.Args[1], t)
	if !ok {
		return
	}
	if o == nil {
		writeEmptyScan(c)
		return
	}
	opts, ok := parseCollectionScan(c, 3)
	if !ok {
		return
	}
	// Elements go to a side buffer first: their count is known at the end.
	side := resp.Writer{Proto: c.W.Proto}
	kept := 0
	var nb [24]byte
	next := scanSteps(cursor, opts.count, func(cursor uint64, seen *int64) uint64 {
		return step(o, cursor, func(name, value types.Elem) {
			// Redis counts a field and its value as two towards COUNT.
			*seen++
			if pairs {
				*seen++
			}
			if opts.pattern != nil && !glob.Match(opts.pattern, name.AppendTo(nb[:0])) {
				return
			}
			kept++
			writeElem(&side, name)
			if pairs {
				writeElem(&side, value)
			}
		})
	})
	if pairs {
		kept *= 2
	}
	c.W.Array(2)
	c.W.BulkString(strconv.FormatUint(next, 10))
	c.W.Array(kept)
	c.W.Raw(side.Buf)
}

// scanSteps runs step (one bucket of a hashtable, or the whole compact
// encoding) until the scan completes, count elements were gathered before
// filtering, or count*10 steps were taken: the loop of Redis's
// scanGenericCommand. It returns the next cursor.
func scanSteps(cursor uint64, count int64, step func(cursor uint64, seen *int64) uint64) uint64 {
	var seen int64
	budget := count * 10
	for {
		cursor = step(cursor, &seen)
		if cursor == 0 || budget <= 0 || seen >= count {
			return cursor
		}
		budget--
	}
}

// writeEmptyScan writes the reply of a scan over a missing key: cursor 0
// and no elements.
func writeEmptyScan(c *Ctx) {
	c.W.Array(2)
	c.W.BulkString("0")
	c.W.Array(0)
}
