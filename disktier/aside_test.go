package disktier

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/structd/structd/memtier"
	"github.com/structd/structd/memtier/types"
)

// slotOp is one write of a test checkpoint: put (o, fields nil), put fields
// (o and fields), or delete (o nil).
type slotOp struct {
	key    string
	o      *memtier.Object
	exp    int64
	fields [][]byte
}

// slotWrites is what a checkpoint writes for one slot of one database.
type slotWrites struct {
	db, slot int
	flush    bool // DeleteSlots(db, slot, slot+1) first
	ops      []slotOp
}

// write writes w into c, in place or (inside WriteAside) aside.
func (w *slotWrites) write(c *Checkpoint) error {
	if w.flush {
		if err := c.DeleteSlots(w.db, w.slot, w.slot+1); err != nil {
			return err
		}
	}
	for _, op := range w.ops {
		var err error
		switch {
		case op.o == nil:
			err = c.Delete(w.db, []byte(op.key))
		case op.fields != nil:
			err = c.PutFields(w.db, []byte(op.key), op.o, op.exp, op.fields)
		default:
			err = c.Put(w.db, []byte(op.key), op.o, op.exp)
		}
		if err != nil {
			return fmt.Errorf("%d %q: %w", w.db, op.key, err)
		}
	}
	return nil
}

