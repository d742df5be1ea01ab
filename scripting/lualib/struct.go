package lualib

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// struct's limits and the C types' sizes on x86-64, which Redis's build has.
const (
	structMaxIntSize = 32 // MAXINTSIZE: largest i/I size
	structMaxAlign   = 8  // MAXALIGN: default of "!"
	structIntMax     = math.MaxInt32
)

// NewStruct returns the struct table (pack, unpack, size) with the fix for
// CVE-2020-14147: sizes in a format that overflow an int are refused
// ("integral size overflow") and unpack checks every size against the data
// before reading, so no format allocates more than its arguments hold.
func NewStruct(L *lua.LState) *lua.LTable {
	return newLib(L, map[string]lua.LGFunction{
		"pack":   structPack,
		"unpack": structUnpack,
		"size":   structSize,
	})
}

// structHeader is the state a format's control options change.
type structHeader struct {
	bigEndian bool
	align     int
}

// structFormat walks a format string.
type structFormat struct {
	L   *lua.LState
	fmt string
	pos int
	h   structHeader
}

// num is getnum: a decimal count after an option, or def.
func (f *structFormat) num(def int) int {
	if f.pos >= len(f.fmt) || !isDigit(f.fmt[f.pos]) {
		return def
	}
	a := 0
	for f.pos < len(f.fmt) && isDigit(f.fmt[f.pos]) {
		d := int(f.fmt[f.pos] - '0')
		if a > structIntMax/10 || a*10 > structIntMax-d {
			raise(f.L, "integral size overflow")
		}
		a = a*10 + d
		f.pos++
	}
	return a
}

// optSize is optsize: the size of option opt, reading its count.
func (f *structFormat) optSize(opt byte) int {
	switch opt {
	case 'B', 'b', 'x':
		return 1
	case 'H', 'h':
		return 2
	case 'L', 'l', 'T', 'd':
		return 8
	case 'f':
		return 4
	case 'c':
		return f.num(1)
	case 'i', 'I':
		sz := f.num(4)
		if sz > structMaxIntSize {
			raise(f.L, "integral size %d is larger than limit of %d", sz, structMaxIntSize)
		}
		return sz
	}
	return 0
}

// toAlign is gettoalign: padding before an item of size at offset n.
func (f *structFormat) toAlign(n, size int, opt byte) int {
	if size == 0 || opt == 'c' {
		return 0
	}
	if size > f.h.align {
		size = f.h.align
	}
	return (size - (n & (size - 1))) & (size - 1)
}

// control is controloptions: endianness, alignment, spaces; anything else
// is an invalid option.
func (f *structFormat) control(opt byte) {
	switch opt {
	case ' ':
	case '>':
		f.h.bigEndian = true
	case '<':
		f.h.bigEndian = false
	case '!':
		a := f.num(structMaxAlign)
		if a == 0 || a&(a-1) != 0 {
			raise(f.L, "alignment %d is not a power of 2", a)
		}
		f.h.align = a
	default:
		f.L.ArgError(1, fmt.Sprintf("invalid format option '%c'", opt))
	}
}

func newStructFormat(L *lua.LState) *structFormat {
	return &structFormat{L: L, fmt: CheckString(L, 1), h: structHeader{align: 1}}
}

// next returns the next option byte; '\0' ends the format as in C.
func (f *structFormat) next() (byte, bool) {
	if f.pos >= len(f.fmt) || f.fmt[f.pos] == 0 {
		return 0, false
	}
	c := f.fmt[f.pos]
	f.pos++
	return c, true
}

