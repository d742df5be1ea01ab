package types

import "unsafe"

// DefaultListFill is list-max-listpack-size's default: -2, 8 KB nodes.
const DefaultListFill = -2

// sizeSafetyLimit caps nodes of count-limited (positive fill) lists, as
// Redis's SIZE_SAFETY_LIMIT does.
const sizeSafetyLimit = 8192

// qnode is one quicklist node: a listpack of n entries. It is also one
// chunk of the list on disk (list_chunks.go): seq is the chunk's sequence
// number, mod the write generation in which the node last changed.
type qnode struct {
	lp  []byte
	n   int
	seq uint64
	mod uint64
}

// List is a list value: Redis 7.0's quicklist, a sequence of listpack
// nodes, which OBJECT ENCODING always reports as "quicklist". Nodes sit in
// a slice with slack at both ends, so pushes and pops at either end are
// O(1) amortized and indexing walks node counts from the nearer end.
//
// fill is list-max-listpack-size, passed to each write: negative values
// -1..-5 cap a node at 4, 8, 16, 32 or 64 KB; positive values cap its entry
// count (and its size at 8 KB). A node past its cap is split in two.
type List struct {
	buf   []qnode // nodes live in buf[h : h+nn]
	h, nn int
	count int
	ck    listChunks // what changed since the disk tier last wrote the list
}

// NewList returns an empty list.
func NewList() *List { return &List{} }

// Len is the number of elements (LLEN).
func (l *List) Len() int { return l.count }

// Encoding is the name OBJECT ENCODING reports.
func (l *List) Encoding() string { return "quicklist" }

func (l *List) node(i int) *qnode { return &l.buf[l.h+i] }

// fits reports whether a node may hold size more bytes under fill.
func fits(nd *qnode, size, fill int) bool {
	if nd.n == 0 {
		return true
	}
	total := len(nd.lp) + size
	if fill < 0 {
		limit := 4096 << min(-fill-1, 4)
		return total <= limit
	}
	return nd.n < fill && total <= sizeSafetyLimit
}

// oversized reports whether a node should be split.
func oversized(nd *qnode, fill int) bool {
	if nd.n < 2 {
		return false
	}
	if fill < 0 {
		return len(nd.lp) > 4096<<min(-fill-1, 4)
	}
	return nd.n > max(fill, 1) || len(nd.lp) > sizeSafetyLimit
}

// insertNode opens an empty node at position i (0..nn), with a chunk
// sequence number between its neighbours' and marked changed.
func (l *List) insertNode(i int) {
	l.openNode(i)
	nd := l.node(i)
	if seq, ok := l.seqFor(i); ok {
		nd.seq = seq
	} else {
		l.renumber()
	}
	l.touch(nd)
}

// openNode opens an empty node at position i (0..nn), shifting the
// shorter side into the slack.
func (l *List) openNode(i int) {
	if l.nn == 0 {
		l.buf, l.h, l.nn = make([]qnode, 1), 0, 1 // most lists are one node
		return
	}
	front := i < l.nn/2 || i == 0
	if front && l.h == 0 || !front && l.h+l.nn == len(l.buf) {
		nb := make([]qnode, 2*l.nn+4)
		nh := (len(nb) - l.nn) / 2
		copy(nb[nh:], l.buf[l.h:l.h+l.nn])
		l.buf, l.h = nb, nh
	}
	if front {
		copy(l.buf[l.h-1:], l.buf[l.h:l.h+i])
		l.h--
	} else {
		copy(l.buf[l.h+i+1:], l.buf[l.h+i:l.h+l.nn])
	}
	l.nn++
	*l.node(i) = qnode{}
}

// removeNode drops node i.
func (l *List) removeNode(i int) {
	l.chunkGone(l.node(i).seq)
	switch {
	case i == 0:
		l.buf[l.h] = qnode{}
		l.h++
	default:
		copy(l.buf[l.h+i:], l.buf[l.h+i+1:l.h+l.nn])
		l.buf[l.h+l.nn-1] = qnode{}
	}
	l.nn--
	if l.nn == 0 {
		l.buf, l.h = nil, 0
	}
}

// split halves node i when it is past its cap.
func (l *List) split(i, fill int) {
	nd := l.node(i)
	if !oversized(nd, fill) {
		return
	}
	half := nd.n / 2
	pos := lpSeek(nd.lp, nd.n, half)
	right := append([]byte(nil), nd.lp[pos:]...)
	left := append([]byte(nil), nd.lp[:pos]...)
	rn := nd.n - half
	nd.lp, nd.n = left, half
	l.touch(nd)
	l.insertNode(i + 1)
	nr := l.node(i + 1)
	nr.lp, nr.n = right, rn
}

