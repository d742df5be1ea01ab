package memtier

import (
	"iter"
	"math/bits"
)

// Marks of a key in a slot's table: the checkpoint sets it is in (see the
// top of persist.go). A key with marks and no value is a tombstone, a key
// deleted since the disk's copy was written.
const (
	markDirty   uint8 = 1 << iota // changed since a checkpoint wrote the slot
	markSince                     // while the slot is split: changed since P
	markPending                   // written by the running checkpoint, not committed
	numMarks    = iota
)

// slotKeys is one slot's keys: the value of each key in memory, and each
// key's marks. Keeping the marks beside the values (instead of in sets of
// their own, as Go maps) costs a changed key no lookup and no memory beyond
// its byte of marks, and leaves no garbage when a checkpoint empties a set
// (bench/persistence, run 12).
//
// Every key held has a value, marks, or both: a key left with neither is
// removed.
type slotKeys struct {
	t      table[*Object]
	live   int           // keys with a value
	marked [numMarks]int // keys with each mark, by bit position
}

// get returns key's value, or nil.
func (k *slotKeys) get(key string) *Object {
	if v, _ := k.t.at(key); v != nil {
		return *v
	}
	return nil
}

// has reports whether key has a value.
func (k *slotKeys) has(key string) bool { return k.get(key) != nil }

// len is the number of keys with a value.
func (k *slotKeys) len() int { return k.live }

// set stores o (not nil) under key and reports whether key had no value. A
// borrowed key is copied if the table has to keep it.
func (k *slotKeys) set(key string, o *Object, borrowed bool) bool {
	v, _, _ := k.t.ref(key, borrowed)
	added := *v == nil
	if added {
		k.live++
	}
	*v = o
	return added
}

// remove drops key's value and reports whether it had one. A key with
// marks stays, as a tombstone.
func (k *slotKeys) remove(key string) bool {
	v, m := k.t.at(key)
	if v == nil || *v == nil {
		return false
	}
	k.live--
	if *m == 0 {
		k.t.delete(key)
	} else {
		*v = nil
	}
	return true
}

// all yields every key with a value, and the value. The loop body may
// remove keys and change marks, but must not add keys.
func (k *slotKeys) all() iter.Seq2[string, *Object] {
	return func(yield func(string, *Object) bool) {
		k.t.scan(0, func(key string, v **Object, _ *uint8) bool {
			return *v == nil || yield(key, *v)
		})
	}
}

// reserve makes room for n more keys.
func (k *slotKeys) reserve(n int) { k.t.reserve(n) }

// isMarked reports whether key has any of the marks in m.
func (k *slotKeys) isMarked(key string, m uint8) bool {
	_, marks := k.t.at(key)
	return marks != nil && *marks&m != 0
}

// mark gives key mark m (one bit), adding key as a tombstone if it is not
// held (a copy of it when borrowed), and reports whether key lacked m.
func (k *slotKeys) mark(key string, m uint8, borrowed bool) bool {
	_, marks, _ := k.t.ref(key, borrowed)
	if *marks&m != 0 {
		return false
	}
	*marks |= m
	k.marked[bitIndex(m)]++
	return true
}

// unmark takes mark m (one bit) from key and reports whether it had it. A
// tombstone left with no marks is removed.
func (k *slotKeys) unmark(key string, m uint8) bool {
	v, marks := k.t.at(key)
	if marks == nil || *marks&m == 0 {
		return false
	}
	*marks &^= m
	k.marked[bitIndex(m)]--
	if *marks == 0 && *v == nil {
		k.t.delete(key)
	}
	return true
}

// count is the number of keys with mark m (one bit).
func (k *slotKeys) count(m uint8) int { return k.marked[bitIndex(m)] }

// eachMarked yields every key with mark m, and its value (nil for a
// tombstone). The loop body may remove keys and change marks, but must not
// add keys.
func (k *slotKeys) eachMarked(m uint8) iter.Seq2[string, *Object] {
	return func(yield func(string, *Object) bool) {
		if k.count(m) == 0 {
			return
		}
		k.t.scan(m, func(key string, v **Object, _ *uint8) bool { return yield(key, *v) })
	}
}

// moveMark gives every key with mark from mark to instead, and returns how
// many it moved.
func (k *slotKeys) moveMark(from, to uint8) int {
	n := k.count(from)
	if n == 0 {
		return 0
	}
	k.t.scan(from, func(_ string, _ **Object, marks *uint8) bool {
		if *marks&to == 0 {
			k.marked[bitIndex(to)]++
		}
		*marks = *marks&^from | to
		return true
	})
	k.marked[bitIndex(from)] = 0
	return n
}

// clearMark takes mark m from every key, removing the tombstones left with
// no marks.
func (k *slotKeys) clearMark(m uint8) {
	if k.count(m) == 0 {
		return
	}
	k.t.scan(m, func(key string, v **Object, marks *uint8) bool {
		if *marks &^= m; *marks == 0 && *v == nil {
			k.t.delete(key)
		}
		return true
	})
	k.marked[bitIndex(m)] = 0
}

// dropValues removes every value, keeping the marked keys as tombstones:
// a flushed slot.
func (k *slotKeys) dropValues() {
	k.t.scan(0, func(key string, v **Object, marks *uint8) bool {
		if *marks == 0 {
			k.t.delete(key)
		} else {
			*v = nil
		}
		return true
	})
	k.live = 0
}

// bitIndex is the position of mark m, a single bit.
func bitIndex(m uint8) int { return bits.TrailingZeros8(m) }
