package commands

import (
	"math"
	"strconv"

	"github.com/structd/structd/memtier/types"
)

// Range queries over sorted sets: ZRANGE and its older forms, ZRANGESTORE
// and ZREMRANGEBY*, as Redis's zrangeGenericCommand and
// zremrangeGenericCommand.

// zrangeKind is how a range is given; zrangeAuto lets ZRANGE's BYSCORE or
// BYLEX option choose.
type zrangeKind uint8

const (
	zrangeAuto zrangeKind = iota
	zrangeRank
	zrangeScore
	zrangeLex
)

// zrangeDir is the direction of a range; zrangeDirAuto lets ZRANGE's REV
// option choose.
type zrangeDir uint8

const (
	zrangeDirAuto zrangeDir = iota
	zrangeForward
	zrangeReverse
)

// zrangeQuery is a parsed range request.
type zrangeQuery struct {
	key        []byte
	kind       zrangeKind
	reverse    bool
	withScores bool
	start, end int64 // ranks, for zrangeRank
	score      types.ScoreRange
	lex        types.LexRange
	offset     int64
	limit      int64 // -1: no LIMIT
}

// scored is a member read out of a sorted set; for a string member it
// aliases the set, so it is used before the set changes.
type scored struct {
	member types.Elem
	score  float64
}

func cmdZRange(c *Ctx) { zrangeCommand(c, 1, false, zrangeAuto, zrangeDirAuto) }
func cmdZRevRange(c *Ctx) {
	zrangeCommand(c, 1, false, zrangeRank, zrangeReverse)
}
func cmdZRangeByScore(c *Ctx) {
	zrangeCommand(c, 1, false, zrangeScore, zrangeForward)
}
func cmdZRevRangeByScore(c *Ctx) {
	zrangeCommand(c, 1, false, zrangeScore, zrangeReverse)
}
func cmdZRangeByLex(c *Ctx) {
	zrangeCommand(c, 1, false, zrangeLex, zrangeForward)
}
func cmdZRevRangeByLex(c *Ctx) {
	zrangeCommand(c, 1, false, zrangeLex, zrangeReverse)
}

// cmdZRangeStore is ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV]
// [LIMIT offset count].
func cmdZRangeStore(c *Ctx) { zrangeCommand(c, 2, true, zrangeAuto, zrangeDirAuto) }

