package types

import (
	"math"
	"math/rand/v2"
	"unsafe"
)

// ZSet is a sorted set value, ordered by score then member bytes as Redis
// orders it. It starts as a listpack of member, score pairs in that order
// and converts, never back, to a skiplist (with a member dict) when a
// member longer than Limits.Value is added or the count would exceed
// Limits.Entries, as Redis 7.0's zsetAdd does. NaN is never stored.
type ZSet struct {
	lp []byte // member, score, member, score ... sorted; unused once sl is set
	sl *skiplist
}

// NewZSet returns an empty sorted set in the listpack encoding.
func NewZSet() *ZSet { return &ZSet{} }

// Len is the number of members (ZCARD).
func (z *ZSet) Len() int {
	if z.sl != nil {
		return z.sl.length
	}
	return lpCount(z.lp) / 2
}

// Encoding is the name OBJECT ENCODING reports.
func (z *ZSet) Encoding() string {
	if z.sl != nil {
		return "skiplist"
	}
	return "listpack"
}

// lpFind returns the offset of member's entry and its score, or -1.
func (z *ZSet) lpFind(member []byte) (int, float64) {
	pos, _ := lpFindPair(z.lp, member)
	if pos < 0 {
		return -1, 0
	}
	s, _ := lpScore(z.lp, pos+lpEntrySize(z.lp, pos))
	return pos, s
}

// Score returns member's score (ZSCORE).
func (z *ZSet) Score(member []byte) (float64, bool) {
	if z.sl != nil {
		i, ok := z.sl.dict.find(member)
		if !ok {
			return 0, false
		}
		return z.sl.nodes[z.sl.dict.entries[i].val].score, true
	}
	pos, s := z.lpFind(member)
	return s, pos >= 0
}

// AddFlags are ZADD's options.
type AddFlags uint8

// The ZADD options.
const (
	AddNX AddFlags = 1 << iota
	AddXX
	AddGT
	AddLT
	AddIncr
)

// AddResult says what Add did, for ZADD's reply (CH counts Added and
// Updated; INCR replies nil on Skipped).
type AddResult uint8

// The outcomes of Add.
const (
	Added     AddResult = iota // the member was new
	Updated                    // the score changed
	Unchanged                  // the member exists with that score already
	Skipped                    // NX/XX/GT/LT refused the change
	NaNScore                   // INCR produced NaN; nothing changed
)

// Add applies one ZADD member with flags (the caller has rejected flag
// combinations Redis refuses), returning the outcome and the member's score
// afterwards.
func (z *ZSet) Add(member []byte, score float64, flags AddFlags, lim Limits) (AddResult, float64) {
	cur, exists := z.Score(member)
	if exists {
		if flags&AddNX != 0 {
			return Skipped, cur
		}
		if flags&AddIncr != 0 {
			score += cur
			if math.IsNaN(score) {
				return NaNScore, cur
			}
		}
		if (flags&AddLT != 0 && score >= cur) || (flags&AddGT != 0 && score <= cur) {
			return Skipped, cur
		}
		if score == cur {
			return Unchanged, cur
		}
		z.update(member, score)
		return Updated, score
	}
	if flags&AddXX != 0 {
		return Skipped, 0
	}
	if z.sl == nil && (z.Len()+1 > lim.Entries || len(member) > lim.Value) {
		z.convert()
	}
	z.insert(member, score)
	return Added, score
}

// insert adds a member known to be absent.
func (z *ZSet) insert(member []byte, score float64) {
	if z.sl != nil {
		e := z.sl.dict.insert(member, 0)
		z.sl.dict.entries[e].val = z.sl.insert(score, e)
		return
	}
	pos := 0
	for pos < len(z.lp) {
		m, next := lpGet(z.lp, pos)
		s, after := lpScore(z.lp, next)
		if s > score || (s == score && m.Compare(member) > 0) {
			break
		}
		pos = after
	}
	z.lp = lpInsert(z.lp, pos, strVal(member))
	z.lp = lpInsert(z.lp, pos+lpEntrySize(z.lp, pos), scoreVal(score))
}

// update moves an existing member to a new score.
func (z *ZSet) update(member []byte, score float64) {
	if z.sl != nil {
		i, _ := z.sl.dict.find(member)
		e := &z.sl.dict.entries[i]
		z.sl.unlink(e.val)
		e.val = z.sl.insert(score, i)
		return
	}
	z.Remove(member)
	z.insert(member, score)
}

