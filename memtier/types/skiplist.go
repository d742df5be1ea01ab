package types

import (
	"bytes"
	"math/rand/v2"
	"unsafe"
)

const (
	zslMaxLevel = 32
	zslP        = 0.25
)

// zslNode is a skiplist node. Nodes and their levels live in slices and
// link by index (0 is the header, hence "none"), so the skiplist holds no
// pointers for the GC; the member bytes stay in the dict's arena, shared
// with the member -> node index.
type zslNode struct {
	score  float64
	entry  uint32 // the member's dict entry
	back   uint32 // previous node; 0 for the first (or, when free, the next free node)
	lvl    uint32 // first of this node's levels in skiplist.levels
	height uint32
}

// zslLevel is one forward link. It caches the score of the node it points
// to (node scores never change while linked: an update unlinks and
// re-inserts), so a descent compares scores without touching the next
// node, which halves the cache misses of inserts and rank queries.
type zslLevel struct {
	next  uint32 // following node at this level, 0 for none
	span  uint32 // ranks crossed by following next
	lvl   uint32 // the following node's level block (its zslNode.lvl)
	_     uint32
	score float64 // the following node's score
}

// skiplist is Redis's sorted set skiplist (ordered by score, then member
// bytes, with spans for O(log n) ranks) plus the member dict.
type skiplist struct {
	nodes    []zslNode
	levels   []zslLevel
	freeNode uint32                  // index+1 of a free node, chained by back
	freeLv   [zslMaxLevel + 1]uint32 // per height, index+1 of a free level block, chained by next
	tail     uint32
	level    int
	length   int
	dict     *dict[uint32] // member -> node index
}

func newSkiplist(hint int) *skiplist {
	sl := &skiplist{level: 1, dict: newDict[uint32](hint)}
	sl.nodes = make([]zslNode, 1, hint+1)
	sl.nodes[0] = zslNode{lvl: 0, height: zslMaxLevel}
	sl.levels = make([]zslLevel, zslMaxLevel, zslMaxLevel+hint+hint/3)
	sl.dict.onMove = sl.entryMoved
	return sl
}

func (sl *skiplist) entryMoved(from, to uint32) {
	sl.nodes[sl.dict.entries[to].val].entry = to
}

func (sl *skiplist) lv(n uint32, i int) *zslLevel {
	return &sl.levels[int(sl.nodes[n].lvl)+i]
}

func (sl *skiplist) member(n uint32) []byte { return sl.dict.key(sl.nodes[n].entry) }

func randomLevel() int {
	l := 1
	for l < zslMaxLevel && rand.Float64() < zslP {
		l++
	}
	return l
}

// before reports whether the node l links to orders before (score, member).
func (sl *skiplist) before(l *zslLevel, score float64, member []byte) bool {
	return l.score < score || (l.score == score && bytes.Compare(sl.member(l.next), member) < 0)
}

func (sl *skiplist) allocNode(h int) uint32 {
	var start uint32
	if f := sl.freeLv[h]; f != 0 {
		start = f - 1
		sl.freeLv[h] = sl.levels[start].next
	} else {
		start = uint32(len(sl.levels))
		for i := 0; i < h; i++ {
			sl.levels = append(sl.levels, zslLevel{})
		}
	}
	for i := 0; i < h; i++ {
		sl.levels[int(start)+i] = zslLevel{}
	}
	var n uint32
	if sl.freeNode != 0 {
		n = sl.freeNode - 1
		sl.freeNode = sl.nodes[n].back
	} else {
		sl.nodes = append(sl.nodes, zslNode{})
		n = uint32(len(sl.nodes) - 1)
	}
	sl.nodes[n] = zslNode{lvl: start, height: uint32(h)}
	return n
}

func (sl *skiplist) freeNodeAt(n uint32) {
	nd := sl.nodes[n]
	sl.levels[nd.lvl].next = sl.freeLv[nd.height]
	sl.freeLv[nd.height] = nd.lvl + 1
	sl.nodes[n] = zslNode{back: sl.freeNode}
	sl.freeNode = n + 1
}