// parseZRange parses "key min max [options]" from argument at, in Redis's
// order: options, their conflicts, then the range itself. It replies the
// error and returns false on a bad request.
func parseZRange(c *Ctx, at int, store bool, kind zrangeKind, dir zrangeDir) (zrangeQuery, bool) {
	q := zrangeQuery{key: c.Args[at], limit: -1}
	for j := at + 3; j < len(c.Args); j++ {
		left := len(c.Args) - j - 1
		switch {
		case !store && c.ArgIs(j, "withscores"):
			q.withScores = true
		case c.ArgIs(j, "limit") && left >= 2:
			var ok bool
			if q.offset, ok = c.Int(j + 1); !ok {
				return q, false
			}
			if q.limit, ok = c.Int(j + 2); !ok {
				return q, false
			}
			j += 2
		case dir == zrangeDirAuto && c.ArgIs(j, "rev"):
			dir = zrangeReverse
		case kind == zrangeAuto && c.ArgIs(j, "bylex"):
			kind = zrangeLex
		case kind == zrangeAuto && c.ArgIs(j, "byscore"):
			kind = zrangeScore
		default:
			c.W.Error(ErrSyntax)
			return q, false
		}
	}
	if kind == zrangeAuto {
		kind = zrangeRank
	}
	q.kind, q.reverse = kind, dir == zrangeReverse
	if q.limit != -1 && kind == zrangeRank {
		c.W.Error("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
		return q, false
	}
	if q.withScores && kind == zrangeLex {
		c.W.Error("ERR syntax error, WITHSCORES not supported in combination with BYLEX")
		return q, false
	}
	minArg, maxArg := c.Args[at+1], c.Args[at+2]
	if q.reverse && kind != zrangeRank {
		// Reverse score and lex ranges are given as max, min.
		minArg, maxArg = maxArg, minArg
	}
	var ok bool
	switch kind {
	case zrangeRank:
		if q.start, ok = c.Int(at + 1); !ok {
			return q, false
		}
		q.end, ok = c.Int(at + 2)
	case zrangeScore:
		q.score, ok = parseScoreRange(c, minArg, maxArg)
	case zrangeLex:
		q.lex, ok = parseLexRange(c, minArg, maxArg)
	}
	return q, ok
}

// collect appends the members q selects from z, in reply order.
func (q *zrangeQuery) collect(z *types.ZSet, out []scored) []scored {
	add := func(m types.Elem, s float64) bool {
		out = append(out, scored{m, s})
		return true
	}
	switch q.kind {
	case zrangeRank:
		if start, end, ok := clampRanks(q.start, q.end, int64(z.Len())); ok {
			z.RangeByRank(int(start), int(end), q.reverse, add)
		}
	case zrangeScore:
		z.RangeByScore(q.score, q.reverse, clampOffset(q.offset), clampOffset(q.limit), add)
	case zrangeLex:
		z.RangeByLex(q.lex, q.reverse, clampOffset(q.offset), clampOffset(q.limit), add)
	}
	return out
}

// clampOffset narrows a LIMIT argument to an int, keeping its sign (a
// negative offset selects nothing, a negative count everything).
func clampOffset(n int64) int {
	return int(max(min(n, 1<<62), -1))
}

// clampRanks turns start and end ranks (negative counting from the end)
// into 0 <= start <= end < n, or ok false for an empty range, as Redis's
// rank commands do.
func clampRanks(start, end, n int64) (int64, int64, bool) {
	if start < 0 {
		start += n
	}
	if end < 0 {
		end += n
	}
	if start < 0 {
		start = 0
	}
	if start > end || start >= n {
		return 0, 0, false
	}
	if end >= n {
		end = n - 1
	}
	return start, end, true
}

// zrangeCommand runs every ZRANGE form: the key is argument at (2 for
// ZRANGESTORE, whose destination is argument 1).
func zrangeCommand(c *Ctx, at int, store bool, kind zrangeKind, dir zrangeDir) {
	q, ok := parseZRange(c, at, store, kind, dir)
	if !ok {
		return
	}
	z, ok := lookupZSet(c, q.key)
	if !ok {
		return
	}
	var buf [16]scored
	var res []scored
	if z != nil {
		res = q.collect(z, buf[:0])
	}
	if store {
		// Redis sizes a rank range's destination from its length; score
		// and lex ranges start as a listpack.
		skiplist := q.kind == zrangeRank && len(res) > zsetLimits(c).Entries
		storeScored(c, c.Args[1], res, "zrangestore", skiplist)
		if q.kind == zrangeLex && c.changed {
			propagateStoredLex(c, c.Args[1], res)
		}
		return
	}
	writeScored(c, res, q.withScores)
}

// writeScored replies members, with their scores when withScores: flat
// in RESP2, [member, score] pairs in RESP3.
func writeScored(c *Ctx, res []scored, withScores bool) {
	w := c.W
	pairs := withScores && w.Resp3()
	if withScores && !pairs {
		w.Array(2 * len(res))
	} else {
		w.Array(len(res))
	}
	for _, r := range res {
		if pairs {
			w.Array(2)
		}
		writeElem(w, r.member)
		if withScores {
			w.Double(r.score)
		}
	}
}

// storeScored stores res as the sorted set dst and replies its size, or
// deletes dst and replies 0 when res is empty, with Redis's events: event
// on dst when stored, "del" when an existing dst was removed. res may
// alias the source set, which is not changed here (it may be dst itself:
// the new set replaces it only when complete).
//
// skiplist says whether the result starts as a skiplist, as Redis decides
// from the whole result for ZUNIONSTORE and friends and from the count for
// ZRANGESTORE by rank; otherwise it starts as a listpack and converts when
// an insertion passes the limits. The difference shows in -0 scores, which
// a listpack stores as 0 and a skiplist keeps.
func storeScored(c *Ctx, dst []byte, res []scored, event string, skiplist bool) {
	if len(res) == 0 {
		c.W.Int(0)
		if c.DB.Delete(dst) {
			c.KeyChanged(EventGeneric, "del", dst)
		}
		return
	}
	z := types.NewZSet()
	lim := zsetLimits(c)
	if skiplist {
		lim = types.Limits{} // the first insertion converts
	}
	var mb [24]byte
	for _, r := range res {
		z.Add(r.member.AppendTo(mb[:0]), r.score, 0, lim)
	}
	storeZSet(c, dst, z)
	c.W.Int(int64(z.Len()))
	c.KeyChanged(EventZSet, event, dst)
}

// propagateStoredLex logs what ZRANGESTORE ... BYLEX stored under dst as
// DEL and ZADD in the order it was inserted (so the listpack converts at
// the same member), or as DEL when it stored nothing: which members a lex
// range spans is defined only when all scores are equal, and otherwise
// depends on the skiplist's random levels (invariant 3).
func propagateStoredLex(c *Ctx, dst []byte, res []scored) {
	c.Propagate(cmdName("del"), dst)
	for len(res) > 0 {
		n := min(len(res), effectBatch)
		args := make([][]byte, 0, 2+2*n)
		args = append(args, cmdName("zadd"), dst)
		for _, r := range res[:n] {
			args = append(args, scoreArg(r.score), r.member.AppendTo(nil))
		}
		c.Propagate(args...)
		res = res[n:]
	}
}

// scoreArg formats a score so that ZADD parses it back to the same double.
func scoreArg(f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return []byte("inf")
	case math.IsInf(f, -1):
		return []byte("-inf")
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 64)
}