// convert moves the listpack into a skiplist.
func (z *ZSet) convert() {
	sl := newSkiplist(z.Len())
	var buf []byte
	for pos := 0; pos < len(z.lp); {
		var m Elem
		var s float64
		m, pos = lpGet(z.lp, pos)
		s, pos = lpScore(z.lp, pos)
		buf = m.AppendTo(buf[:0])
		e := sl.dict.insert(buf, 0)
		sl.dict.entries[e].val = sl.insert(s, e)
	}
	z.sl, z.lp = sl, nil
}

// Remove deletes member, reporting whether it was present (ZREM).
func (z *ZSet) Remove(member []byte) bool {
	if z.sl != nil {
		i, ok := z.sl.dict.find(member)
		if !ok {
			return false
		}
		z.sl.unlink(z.sl.dict.entries[i].val)
		z.sl.dict.remove(i)
		return true
	}
	pos, _ := z.lpFind(member)
	if pos < 0 {
		return false
	}
	z.lp = lpDelete(z.lp, pos, 2)
	return true
}

// zpos is a member visited by countBefore; its bytes are fetched only when
// a predicate asks (score ties), which keeps skiplist descents to the
// nodes and levels arrays.
type zpos struct {
	sl *skiplist
	n  uint32
	e  Elem // the member, for the listpack
}

func (p zpos) member() Elem {
	if p.sl != nil {
		return Elem{S: p.sl.member(p.n)}
	}
	return p.e
}

// countBefore counts members for which before(member, score) holds; before
// must be true for a prefix of the order. O(log n) for the skiplist.
func (z *ZSet) countBefore(before func(p zpos, score float64) bool) int {
	if z.sl != nil {
		sl := z.sl
		return sl.countBefore(func(n uint32, score float64) bool {
			return before(zpos{sl: sl, n: n}, score)
		})
	}
	c := 0
	z.each(0, false, func(m Elem, s float64) bool {
		if !before(zpos{e: m}, s) {
			return false
		}
		c++
		return true
	})
	return c
}

// each walks the members from 0-based rank start (counted from the end
// when reverse) until fn returns false.
func (z *ZSet) each(start int, reverse bool, fn func(member Elem, score float64) bool) {
	n := z.Len()
	if start < 0 || start >= n {
		return
	}
	if z.sl != nil {
		sl := z.sl
		r := start
		if reverse {
			r = n - 1 - start
		}
		for x := sl.byRank(r); x != 0; {
			if !fn(Elem{S: sl.member(x)}, sl.nodes[x].score) {
				return
			}
			if reverse {
				x = sl.nodes[x].back
			} else {
				x = sl.lv(x, 0).next
			}
		}
		return
	}
	if !reverse {
		for pos := lpSeek(z.lp, 2*n, 2*start); pos < len(z.lp); {
			var m Elem
			var s float64
			m, pos = lpGet(z.lp, pos)
			s, pos = lpScore(z.lp, pos)
			if !fn(m, s) {
				return
			}
		}
		return
	}
	for pos := lpSeek(z.lp, 2*n, 2*(n-start)); pos > 0; {
		spos := lpPrev(z.lp, pos)
		pos = lpPrev(z.lp, spos)
		m, _ := lpGet(z.lp, pos)
		s, _ := lpScore(z.lp, spos)
		if !fn(m, s) {
			return
		}
	}
}

// Each calls fn for every member in ascending order until fn returns false.
func (z *ZSet) Each(fn func(member Elem, score float64) bool) { z.each(0, false, fn) }

// Rank returns member's 0-based rank, from the highest score when reverse,
// and its score (ZRANK, ZREVRANK). O(log n) for the skiplist.
func (z *ZSet) Rank(member []byte, reverse bool) (int, float64, bool) {
	score, ok := z.Score(member)
	if !ok {
		return 0, 0, false
	}
	r := z.countBefore(func(p zpos, s float64) bool {
		return s < score || (s == score && p.member().Compare(member) < 0)
	})
	if reverse {
		r = z.Len() - 1 - r
	}
	return r, score, true
}

// RangeByRank calls fn for ranks start..stop (0-based, inclusive, already
// clamped by the caller to 0 <= start <= stop < Len), counted from the
// highest score when reverse.
func (z *ZSet) RangeByRank(start, stop int, reverse bool, fn func(member Elem, score float64) bool) {
	if start < 0 || start > stop {
		return
	}
	left := stop - start + 1
	z.each(start, reverse, func(m Elem, s float64) bool {
		left--
		return fn(m, s) && left > 0
	})
}

