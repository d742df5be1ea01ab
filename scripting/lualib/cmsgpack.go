package lualib

import (
	"encoding/binary"
	"math"

	lua "github.com/yuin/gopher-lua"
)

// cmsgpackMaxNesting is LUACMSGPACK_MAX_NESTING: tables deeper than this
// pack as nil, which is how self-referencing tables terminate.
const cmsgpackMaxNesting = 16

// NewCMsgpack returns the cmsgpack table (lua-cmsgpack 0.4.0 as in Redis,
// with the fixes for CVE-2018-11218/11219: unpack checks every length
// against the input and simulates Lua's C stack limit, so nesting and value
// counts fail with Redis's "stack overflow (...)" errors).
func NewCMsgpack(L *lua.LState) *lua.LTable {
	t := newLib(L, map[string]lua.LGFunction{
		"pack":         msgpackPack,
		"unpack":       msgpackUnpack,
		"unpack_one":   msgpackUnpackOne,
		"unpack_limit": msgpackUnpackLimit,
	})
	t.RawSetString("_NAME", lua.LString("cmsgpack"))
	t.RawSetString("_VERSION", lua.LString("lua-cmsgpack 0.4.0"))
	t.RawSetString("_COPYRIGHT", lua.LString("Copyright (C) 2012, Salvatore Sanfilippo"))
	t.RawSetString("_DESCRIPTION", lua.LString("MessagePack C implementation for Lua"))
	return t
}

type msgpackEncoder struct {
	L   *lua.LState
	buf []byte
}

func msgpackPack(L *lua.LState) int {
	n := L.GetTop()
	if n == 0 {
		L.ArgError(0, "MessagePack pack needs input.")
	}
	e := &msgpackEncoder{L: L}
	for i := 1; i <= n; i++ {
		e.value(L.Get(i), 0)
	}
	L.Push(lua.LString(e.buf))
	return 1
}

// value is mp_encode_lua_type.
func (e *msgpackEncoder) value(v lua.LValue, level int) {
	if len(e.buf) > MaxOutputBytes {
		raise(e.L, "MessagePack pack output larger than %d bytes", MaxOutputBytes)
	}
	switch x := v.(type) {
	case lua.LString:
		e.bytes(string(x))
	case lua.LBool:
		if x {
			e.buf = append(e.buf, 0xc3)
		} else {
			e.buf = append(e.buf, 0xc2)
		}
	case lua.LNumber:
		e.number(float64(x))
	case *lua.LTable:
		if level == cmsgpackMaxNesting {
			e.buf = append(e.buf, 0xc0)
			return
		}
		if msgpackIsArray(x) {
			e.array(x, level)
		} else {
			e.mapping(x, level)
		}
	default:
		e.buf = append(e.buf, 0xc0)
	}
}

// number is mp_encode_lua_number: integers that fit an int64 as the smallest
// msgpack integer, others as a float when a float32 holds them exactly,
// else as a double.
func (e *msgpackEncoder) number(f float64) {
	if !math.IsInf(f, 0) && float64(CastInt64(f)) == f {
		e.int(CastInt64(f))
		return
	}
	if f32 := float32(f); float64(f32) == f {
		e.buf = append(e.buf, 0xca)
		e.buf = binary.BigEndian.AppendUint32(e.buf, math.Float32bits(f32))
		return
	}
	e.buf = append(e.buf, 0xcb)
	e.buf = binary.BigEndian.AppendUint64(e.buf, math.Float64bits(f))
}

