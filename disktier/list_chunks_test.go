package disktier

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/structd/structd/memtier"
	"github.com/structd/structd/memtier/types"
)

// chunkSeqs is the chunk numbers of l's nodes, head to tail.
func chunkSeqs(l *types.List) []uint64 {
	var out []uint64
	l.EachChunk(false, func(seq uint64, _ types.ListChunk) error { out = append(out, seq); return nil })
	return out
}

func listElems(l *types.List) []string {
	out := make([]string, 0, l.Len())
	l.Each(false, func(_ int, e types.Elem) bool { out = append(out, e.String()); return true })
	return out
}

// randomListOp applies one random list operation to l and the model.
func randomListOp(r *rand.Rand, l *types.List, model []string) []string {
	const fill = types.DefaultListFill
	v := fmt.Sprintf("v%d", r.IntN(1000))
	if r.IntN(40) == 0 {
		v = strings.Repeat("w", 1000+r.IntN(5000)) // splits nodes
	}
	switch r.IntN(10) {
	case 0, 1:
		l.Push([]byte(v), true, fill)
		return append([]string{v}, model...)
	case 2, 3:
		l.Push([]byte(v), false, fill)
		return append(model, v)
	case 4:
		if _, ok := l.Pop(true); ok {
			return model[1:]
		}
	case 5:
		if _, ok := l.Pop(false); ok {
			return model[:len(model)-1]
		}
	case 6:
		if len(model) > 0 {
			i := r.IntN(len(model))
			l.Set(i, []byte(v), fill)
			model[i] = v
		}
	case 7:
		i := r.IntN(len(model) + 1)
		l.Insert(i, []byte(v), fill)
		return slices.Insert(model, i, v)
	case 8:
		if len(model) > 0 {
			target := model[r.IntN(len(model))]
			if l.Remove([]byte(target), 1) == 1 {
				i := slices.Index(model, target)
				return slices.Delete(model, i, i+1)
			}
		}
	case 9:
		if r.IntN(20) == 0 && len(model) > 3000 {
			start, stop := r.IntN(len(model)/4), len(model)-1-r.IntN(len(model)/4)
			l.Trim(start, stop)
			return model[start : stop+1]
		}
	}
	return model
}

// writeList writes o under key through a checkpoint (committed, or
// aborted when fail) or a batch (committed, or closed unused when fail),
// returning whether the write was of the changes only and its size (SST
// file or batch bytes).
func writeList(t *testing.T, s *Store, seq uint64, key []byte, o *memtier.Object, viaBatch, fail bool) (delta bool, size int64) {
	t.Helper()
	m, err := s.Meta(0, key)
	if err != nil && !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	delta = listIncremental(m, err == nil, o.Payload().(*types.List))
	if viaBatch {
		b := s.NewBatch()
		if err := b.Put(0, key, o, 0); err != nil {
			t.Fatal(err)
		}
		size = int64(b.Size())
		if fail {
			b.Close()
			return delta, size
		}
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
		return delta, size
	}
	c, err := s.NewCheckpoint(t.TempDir(), Record{Seq: seq})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Put(0, key, o, 0); err != nil {
		t.Fatal(err)
	}
	if fail {
		if err := c.Abort(); err != nil {
			t.Fatal(err)
		}
		return delta, 0
	}
	files, err := c.Finish()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if info, err := os.Stat(f); err == nil {
			size += info.Size()
		}
	}
	if err := s.IngestCheckpoint(files); err != nil {
		t.Fatal(err)
	}
	return delta, size
}

// loadList loads key and checks it against the model and, chunk for
// chunk, against the list in memory.
func loadList(t *testing.T, s *Store, key []byte, l *types.List, model []string, step int) *memtier.Object {
	t.Helper()
	o, _, err := s.Load(0, key)
	if err != nil {
		t.Fatalf("step %d: %v", step, err)
	}
	got := o.Payload().(*types.List)
	if !slices.Equal(listElems(got), model) {
		t.Fatalf("step %d: loaded %d elements, differing from the model's %d", step, got.Len(), len(model))
	}
	if m, err := s.Meta(0, key); err == nil && m.Layout == LayoutElems {
		if !slices.Equal(chunkSeqs(got), chunkSeqs(l)) {
			t.Fatalf("step %d: loaded chunks %#x, in memory %#x", step, chunkSeqs(got), chunkSeqs(l))
		}
		if got.Stamp() != m.Stamp || m.Stamp != l.Stamp() {
			t.Fatalf("step %d: stamps loaded %v, stored %v, in memory %v", step, got.Stamp(), m.Stamp, l.Stamp())
		}
	}
	return o
}

