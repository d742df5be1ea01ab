package disktier

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/structd/structd/memtier"
)

// slotCounts collects SlotCounts of db, checking the slot order.
func slotCounts(t *testing.T, s *Store, db int) map[int]SlotCount {
	t.Helper()
	got := map[int]SlotCount{}
	prev := -1
	if err := s.SlotCounts(db, func(slot int, c SlotCount) bool {
		if slot <= prev || c.Keys <= 0 {
			t.Errorf("db %d: slot %d (count %v) after slot %d", db, slot, c, prev)
		}
		prev = slot
		got[slot] = c
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

// The count records hold each slot's keys and keys with a TTL through
// batch puts (new keys, overwrites that add or drop a TTL), checkpoint
// deletions and FLUSHDB.
func TestSlotCounts(t *testing.T) {
	s, _ := openTest(t)
	for db := 0; db < 3; db++ {
		if got := slotCounts(t, s, db); len(got) != 0 {
			t.Errorf("empty store: db %d counts %v", db, got)
		}
	}
	want := map[int]map[int]SlotCount{0: {}, 1: {}, 2: {}}
	count := func(db int, key []byte, keys, expires int64) {
		c := want[db][memtier.SlotOf(key)]
		c.Keys += keys
		c.Expires += expires
		want[db][memtier.SlotOf(key)] = c
	}
	b := s.NewBatch()
	for db := 0; db < 3; db++ {
		for i := 0; i < 40*(db+1); i++ {
			key := fmt.Appendf(nil, "{tag%d}k%d", i%(7+db), i)
			ttl := int64(0)
			if i%3 == 0 {
				ttl = 1_700_000_000_000
			}
			if err := b.Put(db, key, memtier.NewString([]byte("v")), ttl); err != nil {
				t.Fatal(err)
			}
			count(db, key, 1, b2i(ttl != 0))
		}
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	// Overwrites: {tag0}k0 loses its TTL, {tag1}k1 gains one.
	b = s.NewBatch()
	for _, w := range []struct {
		key     string
		ttl     int64
		expires int64
	}{{"{tag0}k0", 0, -1}, {"{tag1}k1", 1_800_000_000_000, 1}} {
		if err := b.Put(0, []byte(w.key), memtier.NewString([]byte("w")), w.ttl); err != nil {
			t.Fatal(err)
		}
		count(0, []byte(w.key), 0, w.expires)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	for db := 0; db < 3; db++ {
		if got := slotCounts(t, s, db); !maps.Equal(got, want[db]) {
			t.Errorf("db %d: counts %v, want %v", db, got, want[db])
		}
	}
	// Stopping early stops.
	calls := 0
	if err := s.SlotCounts(2, func(int, SlotCount) bool { calls++; return calls < 3 }); err != nil || calls != 3 {
		t.Errorf("early stop: %d calls, %v", calls, err)
	}
	// A slot emptied by a checkpoint disappears; FLUSHDB empties a db.
	var gone []change
	for i := 0; i < 40; i++ {
		if i%7 == 3 {
			gone = append(gone, change{0, fmt.Sprintf("{tag3}k%d", i), nil})
		}
	}
	if err := s.IngestCheckpoint(writeCheckpoint(t, s, 1, gone)); err != nil {
		t.Fatal(err)
	}
	delete(want[0], memtier.SlotOf([]byte("tag3")))
	b = s.NewBatch()
	if err := b.DeleteDB(1); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	want[1] = map[int]SlotCount{}
	for db := 0; db < 3; db++ {
		if got := slotCounts(t, s, db); !maps.Equal(got, want[db]) {
			t.Errorf("after deletes: db %d counts %v, want %v", db, got, want[db])
		}
	}
}

// A count record written before records carried the TTL count (one
// uvarint) reads as an unknown TTL count, and stays unknown through
// changes counted by lookups; a record whose TTL count exceeds its keys,
// or with bytes left over, is corrupt.
func TestSlotCountRecordVersions(t *testing.T) {
	for _, c := range []struct {
		v    []byte
		want SlotCount
		ok   bool
	}{
		{[]byte{5}, SlotCount{5, -1}, true},
		{[]byte{5, 2}, SlotCount{5, 2}, true},
		{[]byte{5, 5}, SlotCount{5, 5}, true},
		{[]byte{5, 6}, SlotCount{}, false},
		{[]byte{5, 2, 0}, SlotCount{}, false},
		{[]byte{0x80}, SlotCount{}, false},
		{nil, SlotCount{}, false},
	} {
		got, err := decodeSlotCount(c.v)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("decodeSlotCount(%v) = %v, %v; want %v (ok %v)", c.v, got, err, c.want, c.ok)
		}
		if c.ok && string(appendCount(nil, got)) != string(c.v) {
			t.Errorf("appendCount(%v) = %v, want %v", got, appendCount(nil, got), c.v)
		}
	}
	s, _ := openTest(t)
	key := []byte("{old}a")
	slot := memtier.SlotOf(key)
	if err := s.db.Set(countKey(0, slot), []byte{1}, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Set(append(appendKeyBase(nil, 0, slot, key), kindMeta), appendMeta(nil, Meta{Type: memtier.TypeString, Count: 1}), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	b := s.NewBatch()
	if err := b.Put(0, []byte("{old}b"), memtier.NewString([]byte("v")), 1_700_000_000_000); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if c, err := s.SlotCount(0, slot); err != nil || c != (SlotCount{2, -1}) {
		t.Errorf("old record after a put: %v %v, want 2 keys, TTL count unknown", c, err)
	}
}

// LoadSlot yields every key of the slot, in record order, with the object
// and expiry Load gives, for every type, encoding and layout.
func TestLoadSlotMatchesLoad(t *testing.T) {
	s, _ := openTest(t)
	cases := roundTripCases()
	const db = 3
	b := s.NewBatch()
	var keys [][]byte
	i := int64(0)
	for name, o := range cases {
		i++
		key := []byte("{slot}" + name)
		keys = append(keys, key)
		exp := int64(0)
		if i%2 == 0 {
			exp = 1700000000000 + i
		}
		if err := b.Put(db, key, o, exp); err != nil {
			t.Fatal(err)
		}
		// Neighbours in the slots around and in other databases.
		if err := b.Put(db, []byte(name), o, 0); err != nil {
			t.Fatal(err)
		}
		if err := b.Put(db+1, key, memtier.NewString([]byte("other db")), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	SortKeys(keys)
	slot := memtier.SlotOf([]byte("slot"))
	var got [][]byte
	if err := s.LoadSlot(db, slot, func(key []byte, o *memtier.Object, exp int64) bool {
		got = append(got, bytes.Clone(key))
		want, wexp, err := s.Load(db, key)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if dump(o) != dump(want) || exp != wexp {
			t.Errorf("%s: LoadSlot %.200s exp %d, Load %.200s exp %d", key, dump(o), exp, dump(want), wexp)
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(got, keys, bytes.Equal) {
		t.Errorf("LoadSlot keys %q, want %q", got, keys)
	}
	calls := 0
	if err := s.LoadSlot(db, slot, func([]byte, *memtier.Object, int64) bool { calls++; return calls < 2 }); err != nil || calls != 2 {
		t.Errorf("early stop: %d calls, %v", calls, err)
	}
	if err := s.LoadSlot(db, slot+1, func(key []byte, _ *memtier.Object, _ int64) bool {
		t.Errorf("key %q in an empty slot", key)
		return true
	}); err != nil {
		t.Error(err)
	}
	if err := s.LoadSlot(db, memtier.NumSlots, func([]byte, *memtier.Object, int64) bool { return true }); err == nil {
		t.Error("LoadSlot of slot 16384 succeeded")
	}
}

// A record that fails to decode fails LoadSlot, and the key is never handed
// out; the keys before it are.
func TestLoadSlotRefusesCorruptRecords(t *testing.T) {
	big := roundTripCases()["zset skiplist big"]
	for name, corruptIt := range map[string]func(s *Store) error{
		"bad metadata version": func(s *Store) error {
			return s.db.Set(append(appendKeyBase(nil, 0, memtier.SlotOf([]byte("t")), []byte("{t}m")), kindMeta), []byte{99, 0, 0, 0}, pebble.Sync)
		},
		"short zset score": func(s *Store) error {
			k := append(appendKeyBase(nil, 0, memtier.SlotOf([]byte("t")), []byte("{t}m")), kindElem)
			return s.db.Set(append(k, "zm5"...), []byte{1, 2, 3}, pebble.Sync)
		},
		"sub-key without metadata": func(s *Store) error {
			k := append(appendKeyBase(nil, 0, memtier.SlotOf([]byte("t")), []byte("{t}m-stray")), kindElem)
			return s.db.Set(append(k, 'x'), nil, pebble.Sync)
		},
		"element count mismatch": func(s *Store) error {
			k := append(appendKeyBase(nil, 0, memtier.SlotOf([]byte("t")), []byte("{t}m")), kindElem)
			return s.db.Set(append(k, "an extra member"...), make([]byte, 8), pebble.Sync)
		},
	} {
		t.Run(name, func(t *testing.T) {
			s, _ := openTest(t)
			b := s.NewBatch()
			for _, k := range []string{"{t}a", "{t}m", "{t}z"} {
				o := memtier.NewString([]byte("fine"))
				if k == "{t}m" {
					o = big
				}
				if err := b.Put(0, []byte(k), o, 0); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.Commit(); err != nil {
				t.Fatal(err)
			}
			if m, err := s.Meta(0, []byte("{t}m")); err != nil || m.Layout != LayoutElems {
				t.Fatalf("zset layout %v %v", m.Layout, err)
			}
			if err := corruptIt(s); err != nil {
				t.Fatal(err)
			}
			var seen []string
			err := s.LoadSlot(0, memtier.SlotOf([]byte("t")), func(key []byte, o *memtier.Object, _ int64) bool {
				seen = append(seen, string(key))
				return true
			})
			if err == nil || (!errors.Is(err, errCorrupt) && !strings.Contains(err.Error(), "version")) {
				t.Fatalf("LoadSlot over a corrupt record: %v (keys %q)", err, seen)
			}
			bad := "{t}m"
			if name == "sub-key without metadata" {
				bad = "{t}m-stray" // sorts after {t}z: uvarint(10) > uvarint(3)
			}
			if slices.Contains(seen, bad) || !slices.Contains(seen, "{t}a") {
				t.Errorf("keys handed out before the error: %q", seen)
			}
			if _, _, lerr := s.Load(0, []byte("{t}m")); name != "sub-key without metadata" && lerr == nil {
				t.Errorf("Load accepts what LoadSlot refuses (%v)", err)
			}
		})
	}
}
