package types

import (
	"bytes"
	"encoding/binary"
	"math"
	"strconv"

	"github.com/structd/structd/internal/resp"
)

// Elem is one element as a collection stores it: an integer kept in binary
// (the compact encodings store canonical decimal integers that way, as
// Redis does) or a string.
type Elem struct {
	S     []byte // the string; nil when IsInt
	I     int64  // the integer when IsInt
	IsInt bool
}

// AppendTo appends the element's string form to dst.
func (e Elem) AppendTo(dst []byte) []byte {
	if e.IsInt {
		return strconv.AppendInt(dst, e.I, 10)
	}
	return append(dst, e.S...)
}

// Bytes returns the element's string form; it allocates for integers and
// aliases the collection for strings.
func (e Elem) Bytes() []byte {
	if e.IsInt {
		return strconv.AppendInt(nil, e.I, 10)
	}
	return e.S
}

// String returns the element as a Go string (a copy).
func (e Elem) String() string {
	if e.IsInt {
		return strconv.FormatInt(e.I, 10)
	}
	return string(e.S)
}

// Len is the length of the element's string form.
func (e Elem) Len() int {
	if e.IsInt {
		return intLen(e.I)
	}
	return len(e.S)
}

// Equal reports whether the element's string form is b.
func (e Elem) Equal(b []byte) bool {
	if e.IsInt {
		v, ok := resp.ParseInt(b)
		return ok && v == e.I
	}
	return bytes.Equal(e.S, b)
}

// Compare compares the element's string form with b byte-wise, as Redis
// compares sorted set members.
func (e Elem) Compare(b []byte) int {
	if e.IsInt {
		var buf [24]byte
		return bytes.Compare(strconv.AppendInt(buf[:0], e.I, 10), b)
	}
	return bytes.Compare(e.S, b)
}

func intLen(i int64) int {
	var buf [24]byte
	return len(strconv.AppendInt(buf[:0], i, 10))
}

// A listpack is a packed sequence of entries in one byte slice, in the
// spirit of Redis's listpack: each entry is an encoding byte (with the
// length or a small integer folded in), the payload, and a back-length that
// lets the sequence be walked from its end. There is no header: the slice
// length is the total size and the owner keeps the entry count.
//
// Encodings (first byte):
//
//	0xxxxxxx                uint7 0..127
//	10xxxxxx                string of 0..63 bytes
//	110xxxxx yyyyyyyy       int13 (big-endian, two's complement)
//	1110xxxx yyyyyyyy       string of 0..4095 bytes
//	0xF0 +4 length bytes    string (little-endian length)
//	0xF1/F2/F3/F4           int16/int24/int32/int64 (little-endian)
//	0xF5 +8 bytes           float64 (sorted set scores that are not integral)
//
// The back-length is the size of encoding+payload in base 128, read from the
// right: the last byte holds the low 7 bits and sets its top bit when more
// bytes follow to its left.
const (
	lpStr6   = 0x80
	lpInt13  = 0xC0
	lpStr12  = 0xE0
	lpStr32  = 0xF0
	lpInt16  = 0xF1
	lpInt24  = 0xF2
	lpInt32  = 0xF3
	lpInt64  = 0xF4
	lpFloat  = 0xF5
	maxInt13 = 1<<12 - 1
	minInt13 = -1 << 12
)

// lpVal is a value about to be encoded.
type lpVal struct {
	s     []byte
	i     int64
	f     float64
	isInt bool
	isF   bool
}

// strVal classifies b: canonical integers are stored as integers.
func strVal(b []byte) lpVal {
	if len(b) <= 20 {
		if i, ok := resp.ParseInt(b); ok {
			return lpVal{i: i, isInt: true}
		}
	}
	return lpVal{s: b}
}

