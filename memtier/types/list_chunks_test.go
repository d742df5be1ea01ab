package types

import (
	"fmt"
	"slices"
	"testing"
)

// chunkDisk models the disk tier's copy of a list: chunks by sequence
// number and the stamp they were written with.
type chunkDisk struct {
	stamp  ChunkStamp
	chunks map[uint64][]string
	// what the last write wrote: chunks set, chunks deleted, whole.
	set, deleted int
	whole        bool
}

func chunkElems(c ListChunk) []string {
	var out []string
	c.Each(func(e Elem) bool { out = append(out, e.String()); return true })
	return out
}

// write does what disktier's writer does: the changes when the disk holds
// the list's stamp, else everything.
func (d *chunkDisk) write(l *List) {
	s := l.NextStamp()
	d.set, d.deleted = 0, 0
	d.whole = !l.Incremental() || d.stamp != l.Stamp()
	if d.whole {
		d.chunks = map[uint64][]string{}
	} else {
		for _, seq := range l.GoneChunks() {
			delete(d.chunks, seq)
			d.deleted++
		}
	}
	l.EachChunk(!d.whole, func(seq uint64, c ListChunk) error {
		d.chunks[seq] = chunkElems(c)
		d.set++
		return nil
	})
	d.stamp = s
	l.Written(s)
}