// int is mp_encode_int.
func (e *msgpackEncoder) int(n int64) {
	b := e.buf
	switch {
	case n >= 0 && n <= 127:
		b = append(b, byte(n))
	case n >= 0 && n <= 0xff:
		b = append(b, 0xcc, byte(n))
	case n >= 0 && n <= 0xffff:
		b = binary.BigEndian.AppendUint16(append(b, 0xcd), uint16(n))
	case n >= 0 && n <= 0xffffffff:
		b = binary.BigEndian.AppendUint32(append(b, 0xce), uint32(n))
	case n >= 0:
		b = binary.BigEndian.AppendUint64(append(b, 0xcf), uint64(n))
	case n >= -32:
		b = append(b, byte(int8(n)))
	case n >= -128:
		b = append(b, 0xd0, byte(int8(n)))
	case n >= -32768:
		b = binary.BigEndian.AppendUint16(append(b, 0xd1), uint16(int16(n)))
	case n >= -2147483648:
		b = binary.BigEndian.AppendUint32(append(b, 0xd2), uint32(int32(n)))
	default:
		b = binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(n))
	}
	e.buf = b
}

// bytes is mp_encode_bytes: fixstr, str8, str16 or str32.
func (e *msgpackEncoder) bytes(s string) {
	n := len(s)
	switch {
	case n < 32:
		e.buf = append(e.buf, 0xa0|byte(n))
	case n <= 0xff:
		e.buf = append(e.buf, 0xd9, byte(n))
	case n <= 0xffff:
		e.buf = binary.BigEndian.AppendUint16(append(e.buf, 0xda), uint16(n))
	default:
		e.buf = binary.BigEndian.AppendUint32(append(e.buf, 0xdb), uint32(n))
	}
	e.buf = append(e.buf, s...)
}

// header writes an array or map header: fix (up to 15), 16-bit or 32-bit.
func (e *msgpackEncoder) header(n int, fix, b16, b32 byte) {
	switch {
	case n <= 15:
		e.buf = append(e.buf, fix|byte(n))
	case n <= 0xffff:
		e.buf = binary.BigEndian.AppendUint16(append(e.buf, b16), uint16(n))
	default:
		e.buf = binary.BigEndian.AppendUint32(append(e.buf, b32), uint32(n))
	}
}

// msgpackIsArray is table_is_an_array: every key a positive number that a C
// int holds exactly, and the largest key equal to the count (no holes).
func msgpackIsArray(t *lua.LTable) bool {
	count, maxKey := 0, int64(0)
	for k, _ := t.Next(lua.LNil); k != lua.LNil; k, _ = t.Next(k) {
		n, ok := k.(lua.LNumber)
		f := float64(n)
		if !ok || f <= 0 || f != float64(int32(CastInt64(f))) || f > math.MaxInt32 {
			return false
		}
		if int64(f) > maxKey {
			maxKey = int64(f)
		}
		count++
	}
	return maxKey == int64(count)
}

func (e *msgpackEncoder) array(t *lua.LTable, level int) {
	n := 0
	for k, _ := t.Next(lua.LNil); k != lua.LNil; k, _ = t.Next(k) {
		n++
	}
	e.header(n, 0x90, 0xdc, 0xdd)
	for i := 1; i <= n; i++ {
		e.value(t.RawGetInt(i), level+1)
	}
}

func (e *msgpackEncoder) mapping(t *lua.LTable, level int) {
	keys := NextOrder(t)
	e.header(len(keys), 0x80, 0xde, 0xdf)
	for _, k := range keys {
		e.value(k, level+1)
		e.value(t.RawGet(k), level+1)
	}
}

// msgpackDecoder is one unpack call over data (mp_cur).
type msgpackDecoder struct {
	L    *lua.LState
	data string
	pos  int
	err  string // "Missing bytes in input." or "Bad data format in input."
	// fill is what table slots map keys may still make gopher-lua allocate
	// beyond the entries themselves: an integer key k puts k into a table's
	// array part, filling the gap below it.
	fill int
}

const (
	errMsgpackEOF    = "Missing bytes in input."
	errMsgpackBadFmt = "Bad data format in input."
)

func msgpackUnpack(L *lua.LState) int {
	return msgpackUnpackFull(L, 0, 0)
}

func msgpackUnpackOne(L *lua.LState) int {
	offset := int(int32(optInteger(L, 2, 0)))
	popExtraArgs(L)
	return msgpackUnpackFull(L, 1, offset)
}