// rawState is every record of the store, keys and values in hex, in order:
// data and key counts byte for byte. The Record is left out: its Bytes is
// the SST files' size, which varies from run to run for the same records
// (Pebble's Balanced compression profile picks per block by measuring);
// the test compares the Record apart.
func rawState(t *testing.T, s *Store) []string {
	t.Helper()
	it, err := s.db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for it.First(); it.Valid(); it.Next() {
		if bytes.Equal(it.Key(), checkpointKey) {
			continue
		}
		out = append(out, fmt.Sprintf("%x=%x", it.Key(), it.Value()))
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

// asideFixture is a seeded store's first checkpoint and a second
// checkpoint's writes touching every kind of change: new keys, replaced
// keys switching layout, deletions of inline and sub-key values and of
// absent keys, PutFields on a sub-key hash, expiries, flushed slots.
func asideFixture() (seed []change, second []*slotWrites) {
	bigHash := func(changed bool) *memtier.Object {
		pairs := pairsOf(700)
		if changed {
			pairs[7] = "changed"                // field:3
			pairs = slices.Delete(pairs, 8, 10) // field:4
			pairs = append(pairs, "brand-new", "x")
		}
		return hashOf(types.DefaultHashLimits, pairs...)
	}
	var tags []string
	for i := 0; i < 24; i++ {
		tags = append(tags, fmt.Sprintf("{t%d}", i))
	}
	for db := 0; db < 3; db++ {
		for _, tag := range tags {
			seed = append(seed,
				change{db, tag + "str", memtier.NewString([]byte("old " + tag))},
				change{db, tag + "hash", hashOf(types.DefaultHashLimits, "a", "1", "b", "2")},
				change{db, tag + "big", bigHash(false)},
				change{db, tag + "set", setOf(types.DefaultSetMaxIntset, seq("m", 800)...)},
				change{db, tag + "list", listOf(seq("e", 50)...)},
			)
		}
	}
	rng := rand.New(rand.NewPCG(4, 25))
	for db := 0; db < 3; db++ {
		for i, tag := range tags {
			w := &slotWrites{db: db, slot: memtier.SlotOf([]byte(tag)), flush: i%5 == 2}
			ops := []slotOp{
				{key: tag + "str", o: setOf(types.DefaultSetMaxIntset, seq("n", 900)...)},                                 // inline -> sub-keys
				{key: tag + "set", o: memtier.NewString([]byte("was a set")), exp: 1700000000000 + int64(rng.IntN(1000))}, // sub-keys -> inline
				{key: tag + "list"},   // delete inline
				{key: tag + "absent"}, // delete of nothing writes nothing
				{key: tag + "fresh", o: zsetOf(types.DefaultZSetLimits, "a", 1.0, "b", 2.0), exp: 1800000000000},
				{key: tag + "bigz", o: zsetOf(types.Limits{}, seqScores(600)...)},
			}
			if rng.IntN(2) == 0 {
				ops = append(ops, slotOp{key: tag + "big"}) // delete a sub-key hash
			} else {
				ops = append(ops, slotOp{key: tag + "big", o: bigHash(true), exp: 1900000000000,
					fields: [][]byte{[]byte("field:3"), []byte("field:4"), []byte("brand-new")}})
			}
			slices.SortFunc(ops, func(a, b slotOp) int {
				if keyLess([]byte(a.key), []byte(b.key)) {
					return -1
				}
				return 1
			})
			w.ops = ops
			second = append(second, w)
		}
	}
	slices.SortFunc(second, func(a, b *slotWrites) int {
		if a.db != b.db {
			return a.db - b.db
		}
		return a.slot - b.slot
	})
	return seed, second
}

// seqScores is member, score pairs for zsetOf.
func seqScores(n int) []any {
	out := make([]any, 0, 2*n)
	for i, m := range seq("zm", n) {
		out = append(out, m, float64(n-i)/3)
	}
	return out
}

// seededStore opens a store holding seed as checkpoint 1.
func seededStore(t *testing.T, seed []change) *Store {
	t.Helper()
	s, _ := openTest(t)
	if err := s.IngestCheckpoint(writeCheckpoint(t, s, 1, append([]change(nil), seed...))); err != nil {
		t.Fatal(err)
	}
	return s
}

// A checkpoint with slots written aside in random order, then copied where
// the walker meets them, ingests to exactly the records of the same
// checkpoint written in order: data, expiries, key counts and Record
// (except its Bytes, see rawState).
func TestWriteAsideMatchesInOrder(t *testing.T) {
	seed, second := asideFixture()
	rec := Record{Seq: 2, AOFSegment: 3, AOFOffset: 44, TimeMs: 1700000000001}

	inOrder := inOrderStore(t, seed, second, rec)

	aside := seededStore(t, seed)
	dir := t.TempDir()
	c, err := aside.NewCheckpoint(dir, rec)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	var early []*slotWrites
	for _, w := range second {
		if rng.IntN(2) == 0 {
			early = append(early, w)
		}
	}
	rng.Shuffle(len(early), func(i, j int) { early[i], early[j] = early[j], early[i] })
	// The walker starts; client writes front-run slots it has not reached.
	walked, copied := 0, 0
	asided := map[*slotWrites]bool{}
	isEarly := func(w *slotWrites) bool { return asided[w] }
	walk := func(n int) {
		for ; walked < len(second) && n > 0; walked, n = walked+1, n-1 {
			w := second[walked]
			ok, err := c.CopyAside(w.db, w.slot)
			if err != nil {
				t.Fatal(err)
			}
			if ok != isEarly(w) {
				t.Fatalf("CopyAside(%d, %d) = %v", w.db, w.slot, ok)
			}
			if ok {
				copied++
				continue
			}
			if err := w.write(c); err != nil {
				t.Fatal(err)
			}
		}
	}
	walk(3)
	for _, w := range early {
		if slices.Index(second, w) < walked {
			continue // the walker got there first: written in place
		}
		if err := c.WriteAside(w.db, w.slot, func() error { return w.write(c) }); err != nil {
			t.Fatal(err)
		}
		asided[w] = true
		walk(1)
	}
	walk(len(second))
	if copied != len(asided) || copied < 10 {
		t.Fatalf("copied %d slots, %d written aside", copied, len(asided))
	}
	if c.SpillBytes() < 100_000 {
		t.Errorf("SpillBytes = %d after %d slots aside", c.SpillBytes(), copied)
	}
	if b := c.BufferedBytes(); b < 2*spillBufSize || b > 2*spillBufSize+spillScratchMax+256<<10 {
		t.Errorf("BufferedBytes = %d", b)
	}
	spill := filepath.Join(dir, "ckpt-000002-aside.spill")
	if _, err := os.Stat(spill); err != nil {
		t.Fatalf("spill file: %v", err)
	}
	finishIngest(t, aside, c)
	if _, err := os.Stat(spill); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("spill file after Finish: %v", err)
	}
	sameRecords(t, aside, inOrder)
	// The raw comparison covers these; check them by name too.
	for _, w := range second {
		for _, op := range w.ops {
			o, exp, err := aside.Load(w.db, []byte(op.key))
			switch {
			case op.o == nil && !errors.Is(err, ErrNotFound):
				t.Errorf("%d %q: deleted key loads: %v", w.db, op.key, err)
			case op.o != nil && err != nil:
				t.Errorf("%d %q: %v", w.db, op.key, err)
			case op.o != nil && (dump(o) != dump(op.o) || exp != op.exp):
				t.Errorf("%d %q: %.80s exp %d, want %.80s exp %d", w.db, op.key, dump(o), exp, dump(op.o), op.exp)
			}
		}
	}
}

// inOrderStore is a seeded store with writes ingested as checkpoint rec,
// written in order as one part: what the other ways of writing the same
// checkpoint must come to.
func inOrderStore(t *testing.T, seed []change, writes []*slotWrites, rec Record) *Store {
	t.Helper()
	s := seededStore(t, seed)
	c, err := s.NewCheckpoint(t.TempDir(), rec)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range writes {
		if err := w.write(c); err != nil {
			t.Fatal(err)
		}
	}
	finishIngest(t, s, c)
	return s
}

// finishIngest finishes c and ingests its files into s, returning them.
func finishIngest(t *testing.T, s *Store, c *Checkpoint) []string {
	t.Helper()
	files, err := c.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.IngestCheckpoint(files); err != nil {
		t.Fatal(err)
	}
	return files
}

// sameRecords checks that got holds exactly want's records, key counts and
// Record (but its Bytes, see rawState), in the first three databases.
func sameRecords(t *testing.T, got, want *Store) {
	t.Helper()
	w, g := rawState(t, want), rawState(t, got)
	if !slices.Equal(g, w) {
		t.Errorf("%d records, want %d", len(g), len(w))
		for i := range min(len(g), len(w)) {
			if g[i] != w[i] {
				t.Fatalf("difference at record %d:\n got  %.200s\n want %.200s", i, g[i], w[i])
			}
		}
	}
	sameState(t, state(t, got), state(t, want))
	r, _, err := got.Record()
	r0, _, _ := want.Record()
	if err != nil || r.Bytes == 0 || r0.Bytes == 0 {
		t.Errorf("Record Bytes %d (%v), want's %d", r.Bytes, err, r0.Bytes)
	}
	r.Bytes, r0.Bytes = 0, 0
	if r != r0 || r.Keys == 0 || r.Deletes == 0 {
		t.Errorf("Record %+v %v, want %+v", r, err, r0)
	}
	for db := 0; db < 3; db++ {
		n0, _ := want.Count(db)
		if n, err := got.Count(db); err != nil || n != n0 {
			t.Errorf("db %d Count %d %v, want %d", db, n, err, n0)
		}
	}
}

// A slot written aside holds a DeleteSlots and a PutFields on a sub-key
// hash; the copy lands them like a write in place.
func TestWriteAsideDeleteSlotsAndPutFields(t *testing.T) {
	s, _ := openTest(t)
	big := hashOf(types.DefaultHashLimits, pairsOf(700)...)
	seed := []change{
		{0, "{a}big", big}, {0, "{a}x", memtier.NewString([]byte("x"))},
		{0, "{b}one", memtier.NewString([]byte("1"))}, {0, "{b}two", memtier.NewString([]byte("2"))},
		{0, "{c}keep", memtier.NewString([]byte("kept"))},
	}
	if err := s.IngestCheckpoint(writeCheckpoint(t, s, 1, seed)); err != nil {
		t.Fatal(err)
	}
	if m, err := s.Meta(0, []byte("{a}big")); err != nil || m.Layout != LayoutElems {
		t.Fatalf("seed hash layout %v %v", m.Layout, err)
	}
	slotA, slotB, slotC := memtier.SlotOf([]byte("a")), memtier.SlotOf([]byte("b")), memtier.SlotOf([]byte("c"))
	h := big.Payload().(*types.Hash)
	h.Set([]byte("field:10"), []byte("new value"), types.DefaultHashLimits)
	h.Delete([]byte("field:11"))
	c, err := s.NewCheckpoint(t.TempDir(), Record{Seq: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteAside(0, slotA, func() error {
		return c.PutFields(0, []byte("{a}big"), big, 0, [][]byte{[]byte("field:11"), []byte("field:10")})
	}); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteAside(0, slotB, func() error {
		if err := c.DeleteSlots(0, slotB, slotB+1); err != nil {
			return err
		}
		return c.Put(0, []byte("{b}three"), memtier.NewString([]byte("3")), 0)
	}); err != nil {
		t.Fatal(err)
	}
	if c.SpillBytes() > 2048 {
		t.Errorf("a two-field PutFields and a flush spilled %d bytes", c.SpillBytes())
	}
	slots := []int{slotA, slotB, slotC}
	slices.Sort(slots)
	for _, slot := range slots {
		ok, err := c.CopyAside(0, slot)
		if err != nil || ok != (slot != slotC) {
			t.Fatalf("CopyAside slot %d = %v, %v", slot, ok, err)
		}
	}
	files, err := c.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.IngestCheckpoint(files); err != nil {
		t.Fatal(err)
	}
	got, _, err := s.Load(0, []byte("{a}big"))
	if err != nil || dump(got) != dump(big) {
		t.Errorf("hash after PutFields aside: %v", err)
	}
	for key, want := range map[string]bool{"{a}x": true, "{b}one": false, "{b}two": false, "{b}three": true, "{c}keep": true} {
		if ok, err := s.Exists(0, []byte(key)); err != nil || ok != want {
			t.Errorf("%s exists = %v %v, want %v", key, ok, err, want)
		}
	}
	if n, err := s.SlotCount(0, slotB); err != nil || n.Keys != 1 {
		t.Errorf("slot of {b} count %d %v, want 1", n, err)
	}
	if n, err := s.Count(0); err != nil || n != 4 {
		t.Errorf("db 0 count %d %v, want 4", n, err)
	}
}

// CopyAside streams: a slot of several megabytes goes through the spill
// without the checkpoint keeping it, and big record scratch is dropped.
func TestCopyAsideStreamsBigSlot(t *testing.T) {
	s, _ := openTest(t)
	c, err := s.NewCheckpoint(t.TempDir(), Record{Seq: 1})
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	val := bytes.Repeat([]byte("0123456789abcdef"), 8<<10) // 128 KB
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "{s}key%03d", i)
	}
	SortKeys(keys)
	huge := memtier.NewString(bytes.Repeat([]byte("h"), 3<<20))
	slot := memtier.SlotOf([]byte("s"))
	if err := c.WriteAside(0, slot, func() error {
		for _, k := range keys {
			if err := c.Put(0, k, memtier.NewString(val), 0); err != nil {
				return err
			}
		}
		return c.Put(0, []byte("{s}zzzz-huge"), huge, 0)
	}); err != nil {
		t.Fatal(err)
	}
	if c.SpillBytes() < n*int64(len(val))+3<<20 {
		t.Errorf("SpillBytes = %d", c.SpillBytes())
	}
	if ok, err := c.CopyAside(0, slot); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if b := c.BufferedBytes(); b > 2*spillBufSize+spillScratchMax {
		t.Errorf("BufferedBytes = %d after copying a %d-byte slot", b, c.SpillBytes())
	}
	files, err := c.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.IngestCheckpoint(files); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if o, _, err := s.Load(0, k); err != nil || !bytes.Equal(o.Bytes(), val) {
			t.Fatalf("%s: %v", k, err)
		}
	}
	if o, _, err := s.Load(0, []byte("{s}zzzz-huge")); err != nil || !bytes.Equal(o.Bytes(), huge.Bytes()) {
		t.Fatalf("huge: %v", err)
	}
}

