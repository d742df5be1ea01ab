package types

import (
	"math/rand/v2"
	"sort"
	"unsafe"
)

// Set is a set value. It is an intset while every member is a canonical
// 64-bit integer and there are at most set-max-intset-entries of them, and
// converts, never back, to a hashtable when a non-integer member is added
// or the count exceeds the limit, as Redis 7.0's setTypeAdd does.
type Set struct {
	is intset
	ht *dict[struct{}]
}

// NewSet returns an empty set in the intset encoding (Redis creates a set
// from its first member, which the first Add reproduces).
func NewSet() *Set { return &Set{} }

// Len is the number of members.
func (s *Set) Len() int {
	if s.ht != nil {
		return s.ht.len()
	}
	return s.is.len()
}

// Encoding is the name OBJECT ENCODING reports.
func (s *Set) Encoding() string {
	if s.ht != nil {
		return "hashtable"
	}
	return "intset"
}

// Add inserts member, reporting whether it was absent. maxIntset is
// set-max-intset-entries.
func (s *Set) Add(member []byte, maxIntset int) bool {
	if s.ht == nil {
		if v := strVal(member); v.isInt {
			if !s.is.add(v.i) {
				return false
			}
			if s.is.len() > maxIntset {
				s.convert()
			}
			return true
		}
		s.convert()
	}
	if _, ok := s.ht.find(member); ok {
		return false
	}
	s.ht.insert(member, struct{}{})
	return true
}

func (s *Set) convert() {
	d := newDict[struct{}](s.is.len())
	var buf []byte
	for i, n := 0, s.is.len(); i < n; i++ {
		buf = Elem{I: s.is.get(i), IsInt: true}.AppendTo(buf[:0])
		d.insert(buf, struct{}{})
	}
	s.ht, s.is = d, intset{}
}

// Remove deletes member, reporting whether it was present.
func (s *Set) Remove(member []byte) bool {
	if s.ht != nil {
		i, ok := s.ht.find(member)
		if ok {
			s.ht.remove(i)
		}
		return ok
	}
	v := strVal(member)
	return v.isInt && s.is.remove(v.i)
}

// Contains reports whether member is in the set.
func (s *Set) Contains(member []byte) bool {
	if s.ht != nil {
		_, ok := s.ht.find(member)
		return ok
	}
	v := strVal(member)
	return v.isInt && s.is.contains(v.i)
}

func (s *Set) member(i uint32) Elem { return Elem{S: s.ht.key(i)} }

// Each calls fn for every member until fn returns false: ascending for the
// intset, table order for the hashtable.
func (s *Set) Each(fn func(member Elem) bool) {
	if s.ht != nil {
		s.ht.each(func(i uint32) bool { return fn(s.member(i)) })
		return
	}
	for i, n := 0, s.is.len(); i < n; i++ {
		if !fn(Elem{I: s.is.get(i), IsInt: true}) {
			return
		}
	}
}

// Members returns copies of all members.
func (s *Set) Members() [][]byte {
	out := make([][]byte, 0, s.Len())
	s.Each(func(m Elem) bool { out = append(out, m.AppendTo(nil)); return true })
	return out
}

// Scan is one SSCAN step; see Hash.Scan for the cursor guarantee. The
// intset returns everything at once, as Redis does.
func (s *Set) Scan(cursor uint64, fn func(member Elem)) uint64 {
	if s.ht != nil {
		return s.ht.scan(cursor, func(i uint32) { fn(s.member(i)) })
	}
	s.Each(func(m Elem) bool { fn(m); return true })
	return 0
}

// randomIndex picks a member: an intset position or a dict entry.
func (s *Set) randomIndex() uint32 {
	if s.ht != nil {
		return s.ht.random()
	}
	return uint32(rand.IntN(s.is.len()))
}

func (s *Set) at(i uint32) Elem {
	if s.ht != nil {
		return s.member(i)
	}
	return Elem{I: s.is.get(int(i)), IsInt: true}
}