// scoreVal encodes a score: integral values that fit an int64 exactly are
// stored as integers (which also folds -0 into 0, as Redis's listpack does).
func scoreVal(f float64) lpVal {
	if f == math.Trunc(f) && f >= -(1<<53) && f <= 1<<53 {
		return lpVal{i: int64(f), isInt: true}
	}
	return lpVal{f: f, isF: true}
}

// bodySize is the size of encoding byte(s) plus payload.
func (v lpVal) bodySize() int {
	switch {
	case v.isF:
		return 9
	case v.isInt:
		i := v.i
		switch {
		case i >= 0 && i <= 127:
			return 1
		case i >= minInt13 && i <= maxInt13:
			return 2
		case i >= math.MinInt16 && i <= math.MaxInt16:
			return 3
		case i >= -(1<<23) && i < 1<<23:
			return 4
		case i >= math.MinInt32 && i <= math.MaxInt32:
			return 5
		}
		return 9
	}
	n := len(v.s)
	switch {
	case n <= 63:
		return 1 + n
	case n <= 4095:
		return 2 + n
	}
	return 5 + n
}

func backlenSize(body int) int {
	switch {
	case body < 1<<7:
		return 1
	case body < 1<<14:
		return 2
	case body < 1<<21:
		return 3
	case body < 1<<28:
		return 4
	}
	return 5
}

// size is the whole entry size.
func (v lpVal) size() int {
	b := v.bodySize()
	return b + backlenSize(b)
}

// put writes the entry into dst, which is exactly v.size() bytes.
func (v lpVal) put(dst []byte) {
	body := v.bodySize()
	switch {
	case v.isF:
		dst[0] = lpFloat
		binary.LittleEndian.PutUint64(dst[1:], math.Float64bits(v.f))
	case v.isInt:
		i := v.i
		switch body {
		case 1:
			dst[0] = byte(i)
		case 2:
			u := uint16(i) & 0x1FFF
			dst[0] = lpInt13 | byte(u>>8)
			dst[1] = byte(u)
		case 3:
			dst[0] = lpInt16
			binary.LittleEndian.PutUint16(dst[1:], uint16(i))
		case 4:
			dst[0] = lpInt24
			u := uint32(i)
			dst[1], dst[2], dst[3] = byte(u), byte(u>>8), byte(u>>16)
		case 5:
			dst[0] = lpInt32
			binary.LittleEndian.PutUint32(dst[1:], uint32(i))
		default:
			dst[0] = lpInt64
			binary.LittleEndian.PutUint64(dst[1:], uint64(i))
		}
	default:
		n := len(v.s)
		switch {
		case n <= 63:
			dst[0] = lpStr6 | byte(n)
			copy(dst[1:], v.s)
		case n <= 4095:
			dst[0] = lpStr12 | byte(n>>8)
			dst[1] = byte(n)
			copy(dst[2:], v.s)
		default:
			dst[0] = lpStr32
			binary.LittleEndian.PutUint32(dst[1:], uint32(n))
			copy(dst[5:], v.s)
		}
	}
	// Back-length, most significant group first in memory.
	k := backlenSize(body)
	for j := 0; j < k; j++ {
		g := byte(body>>(7*j)) & 0x7F
		if j < k-1 {
			g |= 0x80 // more groups follow to the left
		}
		dst[body+k-1-j] = g
	}
}

// lpAppend appends an entry holding v.
func lpAppend(lp []byte, v lpVal) []byte {
	n := v.size()
	lp = grow(lp, n)
	v.put(lp[len(lp)-n:])
	return lp
}

// grow extends lp by n bytes. Below 4 KB capacity is only rounded up to
// the allocator's size class, so the many small packed values of a keyspace
// carry little slack (a write reallocates, as Redis's listpack does);
// larger buffers grow by an eighth (a quarter past 64 KB) to stay amortized.
func grow(lp []byte, n int) []byte {
	need := len(lp) + n
	if need <= cap(lp) {
		return lp[:need]
	}
	c := need
	switch {
	case need > 64<<10:
		c = need + need/4
	case need > 4<<10:
		c = need + need/8
	}
	nb := append([]byte(nil), make([]byte, c)...)[:need]
	copy(nb, lp)
	return nb
}

