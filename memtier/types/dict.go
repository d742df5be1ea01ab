package types

import (
	"hash/maphash"
	"math"
	"math/bits"
	"math/rand/v2"
	"unsafe"
)

// ref locates a byte string in an arena: bytes [off, off+n) of buf, or, when
// n has refBig set, the separately allocated big[off].
type ref struct{ off, n uint32 }

const (
	refBig   = 1 << 31
	bigValue = 4096 // strings this long live outside the arena
	freeMark = math.MaxUint32
)

// arena packs many small strings into one pointer-free byte slice. Freed
// strings leave holes counted in dead; the owner compacts when holes
// dominate.
type arena struct {
	buf     []byte
	big     [][]byte
	bigFree []uint32
	dead    int
}

func (a *arena) put(b []byte) ref {
	if len(b) >= bigValue || len(a.buf)+len(b) > math.MaxUint32 {
		c := append([]byte(nil), b...)
		if n := len(a.bigFree); n > 0 {
			i := a.bigFree[n-1]
			a.bigFree = a.bigFree[:n-1]
			a.big[i] = c
			return ref{off: i, n: refBig}
		}
		a.big = append(a.big, c)
		return ref{off: uint32(len(a.big) - 1), n: refBig}
	}
	off := len(a.buf)
	a.buf = grow(a.buf, len(b))
	copy(a.buf[off:], b)
	return ref{off: uint32(off), n: uint32(len(b))}
}

func (a *arena) get(r ref) []byte {
	if r.n&refBig != 0 {
		return a.big[r.off]
	}
	return a.buf[r.off : r.off+r.n : r.off+r.n]
}

func (a *arena) free(r ref) {
	if r.n&refBig != 0 {
		a.big[r.off] = nil
		a.bigFree = append(a.bigFree, r.off)
		return
	}
	a.dead += int(r.n)
}

func (a *arena) size() int {
	n := cap(a.buf) + 24*cap(a.big) + 4*cap(a.bigFree)
	for _, b := range a.big {
		n += cap(b)
	}
	return n
}

// hashSeed is fixed for the process, so hashes survive table resizes.
var hashSeed = maphash.MakeSeed()

func hashOf(b []byte) uint32 {
	h := maphash.Bytes(hashSeed, b)
	return uint32(h ^ h>>32)
}

// dictEntry is one member of a dict. val comes first so a zero-size V adds
// no padding.
type dictEntry[V any] struct {
	val  V
	hash uint32
	next uint32 // index+1 of the next entry in the bucket chain (or free list); 0 ends it
	key  ref
}

// dict is a chained hash table whose buckets and entries are plain slices
// of integers and whose keys (and, for V = ref, values) live in an arena:
// no per-member heap object and no pointer for the GC to trace.
//
// Buckets are a power of two; the table doubles when the member count
// exceeds the bucket count and halves when it falls under an eighth of it.
// Entry indexes are stable except across compact, which reports moves to
// onMove. Scan uses Redis's reverse-binary cursor over buckets, so a member
// present for a whole scan is returned at least once across resizes.
type dict[V any] struct {
	buckets []uint32 // index+1 of the first entry, 0 for empty
	entries []dictEntry[V]
	free    uint32 // index+1 of the first free entry
	nfree   int
	count   int
	arena   arena
	onMove  func(from, to uint32)
}

func newDict[V any](hint int) *dict[V] {
	n := 4
	for n < hint {
		n <<= 1
	}
	return &dict[V]{buckets: make([]uint32, n), entries: make([]dictEntry[V], 0, hint)}
}

func (d *dict[V]) len() int { return d.count }

func (d *dict[V]) key(i uint32) []byte { return d.arena.get(d.entries[i].key) }

// find returns the entry index of key.
func (d *dict[V]) find(key []byte) (uint32, bool) {
	h := hashOf(key)
	for j := d.buckets[h&uint32(len(d.buckets)-1)]; j != 0; {
		e := &d.entries[j-1]
		if e.hash == h && string(d.arena.get(e.key)) == string(key) {
			return j - 1, true
		}
		j = e.next
	}
	return 0, false
}

// insert adds key (which must be absent) and returns its entry index.
func (d *dict[V]) insert(key []byte, val V) uint32 {
	if d.count >= len(d.buckets) {
		d.rehash(len(d.buckets) * 2)
	}
	h := hashOf(key)
	var i uint32
	if d.free != 0 {
		i = d.free - 1
		d.free = d.entries[i].next
		d.nfree--
	} else {
		d.entries = append(d.entries, dictEntry[V]{})
		i = uint32(len(d.entries) - 1)
	}
	b := h & uint32(len(d.buckets)-1)
	d.entries[i] = dictEntry[V]{val: val, hash: h, next: d.buckets[b], key: d.arena.put(key)}
	d.buckets[b] = i + 1
	d.count++
	return i
}

// remove deletes entry i, found by a previous find.
func (d *dict[V]) remove(i uint32) {
	e := &d.entries[i]
	p := &d.buckets[e.hash&uint32(len(d.buckets)-1)]
	for *p != i+1 {
		p = &d.entries[*p-1].next
	}
	*p = e.next
	d.arena.free(e.key)
	if r, ok := any(&e.val).(*ref); ok {
		d.arena.free(*r)
	}
	var zero V
	*e = dictEntry[V]{val: zero, next: d.free, key: ref{off: freeMark, n: freeMark}}
	d.free = i + 1
	d.nfree++
	d.count--
	switch {
	case d.count == 0:
		*d = dict[V]{buckets: make([]uint32, 4), onMove: d.onMove}
	case len(d.buckets) > 4 && d.count*8 < len(d.buckets):
		d.rehash(len(d.buckets) / 2)
	}
	if d.nfree > 64 && d.nfree > len(d.entries)/2 {
		d.compact()
	} else {
		d.maybeCompactArena()
	}
}