// Abort removes the spill file with the data files.
func TestAbortRemovesSpill(t *testing.T) {
	s, _ := openTest(t)
	dir := t.TempDir()
	c, err := s.NewCheckpoint(dir, Record{Seq: 5})
	if err != nil {
		t.Fatal(err)
	}
	first, later := "{a}k", "{z}k"
	if memtier.SlotOf([]byte(first)) > memtier.SlotOf([]byte(later)) {
		first, later = later, first
	}
	if err := c.Put(0, []byte(first), memtier.NewString([]byte("v")), 0); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteAside(0, memtier.SlotOf([]byte(later)), func() error {
		return c.Put(0, []byte(later), memtier.NewString([]byte("v")), 0)
	}); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Fatalf("checkpoint dir holds %d files, want a data file and the spill", len(ents))
	}
	if err := c.Abort(); err != nil {
		t.Fatal(err)
	}
	if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
		t.Errorf("after Abort the checkpoint dir holds %v (%v)", ents, err)
	}
}

// Keys front-run one at a time (a group per key, in random order across
// slots and within them) and the walker's own records of the same slots
// merge into exactly the records of the checkpoint written in order.
func TestWriteAsideKeyGroupsMergeInOrder(t *testing.T) {
	seed, second := asideFixture()
	rec := Record{Seq: 2, AOFSegment: 3, AOFOffset: 44, TimeMs: 1700000000001}
	inOrder := inOrderStore(t, seed, second, rec)

	aside := seededStore(t, seed)
	c, err := aside.NewCheckpoint(t.TempDir(), rec)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(9, 10))
	type keyOp struct {
		w  *slotWrites
		op slotOp
	}
	var early []keyOp
	asided := map[*slotWrites]map[string]bool{}
	for _, w := range second {
		if w.flush {
			continue // a flushed slot is front-run whole
		}
		asided[w] = map[string]bool{}
		for _, op := range w.ops {
			if rng.IntN(2) == 0 {
				early = append(early, keyOp{w, op})
				asided[w][op.key] = true
			}
		}
	}
	rng.Shuffle(len(early), func(i, j int) { early[i], early[j] = early[j], early[i] })
	for _, e := range early {
		one := &slotWrites{db: e.w.db, slot: e.w.slot, ops: []slotOp{e.op}}
		if err := c.WriteAside(e.w.db, e.w.slot, func() error { return one.write(c) }); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range second {
		rest := &slotWrites{db: w.db, slot: w.slot, flush: w.flush}
		for _, op := range w.ops {
			if !asided[w][op.key] {
				rest.ops = append(rest.ops, op)
			}
		}
		if err := rest.write(c); err != nil {
			t.Fatal(err)
		}
		ok, err := c.CopyAside(w.db, w.slot)
		if err != nil {
			t.Fatal(err)
		}
		if want := len(asided[w]) > 0; ok != want {
			t.Fatalf("CopyAside(%d, %d) = %v, want %v", w.db, w.slot, ok, want)
		}
	}
	if len(early) < 100 {
		t.Fatalf("only %d keys front-run", len(early))
	}
	finishIngest(t, aside, c)
	sameRecords(t, aside, inOrder)
}