// insert links a new node for (score, entry) whose member is not present.
// Descents track the level block of the current node (xl) next to its
// index, so moving forward reads only the levels array.
func (sl *skiplist) insert(score float64, entry uint32) uint32 {
	var update [zslMaxLevel]uint32 // level block of the predecessor per level
	var rank [zslMaxLevel]uint32
	member := sl.dict.key(entry)
	x, xl := uint32(0), uint32(0)
	for i := sl.level - 1; i >= 0; i-- {
		if i < sl.level-1 {
			rank[i] = rank[i+1]
		}
		for {
			l := &sl.levels[int(xl)+i]
			if l.next == 0 || !sl.before(l, score, member) {
				break
			}
			rank[i] += l.span
			x, xl = l.next, l.lvl
		}
		update[i] = xl
	}
	h := randomLevel()
	if h > sl.level {
		for i := sl.level; i < h; i++ {
			rank[i] = 0
			update[i] = 0
			sl.levels[i].span = uint32(sl.length)
		}
		sl.level = h
	}
	n := sl.allocNode(h)
	nb := sl.nodes[n].lvl
	sl.nodes[n].score, sl.nodes[n].entry = score, entry
	for i := 0; i < h; i++ {
		ul := &sl.levels[int(update[i])+i]
		nl := &sl.levels[int(nb)+i]
		nl.next, nl.lvl, nl.score = ul.next, ul.lvl, ul.score
		ul.next, ul.lvl, ul.score = n, nb, score
		nl.span = ul.span - (rank[0] - rank[i])
		ul.span = rank[0] - rank[i] + 1
	}
	for i := h; i < sl.level; i++ {
		sl.levels[int(update[i])+i].span++
	}
	sl.nodes[n].back = x // 0 when first: the header is "none"
	if next := sl.levels[nb].next; next != 0 {
		sl.nodes[next].back = n
	} else {
		sl.tail = n
	}
	sl.length++
	return n
}

// unlink removes node n and frees it.
func (sl *skiplist) unlink(n uint32) {
	var update [zslMaxLevel]uint32
	score, member := sl.nodes[n].score, sl.member(n)
	xl := uint32(0)
	for i := sl.level - 1; i >= 0; i-- {
		for {
			l := &sl.levels[int(xl)+i]
			if l.next == 0 || !sl.before(l, score, member) {
				break
			}
			xl = l.lvl
		}
		update[i] = xl
	}
	nb := sl.nodes[n].lvl
	for i := 0; i < sl.level; i++ {
		ul := &sl.levels[int(update[i])+i]
		if ul.next == n {
			nl := &sl.levels[int(nb)+i]
			ul.span += nl.span - 1
			ul.next, ul.lvl, ul.score = nl.next, nl.lvl, nl.score
		} else {
			ul.span--
		}
	}
	if next := sl.levels[nb].next; next != 0 {
		sl.nodes[next].back = sl.nodes[n].back
	} else {
		sl.tail = sl.nodes[n].back
	}
	for sl.level > 1 && sl.levels[sl.level-1].next == 0 {
		sl.level--
	}
	sl.length--
	sl.freeNodeAt(n)
}

// countBefore returns how many nodes satisfy before(node, score), a
// predicate true for a prefix of the order (O(log n)).
func (sl *skiplist) countBefore(before func(n uint32, score float64) bool) int {
	rank := 0
	xl := uint32(0)
	for i := sl.level - 1; i >= 0; i-- {
		for {
			l := &sl.levels[int(xl)+i]
			if l.next == 0 || !before(l.next, l.score) {
				break
			}
			rank += int(l.span)
			xl = l.lvl
		}
	}
	return rank
}

// byRank returns the node of 0-based rank r (O(log n)).
func (sl *skiplist) byRank(r int) uint32 {
	target := uint32(r + 1)
	var traversed uint32
	x, xl := uint32(0), uint32(0)
	for i := sl.level - 1; i >= 0; i-- {
		for {
			l := &sl.levels[int(xl)+i]
			if l.next == 0 || traversed+l.span > target {
				break
			}
			traversed += l.span
			x, xl = l.next, l.lvl
		}
		if traversed == target {
			return x
		}
	}
	return 0
}

func (sl *skiplist) memSize() int {
	return int(unsafe.Sizeof(*sl)) + cap(sl.nodes)*int(unsafe.Sizeof(zslNode{})) +
		cap(sl.levels)*int(unsafe.Sizeof(zslLevel{})) + int(unsafe.Sizeof(*sl.dict)) + sl.dict.memSize()
}

func (sl *skiplist) clone() *skiplist {
	c := *sl
	c.nodes = append([]zslNode(nil), sl.nodes...)
	c.levels = append([]zslLevel(nil), sl.levels...)
	c.dict = sl.dict.clone()
	c.dict.onMove = c.entryMoved
	return &c
}
