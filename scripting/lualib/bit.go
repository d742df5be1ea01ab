package lualib

import (
	"math"
	"math/bits"

	lua "github.com/yuin/gopher-lua"
)

// NewBit returns the bit table (LuaBitOp 1.0.2 as in Redis): 32-bit
// operations on Lua numbers, results as signed 32-bit numbers.
func NewBit(L *lua.LState) *lua.LTable {
	return newLib(L, map[string]lua.LGFunction{
		"tobit":   bitTobit,
		"bnot":    bitBnot,
		"band":    bitFold(func(a, b uint32) uint32 { return a & b }),
		"bor":     bitFold(func(a, b uint32) uint32 { return a | b }),
		"bxor":    bitFold(func(a, b uint32) uint32 { return a ^ b }),
		"lshift":  bitShift(func(b uint32, n uint) uint32 { return b << n }),
		"rshift":  bitShift(func(b uint32, n uint) uint32 { return b >> n }),
		"arshift": bitShift(func(b uint32, n uint) uint32 { return uint32(int32(b) >> n) }),
		"rol":     bitShift(func(b uint32, n uint) uint32 { return bits.RotateLeft32(b, int(n)) }),
		"ror":     bitShift(func(b uint32, n uint) uint32 { return bits.RotateLeft32(b, -int(n)) }),
		"bswap":   bitBswap,
		"tohex":   bitTohex,
	})
}

// bitArg is LuaBitOp's barg: the number plus 2^52+2^51, whose low 32 mantissa
// bits are the number rounded to an integer modulo 2^32 (for |n| < 2^51; the
// same arithmetic gives LuaBitOp's result for any other double).
func bitArg(L *lua.LState, n int) uint32 {
	f := CheckNumber(L, n) + 6755399441055744.0
	return uint32(math.Float64bits(f))
}

func bitRet(L *lua.LState, b uint32) int {
	L.Push(lua.LNumber(int32(b)))
	return 1
}

func bitTobit(L *lua.LState) int { return bitRet(L, bitArg(L, 1)) }
func bitBnot(L *lua.LState) int  { return bitRet(L, ^bitArg(L, 1)) }
func bitBswap(L *lua.LState) int { return bitRet(L, bits.ReverseBytes32(bitArg(L, 1))) }

func bitFold(op func(a, b uint32) uint32) lua.LGFunction {
	return func(L *lua.LState) int {
		b := bitArg(L, 1)
		for i := 2; i <= L.GetTop(); i++ {
			b = op(b, bitArg(L, i))
		}
		return bitRet(L, b)
	}
}

func bitShift(op func(b uint32, n uint) uint32) lua.LGFunction {
	return func(L *lua.LState) int {
		b := bitArg(L, 1)
		n := uint(bitArg(L, 2) & 31)
		return bitRet(L, op(b, n))
	}
}

// bitTohex is bit.tohex(x [, n]): n hex digits (default 8, at most 8),
// upper case when n is negative. n = INT32_MIN, whose negation overflows in
// the original C, is taken as -INT32_MAX as Redis's fix does.
func bitTohex(L *lua.LState) int {
	b := bitArg(L, 1)
	n := int64(8)
	if L.GetTop() >= 2 {
		n = int64(int32(bitArg(L, 2)))
	}
	digits := "0123456789abcdef"
	if n < 0 {
		n = -n
		digits = "0123456789ABCDEF"
	}
	if n > 8 {
		n = 8
	}
	buf := make([]byte, n)
	for i := n - 1; i >= 0; i-- {
		buf[i] = digits[b&15]
		b >>= 4
	}
	L.Push(lua.LString(buf))
	return 1
}