func cmdZRemRangeByRank(c *Ctx)  { zremrangeGeneric(c, zrangeRank) }
func cmdZRemRangeByScore(c *Ctx) { zremrangeGeneric(c, zrangeScore) }
func cmdZRemRangeByLex(c *Ctx)   { zremrangeGeneric(c, zrangeLex) }

// parseZRemRange parses ZREMRANGEBYRANK/BYSCORE/BYLEX's range (arguments
// 2 and 3), replying the error and returning false on a bad one. The
// query selects every member of the range (collect).
func parseZRemRange(c *Ctx, kind zrangeKind) (zrangeQuery, bool) {
	q := zrangeQuery{kind: kind, limit: -1}
	var ok bool
	switch kind {
	case zrangeRank:
		if q.start, ok = c.Int(2); ok {
			q.end, ok = c.Int(3)
		}
	case zrangeScore:
		q.score, ok = parseScoreRange(c, c.Args[2], c.Args[3])
	case zrangeLex:
		q.lex, ok = parseLexRange(c, c.Args[2], c.Args[3])
	}
	return q, ok
}

// zremrangeGeneric is ZREMRANGEBYRANK/BYSCORE/BYLEX key min max: the range
// is parsed before the key is looked up.
func zremrangeGeneric(c *Ctx, kind zrangeKind) {
	key := c.Args[1]
	q, ok := parseZRemRange(c, kind)
	if !ok {
		return
	}
	z := orZero(c, lookupZSetWrite)
	if z == nil {
		return
	}
	var removed int
	var event string
	switch kind {
	case zrangeRank:
		start, end, nonEmpty := clampRanks(q.start, q.end, int64(z.Len()))
		if nonEmpty {
			removed = z.RemoveRangeByRank(int(start), int(end))
		}
		event = "zremrangebyrank"
	case zrangeScore:
		removed = z.RemoveRangeByScore(q.score)
		event = "zremrangebyscore"
	case zrangeLex:
		// Which members a lex range spans is defined only when all scores
		// are equal; otherwise it depends on the skiplist's random levels,
		// so the log gets the members removed, as ZREM (invariant 3).
		var doomed [][]byte
		z.RangeByLex(q.lex, false, 0, -1, func(m types.Elem, _ float64) bool {
			doomed = append(doomed, m.AppendTo(nil))
			return true
		})
		removed = z.RemoveRangeByLex(q.lex)
		propagateBatched(c, "zrem", key, doomed)
		event = "zremrangebylex"
	}
	if removed > 0 {
		c.KeyChanged(EventZSet, event, key)
		deleteIfEmpty(c, key, z)
	}
	c.W.Int(int64(removed))
}
