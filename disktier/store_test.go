package disktier

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/structd/structd/memtier"
	"github.com/structd/structd/memtier/types"
)

// rawCount counts the Pebble records in [lo, hi).
func rawCount(t *testing.T, s *Store, lo, hi []byte) int {
	t.Helper()
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for it.First(); it.Valid(); it.Next() {
		n++
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	return n
}

func keyRange(db int, key []byte) (lo, hi []byte) {
	base := appendKeyBase(nil, db, memtier.SlotOf(key), key)
	return append(base[:len(base):len(base)], kindMeta), append(base[:len(base):len(base)], kindEnd)
}

// A hash of a million fields lives under a million sub-keys; changing one
// field writes that field's sub-key and the metadata record, a few dozen
// bytes, not the hash.
func TestMillionFieldHashUpdatesOneSubKey(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 1M-field hash")
	}
	s, _ := openTest(t)
	const n = 1_000_000
	h := types.NewHash()
	for i := 0; i < n; i++ {
		h.Set(fmt.Appendf(nil, "field:%07d", i), fmt.Appendf(nil, "v%d", i), types.DefaultHashLimits)
	}
	o := memtier.NewCollection(h)
	key := []byte("big")
	b := s.NewBatch()
	if err := b.Put(0, key, o, 0); err != nil {
		t.Fatal(err)
	}
	full := b.Size()
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if full < n*10 {
		t.Fatalf("full write of %d fields is only %d bytes", n, full)
	}
	lo, hi := keyRange(0, key)
	if got := rawCount(t, s, lo, hi); got != n+1 {
		t.Fatalf("%d records under the key, want %d sub-keys + metadata", got, n+1)
	}

	h.Set([]byte("field:0500000"), []byte("changed"), types.DefaultHashLimits)
	h.Delete([]byte("field:0000007"))
	h.Set([]byte("new field"), []byte("new"), types.DefaultHashLimits)
	b = s.NewBatch()
	if err := b.PutFields(0, key, o, 1234, [][]byte{[]byte("field:0500000"), []byte("field:0000007"), []byte("new field")}); err != nil {
		t.Fatal(err)
	}
	delta := b.Size()
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	t.Logf("full write %d bytes, three-field update %d bytes", full, delta)
	if delta > 300 {
		t.Errorf("three-field update wrote %d bytes; want only the three sub-keys and the metadata", delta)
	}
	got, exp, err := s.Load(0, key)
	if err != nil {
		t.Fatal(err)
	}
	gh := got.Payload().(*types.Hash)
	if exp != 1234 || gh.Len() != n || got.EncodingName() != "hashtable" {
		t.Fatalf("loaded exp %d len %d enc %s", exp, gh.Len(), got.EncodingName())
	}
	for f, want := range map[string]string{"field:0500000": "changed", "new field": "new", "field:0999999": "v999999"} {
		if v, ok := gh.Get([]byte(f)); !ok || v.String() != want {
			t.Errorf("%s = %q %v, want %q", f, v.String(), ok, want)
		}
	}
	if gh.Exists([]byte("field:0000007")) {
		t.Error("deleted field came back")
	}

	// Deleting the key removes every sub-key with one range deletion.
	b = s.NewBatch()
	if err := b.Delete(0, key); err != nil {
		t.Fatal(err)
	}
	if b.Size() > 100 {
		t.Errorf("deleting the hash wrote %d bytes", b.Size())
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := rawCount(t, s, lo, hi); got != 0 {
		t.Errorf("%d records left after Delete", got)
	}
	if c, _ := s.Count(0); c != 0 {
		t.Errorf("Count = %d after deleting the only key", c)
	}
}

func TestPutReplacesSubKeysAndSwitchesLayout(t *testing.T) {
	s, _ := openTest(t)
	key := []byte("s")
	put := func(o *memtier.Object) {
		t.Helper()
		b := s.NewBatch()
		if err := b.Put(0, key, o, 0); err != nil {
			t.Fatal(err)
		}
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
		got, _, err := s.Load(0, key)
		if err != nil {
			t.Fatal(err)
		}
		if dump(got) != dump(o) {
			t.Fatalf("got %.200s want %.200s", dump(got), dump(o))
		}
	}
	put(setOf(512, seq("a", 5000)...))  // sub-keys
	put(setOf(512, seq("b", 3000)...))  // sub-keys, all replaced
	put(setOf(512, "1", "2"))           // inline: old sub-keys go
	put(memtier.NewString([]byte("x"))) // another type under the same key
	lo, hi := keyRange(0, key)
	if got := rawCount(t, s, lo, hi); got != 1 {
		t.Errorf("%d records under the key, want the metadata only", got)
	}
	if c, _ := s.Count(0); c != 1 {
		t.Errorf("Count = %d, want 1 (replacing is not adding)", c)
	}
}

func TestDeleteDBAndCounts(t *testing.T) {
	s, _ := openTest(t)
	b := s.NewBatch()
	for db := 0; db < 3; db++ {
		for i := 0; i < 500; i++ {
			if err := b.Put(db, fmt.Appendf(nil, "k%d", i), memtier.NewString([]byte("v")), 0); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Put(db, []byte("bigset"), setOf(512, seq("m", 9000)...), 0); err != nil {
			t.Fatal(err)
		}
	}
	// Same key twice in one batch counts once.
	if err := b.Put(0, []byte("k1"), memtier.NewString([]byte("again")), 0); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	for db := 0; db < 3; db++ {
		if c, err := s.Count(db); err != nil || c != 501 {
			t.Fatalf("db %d Count = %d %v", db, c, err)
		}
	}
	b = s.NewBatch()
	if err := b.DeleteDB(1); err != nil {
		t.Fatal(err)
	}
	// Writes after the flush in the same batch survive it and count.
	if err := b.Put(1, []byte("after"), memtier.NewString([]byte("v")), 0); err != nil {
		t.Fatal(err)
	}
	if b.Size() > 200 {
		t.Errorf("FLUSHDB wrote %d bytes; want range deletions", b.Size())
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	want := map[int]int64{0: 501, 1: 1, 2: 501}
	for db, w := range want {
		if c, err := s.Count(db); err != nil || c != w {
			t.Errorf("db %d Count = %d %v, want %d", db, c, err, w)
		}
	}
	lo, hi := dbRange(1)
	if got := rawCount(t, s, lo, hi); got != 1 {
		t.Errorf("db 1 holds %d records after FLUSHDB and one SET", got)
	}
	if _, _, err := s.Load(2, []byte("bigset")); err != nil {
		t.Errorf("db 2 lost its set: %v", err)
	}
}

// Keys walks slot by slot, in record order within a slot, yields metadata
// without values, and steps over a big collection's sub-keys with one seek.
func TestColdKeyIterationOrder(t *testing.T) {
	s, _ := openTest(t)
	b := s.NewBatch()
	var keys [][]byte
	for i := 0; i < 2000; i++ {
		keys = append(keys, fmt.Appendf(nil, "key:%d", i))
	}
	keys = append(keys, []byte("{key:5}big"), bytes.Repeat([]byte("L"), 200))
	for i, k := range keys {
		o := memtier.NewString([]byte("v"))
		if string(k) == "{key:5}big" {
			o = hashOf(types.DefaultHashLimits, pairsOf(3000)...)
		}
		if err := b.Put(0, k, o, int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Put(1, []byte("other db"), memtier.NewString(nil), 0); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	var got []KeyInfo
	if err := s.Keys(0, 0, func(k KeyInfo) bool {
		k.Key = append([]byte(nil), k.Key...)
		got = append(got, k)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(keys) {
		t.Fatalf("Keys yielded %d keys, want %d", len(got), len(keys))
	}
	for i, k := range got {
		if k.Slot != memtier.SlotOf(k.Key) {
			t.Errorf("%q reported in slot %d", k.Key, k.Slot)
		}
		if i > 0 {
			p := got[i-1]
			if p.Slot > k.Slot || (p.Slot == k.Slot && !keyLess(p.Key, k.Key)) {
				t.Errorf("%q (slot %d) after %q (slot %d)", k.Key, k.Slot, p.Key, p.Slot)
			}
		}
		if string(k.Key) == "{key:5}big" && (k.Meta.Type != memtier.TypeHash || k.Meta.Count != 3000 || k.Meta.Layout != LayoutElems) {
			t.Errorf("big hash meta %+v", k.Meta)
		}
	}
	// Resuming from a slot yields exactly the keys of the later slots.
	from := got[len(got)/2].Slot
	var tail int
	if err := s.Keys(0, from, func(k KeyInfo) bool { tail++; return true }); err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, k := range got {
		if k.Slot >= from {
			want++
		}
	}
	if tail != want {
		t.Errorf("Keys from slot %d yielded %d keys, want %d", from, tail, want)
	}
	// Resuming after any key yields exactly the keys after it.
	for _, i := range []int{0, 1, len(got) / 3, len(got) - 2, len(got) - 1} {
		var after []string
		if err := s.KeysAfter(0, got[i].Key, func(k KeyInfo) bool { after = append(after, string(k.Key)); return true }); err != nil {
			t.Fatal(err)
		}
		if len(after) != len(got)-i-1 || (len(after) > 0 && after[0] != string(got[i+1].Key)) {
			t.Errorf("KeysAfter %q: %d keys, want %d", got[i].Key, len(after), len(got)-i-1)
		}
	}
}

// PutFields writes the whole key when the stored copy is missing, inline,
// or of another type or encoding; a payload the codec does not know is an
// error, not a panic.
func TestPutFieldsFallsBackToPut(t *testing.T) {
	s, _ := openTest(t)
	small := hashOf(types.DefaultHashLimits, "a", "1")
	big := hashOf(types.Limits{}, pairsOf(1000)...)
	for _, step := range []struct {
		o      *memtier.Object
		layout Layout
	}{
		{small, LayoutInline},                            // missing: written whole
		{hashOf(types.Limits{}, "a", "2"), LayoutInline}, // inline stored: whole
		{big, LayoutElems},                               // inline stored, now big: whole
		{setOf(512, seq("s", 1000)...), LayoutElems},     // another type: whole
	} {
		b := s.NewBatch()
		if err := b.PutFields(0, []byte("k"), step.o, 0, [][]byte{[]byte("a")}); err != nil {
			t.Fatal(err)
		}
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
		got, _, err := s.Load(0, []byte("k"))
		if err != nil {
			t.Fatal(err)
		}
		if dump(got) != dump(step.o) {
			t.Errorf("after PutFields: %.80s, want %.80s", dump(got), dump(step.o))
		}
		if m, _ := s.Meta(0, []byte("k")); m.Layout != step.layout {
			t.Errorf("%s layout %d, want %d", step.o.Type, m.Layout, step.layout)
		}
	}
	b := s.NewBatch()
	defer b.Close()
	if err := b.Put(0, []byte("x"), &memtier.Object{Type: memtier.TypeStream}, 0); err == nil {
		t.Error("a stream payload was encoded")
	}
}