// maybeCompactArena packs the arena when holes are over half of it.
func (d *dict[V]) maybeCompactArena() {
	if d.arena.dead > 4096 && d.arena.dead > len(d.arena.buf)/2 {
		d.compactArena()
	}
}

func (d *dict[V]) live(i int) bool { return d.entries[i].key.n != freeMark }

// rehash rebuilds the bucket chains for n buckets.
func (d *dict[V]) rehash(n int) {
	d.buckets = make([]uint32, n)
	mask := uint32(n - 1)
	for i := range d.entries {
		e := &d.entries[i]
		if e.key.n == freeMark {
			continue
		}
		b := e.hash & mask
		e.next = d.buckets[b]
		d.buckets[b] = uint32(i) + 1
	}
}

// compact drops free entries (renumbering the live ones) and packs the arena.
func (d *dict[V]) compact() {
	j := 0
	for i := range d.entries {
		if !d.live(i) {
			continue
		}
		if i != j {
			d.entries[j] = d.entries[i]
			if d.onMove != nil {
				d.onMove(uint32(i), uint32(j))
			}
		}
		j++
	}
	d.entries = append([]dictEntry[V](nil), d.entries[:j]...)
	d.free, d.nfree = 0, 0
	d.compactArena()
	d.rehash(len(d.buckets))
}

// compactArena copies the live strings into a fresh arena buffer.
func (d *dict[V]) compactArena() {
	buf := make([]byte, 0, len(d.arena.buf)-d.arena.dead)
	move := func(r *ref) {
		if r.n&refBig != 0 || r.n == freeMark {
			return
		}
		off := len(buf)
		buf = append(buf, d.arena.buf[r.off:r.off+r.n]...)
		r.off = uint32(off)
	}
	for i := range d.entries {
		e := &d.entries[i]
		move(&e.key)
		if r, ok := any(&e.val).(*ref); ok && e.key.n != freeMark {
			move(r)
		}
	}
	d.arena.buf, d.arena.dead = buf, 0
}

// scan calls fn for every entry of the bucket the cursor designates and
// returns the next cursor (0 when the scan is complete).
func (d *dict[V]) scan(cursor uint64, fn func(i uint32)) uint64 {
	mask := uint64(len(d.buckets) - 1)
	for j := d.buckets[cursor&mask]; j != 0; j = d.entries[j-1].next {
		fn(j - 1)
	}
	cursor |= ^mask
	cursor = bits.Reverse64(cursor)
	cursor++
	return bits.Reverse64(cursor)
}

// each calls fn for every live entry, in entry order, until fn returns false.
func (d *dict[V]) each(fn func(i uint32) bool) {
	for i := range d.entries {
		if d.live(i) && !fn(uint32(i)) {
			return
		}
	}
}

// random returns a uniformly chosen live entry; the dict must not be empty.
// Compaction keeps at least half the entries live, so this takes two tries
// on average.
func (d *dict[V]) random() uint32 {
	for {
		i := rand.IntN(len(d.entries))
		if d.live(i) {
			return uint32(i)
		}
	}
}

func (d *dict[V]) memSize() int {
	var e dictEntry[V]
	return 4*len(d.buckets) + int(unsafe.Sizeof(e))*cap(d.entries) + d.arena.size()
}

// clone deep-copies the dict (onMove is not copied: the owner sets its own).
func (d *dict[V]) clone() *dict[V] {
	c := &dict[V]{
		buckets: append([]uint32(nil), d.buckets...),
		entries: append([]dictEntry[V](nil), d.entries...),
		free:    d.free, nfree: d.nfree, count: d.count,
		arena: arena{
			buf:     append([]byte(nil), d.arena.buf...),
			big:     make([][]byte, len(d.arena.big)),
			bigFree: append([]uint32(nil), d.arena.bigFree...),
			dead:    d.arena.dead,
		},
	}
	for i, b := range d.arena.big {
		if b != nil {
			c.arena.big[i] = append([]byte(nil), b...)
		}
	}
	return c
}

// randomDistinct returns k distinct live entries (k < count), chosen
// uniformly: by a partial shuffle of all entries when k is a large share of
// the dict (as Redis copies and trims), by rejection otherwise.
func (d *dict[V]) randomDistinct(k int) []uint32 {
	out := make([]uint32, 0, k)
	if k*3 > d.count {
		all := make([]uint32, 0, d.count)
		d.each(func(i uint32) bool { all = append(all, i); return true })
		for j := 0; j < k; j++ {
			r := j + rand.IntN(len(all)-j)
			all[j], all[r] = all[r], all[j]
		}
		return append(out, all[:k]...)
	}
	seen := make(map[uint32]struct{}, k)
	for len(out) < k {
		i := d.random()
		if _, dup := seen[i]; !dup {
			seen[i] = struct{}{}
			out = append(out, i)
		}
	}
	return out
}