// check compares the disk's chunks with the list's nodes, and their
// elements with the model.
func (d *chunkDisk) check(t *testing.T, l *List, model []string, step int) {
	t.Helper()
	if len(d.chunks) != l.nn {
		t.Fatalf("step %d: %d chunks on disk, %d nodes", step, len(d.chunks), l.nn)
	}
	seqs := make([]uint64, 0, len(d.chunks))
	for seq := range d.chunks {
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	var all []string
	for i, seq := range seqs {
		if nd := l.node(i); nd.seq != seq || !slices.Equal(d.chunks[seq], chunkElems(ListChunk{nd})) {
			t.Fatalf("step %d: chunk %d on disk is %#x %v, node is %#x %v", step, i, seq, d.chunks[seq], nd.seq, chunkElems(ListChunk{nd}))
		}
		all = append(all, d.chunks[seq]...)
	}
	if !slices.Equal(all, model) && !(len(all) == 0 && len(model) == 0) {
		t.Fatalf("step %d: disk holds %v, want %v", step, all, model)
	}
}

// changed lists the numbers of the nodes changed since the last write.
func changed(l *List) []uint64 {
	var out []uint64
	l.EachChunk(true, func(seq uint64, _ ListChunk) error { out = append(out, seq); return nil })
	return out
}

func seqs(l *List) []uint64 {
	var out []uint64
	l.EachChunk(false, func(seq uint64, _ ListChunk) error { out = append(out, seq); return nil })
	return out
}

// fill4 caps nodes at four entries, so a few pushes make several nodes.
const fill4 = 4

func pushN(l *List, head bool, n int, prefix string) {
	for i := range n {
		l.Push([]byte(fmt.Sprintf("%s%d", prefix, i)), head, fill4)
	}
}

func TestListChunkNumbersAtTheEnds(t *testing.T) {
	l := NewList()
	pushN(l, false, 8, "r") // two nodes
	pushN(l, true, 4, "l")  // one more at the head
	got := seqs(l)
	want := []uint64{chunkSeqMid - chunkSeqStride, chunkSeqMid, chunkSeqMid + chunkSeqStride}
	if !slices.Equal(got, want) {
		t.Fatalf("numbers %#x, want %#x", got, want)
	}
	if l.Incremental() {
		t.Fatal("a list never written knows its changes")
	}
	var d chunkDisk
	d.write(l)
	if !d.whole || d.set != 3 {
		t.Fatalf("first write: whole %v, %d chunks", d.whole, d.set)
	}
	if c := changed(l); len(c) != 0 {
		t.Fatalf("changed after a write: %#x", c)
	}
	// LPUSH into a new head node and RPOP from the tail one.
	l.Push([]byte("new"), true, fill4)
	l.Pop(false)
	if c := changed(l); !slices.Equal(c, []uint64{chunkSeqMid - 2*chunkSeqStride, chunkSeqMid + chunkSeqStride}) {
		t.Fatalf("changed %#x", c)
	}
	d.write(l)
	if d.whole || d.set != 2 || d.deleted != 0 {
		t.Fatalf("delta: whole %v, set %d, deleted %d", d.whole, d.set, d.deleted)
	}
	// Pop the tail node empty: its number is gone.
	for range 3 {
		l.Pop(false)
	}
	if g := l.GoneChunks(); !slices.Equal(g, []uint64{chunkSeqMid + chunkSeqStride}) {
		t.Fatalf("gone %#x", g)
	}
	d.write(l)
	if d.whole || d.set != 0 || d.deleted != 1 {
		t.Fatalf("pop: whole %v, set %d, deleted %d", d.whole, d.set, d.deleted)
	}
	d.check(t, l, listStrings(l), 0)
	// A tail push reopens the number that went: written, not deleted.
	l.Push([]byte("x"), false, fill4)
	l.Pop(false)
	l.Pop(false)
	l.Push([]byte("y"), false, fill4)
	d.write(l)
	d.check(t, l, listStrings(l), 1)
}

func listStrings(l *List) []string {
	var out []string
	l.Each(false, func(_ int, e Elem) bool { out = append(out, e.String()); return true })
	return out
}

func TestListChunkChangesInTheMiddle(t *testing.T) {
	l := NewList()
	pushN(l, false, 16, "e") // four full nodes
	var d chunkDisk
	d.write(l)
	before := seqs(l)

	// LSET changes one node.
	l.Set(5, []byte("set"), fill4)
	if c := changed(l); !slices.Equal(c, before[1:2]) {
		t.Fatalf("LSET changed %#x, want %#x", c, before[1:2])
	}
	d.write(l)

	// LINSERT into a full node splits it: both halves changed, the new one
	// numbered between its neighbours, nothing renumbered.
	l.Insert(9, []byte("ins"), fill4)
	after := seqs(l)
	if len(after) != 5 || !slices.Equal(after[:3], before[:3]) || !slices.Equal(after[4:], before[3:]) {
		t.Fatalf("numbers after a split %#x, before %#x", after, before)
	}
	if mid := after[3]; mid <= before[2] || mid >= before[3] {
		t.Fatalf("split node numbered %#x, between %#x and %#x", mid, before[2], before[3])
	}
	if c := changed(l); !slices.Equal(c, after[2:4]) {
		t.Fatalf("split changed %#x, want %#x", c, after[2:4])
	}
	if !l.Incremental() {
		t.Fatal("a split with room renumbered")
	}
	d.write(l)
	if d.whole || d.set != 2 {
		t.Fatalf("split: whole %v, set %d", d.whole, d.set)
	}
	d.check(t, l, listStrings(l), 0)

	// Splitting at the same place until no number is left renumbers: the
	// next write is whole.
	renumbered := false
	for i := 0; i < 200 && !renumbered; i++ {
		l.Insert(9, []byte("again"), fill4)
		renumbered = !l.Incremental()
	}
	if !renumbered {
		t.Fatal("200 splits between two nodes never renumbered")
	}
	d.write(l)
	if !d.whole {
		t.Fatal("a renumbered list was written as a delta")
	}
	d.check(t, l, listStrings(l), 1)

	// LREM empties some nodes (gone) and changes others.
	d.write(l)
	l.Remove([]byte("again"), 0)
	d.write(l)
	if d.whole || d.deleted == 0 || d.set == 0 {
		t.Fatalf("LREM: whole %v, set %d, deleted %d", d.whole, d.set, d.deleted)
	}
	d.check(t, l, listStrings(l), 2)

	// LTRIM: nodes past the range are gone, the cut ones changed.
	l.Trim(2, l.Len()-3)
	d.write(l)
	if d.whole || d.set+d.deleted == 0 {
		t.Fatalf("LTRIM: whole %v, set %d, deleted %d", d.whole, d.set, d.deleted)
	}
	d.check(t, l, listStrings(l), 3)

	// A copy is a new list: written whole.
	c := l.Copy().(*List)
	if c.Incremental() || c.Stamp() != (ChunkStamp{}) {
		t.Fatal("a copy claims the original's disk copy")
	}
}

// TestListChunkGoneIsBounded checks that a list that loses more nodes than
// it keeps stops remembering them and is written whole.
func TestListChunkGoneIsBounded(t *testing.T) {
	l := NewList()
	pushN(l, false, 4*300, "e")
	var d chunkDisk
	d.write(l)
	for range 4 * 100 {
		l.Pop(true)
	}
	if !l.Incremental() || len(l.ck.gone) != 100 {
		t.Fatalf("100 of 300 nodes gone: incremental %v, %d remembered", l.Incremental(), len(l.ck.gone))
	}
	for range 4 * 60 {
		l.Pop(true)
	}
	if l.Incremental() || len(l.ck.gone) != 0 {
		t.Fatalf("160 of 300 nodes gone: incremental %v, %d remembered", l.Incremental(), len(l.ck.gone))
	}
	d.write(l)
	if !d.whole {
		t.Fatal("not written whole")
	}
	d.check(t, l, listStrings(l), 0)
}

func TestListChunkLoad(t *testing.T) {
	l := NewList()
	if l.AppendChunk(5, nil) {
		t.Fatal("an empty chunk was accepted")
	}
	if !l.AppendChunk(5, [][]byte{[]byte("a"), []byte("b")}) || !l.AppendChunk(9, [][]byte{[]byte("c")}) {
		t.Fatal("chunks refused")
	}
	if l.AppendChunk(9, [][]byte{[]byte("d")}) || l.AppendChunk(7, [][]byte{[]byte("d")}) {
		t.Fatal("a chunk out of order was accepted")
	}
	s := ChunkStamp{Token: 42, Gen: 7}
	l.Loaded(s)
	if !l.Incremental() || l.Stamp() != s || len(changed(l)) != 0 || l.Len() != 3 {
		t.Fatalf("loaded: incremental %v stamp %v changed %v len %d", l.Incremental(), l.Stamp(), changed(l), l.Len())
	}
	l.Push([]byte("z"), false, DefaultListFill)
	if c := changed(l); !slices.Equal(c, []uint64{9}) {
		t.Fatalf("changed %v", c)
	}
	if n := l.NextStamp(); n != (ChunkStamp{Token: 42, Gen: 8}) {
		t.Fatalf("next stamp %v", n)
	}
}
