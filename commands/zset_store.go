package commands

import (
	"bytes"
	"cmp"
	"math"
	"slices"

	"github.com/structd/structd/internal/resp"
	"github.com/structd/structd/memtier"
	"github.com/structd/structd/memtier/types"
)

// Set operations over sorted sets, as Redis's zunionInterDiffGenericCommand:
// ZUNION ZINTER ZDIFF, their STORE forms and ZINTERCARD. Plain sets are
// accepted as inputs, each member scoring 1.

// zsetOp is the operation.
type zsetOp uint8

const (
	zsetUnion zsetOp = iota
	zsetInter
	zsetDiff
)

// zsetAggregate is how the scores of a member found in several inputs
// combine (AGGREGATE SUM|MIN|MAX).
type zsetAggregate uint8

const (
	aggregateSum zsetAggregate = iota
	aggregateMin
	aggregateMax
)

// zsetSource is one input: a sorted set, a set, or nothing (a missing key).
type zsetSource struct {
	z      *types.ZSet
	s      *types.Set
	weight float64
}

func (src *zsetSource) len() int {
	switch {
	case src.z != nil:
		return src.z.Len()
	case src.s != nil:
		return src.s.Len()
	}
	return 0
}

// each calls fn for every member with its (unweighted) score.
func (src *zsetSource) each(fn func(m types.Elem, score float64) bool) {
	switch {
	case src.z != nil:
		src.z.Each(fn)
	case src.s != nil:
		src.s.Each(func(m types.Elem) bool { return fn(m, 1) })
	}
}

// score returns member's (unweighted) score in the input.
func (src *zsetSource) score(member []byte) (float64, bool) {
	switch {
	case src.z != nil:
		return src.z.Score(member)
	case src.s != nil:
		return 1, src.s.Contains(member)
	}
	return 0, false
}

// same reports whether two inputs are the same value (a key given twice).
func (src *zsetSource) same(o *zsetSource) bool {
	return (src.z != nil && src.z == o.z) || (src.s != nil && src.s == o.s)
}

// aggregate folds val into *target as Redis's zunionInterAggregate: a sum
// of opposite infinities is 0.
func (a zsetAggregate) fold(target *float64, val float64) {
	switch a {
	case aggregateSum:
		*target += val
		if math.IsNaN(*target) {
			*target = 0
		}
	case aggregateMin:
		if val < *target {
			*target = val
		}
	case aggregateMax:
		if val > *target {
			*target = val
		}
	}
}

// weighted is weight * score, with NaN (0 * inf) read as 0.
func (src *zsetSource) weighted(score float64) float64 {
	v := src.weight * score
	if math.IsNaN(v) {
		return 0
	}
	return v
}

func cmdZUnion(c *Ctx)      { zsetOpCommand(c, nil, 1, zsetUnion, false) }
func cmdZInter(c *Ctx)      { zsetOpCommand(c, nil, 1, zsetInter, false) }
func cmdZDiff(c *Ctx)       { zsetOpCommand(c, nil, 1, zsetDiff, false) }
func cmdZInterCard(c *Ctx)  { zsetOpCommand(c, nil, 1, zsetInter, true) }
func cmdZUnionStore(c *Ctx) { zsetOpCommand(c, c.Args[1], 2, zsetUnion, false) }
func cmdZInterStore(c *Ctx) { zsetOpCommand(c, c.Args[1], 2, zsetInter, false) }
func cmdZDiffStore(c *Ctx)  { zsetOpCommand(c, c.Args[1], 2, zsetDiff, false) }