// ScoreRange is a ZRANGEBYSCORE interval; Min and Max may be infinite.
type ScoreRange struct {
	Min, Max     float64
	MinEx, MaxEx bool // exclusive bounds, written "(x"
}

// LexBound is one end of a ZRANGEBYLEX interval: "-" (Inf < 0), "+"
// (Inf > 0), "[x" or "(x" (Ex).
type LexBound struct {
	Val []byte
	Ex  bool
	Inf int
}

// ParseLexBound parses "-", "+", "[x" or "(x"; anything else is invalid,
// for which Redis replies "ERR min or max not valid string range item".
func ParseLexBound(b []byte) (LexBound, bool) {
	switch {
	case len(b) == 1 && b[0] == '-':
		return LexBound{Inf: -1}, true
	case len(b) == 1 && b[0] == '+':
		return LexBound{Inf: 1}, true
	case len(b) > 0 && b[0] == '[':
		return LexBound{Val: b[1:]}, true
	case len(b) > 0 && b[0] == '(':
		return LexBound{Val: b[1:], Ex: true}, true
	}
	return LexBound{}, false
}

// LexRange is a ZRANGEBYLEX interval.
type LexRange struct{ Min, Max LexBound }

// scoreSpan returns the rank interval [lo, hi) of r.
func (z *ZSet) scoreSpan(r ScoreRange) (int, int) {
	lo := z.countBefore(func(_ zpos, s float64) bool { return s < r.Min || (r.MinEx && s == r.Min) })
	hi := z.countBefore(func(_ zpos, s float64) bool { return s < r.Max || (!r.MaxEx && s == r.Max) })
	return lo, max(lo, hi)
}

// below returns how many members order before bound b; incl says whether a
// member equal to the bound's value counts as before.
func (z *ZSet) lexBelow(b LexBound, incl bool) int {
	switch {
	case b.Inf < 0:
		return 0
	case b.Inf > 0:
		return z.Len()
	}
	return z.countBefore(func(p zpos, _ float64) bool {
		c := p.member().Compare(b.Val)
		return c < 0 || (incl && c == 0)
	})
}

// lexSpan returns the rank interval [lo, hi) of r. Like Redis, it assumes
// all members have the same score.
func (z *ZSet) lexSpan(r LexRange) (int, int) {
	lo := z.lexBelow(r.Min, r.Min.Ex)
	hi := z.lexBelow(r.Max, !r.Max.Ex)
	return lo, max(lo, hi)
}

// CountByScore is ZCOUNT, O(log n) for the skiplist.
func (z *ZSet) CountByScore(r ScoreRange) int {
	lo, hi := z.scoreSpan(r)
	return hi - lo
}

// CountByLex is ZLEXCOUNT, O(log n) for the skiplist.
func (z *ZSet) CountByLex(r LexRange) int {
	lo, hi := z.lexSpan(r)
	return hi - lo
}

// rangeSpan calls fn for ranks [lo, hi) after skipping offset of them and
// stopping after count (count < 0: no limit), in reverse when asked.
func (z *ZSet) rangeSpan(lo, hi int, reverse bool, offset, count int, fn func(member Elem, score float64) bool) {
	if offset < 0 || count == 0 || offset >= hi-lo {
		return
	}
	n := hi - lo - offset
	if count >= 0 && count < n {
		n = count
	}
	start := lo + offset
	if reverse {
		start = z.Len() - hi + offset
	}
	z.RangeByRank(start, start+n-1, reverse, fn)
}

// RangeByScore calls fn for the members in r, ascending (descending when
// reverse), after skipping offset and for at most count (< 0: all): ZRANGE
// BYSCORE [REV] [LIMIT offset count].
func (z *ZSet) RangeByScore(r ScoreRange, reverse bool, offset, count int, fn func(member Elem, score float64) bool) {
	lo, hi := z.scoreSpan(r)
	z.rangeSpan(lo, hi, reverse, offset, count, fn)
}

// RangeByLex is RangeByScore for a lexicographic range (ZRANGE BYLEX).
func (z *ZSet) RangeByLex(r LexRange, reverse bool, offset, count int, fn func(member Elem, score float64) bool) {
	lo, hi := z.lexSpan(r)
	z.rangeSpan(lo, hi, reverse, offset, count, fn)
}