// Random calls fn with count members chosen at random, for SRANDMEMBER:
// count > 0 gives min(count, Len) distinct members, count < 0 gives -count
// members that may repeat.
func (s *Set) Random(count int, fn func(member Elem)) {
	n := s.Len()
	switch {
	case n == 0:
	case count < 0:
		for ; count < 0; count++ {
			fn(s.at(s.randomIndex()))
		}
	case count >= n:
		s.Each(func(m Elem) bool { fn(m); return true })
	case s.ht != nil:
		for _, i := range s.ht.randomDistinct(count) {
			fn(s.member(i))
		}
	default:
		need, left := count, n
		for i := 0; need > 0; i++ {
			if rand.IntN(left) < need {
				fn(Elem{I: s.is.get(i), IsInt: true})
				need--
			}
			left--
		}
	}
}

// Pop removes a random member and returns a copy of it (SPOP), nil when
// the set is empty.
func (s *Set) Pop() []byte {
	if s.Len() == 0 {
		return nil
	}
	i := s.randomIndex()
	m := s.at(i).AppendTo(nil)
	if s.ht != nil {
		s.ht.remove(i)
	} else {
		s.is.removeAt(int(i))
	}
	return m
}

// Copy returns a deep copy, for COPY.
func (s *Set) Copy() any {
	c := &Set{is: s.is.copy()}
	if s.ht != nil {
		c.ht = s.ht.clone()
	}
	return c
}

// MemSize approximates the bytes the value occupies, for MEMORY USAGE.
func (s *Set) MemSize() int {
	n := int(unsafe.Sizeof(*s))
	if s.ht != nil {
		return n + int(unsafe.Sizeof(*s.ht)) + s.ht.memSize()
	}
	return n + cap(s.is.data)
}

// bySize orders sets smallest first; nil (missing keys) count as empty.
func bySize(sets []*Set) []*Set {
	sorted := append([]*Set(nil), sets...)
	sort.SliceStable(sorted, func(i, j int) bool { return sizeOf(sorted[i]) < sizeOf(sorted[j]) })
	return sorted
}

func sizeOf(s *Set) int {
	if s == nil {
		return 0
	}
	return s.Len()
}

// Inter calls fn for each member of the intersection of sets (nil entries
// are missing keys, hence empty) until fn returns false, iterating the
// smallest set as Redis's SINTER does.
func Inter(sets []*Set, fn func(member Elem) bool) {
	sorted := bySize(sets)
	if len(sorted) == 0 || sizeOf(sorted[0]) == 0 {
		return
	}
	var buf []byte
	sorted[0].Each(func(m Elem) bool {
		buf = m.AppendTo(buf[:0])
		for _, o := range sorted[1:] {
			if o != sorted[0] && !o.Contains(buf) {
				return true
			}
		}
		return fn(m)
	})
}

// InterCard counts the intersection, stopping at limit when limit > 0
// (SINTERCARD).
func InterCard(sets []*Set, limit int) int {
	n := 0
	Inter(sets, func(Elem) bool { n++; return limit <= 0 || n < limit })
	return n
}

// Union returns a new set holding every member of sets (SUNION), built
// like Redis's: an intset that converts as members arrive.
func Union(sets []*Set, maxIntset int) *Set {
	out := NewSet()
	var buf []byte
	for _, s := range sets {
		if s == nil {
			continue
		}
		s.Each(func(m Elem) bool {
			buf = m.AppendTo(buf[:0])
			out.Add(buf, maxIntset)
			return true
		})
	}
	return out
}

// Diff returns a new set holding the members of sets[0] that are in none
// of the others (SDIFF).
func Diff(sets []*Set, maxIntset int) *Set {
	out := NewSet()
	if len(sets) == 0 || sets[0] == nil {
		return out
	}
	var buf []byte
	sets[0].Each(func(m Elem) bool {
		buf = m.AppendTo(buf[:0])
		for _, o := range sets[1:] {
			if o != nil && o.Contains(buf) {
				return true
			}
		}
		out.Add(buf, maxIntset)
		return true
	})
	return out
}
