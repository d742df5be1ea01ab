package commands

import (
	"bytes"
	"math"
	"strconv"
	"strings"

	"github.com/structd/structd/internal/resp"
	"github.com/structd/structd/memtier"
	"github.com/structd/structd/memtier/types"
)

// Sorted set commands (t_zset.c). Ranges live in zset_range.go, the set
// operations (ZUNION, ZINTER, ZDIFF and their STORE forms) in
// zset_store.go. The blocking pops (BZPOPMIN, BZPOPMAX, BZMPOP) are
// registered with the blocking machinery; they reuse zpopGeneric.

const (
	errZSetMinMax    = "ERR min or max is not a float"
	errZSetLexRange  = "ERR min or max not valid string range item"
	errZSetNaN       = "ERR resulting score is not a number (NaN)"
	errZAddXXNX      = "ERR XX and NX options at the same time are not compatible"
	errZAddGTLTNX    = "ERR GT, LT, and/or NX options at the same time are not compatible"
	errZAddIncrPairs = "ERR INCR option supports a single increment-element pair"
)

func init() {
	zcmd := familyCommand("sortedset")
	// numkeys forms: Redis reports no fixed key range for them (0 0 0) and
	// finds the keys from numkeys at argument 1.
	numkeys := func(c *Command) *Command {
		c.FirstKey, c.LastKey, c.KeyStep = 0, 0, 0
		c.Keys = numKeysAt(1)
		return c
	}
	// STORE forms: the destination is argument 1 (the fixed range COMMAND
	// INFO reports), the sources follow numkeys at argument 2.
	storeNumkeys := func(c *Command) *Command {
		c.Keys = destAndNumKeysAt(2)
		return c
	}
	nondet := []string{"nondeterministic_output"}
	zrandmember := zcmd("zrandmember", -2, ReadOnly, "slow", cmdZRandMember)
	zrandmember.Tips = nondet
	zscan := zcmd("zscan", -3, ReadOnly, "slow", cmdZScan)
	zscan.Tips = nondet
	zrangestore := zcmd("zrangestore", -5, Write|DenyOOM, "slow", cmdZRangeStore)
	zrangestore.LastKey = 2
	register(
		zcmd("zadd", -4, Write|DenyOOM|Fast, "fast", cmdZAdd),
		zcmd("zincrby", 4, Write|DenyOOM|Fast, "fast", cmdZIncrBy),
		zcmd("zrem", -3, Write|Fast, "fast", cmdZRem),
		zcmd("zcard", 2, ReadOnly|Fast, "fast", cmdZCard),
		zcmd("zcount", 4, ReadOnly|Fast, "fast", cmdZCount),
		zcmd("zlexcount", 4, ReadOnly|Fast, "fast", cmdZLexCount),
		zcmd("zscore", 3, ReadOnly|Fast, "fast", cmdZScore),
		zcmd("zmscore", -3, ReadOnly|Fast, "fast", cmdZMScore),
		zcmd("zrank", -3, ReadOnly|Fast, "fast", cmdZRank),
		zcmd("zrevrank", -3, ReadOnly|Fast, "fast", cmdZRevRank),
		zcmd("zrange", -4, ReadOnly, "slow", cmdZRange),
		zrangestore,
		zcmd("zrangebyscore", -4, ReadOnly, "slow", cmdZRangeByScore),
		zcmd("zrevrangebyscore", -4, ReadOnly, "slow", cmdZRevRangeByScore),
		zcmd("zrangebylex", -4, ReadOnly, "slow", cmdZRangeByLex),
		zcmd("zrevrangebylex", -4, ReadOnly, "slow", cmdZRevRangeByLex),
		zcmd("zrevrange", -4, ReadOnly, "slow", cmdZRevRange),
		zcmd("zremrangebyrank", 4, Write, "slow", cmdZRemRangeByRank),
		zcmd("zremrangebyscore", 4, Write, "slow", cmdZRemRangeByScore),
		zcmd("zremrangebylex", 4, Write, "slow", cmdZRemRangeByLex),
		zcmd("zpopmin", -2, Write|Fast, "fast", cmdZPopMin),
		zcmd("zpopmax", -2, Write|Fast, "fast", cmdZPopMax),
		numkeys(zcmd("zmpop", -4, Write, "slow", cmdZMPop)),
		zrandmember,
		numkeys(zcmd("zunion", -3, ReadOnly, "slow", cmdZUnion)),
		numkeys(zcmd("zinter", -3, ReadOnly, "slow", cmdZInter)),
		numkeys(zcmd("zdiff", -3, ReadOnly, "slow", cmdZDiff)),
		storeNumkeys(zcmd("zunionstore", -4, Write|DenyOOM, "slow", cmdZUnionStore)),
		storeNumkeys(zcmd("zinterstore", -4, Write|DenyOOM, "slow", cmdZInterStore)),
		storeNumkeys(zcmd("zdiffstore", -4, Write|DenyOOM, "slow", cmdZDiffStore)),
		numkeys(zcmd("zintercard", -3, ReadOnly, "slow", cmdZInterCard)),
		zscan,
	)
}