// Push adds v at the head (LPUSH) or the tail (RPUSH).
func (l *List) Push(v []byte, head bool, fill int) {
	val := strVal(v)
	size := val.size()
	if head {
		if l.nn == 0 || !fits(l.node(0), size, fill) {
			l.insertNode(0)
		}
		nd := l.node(0)
		nd.lp = lpInsert(nd.lp, 0, val)
		nd.n++
		l.touch(nd)
	} else {
		if l.nn == 0 || !fits(l.node(l.nn-1), size, fill) {
			l.insertNode(l.nn)
		}
		nd := l.node(l.nn - 1)
		nd.lp = lpAppend(nd.lp, val)
		nd.n++
		l.touch(nd)
	}
	l.count++
}

// Pop removes and returns a copy of the head (or tail) element.
func (l *List) Pop(head bool) ([]byte, bool) {
	if l.count == 0 {
		return nil, false
	}
	i := 0
	if !head {
		i = l.nn - 1
	}
	nd := l.node(i)
	pos := 0
	if !head {
		pos = lpPrev(nd.lp, len(nd.lp))
	}
	e, _ := lpGet(nd.lp, pos)
	v := e.AppendTo(nil)
	l.deleteAt(i, pos)
	return v, true
}

// deleteAt removes the entry at byte offset pos of node i.
func (l *List) deleteAt(i, pos int) {
	nd := l.node(i)
	nd.lp = lpDelete(nd.lp, pos, 1)
	nd.n--
	l.count--
	l.touch(nd)
	if nd.n == 0 {
		l.removeNode(i)
	}
}

// locate returns the node holding element idx (0 <= idx < Len) and the
// element's index within it, walking from the nearer end.
func (l *List) locate(idx int) (int, int) {
	if idx < l.count/2 {
		for i := 0; ; i++ {
			if n := l.node(i).n; idx < n {
				return i, idx
			} else {
				idx -= n
			}
		}
	}
	back := l.count - 1 - idx
	for i := l.nn - 1; ; i-- {
		n := l.node(i).n
		if back < n {
			return i, n - 1 - back
		}
		back -= n
	}
}

// Index returns element idx, 0 <= idx < Len (LINDEX after the caller
// resolves negative indexes).
func (l *List) Index(idx int) (Elem, bool) {
	if idx < 0 || idx >= l.count {
		return Elem{}, false
	}
	i, j := l.locate(idx)
	nd := l.node(i)
	e, _ := lpGet(nd.lp, lpSeek(nd.lp, nd.n, j))
	return e, true
}

// Set replaces element idx (LSET), reporting whether idx was in range.
func (l *List) Set(idx int, v []byte, fill int) bool {
	if idx < 0 || idx >= l.count {
		return false
	}
	i, j := l.locate(idx)
	nd := l.node(i)
	nd.lp = lpReplace(nd.lp, lpSeek(nd.lp, nd.n, j), strVal(v))
	l.touch(nd)
	l.split(i, fill)
	return true
}

// Insert puts v before element idx (0 <= idx <= Len; Len appends).
func (l *List) Insert(idx int, v []byte, fill int) {
	if idx <= 0 || idx >= l.count {
		l.Push(v, idx <= 0, fill)
		return
	}
	i, j := l.locate(idx)
	nd := l.node(i)
	nd.lp = lpInsert(nd.lp, lpSeek(nd.lp, nd.n, j), strVal(v))
	nd.n++
	l.count++
	l.touch(nd)
	l.split(i, fill)
}

// InsertPivot is LINSERT: it inserts v before (or after) the first element
// equal to pivot from the head, returning the new length, or -1 when the
// pivot is absent.
func (l *List) InsertPivot(pivot, v []byte, after bool, fill int) int {
	at := -1
	m := NewMatcher(pivot)
	l.Each(false, func(i int, e Elem) bool {
		if m.Match(e) {
			at = i
			return false
		}
		return true
	})
	if at < 0 {
		return -1
	}
	if after {
		at++
	}
	l.Insert(at, v, fill)
	return l.count
}