// lpInsert inserts an entry holding v at byte offset pos (an entry start or
// len(lp)).
func lpInsert(lp []byte, pos int, v lpVal) []byte {
	n := v.size()
	old := len(lp)
	lp = grow(lp, n)
	copy(lp[pos+n:], lp[pos:old])
	v.put(lp[pos : pos+n])
	return lp
}

// lpReplace replaces the entry at pos with v.
func lpReplace(lp []byte, pos int, v lpVal) []byte {
	oldSize := lpEntrySize(lp, pos)
	n := v.size()
	switch {
	case n > oldSize:
		old := len(lp)
		lp = grow(lp, n-oldSize)
		copy(lp[pos+n:], lp[pos+oldSize:old])
	case n < oldSize:
		copy(lp[pos+n:], lp[pos+oldSize:])
		lp = lp[:len(lp)-(oldSize-n)]
	}
	v.put(lp[pos : pos+n])
	return lp
}

// lpDelete removes count entries starting at pos.
func lpDelete(lp []byte, pos, count int) []byte {
	end := pos
	for ; count > 0 && end < len(lp); count-- {
		end += lpEntrySize(lp, end)
	}
	return lpCut(lp, pos, end)
}

// lpCut removes the bytes [from, to) and gives memory back when most of the
// capacity is unused.
func lpCut(lp []byte, from, to int) []byte {
	n := copy(lp[from:], lp[to:])
	lp = lp[:from+n]
	if cap(lp) > 256 && len(lp) < cap(lp)/4 {
		lp = append([]byte(nil), lp...)
	}
	return lp
}

// lpBody decodes the entry body at pos, returning the element and the body
// size (encoding + payload).
func lpBody(lp []byte, pos int) (Elem, int) {
	b := lp[pos]
	switch {
	case b < 0x80:
		return Elem{I: int64(b), IsInt: true}, 1
	case b < lpInt13:
		n := int(b & 0x3F)
		return Elem{S: lp[pos+1 : pos+1+n : pos+1+n]}, 1 + n
	case b < lpStr12:
		u := uint16(b&0x1F)<<8 | uint16(lp[pos+1])
		return Elem{I: int64(int16(u<<3) >> 3), IsInt: true}, 2
	case b < lpStr32:
		n := int(b&0x0F)<<8 | int(lp[pos+1])
		return Elem{S: lp[pos+2 : pos+2+n : pos+2+n]}, 2 + n
	}
	switch b {
	case lpStr32:
		n := int(binary.LittleEndian.Uint32(lp[pos+1:]))
		return Elem{S: lp[pos+5 : pos+5+n : pos+5+n]}, 5 + n
	case lpInt16:
		return Elem{I: int64(int16(binary.LittleEndian.Uint16(lp[pos+1:]))), IsInt: true}, 3
	case lpInt24:
		u := uint32(lp[pos+1]) | uint32(lp[pos+2])<<8 | uint32(lp[pos+3])<<16
		return Elem{I: int64(int32(u<<8) >> 8), IsInt: true}, 4
	case lpInt32:
		return Elem{I: int64(int32(binary.LittleEndian.Uint32(lp[pos+1:]))), IsInt: true}, 5
	case lpInt64:
		return Elem{I: int64(binary.LittleEndian.Uint64(lp[pos+1:])), IsInt: true}, 9
	case lpFloat:
		// Floats appear only as scores; lpScore reads them.
		return Elem{}, 9
	}
	panic("types: corrupt listpack entry")
}

// lpGet returns the element at pos and the offset of the next entry.
func lpGet(lp []byte, pos int) (Elem, int) {
	e, body := lpBody(lp, pos)
	return e, pos + body + backlenSize(body)
}

