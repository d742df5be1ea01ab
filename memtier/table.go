package memtier

import (
	"hash/maphash"
	"math/bits"
	"unsafe"
)

// table is a hash table from strings to V: a slot's keys, with their
// checkpoint marks (slotKeys). Go's map would do, but reaching an entry of a map takes
// four dependent memory reads (the map's header, its directory, a table, a
// group), and on a keyspace of millions of keys each is a cache miss, often
// a TLB miss too: they were most of the CPU a SET of a new key cost
// (bench/persistence, run 12). A table is a field of the slot, so a lookup
// reads one group and, when it finds the key, the key's bytes.
//
// It is laid out as Go's map is (a SwissTable): groups of 8 slots, each
// group with a control word of one byte per slot (empty, deleted, or 7 bits
// of the key's hash), probed quadratically, at most 7/8 full. Each group
// also keeps 32 more bits of every key's hash, so growing never reads a
// key again, and a byte of marks per key for its owner (slotKeys keeps
// which checkpoint sets a key is in there), which a scan for marked keys
// reads without touching the keys.
//
// The zero table is empty and ready. Deleting while iterating (scan) is
// safe; inserting is not.
type table[V any] struct {
	groups     []tableGroup[V] // a power of two of them; nil while empty
	used       int             // full slots
	growthLeft int             // empty slots that may still fill before a rehash
}

type tableGroup[V any] struct {
	ctrl   uint64             // byte i: slot i's control byte
	hashes [groupSlots]uint32 // bits 7..38 of each full slot's hash: it picks the group
	marks  [groupSlots]uint8  // the owner's marks of each full slot's key
	slots  [groupSlots]tableSlot[V]
}

type tableSlot[V any] struct {
	key string
	val V
}

const (
	groupSlots  = 8
	ctrlEmpty   = 0x80 // 1000 0000
	ctrlDeleted = 0xFE // 1111 1110; a full slot's byte is 0hhh hhhh
	ctrlLSB     = 0x0101010101010101
	ctrlMSB     = 0x8080808080808080
	allEmpty    = ctrlEmpty * ctrlLSB
)

// tableSeed is fixed for the process, so hashes kept in groups stay valid.
var tableSeed = maphash.MakeSeed()

// hashParts splits key's hash into the bits that pick its first group (h1)
// and the 7 bits its control byte holds (h2).
func hashParts(key string) (h1 uint32, h2 uint8) {
	h := maphash.String(tableSeed, key)
	return uint32(h >> 7), uint8(h & 0x7f)
}

// matchH2 has the high bit set in every byte of ctrl equal to h2. It may
// also set it in the byte above a match (a false positive the key
// comparison rejects), as Go's map's does.
func matchH2(ctrl uint64, h2 uint8) uint64 {
	v := ctrl ^ (ctrlLSB * uint64(h2))
	return (v - ctrlLSB) &^ v & ctrlMSB
}

// matchEmpty has the high bit set in every empty byte of ctrl.
func matchEmpty(ctrl uint64) uint64 { return ctrl &^ (ctrl << 6) & ctrlMSB }

// matchFree has the high bit set in every empty or deleted byte of ctrl.
func matchFree(ctrl uint64) uint64 { return ctrl & ctrlMSB }

// firstSlot is the slot of the lowest byte set in a match.
func firstSlot(match uint64) int { return bits.TrailingZeros64(match) >> 3 }

func (g *tableGroup[V]) setCtrl(i int, c uint8) {
	shift := uint(i) * 8
	g.ctrl = g.ctrl&^(0xff<<shift) | uint64(c)<<shift
}

// find returns the group and slot holding key, or ok false.
func (t *table[V]) find(key string, h1 uint32, h2 uint8) (g, i int, ok bool) {
	mask := len(t.groups) - 1
	g = int(h1) & mask
	for step := 1; ; step++ {
		grp := &t.groups[g]
		for m := matchH2(grp.ctrl, h2); m != 0; m &= m - 1 {
			if i = firstSlot(m); grp.slots[i].key == key {
				return g, i, true
			}
		}
		if matchEmpty(grp.ctrl) != 0 {
			return 0, 0, false
		}
		g = (g + step) & mask
	}
}

// at returns where key's value and marks are stored, or nils when key is
// absent. The pointers are valid until the next insertion.
func (t *table[V]) at(key string) (*V, *uint8) {
	if t.used == 0 {
		return nil, nil
	}
	h1, h2 := hashParts(key)
	if g, i, ok := t.find(key, h1, h2); ok {
		grp := &t.groups[g]
		return &grp.slots[i].val, &grp.marks[i]
	}
	return nil, nil
}