// Each calls fn with each element and its index, from the head (or from
// the tail when reverse), until fn returns false.
func (l *List) Each(reverse bool, fn func(i int, e Elem) bool) {
	if !reverse {
		idx := 0
		for i := 0; i < l.nn; i++ {
			nd := l.node(i)
			for pos := 0; pos < len(nd.lp); idx++ {
				var e Elem
				e, pos = lpGet(nd.lp, pos)
				if !fn(idx, e) {
					return
				}
			}
		}
		return
	}
	idx := l.count - 1
	for i := l.nn - 1; i >= 0; i-- {
		nd := l.node(i)
		for pos := len(nd.lp); pos > 0; idx-- {
			pos = lpPrev(nd.lp, pos)
			e, _ := lpGet(nd.lp, pos)
			if !fn(idx, e) {
				return
			}
		}
	}
}

// Range calls fn for elements start..stop (inclusive, already clamped by
// the caller to 0 <= start <= stop < Len), for LRANGE.
func (l *List) Range(start, stop int, fn func(e Elem) bool) {
	if start < 0 || start > stop || start >= l.count {
		return
	}
	i, j := l.locate(start)
	left := stop - start + 1
	for ; i < l.nn; i++ {
		nd := l.node(i)
		pos := lpSeek(nd.lp, nd.n, j)
		j = 0
		for pos < len(nd.lp) {
			var e Elem
			e, pos = lpGet(nd.lp, pos)
			if !fn(e) {
				return
			}
			if left--; left == 0 {
				return
			}
		}
	}
}

// Remove deletes elements equal to v (LREM): the first count from the head
// when count > 0, from the tail when count < 0, all when 0. It returns how
// many went.
func (l *List) Remove(v []byte, count int) int {
	m := NewMatcher(v)
	removed := 0
	limit := count
	if limit < 0 {
		limit = -limit
	}
	if count >= 0 {
		for i := 0; i < l.nn; {
			nd := l.node(i)
			for pos := 0; pos < len(nd.lp); {
				if ok, next := m.at(nd.lp, pos); ok {
					nd.lp = lpDelete(nd.lp, pos, 1)
					nd.n--
					l.count--
					l.touch(nd)
					removed++
					if removed == limit {
						break
					}
				} else {
					pos = next
				}
			}
			if nd.n == 0 {
				l.removeNode(i)
			} else {
				i++
			}
			if removed == limit && limit > 0 {
				break
			}
		}
		return removed
	}
	for i := l.nn - 1; i >= 0 && removed < limit; i-- {
		nd := l.node(i)
		for pos := len(nd.lp); pos > 0 && removed < limit; {
			pos = lpPrev(nd.lp, pos)
			if ok, _ := m.at(nd.lp, pos); ok {
				nd.lp = lpDelete(nd.lp, pos, 1)
				nd.n--
				l.count--
				l.touch(nd)
				removed++
			}
		}
		if nd.n == 0 {
			l.removeNode(i)
		}
	}
	return removed
}

// Trim keeps elements start..stop (LTRIM, clamped by the caller; start >
// stop empties the list).
func (l *List) Trim(start, stop int) {
	if start > stop || start >= l.count || stop < 0 {
		*l = List{}
		return
	}
	start = max(start, 0)
	stop = min(stop, l.count-1)
	l.deleteRange(stop+1, l.count-stop-1)
	l.deleteRange(0, start)
}

// deleteRange removes n elements from index idx.
func (l *List) deleteRange(idx, n int) {
	for n > 0 {
		i, j := l.locate(idx)
		nd := l.node(i)
		k := min(n, nd.n-j)
		if k == nd.n {
			l.removeNode(i)
		} else {
			nd.lp = lpDelete(nd.lp, lpSeek(nd.lp, nd.n, j), k)
			nd.n -= k
			l.touch(nd)
		}
		l.count -= k
		n -= k
	}
}

// Copy returns a deep copy, for COPY.
func (l *List) Copy() any {
	c := &List{buf: make([]qnode, l.nn), nn: l.nn, count: l.count}
	for i := 0; i < l.nn; i++ {
		nd := l.node(i)
		// The copy is a new list to the disk tier (no stamp): its first
		// write is whole.
		c.buf[i] = qnode{lp: append([]byte(nil), nd.lp...), n: nd.n, seq: nd.seq}
	}
	return c
}

// MemSize approximates the bytes the value occupies, for MEMORY USAGE.
func (l *List) MemSize() int {
	n := int(unsafe.Sizeof(*l)) + cap(l.buf)*int(unsafe.Sizeof(qnode{})) + 8*cap(l.ck.gone)
	for i := 0; i < l.nn; i++ {
		n += cap(l.node(i).lp)
	}
	return n
}