func msgpackUnpackLimit(L *lua.LState) int {
	limit := int(int32(checkInteger(L, 2)))
	offset := int(int32(optInteger(L, 3, 0)))
	popExtraArgs(L)
	return msgpackUnpackFull(L, limit, offset)
}

// popExtraArgs is the C's lua_pop(L, lua_gettop(L)-1): it keeps the first
// argument (and with none, leaves none).
func popExtraArgs(L *lua.LState) {
	if L.GetTop() > 1 {
		L.SetTop(1)
	}
}

// msgpackUnpackFull is mp_unpack_full: decodes up to limit values from
// offset (all of them when both are 0; otherwise the next offset, or -1 at
// the end, comes first in the results).
func msgpackUnpackFull(L *lua.LState, limit, offset int) int {
	s := CheckString(L, 1)
	if offset < 0 || limit < 0 {
		// The C prints the input length where it means the limit.
		raise(L, "Invalid request to unpack with offset of %d and limit of %d.", offset, int(int32(len(s))))
	}
	if offset > len(s) {
		raise(L, "Start offset %d greater than input length %d.", offset, int(int32(len(s))))
	}
	decodeAll := limit == 0 && offset == 0
	if decodeAll {
		limit = math.MaxInt32
	}
	d := &msgpackDecoder{L: L, data: s, pos: offset, fill: 16*len(s) + 1<<16}
	base := L.GetTop() // the arguments on the C stack, under the results
	var res []lua.LValue
	for cnt := 0; d.pos < len(s) && cnt < limit; cnt++ {
		v := d.value(base + len(res))
		if d.err != "" {
			raise(L, "%s", d.err)
		}
		res = append(res, v)
	}
	if !decodeAll {
		if base+len(res)+1 > maxCStack {
			raise(L, "stack overflow (in function mp_unpack_full)")
		}
		next := float64(d.pos)
		if d.pos == len(s) {
			next = -1
		}
		L.Push(lua.LNumber(next))
	}
	for _, v := range res {
		L.Push(v)
	}
	if decodeAll {
		return len(res)
	}
	return len(res) + 1
}

// need is mp_cur_need.
func (d *msgpackDecoder) need(n int) bool {
	if len(d.data)-d.pos < n {
		d.err = errMsgpackEOF
		return false
	}
	return true
}

func (d *msgpackDecoder) u8(i int) uint64 { return uint64(d.data[d.pos+i]) }

func (d *msgpackDecoder) be(i, n int) uint64 {
	var v uint64
	for j := 0; j < n; j++ {
		v = v<<8 | d.u8(i+j)
	}
	return v
}

// value is mp_decode_to_lua_type; top is the C stack height before the
// value is pushed. On a format error it sets d.err and returns nil.
func (d *msgpackDecoder) value(top int) lua.LValue {
	if !d.need(1) {
		return lua.LNil
	}
	if top+1 > maxCStack {
		raise(d.L, "stack overflow (too many return values at once; use unpack_one or unpack_limit instead.)")
	}
	c := d.data[d.pos]
	fixed := func(n int, v lua.LValue) lua.LValue {
		d.pos += n
		return v
	}
	switch c {
	case 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1, 0xd2, 0xd3:
		return d.integer(c)
	case 0xc0:
		return fixed(1, lua.LNil)
	case 0xc3:
		return fixed(1, lua.LTrue)
	case 0xc2:
		return fixed(1, lua.LFalse)
	case 0xca:
		if !d.need(5) {
			return lua.LNil
		}
		return fixed(5, lua.LNumber(math.Float32frombits(uint32(d.be(1, 4)))))
	case 0xcb:
		if !d.need(9) {
			return lua.LNil
		}
		return fixed(9, lua.LNumber(math.Float64frombits(d.be(1, 8))))
	case 0xd9:
		if !d.need(2) {
			return lua.LNil
		}
		return d.str(2, int(d.u8(1)))
	case 0xda:
		if !d.need(3) {
			return lua.LNil
		}
		return d.str(3, int(d.be(1, 2)))
	case 0xdb:
		if !d.need(5) {
			return lua.LNil
		}
		return d.str(5, int(d.be(1, 4)))
	case 0xdc:
		return d.container(2, false, top)
	case 0xdd:
		return d.container(4, false, top)
	case 0xde:
		return d.container(2, true, top)
	case 0xdf:
		return d.container(4, true, top)
	}
	switch {
	case c&0x80 == 0:
		return fixed(1, lua.LNumber(c))
	case c&0xe0 == 0xe0:
		return fixed(1, lua.LNumber(int8(c)))
	case c&0xe0 == 0xa0:
		return d.str(1, int(c&0x1f))
	case c&0xf0 == 0x90:
		d.pos++
		return d.array(int(c&0xf), top)
	case c&0xf0 == 0x80:
		d.pos++
		return d.mapping(int(c&0xf), top)
	}
	d.err = errMsgpackBadFmt
	return lua.LNil
}