// TestListChunksRoundTrip applies random operations to a list and writes
// it after every few, through checkpoints and batches, some of which fail;
// now and then the list is replaced by what the store loads back (a
// fault-in). Every load equals the model, and most writes are of the
// changes only.
func TestListChunksRoundTrip(t *testing.T) {
	for seed := range uint64(4) {
		r := rand.New(rand.NewPCG(seed, 11))
		s, _ := openTest(t)
		key := []byte("list")
		l := types.NewList()
		o := memtier.NewCollection(l)
		var model []string
		for i := range 3000 {
			v := fmt.Sprintf("start-%d", i)
			l.Push([]byte(v), false, types.DefaultListFill)
			model = append(model, v)
		}
		deltas, wholes, seq := 0, 0, uint64(1)
		for step := range 3000 {
			model = randomListOp(r, l, model)
			if len(model) == 0 {
				model = randomListOp(r, l, model) // an empty list is deleted, not written
				continue
			}
			if r.IntN(15) != 0 {
				continue
			}
			fail := r.IntN(8) == 0
			delta, _ := writeList(t, s, seq, key, o, r.IntN(3) == 0, fail)
			seq++
			if delta {
				deltas++
			} else {
				wholes++
			}
			if fail {
				continue
			}
			loaded := loadList(t, s, key, l, model, step)
			if r.IntN(4) == 0 {
				o, l = loaded, loaded.Payload().(*types.List)
			}
		}
		t.Logf("seed %d: %d writes of the changes, %d whole, %d elements", seed, deltas, wholes, len(model))
		if deltas < 2*wholes {
			t.Errorf("seed %d: %d writes of the changes, %d whole", seed, deltas, wholes)
		}
	}
}

// TestListCheckpointWritesWhatChanged: a 100,000-element list written
// whole, then after an LPUSH and an RPOP only its two end chunks.
func TestListCheckpointWritesWhatChanged(t *testing.T) {
	s, _ := openTest(t)
	key := []byte("queue")
	l := types.NewList()
	o := memtier.NewCollection(l)
	var model []string
	for i := range 100_000 {
		v := fmt.Sprintf("element-%07d", i)
		l.Push([]byte(v), false, types.DefaultListFill)
		model = append(model, v)
	}
	delta, full := writeList(t, s, 1, key, o, false, false)
	if delta {
		t.Fatal("first write claims to be of changes")
	}
	l.Push([]byte("head"), true, types.DefaultListFill)
	l.Pop(false)
	model = append([]string{"head"}, model[:len(model)-1]...)
	delta, incr := writeList(t, s, 2, key, o, false, false)
	t.Logf("whole list %d bytes of SST, after LPUSH+RPOP %d", full, incr)
	if !delta || incr*20 > full {
		t.Errorf("after LPUSH+RPOP: delta %v, %d bytes of %d", delta, incr, full)
	}
	loadList(t, s, key, l, model, 0)

	// The same after a fault-in: the loaded list knows its chunks.
	o2, _, err := s.Load(0, key)
	if err != nil {
		t.Fatal(err)
	}
	l2 := o2.Payload().(*types.List)
	l2.Pop(true)
	l2.Push([]byte("tail"), false, types.DefaultListFill)
	model = append(model[1:], "tail")
	delta, incr = writeList(t, s, 3, key, o2, false, false)
	if !delta || incr*20 > full {
		t.Errorf("after a fault-in: delta %v, %d bytes of %d", delta, incr, full)
	}
	loadList(t, s, key, l2, model, 1)
}