// ScoredMember is a member copied out of a sorted set.
type ScoredMember struct {
	Member []byte
	Score  float64
}

// removeRanks removes the members of ranks [lo, hi) and returns how many.
func (z *ZSet) removeRanks(lo, hi int) int {
	if hi <= lo {
		return 0
	}
	var doomed [][]byte
	z.RangeByRank(lo, hi-1, false, func(m Elem, _ float64) bool {
		doomed = append(doomed, m.AppendTo(nil))
		return true
	})
	for _, m := range doomed {
		z.Remove(m)
	}
	return len(doomed)
}

// RemoveRangeByRank is ZREMRANGEBYRANK over clamped ranks start..stop.
func (z *ZSet) RemoveRangeByRank(start, stop int) int { return z.removeRanks(start, stop+1) }

// RemoveRangeByScore is ZREMRANGEBYSCORE.
func (z *ZSet) RemoveRangeByScore(r ScoreRange) int { return z.removeRanks(z.scoreSpan(r)) }

// RemoveRangeByLex is ZREMRANGEBYLEX.
func (z *ZSet) RemoveRangeByLex(r LexRange) int { return z.removeRanks(z.lexSpan(r)) }

// Pop removes and returns up to count members with the lowest scores (the
// highest when max), in pop order (ZPOPMIN, ZPOPMAX).
func (z *ZSet) Pop(count int, highest bool) []ScoredMember {
	count = min(count, z.Len())
	if count <= 0 {
		return nil
	}
	out := make([]ScoredMember, 0, count)
	z.RangeByRank(0, count-1, highest, func(m Elem, s float64) bool {
		out = append(out, ScoredMember{Member: m.AppendTo(nil), Score: s})
		return true
	})
	for _, sm := range out {
		z.Remove(sm.Member)
	}
	return out
}

// Random calls fn with count members chosen at random, for ZRANDMEMBER:
// count > 0 gives min(count, Len) distinct members, count < 0 gives -count
// members that may repeat.
func (z *ZSet) Random(count int, fn func(member Elem, score float64)) {
	n := z.Len()
	switch {
	case n == 0:
	case count < 0 && z.sl != nil:
		for ; count < 0; count++ {
			e := z.sl.dict.random()
			fn(Elem{S: z.sl.dict.key(e)}, z.sl.nodes[z.sl.dict.entries[e].val].score)
		}
	case count < 0:
		offs := lpPairOffsets(z.lp)
		for ; count < 0; count++ {
			m, next := lpGet(z.lp, offs[rand.IntN(len(offs))])
			s, _ := lpScore(z.lp, next)
			fn(m, s)
		}
	case count >= n:
		z.Each(func(m Elem, s float64) bool { fn(m, s); return true })
	case z.sl != nil:
		for _, e := range z.sl.dict.randomDistinct(count) {
			fn(Elem{S: z.sl.dict.key(e)}, z.sl.nodes[z.sl.dict.entries[e].val].score)
		}
	default:
		need, left := count, n
		z.Each(func(m Elem, s float64) bool {
			if rand.IntN(left) < need {
				fn(m, s)
				need--
			}
			left--
			return need > 0
		})
	}
}

// Scan is one ZSCAN step; see Hash.Scan for the cursor guarantee. The
// listpack returns everything at once, as Redis does.
func (z *ZSet) Scan(cursor uint64, fn func(member Elem, score float64)) uint64 {
	if z.sl != nil {
		d := z.sl.dict
		return d.scan(cursor, func(e uint32) { fn(Elem{S: d.key(e)}, z.sl.nodes[d.entries[e].val].score) })
	}
	z.Each(func(m Elem, s float64) bool { fn(m, s); return true })
	return 0
}

// Copy returns a deep copy, for COPY.
func (z *ZSet) Copy() any {
	c := &ZSet{}
	if z.sl != nil {
		c.sl = z.sl.clone()
	} else {
		c.lp = append([]byte(nil), z.lp...)
	}
	return c
}

// MemSize approximates the bytes the value occupies, for MEMORY USAGE.
func (z *ZSet) MemSize() int {
	n := int(unsafe.Sizeof(*z))
	if z.sl != nil {
		return n + z.sl.memSize()
	}
	return n + cap(z.lp)
}
