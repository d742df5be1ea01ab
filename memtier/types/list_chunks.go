package types

import (
	"math"
	"math/rand/v2"
	"slices"
)

// A list's quicklist nodes are its chunks on disk (disktier/FORMAT.md,
// "List chunks"), so a checkpoint writes only the nodes that changed since
// the list was last written, deletes the ones that went away, and leaves
// the others alone: invariant 8 within a key.
//
// Each node carries a chunk sequence number. Numbers ascend from head to
// tail and are kept while the node lives: a node opened at the head takes
// the first one minus chunkSeqStride, at the tail the last plus it, and one
// opened between two nodes (a split) the midpoint of its neighbours'. When
// there is no free number there, every node is renumbered and the list must
// be written whole. Each node also carries the write generation in which it
// last changed (mod): it changed since the last write when mod is above the
// generation of the list's stamp. The list remembers the numbers of the
// nodes it removed since then (gone).
//
// The stamp names the state the disk tier last wrote: the disk tier writes
// it into the list's metadata record, and writes only the changes when the
// stamp it finds on disk is the list's. That covers everything that
// replaces what the disk holds under a key without the list knowing (a
// failed checkpoint, FLUSHDB, RENAME, MOVE, RESTORE, a copy): the stamps
// differ and the list is written whole, which is always correct. The
// bookkeeping is guarded by whatever guards the list (the slot's lock).

// The chunk sequence numbers: the first node takes chunkSeqMid, the middle
// of the range, so about 2^43 nodes fit on either side at chunkSeqStride
// apart, and about 20 splits of one node fit between two neighbours opened
// at an end before a renumbering.
const (
	chunkSeqMid    = 1 << 63
	chunkSeqStride = 1 << 20
)

// ChunkStamp names one state of a list as the disk tier wrote it.
type ChunkStamp struct {
	// Token tells lists apart: random, chosen at the first write under
	// sub-keys, kept when the list is loaded back, not copied with it. 0
	// means the list is not known to be on disk under sub-keys.
	Token uint64
	// Gen counts the list's writes.
	Gen uint64
}

// listChunks is a list's bookkeeping for the disk tier.
type listChunks struct {
	stamp ChunkStamp
	whole bool     // renumbered, or too much gone: the next write is whole
	gone  []uint64 // sequence numbers of nodes removed since stamp (Token != 0)
}

// touch marks nd changed since the last write.
func (l *List) touch(nd *qnode) { nd.mod = l.ck.stamp.Gen + 1 }

// seqFor picks the sequence number of the node just opened at position i,
// between its neighbours'; ok is false when there is no free number.
func (l *List) seqFor(i int) (seq uint64, ok bool) {
	hasLo, hasHi := i > 0, i < l.nn-1
	var lo, hi uint64
	if hasLo {
		lo = l.node(i - 1).seq
	}
	if hasHi {
		hi = l.node(i + 1).seq
	}
	switch {
	case !hasLo && !hasHi:
		return chunkSeqMid, true
	case !hasHi:
		return lo + chunkSeqStride, lo <= math.MaxUint64-chunkSeqStride
	case !hasLo:
		return hi - chunkSeqStride, hi >= chunkSeqStride
	}
	return lo + (hi-lo)/2, hi-lo >= 2
}

// renumber spaces every node's sequence number chunkSeqStride apart around
// chunkSeqMid: the disk's numbering no longer applies, so the next write
// is whole.
func (l *List) renumber() {
	seq := uint64(chunkSeqMid) - uint64(l.nn/2)*chunkSeqStride
	for i := 0; i < l.nn; i++ {
		l.node(i).seq = seq
		seq += chunkSeqStride
	}
	l.ck.whole, l.ck.gone = true, nil
}