// TestListWithoutStampLoads reads a list written before stamps (4 KB
// chunks numbered from 1<<32, no stamp after the header): it loads, and
// its next write is whole, the one after of the changes.
func TestListWithoutStampLoads(t *testing.T) {
	s, _ := openTest(t)
	key := []byte("old")
	var model []string
	b := s.db.NewBatch()
	base := appendKeyBase(nil, 0, memtier.SlotOf(key), key)
	var chunk []byte
	seq := uint64(1 << 32)
	flush := func() {
		k := binary.BigEndian.AppendUint64(append(base[:len(base):len(base)], kindElem), seq)
		if err := b.Set(k, chunk, nil); err != nil {
			t.Fatal(err)
		}
		seq, chunk = seq+1, nil
	}
	for i := range 3000 {
		v := fmt.Sprintf("old-element-%d", i)
		model = append(model, v)
		chunk = appendBytes(chunk, []byte(v))
		if len(chunk) >= 4096 {
			flush()
		}
	}
	flush()
	meta := []byte{formatVersion, byte(memtier.TypeList), byte(memtier.EncQuicklist), byte(LayoutElems), 0}
	meta = binary.AppendUvarint(meta, uint64(len(model)))
	meta = binary.AppendUvarint(meta, 1000)
	if err := b.Set(append(base, kindMeta), meta, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(nil); err != nil {
		t.Fatal(err)
	}
	o, _, err := s.Load(0, key)
	if err != nil {
		t.Fatal(err)
	}
	l := o.Payload().(*types.List)
	if !slices.Equal(listElems(l), model) || l.Incremental() {
		t.Fatalf("old list: %d elements, incremental %v", l.Len(), l.Incremental())
	}
	l.Push([]byte("new"), false, types.DefaultListFill)
	model = append(model, "new")
	if delta, _ := writeList(t, s, 1, key, o, false, false); delta {
		t.Fatal("a list without a stamp was written as changes")
	}
	loadList(t, s, key, l, model, 0)
	l.Push([]byte("newer"), true, types.DefaultListFill)
	model = append([]string{"newer"}, model...)
	if delta, _ := writeList(t, s, 2, key, o, false, false); !delta {
		t.Fatal("second write is whole")
	}
	loadList(t, s, key, l, model, 1)
}

// TestListChunkRecordsRefused: bad chunk numbers, empty chunks and bad
// stamps are errors, never a list.
func TestListChunkRecordsRefused(t *testing.T) {
	good := func() *memtier.Object {
		l := types.NewList()
		for i := range 2000 {
			l.Push(fmt.Appendf(nil, "e%d", i), false, types.DefaultListFill)
		}
		return memtier.NewCollection(l)
	}
	cases := map[string]func(b []byte) (k, v []byte){
		"short chunk number": func(base []byte) ([]byte, []byte) {
			return append(base, kindElem, 1, 2, 3), appendBytes(nil, []byte("x"))
		},
		"empty chunk": func(base []byte) ([]byte, []byte) {
			return binary.BigEndian.AppendUint64(append(base, kindElem), 1), []byte{}
		},
		"truncated element": func(base []byte) ([]byte, []byte) {
			return binary.BigEndian.AppendUint64(append(base, kindElem), 1), []byte{5, 'a'}
		},
		"bad stamp": func(base []byte) ([]byte, []byte) {
			m := Meta{Type: memtier.TypeList, Enc: memtier.EncQuicklist, Layout: LayoutElems, Count: 2000, Stamp: types.ChunkStamp{Token: 1, Gen: 1}}
			return append(base, kindMeta), append(appendMeta(nil, m), 7)
		},
	}
	for name, bad := range cases {
		t.Run(name, func(t *testing.T) {
			s, _ := openTest(t)
			key := []byte("l")
			writeList(t, s, 1, key, good(), true, false)
			base := appendKeyBase(nil, 0, memtier.SlotOf(key), key)
			k, v := bad(base[:len(base):len(base)])
			if err := s.db.Set(k, v, nil); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.Load(0, key); !errors.Is(err, errCorrupt) {
				t.Fatalf("Load: %v, want a corrupt record", err)
			}
		})
	}
}