// zsetOpCommand runs every form: numkeys is argument at, dst is nil for the
// forms that reply the result, cardOnly is ZINTERCARD. Like Redis it checks
// the input types before it parses the options.
func zsetOpCommand(c *Ctx, dst []byte, at int, op zsetOp, cardOnly bool) {
	n, ok := c.Int(at)
	if !ok {
		return
	}
	if n < 1 {
		c.W.Error("ERR at least 1 input key is needed for '" + c.Cmd.Name + "' command")
		return
	}
	if n > int64(len(c.Args)-at-1) {
		c.W.Error(ErrSyntax)
		return
	}
	numkeys := int(n)
	srcs := make([]zsetSource, numkeys)
	for i := range srcs {
		key := c.Args[at+1+i]
		// Sources are reads, counting keyspace hits and misses, in the
		// STORE forms too (Redis 7.0's lookupKeyRead).
		o := c.DB.Get(key)
		srcs[i].weight = 1
		if o == nil {
			continue
		}
		switch o.Type {
		case memtier.TypeZSet:
			srcs[i].z = o.Payload().(*types.ZSet)
		case memtier.TypeSet:
			srcs[i].s = o.Payload().(*types.Set)
		default:
			c.W.Error(ErrWrongType)
			return
		}
	}
	agg := aggregateSum
	withScores := false
	limit := int64(0)
	for j := at + 1 + numkeys; j < len(c.Args); {
		left := len(c.Args) - j
		switch {
		case op != zsetDiff && !cardOnly && left >= numkeys+1 && c.ArgIs(j, "weights"):
			j++
			for i := range srcs {
				w, ok := parseScore(c.Args[j])
				if !ok {
					c.W.Error("ERR weight value is not a float")
					return
				}
				srcs[i].weight = w
				j++
			}
		case op != zsetDiff && !cardOnly && left >= 2 && c.ArgIs(j, "aggregate"):
			switch {
			case c.ArgIs(j+1, "sum"):
				agg = aggregateSum
			case c.ArgIs(j+1, "min"):
				agg = aggregateMin
			case c.ArgIs(j+1, "max"):
				agg = aggregateMax
			default:
				c.W.Error(ErrSyntax)
				return
			}
			j += 2
		case dst == nil && !cardOnly && c.ArgIs(j, "withscores"):
			withScores = true
			j++
		case cardOnly && left >= 2 && c.ArgIs(j, "limit"):
			v, ok := resp.ParseInt(c.Args[j+1])
			if !ok || v < 0 {
				c.W.Error("ERR LIMIT can't be negative")
				return
			}
			limit = v
			j += 2
		default:
			c.W.Error(ErrSyntax)
			return
		}
	}
	if op != zsetDiff {
		// Smallest first, as Redis orders the inputs (a stable sort, so
		// inputs of equal size keep their order and sums add up alike).
		slices.SortStableFunc(srcs, func(a, b zsetSource) int { return cmp.Compare(a.len(), b.len()) })
	}
	if cardOnly {
		c.W.Int(zinterCard(srcs, agg, limit))
		return
	}
	var res []scored
	switch op {
	case zsetUnion:
		res = zunion(srcs, agg)
	case zsetInter:
		res = zinter(srcs, agg)
	case zsetDiff:
		res = zdiff(srcs)
	}
	slices.SortFunc(res, func(a, b scored) int {
		if a.score != b.score {
			return cmp.Compare(a.score, b.score)
		}
		return bytes.Compare(a.member.S, b.member.S)
	})
	if dst == nil {
		writeScored(c, res, withScores)
		return
	}
	event := [...]string{zsetUnion: "zunionstore", zsetInter: "zinterstore", zsetDiff: "zdiffstore"}[op]
	// Redis builds the result as a skiplist and turns it into a listpack
	// only if every member fits.
	lim := zsetLimits(c)
	skiplist := len(res) > lim.Entries
	for _, r := range res {
		skiplist = skiplist || r.member.Len() > lim.Value
	}
	storeScored(c, dst, res, event, skiplist)
}

// ownedElem returns the member as an Elem holding a copy of its bytes.
func ownedElem(m types.Elem) types.Elem { return types.Elem{S: m.AppendTo(nil)} }

// zunion aggregates every input's members, input after input.
func zunion(srcs []zsetSource, agg zsetAggregate) []scored {
	index := map[string]int{}
	var res []scored
	var mb [24]byte
	for i := range srcs {
		src := &srcs[i]
		src.each(func(m types.Elem, s float64) bool {
			v := src.weighted(s)
			b := m.AppendTo(mb[:0])
			if at, found := index[string(b)]; found {
				agg.fold(&res[at].score, v)
				return true
			}
			e := ownedElem(m)
			index[string(e.S)] = len(res)
			res = append(res, scored{e, v})
			return true
		})
	}
	return res
}

// interEach calls fn with each member of the smallest input found in all
// of them, and its aggregated score, until fn returns false.
func interEach(srcs []zsetSource, agg zsetAggregate, fn func(m types.Elem, score float64) bool) {
	if srcs[0].len() == 0 {
		return
	}
	var mb [24]byte
	srcs[0].each(func(m types.Elem, s float64) bool {
		score := srcs[0].weighted(s)
		b := m.AppendTo(mb[:0])
		for j := 1; j < len(srcs); j++ {
			v, found := s, true
			if !srcs[j].same(&srcs[0]) {
				v, found = srcs[j].score(b)
			}
			if !found {
				return true
			}
			// Unlike the first input's, these products keep a NaN (Redis
			// folds them as they are: SUM turns it into 0, MIN and MAX
			// ignore it).
			agg.fold(&score, srcs[j].weight*v)
		}
		return fn(m, score)
	})
}

func zinter(srcs []zsetSource, agg zsetAggregate) []scored {
	var res []scored
	interEach(srcs, agg, func(m types.Elem, s float64) bool {
		res = append(res, scored{ownedElem(m), s})
		return true
	})
	return res
}

// zinterCard counts the intersection, stopping at limit (0: no limit).
func zinterCard(srcs []zsetSource, agg zsetAggregate, limit int64) int64 {
	var n int64
	interEach(srcs, agg, func(types.Elem, float64) bool {
		n++
		return limit == 0 || n < limit
	})
	return n
}

// zdiff keeps the members of the first input found in no other, with
// their scores in the first.
func zdiff(srcs []zsetSource) []scored {
	var res []scored
	var mb [24]byte
	srcs[0].each(func(m types.Elem, s float64) bool {
		b := m.AppendTo(mb[:0])
		for j := 1; j < len(srcs); j++ {
			if srcs[j].same(&srcs[0]) {
				return true
			}
			if _, found := srcs[j].score(b); found {
				return true
			}
		}
		res = append(res, scored{ownedElem(m), s})
		return true
	})
	return res
}
