package types

import (
	"encoding/binary"
	"math"
	"sort"
)

// intset is Redis's intset: a sorted array of distinct integers packed at
// the narrowest width (2, 4 or 8 bytes) that holds all of them. Adding a
// value that needs a wider width upgrades the whole array; it never
// narrows again, as in Redis. The first byte holds the width, so the set
// is a single slice (nil when empty, before any add).
type intset struct {
	data []byte
}

// width is the element width in bytes, 0 before the first add.
func (s *intset) width() int {
	if len(s.data) == 0 {
		return 0
	}
	return int(s.data[0])
}

func widthFor(v int64) int {
	switch {
	case v >= math.MinInt16 && v <= math.MaxInt16:
		return 2
	case v >= math.MinInt32 && v <= math.MaxInt32:
		return 4
	}
	return 8
}

func (s *intset) len() int {
	if w := s.width(); w != 0 {
		return (len(s.data) - 1) / w
	}
	return 0
}

func (s *intset) get(i int) int64 {
	switch s.data[0] {
	case 2:
		return int64(int16(binary.LittleEndian.Uint16(s.data[1+2*i:])))
	case 4:
		return int64(int32(binary.LittleEndian.Uint32(s.data[1+4*i:])))
	}
	return int64(binary.LittleEndian.Uint64(s.data[1+8*i:]))
}

func (s *intset) put(i int, v int64) {
	switch s.data[0] {
	case 2:
		binary.LittleEndian.PutUint16(s.data[1+2*i:], uint16(v))
	case 4:
		binary.LittleEndian.PutUint32(s.data[1+4*i:], uint32(v))
	default:
		binary.LittleEndian.PutUint64(s.data[1+8*i:], uint64(v))
	}
}

// search returns the index where v is or would be inserted, and whether it
// is present.
func (s *intset) search(v int64) (int, bool) {
	n := s.len()
	i := sort.Search(n, func(i int) bool { return s.get(i) >= v })
	return i, i < n && s.get(i) == v
}

func (s *intset) contains(v int64) bool {
	if w := s.width(); w == 0 || widthFor(v) > w {
		return false
	}
	_, ok := s.search(v)
	return ok
}

// add inserts v, reporting whether it was absent.
func (s *intset) add(v int64) bool {
	if s.width() == 0 {
		s.data = []byte{2}
	}
	if w := widthFor(v); w > s.width() {
		s.upgrade(w)
	}
	i, ok := s.search(v)
	if ok {
		return false
	}
	w, n := s.width(), s.len()
	s.data = grow(s.data, w)
	copy(s.data[1+(i+1)*w:], s.data[1+i*w:1+n*w])
	s.put(i, v)
	return true
}

// upgrade re-packs every value at width w.
func (s *intset) upgrade(w int) {
	old := *s
	n := old.len()
	s.data = make([]byte, 1+n*w, 1+n*w+w)
	s.data[0] = byte(w)
	for i := 0; i < n; i++ {
		s.put(i, old.get(i))
	}
}

// remove deletes v, reporting whether it was present.
func (s *intset) remove(v int64) bool {
	if w := s.width(); w == 0 || widthFor(v) > w {
		return false
	}
	i, ok := s.search(v)
	if !ok {
		return false
	}
	s.removeAt(i)
	return true
}

func (s *intset) removeAt(i int) {
	w := s.width()
	s.data = lpCut(s.data, 1+i*w, 1+(i+1)*w)
	if len(s.data) == 1 {
		s.data = nil
	}
}

func (s *intset) copy() intset {
	return intset{data: append([]byte(nil), s.data...)}
}