// lpScore returns the score stored at pos and the offset of the next entry.
func lpScore(lp []byte, pos int) (float64, int) {
	if lp[pos] == lpFloat {
		return math.Float64frombits(binary.LittleEndian.Uint64(lp[pos+1:])), pos + 10
	}
	e, next := lpGet(lp, pos)
	return float64(e.I), next
}

// lpEntrySize is the size of the whole entry at pos.
func lpEntrySize(lp []byte, pos int) int {
	b := lp[pos]
	var body int
	switch {
	case b < 0x80:
		body = 1
	case b < lpInt13:
		body = 1 + int(b&0x3F)
	case b < lpStr12:
		body = 2
	case b < lpStr32:
		body = 2 + (int(b&0x0F)<<8 | int(lp[pos+1]))
	case b == lpStr32:
		body = 5 + int(binary.LittleEndian.Uint32(lp[pos+1:]))
	case b == lpInt16:
		body = 3
	case b == lpInt24:
		body = 4
	case b == lpInt32:
		body = 5
	default:
		body = 9
	}
	return body + backlenSize(body)
}

// lpPrev returns the offset of the entry that ends at pos (pos > 0).
func lpPrev(lp []byte, pos int) int {
	body, shift := 0, 0
	i := pos - 1
	for {
		c := lp[i]
		body |= int(c&0x7F) << shift
		if c&0x80 == 0 {
			break
		}
		shift += 7
		i--
	}
	return pos - (pos - i) - body
}

// lpSeek returns the offset of entry index i (0-based) of a listpack
// holding count entries, walking from the nearer end.
func lpSeek(lp []byte, count, i int) int {
	if i < count/2 {
		pos := 0
		for ; i > 0; i-- {
			pos += lpEntrySize(lp, pos)
		}
		return pos
	}
	pos := len(lp)
	for j := count; j > i; j-- {
		pos = lpPrev(lp, pos)
	}
	return pos
}

// lpCount counts the entries of lp.
func lpCount(lp []byte) int {
	n := 0
	for pos := 0; pos < len(lp); pos += lpEntrySize(lp, pos) {
		n++
	}
	return n
}

// lpPairOffsets returns the offsets of the first entry of every pair.
func lpPairOffsets(lp []byte) []int {
	var offs []int
	for pos := 0; pos < len(lp); {
		offs = append(offs, pos)
		pos += lpEntrySize(lp, pos)
		pos += lpEntrySize(lp, pos)
	}
	return offs
}

// lpFindPair looks for key among the even entries of a listpack of key,
// value pairs, returning the key's offset (or -1) and the number of pairs
// before it (all of them when absent).
func lpFindPair(lp []byte, key []byte) (pos, pairs int) {
	m := NewMatcher(key)
	for pos < len(lp) {
		ok, next := m.at(lp, pos)
		if ok {
			return pos, pairs
		}
		pos = next + lpEntrySize(lp, next)
		pairs++
	}
	return -1, pairs
}

// Matcher compares elements with one needle, parsing the needle as an
// integer once (for LPOS, LREM, LINSERT and friends, which compare many
// elements with the same argument).
type Matcher struct {
	b     []byte
	i     int64
	isInt bool
}

// NewMatcher returns a Matcher for b.
func NewMatcher(b []byte) Matcher {
	v := strVal(b)
	return Matcher{b: b, i: v.i, isInt: v.isInt}
}

// Match reports whether e's string form equals the needle.
func (m *Matcher) Match(e Elem) bool {
	if e.IsInt {
		return m.isInt && e.I == m.i
	}
	return !m.isInt && string(e.S) == string(m.b)
}

// at reports whether the entry at pos equals the needle, and the next offset.
func (m *Matcher) at(lp []byte, pos int) (bool, int) {
	e, next := lpGet(lp, pos)
	return m.Match(e), next
}
