package types

import (
	"math/rand/v2"
	"unsafe"
)

// Limits are the conversion thresholds of a compact encoding, read from the
// config at each write so CONFIG SET applies to the next change:
// hash-max-listpack-entries/-value, zset-max-listpack-entries/-value.
type Limits struct {
	Entries int // most entries the compact form holds
	Value   int // longest field, member or value (bytes) it holds
}

// Redis 7.0's defaults.
var (
	DefaultHashLimits = Limits{Entries: 512, Value: 64}
	DefaultZSetLimits = Limits{Entries: 128, Value: 64}
)

// DefaultSetMaxIntset is set-max-intset-entries' default.
const DefaultSetMaxIntset = 512

// Hash is a hash value. It starts as a listpack of field, value pairs in
// insertion order (new fields append, updates replace in place) and
// converts, never back, to a hashtable when a field or value longer than
// Limits.Value is stored or the count exceeds Limits.Entries, as Redis's
// hashTypeSet does.
type Hash struct {
	lp []byte     // field, value, field, value ...; unused once ht is set
	ht *dict[ref] // field -> value (in the dict's arena)
}

// NewHash returns an empty hash in the listpack encoding.
func NewHash() *Hash { return &Hash{} }

// Len is the number of fields.
func (h *Hash) Len() int {
	if h.ht != nil {
		return h.ht.len()
	}
	return lpCount(h.lp) / 2
}

// Encoding is the name OBJECT ENCODING reports.
func (h *Hash) Encoding() string {
	if h.ht != nil {
		return "hashtable"
	}
	return "listpack"
}

// lpFind returns the offset of field's entry in the listpack, or -1.
func (h *Hash) lpFind(field []byte) int {
	pos, _ := lpFindPair(h.lp, field)
	return pos
}

// Get returns field's value.
func (h *Hash) Get(field []byte) (Elem, bool) {
	if h.ht != nil {
		i, ok := h.ht.find(field)
		if !ok {
			return Elem{}, false
		}
		return Elem{S: h.ht.arena.get(h.ht.entries[i].val)}, true
	}
	pos := h.lpFind(field)
	if pos < 0 {
		return Elem{}, false
	}
	v, _ := lpGet(h.lp, pos+lpEntrySize(h.lp, pos))
	return v, true
}

// Exists reports whether field is present.
func (h *Hash) Exists(field []byte) bool {
	_, ok := h.Get(field)
	return ok
}

// StrLen is the length of field's value, 0 when absent (HSTRLEN).
func (h *Hash) StrLen(field []byte) int {
	v, _ := h.Get(field)
	return v.Len()
}

// ConvertIfTooLong converts to a hashtable when any of args is longer than
// lim.Value, as Redis's hashTypeTryConversion does for HSET's arguments
// before any of them is stored.
func (h *Hash) ConvertIfTooLong(args [][]byte, lim Limits) {
	if h.ht != nil {
		return
	}
	for _, a := range args {
		if len(a) > lim.Value {
			h.convert()
			return
		}
	}
}

// Set stores value under field, reporting whether the field is new.
func (h *Hash) Set(field, value []byte, lim Limits) (isNew bool) {
	if h.ht == nil && (len(field) > lim.Value || len(value) > lim.Value) {
		h.convert()
	}
	if h.ht != nil {
		if i, ok := h.ht.find(field); ok {
			e := &h.ht.entries[i]
			h.ht.arena.free(e.val)
			e.val = h.ht.arena.put(value)
			h.ht.maybeCompactArena()
			return false
		}
		h.ht.insert(field, h.ht.arena.put(value))
		return true
	}
	pos, pairs := lpFindPair(h.lp, field)
	if pos >= 0 {
		h.lp = lpReplace(h.lp, pos+lpEntrySize(h.lp, pos), strVal(value))
		// hashTypeSet checks the count after an update too, so a lowered
		// hash-max-listpack-entries converts on the next write. A pair
		// takes at least 4 bytes: only a long listpack needs counting.
		if len(h.lp)/4 > lim.Entries && h.Len() > lim.Entries {
			h.convert()
		}
		return false
	}
	h.lp = lpAppend(h.lp, strVal(field))
	h.lp = lpAppend(h.lp, strVal(value))
	if pairs+1 > lim.Entries {
		h.convert()
	}
	return true
}