// numKeysAt returns a key finder for "numkeys key [key ...]" with numkeys
// at argument i. A numkeys that is not a positive integer, or larger than
// the arguments that follow, finds the keys that exist: the handler then
// replies the error.
func numKeysAt(i int) func(args [][]byte) []int {
	return func(args [][]byte) []int { return appendNumKeys(nil, args, i) }
}

// destAndNumKeysAt is numKeysAt for STORE forms: argument 1 is the
// destination.
func destAndNumKeysAt(i int) func(args [][]byte) []int {
	return func(args [][]byte) []int { return appendNumKeys([]int{1}, args, i) }
}

func appendNumKeys(dst []int, args [][]byte, i int) []int {
	if i >= len(args) {
		return dst
	}
	n, ok := resp.ParseInt(args[i])
	if !ok || n < 1 {
		return dst
	}
	for j := int64(0); j < n && i+1+int(j) < len(args); j++ {
		dst = append(dst, i+1+int(j))
	}
	return dst
}

// zsetLimits returns the zset-max-listpack-* thresholds in force.
func zsetLimits(c *Ctx) types.Limits {
	cl := collectionLimits(c)
	return types.Limits{Entries: cl.ZSetMaxListpackEntries, Value: clampInt(cl.ZSetMaxListpackValue)}
}

func clampInt(v int64) int {
	if v > math.MaxInt32 {
		return math.MaxInt32
	}
	return int(v)
}

// lookupZSet finds the sorted set under key for a read (counting a hit or
// a miss). It replies WRONGTYPE and returns ok false for another type; a
// missing key gives (nil, true).
func lookupZSet(c *Ctx, key []byte) (*types.ZSet, bool) {
	o, ok := c.LookupType(key, memtier.TypeZSet)
	if o == nil {
		return nil, ok
	}
	return o.Payload().(*types.ZSet), true
}

// lookupZSetWrite is lookupZSet for commands that change the key: like
// Redis's lookupKeyWrite it does not count hits or misses.
func lookupZSetWrite(c *Ctx, key []byte) (*types.ZSet, bool) {
	o := c.DB.LookupWrite(key)
	if o == nil {
		return nil, true
	}
	if o.Type != memtier.TypeZSet {
		c.W.Error(ErrWrongType)
		return nil, false
	}
	return o.Payload().(*types.ZSet), true
}

// storeZSet stores z under key, replacing any value and clearing its TTL
// (Redis's setKey/dbAdd). z must not be empty once the command returns.
func storeZSet(c *Ctx, key []byte, z *types.ZSet) {
	c.DB.Set(key, memtier.NewCollection(z))
}

// deleteIfEmpty removes key when its sorted set has no member left and
// emits Redis's "del" event, reporting whether it did.
func deleteIfEmpty(c *Ctx, key []byte, z *types.ZSet) bool {
	if z.Len() > 0 {
		return false
	}
	c.DB.Delete(key)
	c.KeyChanged(EventGeneric, "del", key)
	return true
}