// The misuses of the out-of-order writes are errors, not bad files.
func TestWriteAsideErrors(t *testing.T) {
	s, _ := openTest(t)
	c, err := s.NewCheckpoint(t.TempDir(), Record{Seq: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Abort()
	put := func(key string) error { return c.Put(0, []byte(key), memtier.NewString([]byte("v")), 0) }
	slotOf := func(tag string) int { return memtier.SlotOf([]byte(tag)) }
	// Pick tags by slot order: lo < mid < hi.
	tags := []string{"a", "b", "c", "d", "e"}
	slices.SortFunc(tags, func(x, y string) int { return slotOf(x) - slotOf(y) })
	lo, mid, hi, top := tags[0], tags[1], tags[2], tags[4]

	aside := func(tag string, fn func() error) error { return c.WriteAside(0, slotOf(tag), fn) }
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	wantErr := func(what, substr string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), substr) {
			t.Errorf("%s: error %v, want one containing %q", what, err, substr)
		}
	}
	must(put("{" + mid + "}k"))
	wantErr("aside a slot written in place", "already written in place", aside(mid, func() error { return nil }))
	wantErr("aside a slot behind the walker", "behind", aside(lo, func() error { return nil }))
	must(aside(hi, func() error { return put("{" + hi + "}k") }))
	wantErr("the same key aside twice", "overlap", aside(hi, func() error { return put("{" + hi + "}k") }))
	wantErr("overlapping groups aside", "overlap", aside(hi, func() error {
		must(put("{" + hi + "}a"))
		return put("{" + hi + "}z")
	}))
	must(aside(hi, func() error { return put("{" + hi + "}b") }))
	must(put("{" + hi + "}c")) // in place: copies the group of {hi}b first
	if ok, err := c.CopyAside(0, slotOf(hi)); !ok || err != nil {
		t.Fatalf("CopyAside of the rest of a slot = %v, %v", ok, err)
	}
	wantErr("write in place behind a group copied", "out of order", put("{"+hi+"}d"))
	wantErr("DeleteSlots over a slot written aside", "written aside", c.DeleteSlots(0, slotOf(mid)+1, memtier.NumSlots))
	wantErr("other slot inside WriteAside", "inside WriteAside", aside(top, func() error { return put("{" + hi + "}k") }))
	wantErr("key order inside WriteAside", "out of key order", aside(tags[3], func() error {
		must(put("{" + tags[3] + "}b"))
		return put("{" + tags[3] + "}a")
	}))
	wantErr("DeleteSlots after a key inside WriteAside", "only that slot, first", c.WriteAside(1, 7, func() error {
		must(c.Put(1, keyInSlot(t, 7), memtier.NewString([]byte("v")), 0))
		return c.DeleteSlots(1, 7, 8)
	}))
	wantErr("nested WriteAside", "inside WriteAside", c.WriteAside(2, 1, func() error {
		return c.WriteAside(2, 2, func() error { return nil })
	}))
	wantErr("Split inside WriteAside", "Split inside WriteAside", c.WriteAside(2, 3, c.Split))
	if _, err := c.Finish(); err == nil || !strings.Contains(err.Error(), "never copied") {
		t.Errorf("Finish with slots never copied: %v", err)
	}
	if ok, err := c.CopyAside(5, 0); ok || err != nil {
		t.Errorf("CopyAside of a slot not written aside = %v, %v", ok, err)
	}
}

// keyInSlot finds a key of slot.
func keyInSlot(t *testing.T, slot int) []byte {
	t.Helper()
	for i := 0; i < 1_000_000; i++ {
		k := fmt.Appendf(nil, "k%d", i)
		if memtier.SlotOf(k) == slot {
			return k
		}
	}
	t.Fatalf("no key of slot %d", slot)
	return nil
}
