package disktier

import (
	"fmt"
	"slices"
	"testing"

	"github.com/structd/structd/memtier"
)

// loadedSlot renders what one slot load hands out: keys, values, expiries.
func loadedSlot(t *testing.T, load func(fn func([]byte, *memtier.Object, int64) bool) error) []string {
	t.Helper()
	var out []string
	if err := load(func(key []byte, o *memtier.Object, exp int64) bool {
		out = append(out, fmt.Sprintf("%s=%s@%d", key, dump(o), exp))
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// A SlotReader hands out, slot by slot, what LoadSlot does: every type,
// in slots visited in order, skipped, revisited and stopped early, and
// after a checkpoint is ingested between two slots it reads the new state
// (it reopens its iterator).
func TestSlotReaderMatchesLoadSlot(t *testing.T) {
	s, _ := openTest(t)
	const db = 2
	var cs []change
	for name, o := range roundTripCases() {
		for i := range 3 {
			cs = append(cs, change{db, fmt.Sprintf("{t%d}%s", i, name), o})
		}
	}
	for i := range 2000 {
		cs = append(cs, change{db, fmt.Sprintf("k%d", i), memtier.NewString(fmt.Appendf(nil, "v%d", i))},
			change{db + 1, fmt.Sprintf("k%d", i), memtier.NewString([]byte("other db"))})
	}
	if err := s.IngestCheckpoint(writeCheckpoint(t, s, 1, cs)); err != nil {
		t.Fatal(err)
	}
	r := s.NewSlotReader(db)
	defer r.Close()
	check := func(slot int) {
		t.Helper()
		want := loadedSlot(t, func(fn func([]byte, *memtier.Object, int64) bool) error { return s.LoadSlot(db, slot, fn) })
		got := loadedSlot(t, func(fn func([]byte, *memtier.Object, int64) bool) error { return r.Load(slot, fn) })
		if !slices.Equal(got, want) {
			t.Fatalf("slot %d: SlotReader %.300q, LoadSlot %.300q", slot, got, want)
		}
	}
	visited := 0
	for slot := 0; slot < memtier.NumSlots; slot += 1 + slot%3 { // slots 2 mod 3 skipped
		check(slot)
		if slot == 4999 {
			// Stop early in the middle of a slot; the next slot is whole.
			calls := 0
			if err := r.Load(slot, func([]byte, *memtier.Object, int64) bool { calls++; return false }); err != nil {
				t.Fatal(err)
			}
		}
		if slot == 7999 {
			// A checkpoint replaces and deletes keys of later slots.
			var next []change
			for i := range 2000 {
				k := fmt.Sprintf("k%d", i)
				if memtier.SlotOf([]byte(k)) > 7999 {
					var o *memtier.Object
					if i%2 == 0 {
						o = memtier.NewString([]byte("new"))
					}
					next = append(next, change{db, k, o})
				}
			}
			if err := s.IngestCheckpoint(writeCheckpoint(t, s, 2, next)); err != nil {
				t.Fatal(err)
			}
		}
		visited++
	}
	check(3) // back to an earlier slot
	check(memtier.SlotOf([]byte("{t1}")))
	if err := r.Load(memtier.NumSlots, func([]byte, *memtier.Object, int64) bool { return true }); err == nil {
		t.Error("Load of slot 16384 succeeded")
	}
	if visited != 10923 {
		t.Fatalf("%d slots visited", visited)
	}
}