// parseCDouble parses b with C strtod's syntax (decimal or hexadecimal,
// inf/infinity/nan, optional sign), the whole of b. rangeErr reports
// ERANGE: an overflow to infinity or an underflow to zero.
func parseCDouble(b []byte) (f float64, rangeErr, ok bool) {
	if len(b) == 0 || bytes.IndexByte(b, '_') >= 0 {
		return 0, false, false
	}
	s := string(b)
	body := strings.TrimLeft(s, "+-")
	hex := len(body) > 1 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X')
	if hex && !strings.ContainsAny(body, "pP") {
		s += "p0"
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		if ne, isNum := err.(*strconv.NumError); !isNum || ne.Err != strconv.ErrRange {
			return 0, false, false
		}
		return f, true, true
	}
	if f == 0 && !hex && hasNonZeroMantissa(body) {
		return f, true, true
	}
	return f, false, true
}

// hasNonZeroMantissa reports whether a decimal number's digits before any
// exponent include a non-zero one (so a zero result is an underflow).
func hasNonZeroMantissa(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == 'e' || c == 'E':
			return false
		case c >= '1' && c <= '9':
			return true
		}
	}
	return false
}

// parseScore parses a score, increment or weight as Redis's
// getDoubleFromObject: no leading space, nothing after the number, no
// overflow or underflow, no NaN.
func parseScore(b []byte) (float64, bool) {
	if len(b) == 0 || isSpaceByte(b[0]) {
		return 0, false
	}
	f, rangeErr, ok := parseCDouble(b)
	if !ok || rangeErr || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

// parseScoreBound parses one end of a score range as Redis's
// zslParseRange: "(" makes it exclusive; strtod skips leading space and
// stops at a NUL byte; overflow gives an infinity; only NaN and trailing
// garbage are refused. An empty number reads as 0.
func parseScoreBound(b []byte) (float64, bool, bool) {
	ex := len(b) > 0 && b[0] == '('
	if ex {
		b = b[1:]
	}
	b = beforeNUL(b)
	if len(b) == 0 {
		return 0, ex, true
	}
	trimmed := bytes.TrimLeft(b, " \t\n\v\f\r")
	f, _, ok := parseCDouble(trimmed)
	if !ok || math.IsNaN(f) {
		return 0, false, false
	}
	return f, ex, true
}

// parseScoreRange parses min and max, replying Redis's error if either is
// not a float.
func parseScoreRange(c *Ctx, min, max []byte) (types.ScoreRange, bool) {
	var r types.ScoreRange
	var ok1, ok2 bool
	r.Min, r.MinEx, ok1 = parseScoreBound(min)
	r.Max, r.MaxEx, ok2 = parseScoreBound(max)
	if !ok1 || !ok2 {
		c.W.Error(errZSetMinMax)
		return r, false
	}
	return r, true
}

// parseLexRange parses min and max of a lexicographic range, replying
// Redis's error if either is not "-", "+", "[x" or "(x".
func parseLexRange(c *Ctx, min, max []byte) (types.LexRange, bool) {
	lo, ok1 := types.ParseLexBound(min)
	hi, ok2 := types.ParseLexBound(max)
	if !ok1 || !ok2 {
		c.W.Error(errZSetLexRange)
		return types.LexRange{}, false
	}
	return types.LexRange{Min: lo, Max: hi}, true
}

// writeElem writes a collection element as a bulk string.
func writeElem(w *resp.Writer, e types.Elem) {
	if e.IsInt {
		w.BulkInt(e.I)
		return
	}
	w.Bulk(e.S)
}

// cmdZAdd is ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [...].
func cmdZAdd(c *Ctx) { zaddGeneric(c, 0) }

// cmdZIncrBy is ZINCRBY key increment member: ZADD INCR with one pair.
func cmdZIncrBy(c *Ctx) { zaddGeneric(c, types.AddIncr) }

// zaddGeneric is Redis's zaddGenericCommand: options first, then every
// score is parsed before the key is touched, so a bad score changes
// nothing.
func zaddGeneric(c *Ctx, flags types.AddFlags) {
	key := c.Args[1]
	ch := false
	i := 2
	if flags&types.AddIncr == 0 {
	options:
		for ; i < len(c.Args); i++ {
			switch {
			case c.ArgIs(i, "nx"):
				flags |= types.AddNX
			case c.ArgIs(i, "xx"):
				flags |= types.AddXX
			case c.ArgIs(i, "gt"):
				flags |= types.AddGT
			case c.ArgIs(i, "lt"):
				flags |= types.AddLT
			case c.ArgIs(i, "ch"):
				ch = true
			case c.ArgIs(i, "incr"):
				flags |= types.AddIncr
			default:
				break options
			}
		}
	}
	pairs := len(c.Args) - i
	if pairs == 0 || pairs%2 != 0 {
		c.W.Error(ErrSyntax)
		return
	}
	pairs /= 2
	nx, xx := flags&types.AddNX != 0, flags&types.AddXX != 0
	gt, lt := flags&types.AddGT != 0, flags&types.AddLT != 0
	incr := flags&types.AddIncr != 0
	switch {
	case nx && xx:
		c.W.Error(errZAddXXNX)
		return
	case (gt && nx) || (lt && nx) || (gt && lt):
		c.W.Error(errZAddGTLTNX)
		return
	case incr && pairs > 1:
		c.W.Error(errZAddIncrPairs)
		return
	}
	var scoreBuf [8]float64
	scores := scoreBuf[:0]
	for j := 0; j < pairs; j++ {
		s, ok := parseScore(c.Args[i+2*j])
		if !ok {
			c.W.Error(ErrNotFloat)
			return
		}
		scores = append(scores, s)
	}
	z, ok := lookupZSetWrite(c, key)
	if !ok {
		return
	}
	var added, updated, processed int64
	var score float64
	if z == nil && !xx {
		z = types.NewZSet()
		storeZSet(c, key, z)
	}
	if z != nil {
		lim := zsetLimits(c)
		for j, s := range scores {
			res, newScore := z.Add(c.Args[i+2*j+1], s, flags, lim)
			switch res {
			case types.NaNScore:
				c.W.Error(errZSetNaN)
				zaddNotify(c, key, incr, added+updated)
				return
			case types.Added:
				added++
			case types.Updated:
				updated++
			}
			if res != types.Skipped {
				processed++
			}
			score = newScore
			if incr && res == types.Unchanged {
				// Redis replies the sum it computed: equal to the stored
				// score, but 0 + -0 is 0 where the set may hold -0.
				score = s + newScore
			}
		}
	}
	switch {
	case incr && processed > 0:
		c.W.Double(score)
	case incr:
		c.W.Null()
	case ch:
		c.W.Int(added + updated)
	default:
		c.W.Int(added)
	}
	zaddNotify(c, key, incr, added+updated)
}

func zaddNotify(c *Ctx, key []byte, incr bool, changed int64) {
	if changed == 0 {
		return
	}
	if incr {
		c.KeyChanged(EventZSet, "zincr", key)
	} else {
		c.KeyChanged(EventZSet, "zadd", key)
	}
}

// cmdZRem is ZREM key member [member ...].
func cmdZRem(c *Ctx) {
	key := c.Args[1]
	z := orZero(c, lookupZSetWrite)
	if z == nil {
		return
	}
	var deleted int64
	for _, m := range c.Args[2:] {
		if z.Remove(m) {
			deleted++
			if z.Len() == 0 {
				break
			}
		}
	}
	if deleted > 0 {
		c.KeyChanged(EventZSet, "zrem", key)
		deleteIfEmpty(c, key, z)
	}
	c.W.Int(deleted)
}

// cmdZCard is ZCARD key.
func cmdZCard(c *Ctx) {
	if z := orZero(c, lookupZSet); z != nil {
		c.W.Int(int64(z.Len()))
	}
}

func cmdZCount(c *Ctx)    { zcountGeneric(c, false) }
func cmdZLexCount(c *Ctx) { zcountGeneric(c, true) }

// zcountGeneric is ZCOUNT and ZLEXCOUNT key min max: the range is parsed
// before the key is looked up; O(log n) once the set is a skiplist.
func zcountGeneric(c *Ctx, lex bool) {
	var q zrangeQuery
	var ok bool
	if lex {
		q.lex, ok = parseLexRange(c, c.Args[2], c.Args[3])
	} else {
		q.score, ok = parseScoreRange(c, c.Args[2], c.Args[3])
	}
	if !ok {
		return
	}
	z := orZero(c, lookupZSet)
	switch {
	case z == nil:
	case lex:
		c.W.Int(int64(z.CountByLex(q.lex)))
	default:
		c.W.Int(int64(z.CountByScore(q.score)))
	}
}

// cmdZScore is ZSCORE key member: a double, or null.
func cmdZScore(c *Ctx) {
	if z, ok := lookupZSet(c, c.Args[1]); ok {
		writeScore(c, z, c.Args[2])
	}
}

// cmdZMScore is ZMSCORE key member [member ...]: a null for each member
// (or every member of a missing key) that has no score.
func cmdZMScore(c *Ctx) {
	z, ok := lookupZSet(c, c.Args[1])
	if !ok {
		return
	}
	members := c.Args[2:]
	c.W.Array(len(members))
	for _, m := range members {
		writeScore(c, z, m)
	}
}

// writeScore replies member's score in z as a double, or null when z is
// nil (a missing key) or has no such member.
func writeScore(c *Ctx, z *types.ZSet, member []byte) {
	if z != nil {
		if s, found := z.Score(member); found {
			c.W.Double(s)
			return
		}
	}
	c.W.Null()
}

func cmdZRank(c *Ctx)    { zrankGeneric(c, false) }
func cmdZRevRank(c *Ctx) { zrankGeneric(c, true) }

// zrankGeneric is ZRANK and ZREVRANK [WITHSCORE], O(log n) once the set is
// a skiplist. WITHSCORE is Redis 7.2's: the reply becomes [rank, score],
// and a missing key or member a null array instead of a null.
func zrankGeneric(c *Ctx, reverse bool) {
	withScore := false
	switch {
	case len(c.Args) > 4:
		c.W.Error(WrongArity(c.Cmd.Name))
		return
	case len(c.Args) == 4 && !c.ArgIs(3, "withscore"):
		c.W.Error(ErrSyntax)
		return
	case len(c.Args) == 4:
		withScore = true
	}
	z, ok := lookupZSet(c, c.Args[1])
	if !ok {
		return
	}
	var rank int
	var score float64
	found := false
	if z != nil {
		rank, score, found = z.Rank(c.Args[2], reverse)
	}
	switch {
	case !found && withScore:
		c.W.NullArray()
	case !found:
		c.W.Null()
	case withScore:
		c.W.Array(2)
		c.W.Int(int64(rank))
		c.W.Double(score)
	default:
		c.W.Int(int64(rank))
	}
}

// zpopShape is the reply layout of zpopGeneric, Redis's emitkey and
// use_nested_array combinations.
type zpopShape uint8

const (
	// zpopFlat: member, score, ... (ZPOPMIN/ZPOPMAX; with COUNT in RESP2).
	zpopFlat zpopShape = iota
	// zpopPairs: [member, score] pairs (ZPOPMIN/ZPOPMAX COUNT in RESP3).
	zpopPairs
	// zpopKeyFlat: key, member, score (BZPOPMIN/BZPOPMAX).
	zpopKeyFlat
	// zpopKeyPairs: key, [[member, score], ...] (ZMPOP/BZMPOP).
	zpopKeyPairs
)

// zpopGeneric pops up to count members (count >= 1) from key's sorted set,
// the lowest scores first (the highest when highest), writes the reply in
// shape and emits the zpopmin/zpopmax event (and "del" when the set
// empties). The set must exist and hold at least one member: the callers
// (ZPOPMIN, ZPOPMAX, ZMPOP, and the blocking pops when a key is ready)
// reply their own empty answers.
func zpopGeneric(c *Ctx, key []byte, z *types.ZSet, highest bool, count int64, shape zpopShape) {
	n := int(min(count, int64(z.Len())))
	popped := z.Pop(n, highest)
	w := c.W
	switch shape {
	case zpopFlat:
		w.Array(2 * len(popped))
	case zpopPairs:
		w.Array(len(popped))
	case zpopKeyFlat:
		w.Array(2*len(popped) + 1)
		w.Bulk(key)
	case zpopKeyPairs:
		w.Array(2)
		w.Bulk(key)
		w.Array(len(popped))
	}
	nested := shape == zpopPairs || shape == zpopKeyPairs
	for _, p := range popped {
		if nested {
			w.Array(2)
		}
		w.Bulk(p.Member)
		w.Double(p.Score)
	}
	if highest {
		c.KeyChanged(EventZSet, "zpopmax", key)
	} else {
		c.KeyChanged(EventZSet, "zpopmin", key)
	}
	deleteIfEmpty(c, key, z)
}

func cmdZPopMin(c *Ctx) { zpopMinMax(c, false) }
func cmdZPopMax(c *Ctx) { zpopMinMax(c, true) }

// zpopMinMax is ZPOPMIN/ZPOPMAX key [count].
func zpopMinMax(c *Ctx, highest bool) {
	if len(c.Args) > 3 {
		c.W.Error(ErrSyntax)
		return
	}
	count := int64(1)
	shape := zpopFlat
	if len(c.Args) == 3 {
		n, ok := rangeInt(c, 2, 0, math.MaxInt64, ErrNotPositive)
		if !ok {
			return
		}
		count = n
		if c.W.Resp3() {
			shape = zpopPairs
		}
	}
	z, ok := lookupZSetWrite(c, c.Args[1])
	if !ok {
		return
	}
	if z == nil || count == 0 {
		c.W.Array(0)
		return
	}
	zpopGeneric(c, c.Args[1], z, highest, count, shape)
}

// zmpopArgs are ZMPOP's (and BZMPOP's) parsed arguments.
type zmpopArgs struct {
	keys    [][]byte
	highest bool
	count   int64
}

// parseZMPop parses "numkeys key [key ...] MIN|MAX [COUNT count]" starting
// at argument at (1 for ZMPOP, 2 for BZMPOP), replying Redis's errors.
func parseZMPop(c *Ctx, at int) (zmpopArgs, bool) {
	keys, highest, count, ok := parseMPop(c, at, "min", "max")
	return zmpopArgs{keys, highest, count}, ok
}

// parseMPop parses the arguments LMPOP, ZMPOP and their blocking forms
// share, "numkeys key [key ...] first|second [COUNT count]", from argument
// at, replying Redis's errors. second reports which end word was given.
func parseMPop(c *Ctx, at int, first, second string) (keys [][]byte, isSecond bool, count int64, ok bool) {
	numkeys, ok := rangeInt(c, at, 1, math.MaxInt64, errNumKeys)
	if !ok {
		return nil, false, 0, false
	}
	if numkeys >= int64(len(c.Args)-at-1) { // no room for the end word
		c.W.Error(ErrSyntax)
		return nil, false, 0, false
	}
	where := at + 1 + int(numkeys)
	keys = c.Args[at+1 : where]
	switch {
	case c.ArgIs(where, first):
	case c.ArgIs(where, second):
		isSecond = true
	default:
		c.W.Error(ErrSyntax)
		return nil, false, 0, false
	}
	count = -1
	for j := where + 1; j < len(c.Args); j++ {
		if count == -1 && c.ArgIs(j, "count") && j+1 < len(c.Args) {
			j++
			if count, ok = rangeInt(c, j, 1, math.MaxInt64, errCountPosArg); !ok {
				return nil, false, 0, false
			}
			continue
		}
		c.W.Error(ErrSyntax)
		return nil, false, 0, false
	}
	if count == -1 {
		count = 1
	}
	return keys, isSecond, count, true
}

// firstNonEmptyZSet returns the first key of keys holding a sorted set,
// replying WRONGTYPE (ok false) if a key before it holds another type.
func firstNonEmptyZSet(c *Ctx, keys [][]byte) ([]byte, *types.ZSet, bool) {
	for _, k := range keys {
		z, ok := lookupZSetWrite(c, k)
		if !ok {
			return nil, nil, false
		}
		if z != nil {
			return k, z, true
		}
	}
	return nil, nil, true
}

// cmdZMPop is ZMPOP numkeys key [key ...] MIN|MAX [COUNT count].
func cmdZMPop(c *Ctx) {
	a, ok := parseZMPop(c, 1)
	if !ok {
		return
	}
	key, z, ok := firstNonEmptyZSet(c, a.keys)
	if !ok {
		return
	}
	if z == nil {
		c.W.NullArray()
		return
	}
	zpopGeneric(c, key, z, a.highest, a.count, zpopKeyPairs)
}

// cmdZRandMember is ZRANDMEMBER key [count [WITHSCORES]].
func cmdZRandMember(c *Ctx) {
	key := c.Args[1]
	if len(c.Args) == 2 {
		z, ok := lookupZSet(c, key)
		if !ok {
			return
		}
		if z == nil {
			c.W.Null()
			return
		}
		z.Random(1, func(m types.Elem, _ float64) { writeElem(c.W, m) })
		return
	}
	n, ok := rangeInt(c, 2, -math.MaxInt64, math.MaxInt64, "")
	if !ok {
		return
	}
	withScores := false
	if len(c.Args) > 4 || (len(c.Args) == 4 && !c.ArgIs(3, "withscores")) {
		c.W.Error(ErrSyntax)
		return
	} else if len(c.Args) == 4 {
		withScores = true
		if n < -math.MaxInt64/2 || n > math.MaxInt64/2 {
			c.W.Error("ERR value is out of range")
			return
		}
	}
	z, ok := lookupZSet(c, key)
	if !ok {
		return
	}
	if z == nil || n == 0 {
		c.W.Array(0)
		return
	}
	count := n
	if count > 0 {
		count = min(count, int64(z.Len()))
	}
	pairs := withScores && c.W.Resp3()
	switch {
	case withScores && !pairs:
		c.W.Array(2 * int(abs64(count)))
	default:
		c.W.Array(int(abs64(count)))
	}
	emit := func(m types.Elem, s float64) {
		if pairs {
			c.W.Array(2)
		}
		writeElem(c.W, m)
		if withScores {
			c.W.Double(s)
		}
	}
	if count > 0 {
		z.Random(int(count), emit)
		return
	}
	// Picks with repetition are bounded like HRANDFIELD's: past
	// maxRandomReplyBytes the reply is cut and the connection closed.
	for i := count; i < 0 && !randomReplyFull(c); i++ {
		z.Random(-1, emit)
	}
}

func abs64(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// collectionScan are the options of HSCAN, SSCAN and ZSCAN.
type collectionScan struct {
	pattern []byte // nil: every element
	count   int64
}

// parseCollectionScan parses [MATCH pattern] [COUNT count] from argument
// i on, as Redis's scanGenericCommand for a key's value: COUNT below 1 is
// a syntax error, and so is TYPE.
func parseCollectionScan(c *Ctx, i int) (collectionScan, bool) {
	opts := collectionScan{count: 10}
	for ; i < len(c.Args); i += 2 {
		if i+1 >= len(c.Args) {
			c.W.Error(ErrSyntax)
			return opts, false
		}
		switch {
		case c.ArgIs(i, "count"):
			n, ok := c.Int(i + 1)
			if !ok {
				return opts, false
			}
			if n < 1 {
				c.W.Error(ErrSyntax)
				return opts, false
			}
			opts.count = n
		case c.ArgIs(i, "match"):
			opts.pattern = c.Args[i+1]
			if matchAll(opts.pattern) {
				opts.pattern = nil
			}
		default:
			c.W.Error(ErrSyntax)
			return opts, false
		}
	}
	return opts, true
}

// cmdZScan is ZSCAN key cursor [MATCH pattern] [COUNT count]: members and
// their scores, both as bulk strings in RESP2 and RESP3 alike.
func cmdZScan(c *Ctx) {
	var num [32]byte
	scanValue(c, memtier.TypeZSet, true, func(o *memtier.Object, cursor uint64, emit func(name, value types.Elem)) uint64 {
		return o.Payload().(*types.ZSet).Scan(cursor, func(m types.Elem, s float64) {
			emit(m, types.Elem{S: resp.AppendFloat(num[:0], s)})
		})
	})
}