// Delete removes field, reporting whether it was present.
func (h *Hash) Delete(field []byte) bool {
	if h.ht != nil {
		i, ok := h.ht.find(field)
		if ok {
			h.ht.remove(i)
		}
		return ok
	}
	pos := h.lpFind(field)
	if pos < 0 {
		return false
	}
	h.lp = lpDelete(h.lp, pos, 2)
	return true
}

// convert moves the listpack into a hashtable.
func (h *Hash) convert() {
	d := newDict[ref](h.Len())
	var fb, vb []byte
	for pos := 0; pos < len(h.lp); {
		var f, v Elem
		f, pos = lpGet(h.lp, pos)
		v, pos = lpGet(h.lp, pos)
		fb, vb = f.AppendTo(fb[:0]), v.AppendTo(vb[:0])
		d.insert(fb, d.arena.put(vb))
	}
	h.ht, h.lp = d, nil
}

// Each calls fn for every field and value until fn returns false: in
// insertion order for the listpack, in table order for the hashtable.
func (h *Hash) Each(fn func(field, value Elem) bool) {
	if h.ht != nil {
		h.ht.each(func(i uint32) bool { return fn(h.pair(i)) })
		return
	}
	for pos := 0; pos < len(h.lp); {
		var f, v Elem
		f, pos = lpGet(h.lp, pos)
		v, pos = lpGet(h.lp, pos)
		if !fn(f, v) {
			return
		}
	}
}

func (h *Hash) pair(i uint32) (Elem, Elem) {
	e := &h.ht.entries[i]
	return Elem{S: h.ht.arena.get(e.key)}, Elem{S: h.ht.arena.get(e.val)}
}

// Scan calls fn for the fields of one step of an HSCAN and returns the next
// cursor (0 when done). The listpack form returns everything at once, as
// Redis does; the hashtable form returns one bucket per call with Redis's
// reverse-binary cursor, so every field present for the whole scan is
// returned at least once, across resizes.
func (h *Hash) Scan(cursor uint64, fn func(field, value Elem)) uint64 {
	if h.ht != nil {
		return h.ht.scan(cursor, func(i uint32) { fn(h.pair(i)) })
	}
	h.Each(func(f, v Elem) bool { fn(f, v); return true })
	return 0
}

// Random calls fn with count fields and values chosen at random, for
// HRANDFIELD: count > 0 gives min(count, Len) distinct fields, count < 0
// gives -count fields that may repeat.
func (h *Hash) Random(count int, fn func(field, value Elem)) {
	n := h.Len()
	switch {
	case n == 0:
	case count < 0 && h.ht != nil:
		for ; count < 0; count++ {
			fn(h.pair(h.ht.random()))
		}
	case count < 0:
		offs := lpPairOffsets(h.lp)
		for ; count < 0; count++ {
			f, next := lpGet(h.lp, offs[rand.IntN(len(offs))])
			v, _ := lpGet(h.lp, next)
			fn(f, v)
		}
	case count >= n:
		h.Each(func(f, v Elem) bool { fn(f, v); return true })
	case h.ht != nil:
		for _, i := range h.ht.randomDistinct(count) {
			fn(h.pair(i))
		}
	default:
		// Selection sampling: each pair is taken with probability
		// needed/remaining, which yields a uniform subset in listpack order.
		need, left := count, n
		h.Each(func(f, v Elem) bool {
			if rand.IntN(left) < need {
				fn(f, v)
				need--
			}
			left--
			return need > 0
		})
	}
}

// Copy returns a deep copy, for COPY.
func (h *Hash) Copy() any {
	c := &Hash{}
	if h.ht != nil {
		c.ht = h.ht.clone()
	} else {
		c.lp = append([]byte(nil), h.lp...)
	}
	return c
}

// MemSize approximates the bytes the value occupies, for MEMORY USAGE.
func (h *Hash) MemSize() int {
	n := int(unsafe.Sizeof(*h))
	if h.ht != nil {
		return n + int(unsafe.Sizeof(*h.ht)) + h.ht.memSize()
	}
	return n + cap(h.lp)
}