// integer reads uint8..uint64 (0xcc..0xcf) or int8..int64 (0xd0..0xd3).
// Lua 5.1 has no unsigned push: a uint64 goes through int64, as in Redis.
func (d *msgpackDecoder) integer(c byte) lua.LValue {
	n := 1 << (c & 3)
	if !d.need(1 + n) {
		return lua.LNil
	}
	v := d.be(1, n)
	d.pos += 1 + n
	shift := uint(64 - 8*n)
	switch {
	case c >= 0xd0 || n == 8:
		return lua.LNumber(int64(v<<shift) >> shift)
	default:
		return lua.LNumber(v)
	}
}

// container reads an array or map whose count takes n bytes after the type.
func (d *msgpackDecoder) container(n int, isMap bool, top int) lua.LValue {
	if !d.need(1 + n) {
		return lua.LNil
	}
	count := int(d.be(1, n))
	d.pos += 1 + n
	if isMap {
		return d.mapping(count, top)
	}
	return d.array(count, top)
}

// str reads a string of n bytes after a header of hdr bytes.
func (d *msgpackDecoder) str(hdr, n int) lua.LValue {
	if !d.need(hdr + n) {
		return lua.LNil
	}
	s := d.data[d.pos+hdr : d.pos+hdr+n]
	d.pos += hdr + n
	return lua.LString(s)
}

// array is mp_decode_to_lua_array: a table, then an index and a value per
// element on the C stack.
func (d *msgpackDecoder) array(n, top int) lua.LValue {
	t := d.L.NewTable()
	if top+2 > maxCStack {
		raise(d.L, "stack overflow (in function mp_decode_to_lua_array)")
	}
	for i := 1; i <= n; i++ {
		v := d.value(top + 2)
		if d.err != "" {
			return t
		}
		if v != lua.LNil {
			t.RawSetInt(i, v)
		}
	}
	return t
}

// mapping is mp_decode_to_lua_hash: a table, then a key and a value.
func (d *msgpackDecoder) mapping(n, top int) lua.LValue {
	t := d.L.NewTable()
	arrayLen := 0 // the largest array-part key set so far in t
	for ; n > 0; n-- {
		k := d.value(top + 1)
		if d.err != "" {
			return t
		}
		v := d.value(top + 2)
		if d.err != "" {
			return t
		}
		switch kn := k.(type) {
		case *lua.LNilType:
			d.L.Error(lua.LString("table index is nil"), 0)
		case lua.LNumber:
			if kn != kn {
				d.L.Error(lua.LString("table index is NaN"), 0)
			}
			if f := float64(kn); f >= 1 && f < float64(lua.MaxArrayIndex) && f == math.Floor(f) && int(f) > arrayLen {
				if v == lua.LNil {
					continue // setting an absent key to nil changes nothing
				}
				d.fill -= int(f) - arrayLen - 1
				if d.fill < 0 {
					raise(d.L, "MessagePack map key %d too sparse to decode", int(f))
				}
				arrayLen = int(f)
			}
		}
		t.RawSet(k, v)
	}
	return t
}