// chunkGone records the removal of the node numbered seq. Once more
// nodes went than remain, writing the list whole costs no more than the
// deletions would, and the list stops remembering them.
func (l *List) chunkGone(seq uint64) {
	if l.ck.stamp.Token == 0 || l.ck.whole {
		return // written whole anyway
	}
	l.ck.gone = append(l.ck.gone, seq)
	if len(l.ck.gone) > 64 && len(l.ck.gone) > l.nn {
		l.ck.whole, l.ck.gone = true, nil
	}
}

// Stamp is the state of the list the disk tier last wrote (zero if none).
func (l *List) Stamp() ChunkStamp { return l.ck.stamp }

// NextStamp is the stamp of the list's next write: its token (a new one if
// it has none) and the next generation. Nothing changes until Written.
func (l *List) NextStamp() ChunkStamp {
	s := ChunkStamp{Token: l.ck.stamp.Token, Gen: l.ck.stamp.Gen + 1}
	for s.Token == 0 {
		s.Token = rand.Uint64()
	}
	return s
}

// Incremental reports whether the list knows what changed since Stamp: its
// changed chunks and gone ones then turn the disk's copy of Stamp into the
// list. When false, it must be written whole.
func (l *List) Incremental() bool { return l.ck.stamp.Token != 0 && !l.ck.whole }

// ListChunk is one node of a list: a chunk on disk.
type ListChunk struct{ nd *qnode }

// Len is the number of elements in the chunk.
func (c ListChunk) Len() int { return c.nd.n }

// Each calls fn with each element of the chunk, head to tail, until fn
// returns false. The elements alias the list.
func (c ListChunk) Each(fn func(e Elem) bool) {
	lp := c.nd.lp
	for pos := 0; pos < len(lp); {
		var e Elem
		e, pos = lpGet(lp, pos)
		if !fn(e) {
			return
		}
	}
}

// EachChunk calls fn with each node's sequence number and elements, head to
// tail (numbers ascending), only the nodes changed since Stamp when
// changedOnly, and stops at fn's first error.
func (l *List) EachChunk(changedOnly bool, fn func(seq uint64, c ListChunk) error) error {
	for i := 0; i < l.nn; i++ {
		nd := l.node(i)
		if changedOnly && nd.mod <= l.ck.stamp.Gen {
			continue
		}
		if err := fn(nd.seq, ListChunk{nd}); err != nil {
			return err
		}
	}
	return nil
}

// GoneChunks returns the sequence numbers of the nodes removed since Stamp,
// ascending, without repeats. A number may also be a live node's again
// (pushed at an end after its node went): that node is then changed.
func (l *List) GoneChunks() []uint64 {
	slices.Sort(l.ck.gone)
	l.ck.gone = slices.Compact(l.ck.gone)
	return l.ck.gone
}

// Written records that the disk tier wrote the list as s (from NextStamp):
// every node is now unchanged and nothing is gone. A write that fails to
// commit leaves the disk's older stamp, so the next write is whole.
func (l *List) Written(s ChunkStamp) {
	l.ck = listChunks{stamp: s}
}

// WrittenInline records that the disk tier wrote the list whole in one
// record, not under sub-keys: its next write is whole.
func (l *List) WrittenInline() {
	l.ck = listChunks{stamp: ChunkStamp{Gen: l.ck.stamp.Gen}}
}

// AppendChunk adds a node holding vals at the tail with sequence number
// seq, unchanged: the disk tier's loader. It reports false, adding
// nothing, when vals is empty or seq does not follow the last node's.
func (l *List) AppendChunk(seq uint64, vals [][]byte) bool {
	if len(vals) == 0 || l.nn > 0 && seq <= l.node(l.nn-1).seq {
		return false
	}
	l.openNode(l.nn)
	nd := l.node(l.nn - 1)
	for _, v := range vals {
		nd.lp = lpAppend(nd.lp, strVal(v))
	}
	nd.n, nd.seq = len(vals), seq
	l.count += len(vals)
	return true
}

// Loaded sets the stamp of a list the loader built with AppendChunk from
// the disk's copy stamped s: the list is that copy, unchanged.
func (l *List) Loaded(s ChunkStamp) { l.ck = listChunks{stamp: s} }