// order is the byte order the format selects (native is little endian).
func (f *structFormat) order() interface {
	binary.ByteOrder
	binary.AppendByteOrder
} {
	if f.h.bigEndian {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

func structPack(L *lua.LState) int {
	f := newStructFormat(L)
	// The C pushes a nil to separate the arguments from its buffer, so a
	// first missing argument reads as nil, later ones as no value.
	L.Push(lua.LNil)
	var b strings.Builder
	arg := 2
	total := 0
	for {
		opt, ok := f.next()
		if !ok {
			break
		}
		size := f.optSize(opt)
		pad := f.toAlign(total, size, opt)
		total += pad
		for ; pad > 0; pad-- {
			b.WriteByte(0)
		}
		switch opt {
		case 'b', 'B', 'h', 'H', 'l', 'L', 'T', 'i', 'I':
			n := CheckNumber(L, arg)
			arg++
			b.Write(structPutInteger(n, size, f.h.bigEndian))
		case 'x':
			b.WriteByte(0)
		case 'f':
			v := float32(CheckNumber(L, arg))
			arg++
			b.Write(f.order().AppendUint32(nil, math.Float32bits(v)))
		case 'd':
			v := CheckNumber(L, arg)
			arg++
			b.Write(f.order().AppendUint64(nil, math.Float64bits(v)))
		case 'c', 's':
			s := CheckString(L, arg)
			arg++
			if size == 0 {
				size = len(s)
			}
			if len(s) < size {
				// The C checks after advancing arg, so it names the next one.
				L.ArgError(arg, "string too short")
			}
			b.WriteString(s[:size])
			if opt == 's' {
				b.WriteByte(0)
				size++
			}
		default:
			f.control(opt)
		}
		total += size
	}
	L.Push(lua.LString(b.String()))
	return 1
}

// structPutInteger is putinteger: n as a 64-bit integer (negative numbers in
// two's complement), written in size bytes; bytes past the eighth are zero.
func structPutInteger(n float64, size int, bigEndian bool) []byte {
	var v uint64
	if n < 0 {
		v = uint64(CastInt64(n))
	} else {
		v = castUint64(n)
	}
	buf := make([]byte, size)
	for i := 0; i < size; i++ {
		j := i
		if bigEndian {
			j = size - 1 - i
		}
		buf[j] = byte(v)
		v >>= 8
	}
	return buf
}

// castUint64 converts like gcc's cast of a non-negative double to uint64 on
// x86-64: values from 2^63 are converted via subtraction, values past the
// range give 2^63 (the cvttsd2si "indefinite" value).
func castUint64(f float64) uint64 {
	if f < 9223372036854775808.0 {
		return uint64(CastInt64(f))
	}
	return uint64(CastInt64(f-9223372036854775808.0)) ^ (1 << 63)
}

// structGetInteger is getinteger, with x86's masking of the shift count for
// sizes above 8 bytes.
func structGetInteger(b []byte, bigEndian, signed bool) float64 {
	var l uint64
	size := len(b)
	for i := 0; i < size; i++ {
		j := size - 1 - i
		if bigEndian {
			j = i
		}
		l = l<<8 | uint64(b[j])
	}
	if !signed {
		return float64(l)
	}
	mask := ^uint64(0) << (uint(size*8-1) & 63)
	if l&mask != 0 {
		l |= mask
	}
	return float64(int64(l))
}

func structUnpack(L *lua.LState) int {
	f := newStructFormat(L)
	data := CheckString(L, 2)
	ld := len(data)
	// pos is a size_t in C: only 0 is refused, a negative start wraps to a
	// huge offset that fails the first length check.
	start := optInteger(L, 3, 1)
	if start == 0 {
		L.ArgError(3, "offset must be 1 or greater")
	}
	pos := uint64(start) - 1
	top := L.GetTop() // simulated C stack: arguments, then results
	var res []lua.LValue
	for {
		opt, ok := f.next()
		if !ok {
			break
		}
		size := f.optSize(opt)
		pos += uint64(f.toAlign(int(pos), size, opt))
		if uint64(size) > uint64(ld) || pos > uint64(ld-size) {
			L.ArgError(2, "data string too short")
		}
		if top+len(res)+2 > maxCStack {
			raise(L, "stack overflow (too many results)")
		}
		item := data[pos:]
		switch opt {
		case 'b', 'B', 'h', 'H', 'l', 'L', 'T', 'i', 'I':
			signed := opt >= 'a'
			res = append(res, lua.LNumber(structGetInteger([]byte(item[:size]), f.h.bigEndian, signed)))
		case 'x':
		case 'f':
			v := math.Float32frombits(f.order().Uint32([]byte(item[:4])))
			res = append(res, lua.LNumber(v))
		case 'd':
			v := math.Float64frombits(f.order().Uint64([]byte(item[:8])))
			res = append(res, lua.LNumber(v))
		case 'c':
			if size == 0 {
				var n float64
				if len(res) > 0 {
					n, ok = ToNumber(res[len(res)-1])
				}
				if len(res) == 0 || !ok {
					raise(L, "format 'c0' needs a previous size")
				}
				res = res[:len(res)-1]
				size64 := castUint64NonNeg(n)
				if size64 > uint64(ld) || pos > uint64(ld)-size64 {
					L.ArgError(2, "data string too short")
				}
				size = int(size64)
			}
			res = append(res, lua.LString(item[:size]))
		case 's':
			e := strings.IndexByte(item, 0)
			if e < 0 {
				raise(L, "unfinished string in data")
			}
			size = e + 1
			res = append(res, lua.LString(item[:e]))
		default:
			f.control(opt)
		}
		pos += uint64(size)
	}
	for _, v := range res {
		L.Push(v)
	}
	L.Push(lua.LNumber(float64(int64(pos + 1))))
	return len(res) + 1
}

// castUint64NonNeg converts a count read from data to size_t as the C
// assignment does: negative values wrap, so they fail the length check.
func castUint64NonNeg(n float64) uint64 {
	if n < 0 {
		return uint64(CastInt64(n))
	}
	return castUint64(n)
}

func structSize(L *lua.LState) int {
	f := newStructFormat(L)
	pos := 0
	for {
		opt, ok := f.next()
		if !ok {
			break
		}
		size := f.optSize(opt)
		pos += f.toAlign(pos, size, opt)
		if opt == 's' {
			L.ArgError(1, "option 's' has no fixed size")
		} else if opt == 'c' && size == 0 {
			L.ArgError(1, "option 'c0' has no fixed size")
		}
		if !isAlnum(opt) {
			f.control(opt)
		}
		pos += size
	}
	L.Push(lua.LNumber(pos))
	return 1
}