// ref is at, adding key with the zero value and no marks when it is absent
// (a copy of it when clone is set: the key aliases bytes the caller will
// reuse). It reports whether it added key.
func (t *table[V]) ref(key string, clone bool) (*V, *uint8, bool) {
	h1, h2 := hashParts(key)
	if t.used > 0 {
		if g, i, ok := t.find(key, h1, h2); ok {
			grp := &t.groups[g]
			return &grp.slots[i].val, &grp.marks[i], false
		}
	}
	if clone {
		key = string([]byte(key))
	}
	g, i := t.insertAt(h1)
	grp := &t.groups[g]
	grp.setCtrl(i, h2)
	grp.hashes[i] = h1
	grp.slots[i].key = key
	t.used++
	return &grp.slots[i].val, &grp.marks[i], true
}

// insertAt returns a free slot for a key of hash h1 that is not in the
// table, growing the table first when an empty slot is all it could take
// and none may fill.
func (t *table[V]) insertAt(h1 uint32) (g, i int) {
	if t.groups == nil {
		t.rehash(1)
	}
	for {
		mask := len(t.groups) - 1
		g = int(h1) & mask
		for step := 1; ; step++ {
			grp := &t.groups[g]
			if m := matchFree(grp.ctrl); m != 0 {
				i = firstSlot(m)
				if grp.ctrl>>(i*8)&0xff == ctrlDeleted {
					return g, i // a deleted slot takes no growth
				}
				if t.growthLeft > 0 {
					t.growthLeft--
					return g, i
				}
				break
			}
			g = (g + step) & mask
		}
		// Full enough: double, or only drop the deleted slots when at
		// most half the slots are full.
		groups := len(t.groups)
		if t.used >= groups*groupSlots/2 {
			groups *= 2
		}
		t.rehash(groups)
	}
}

// rehash moves every key into a new array of n groups.
func (t *table[V]) rehash(n int) {
	old := t.groups
	t.groups = make([]tableGroup[V], n)
	for g := range t.groups {
		t.groups[g].ctrl = allEmpty
	}
	t.growthLeft = n*groupSlots*7/8 - t.used
	mask := n - 1
	for og := range old {
		src := &old[og]
		for m := ^src.ctrl & ctrlMSB; m != 0; m &= m - 1 {
			i := firstSlot(m)
			h1 := src.hashes[i]
			g := int(h1) & mask
			for step := 1; matchEmpty(t.groups[g].ctrl) == 0; step++ {
				g = (g + step) & mask
			}
			dst := &t.groups[g]
			j := firstSlot(matchEmpty(dst.ctrl))
			dst.setCtrl(j, uint8(src.ctrl>>(i*8)))
			dst.hashes[j] = h1
			dst.marks[j] = src.marks[i]
			dst.slots[j] = src.slots[i]
		}
	}
}

// reserve makes room for n more keys without growing on the way.
func (t *table[V]) reserve(n int) {
	want := t.used + n
	if want <= t.used+t.growthLeft {
		return
	}
	groups := 1
	for groups*groupSlots*7/8 < want {
		groups *= 2
	}
	t.rehash(groups)
}

// delete removes key and reports whether it was there.
func (t *table[V]) delete(key string) bool {
	if t.used == 0 {
		return false
	}
	h1, h2 := hashParts(key)
	g, i, ok := t.find(key, h1, h2)
	if !ok {
		return false
	}
	grp := &t.groups[g]
	grp.slots[i] = tableSlot[V]{} // drop the references
	grp.marks[i] = 0
	// A group with an empty slot never made a probe go on past it, so the
	// slot can be empty again; otherwise it must stay a marker.
	if matchEmpty(grp.ctrl) != 0 {
		grp.setCtrl(i, ctrlEmpty)
		t.growthLeft++
	} else {
		grp.setCtrl(i, ctrlDeleted)
	}
	if t.used--; t.used == 0 {
		// Nothing to keep: an emptied slot costs no memory. (The old
		// groups are marked first: a loop of all may still read them.)
		*t = table[V]{}
	}
	return true
}

// scan calls fn with every key, where its value is stored and its marks,
// in no particular order, until fn returns false. With want set it skips
// the keys with none of those marks, reading only the groups' headers for
// them. fn may delete keys (those not yet visited are then skipped) and
// change values and marks, but must not insert keys.
func (t *table[V]) scan(want uint8, fn func(key string, v *V, marks *uint8) bool) {
	for g := 0; g < len(t.groups); g++ {
		grp := &t.groups[g]
		for m := ^grp.ctrl & ctrlMSB; m != 0; m &= m - 1 {
			i := firstSlot(m)
			if grp.ctrl>>(i*8)&ctrlEmpty != 0 {
				continue // deleted by fn
			}
			if want != 0 && grp.marks[i]&want == 0 {
				continue
			}
			if !fn(grp.slots[i].key, &grp.slots[i].val, &grp.marks[i]) {
				return
			}
		}
	}
}

// unsafeString is b as a string without a copy, for lookups: the table
// must not keep it (ref copies it when asked to).
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
