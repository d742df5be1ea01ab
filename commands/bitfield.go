package commands

import (
	"bytes"

	"github.com/structd/structd/internal/resp"
)

// BITFIELD treats a string as an array of integers of any width from 1 to
// 64 bits (unsigned up to 63), at any bit offset, big-endian: the first bit
// of a field is its most significant.

const errBitfieldType = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."

// overflowMode is BITFIELD's OVERFLOW setting.
type overflowMode uint8

const (
	overflowWrap overflowMode = iota
	overflowSat
	overflowFail
)

// bitfieldOpKind is a BITFIELD subcommand.
type bitfieldOpKind uint8

const (
	bfGet bitfieldOpKind = iota
	bfSet
	bfIncrBy
)

// bitfieldOp is one parsed GET, SET or INCRBY.
type bitfieldOp struct {
	kind     bitfieldOpKind
	overflow overflowMode
	signed   bool
	bits     uint
	offset   uint64
	value    int64 // SET's value or INCRBY's increment
}

func cmdBitField(c *Ctx)   { bitfieldGeneric(c, false) }
func cmdBitFieldRO(c *Ctx) { bitfieldGeneric(c, true) }

// bitfieldGeneric runs BITFIELD and BITFIELD_RO: it parses every operation
// first (so a syntax error changes nothing), then creates or grows the
// string as far as the farthest write reaches, then runs them in order.
func bitfieldGeneric(c *Ctx, readOnly bool) {
	ops, ok := parseBitfieldOps(c)
	if !ok {
		return
	}
	writes := false
	var highest uint64
	for _, op := range ops {
		if op.kind != bfGet {
			writes = true
			highest = max(highest, op.offset+uint64(op.bits)-1)
		}
	}
	var str []byte
	grown := false
	if !writes {
		o, ok := lookupString(c, c.Args[1])
		if !ok {
			return
		}
		if o != nil {
			str = o.Bytes()
		}
	} else {
		if readOnly {
			c.W.Error("ERR BITFIELD_RO only supports the GET subcommand")
			return
		}
		o, g, ok := lookupStringForBits(c, highest)
		if !ok {
			return
		}
		str, grown = o.Bytes(), g
	}
	c.W.Array(len(ops))
	changes := 0
	for _, op := range ops {
		if op.kind == bfGet {
			if op.signed {
				c.W.Int(getSignedField(str, op.offset, op.bits))
			} else {
				c.W.Int(int64(getUnsignedField(str, op.offset, op.bits)))
			}
			continue
		}
		ret, newval, changed, failed := applyBitfieldWrite(str, op)
		if failed {
			c.W.Null()
			continue
		}
		c.W.Int(ret)
		setField(str, op.offset, op.bits, newval)
		if grown || changed {
			changes++
		}
	}
	if changes > 0 {
		c.KeyChanged(EventString, "setbit", c.Args[1])
	}
}

// applyBitfieldWrite computes a SET or INCRBY on str: the value to reply
// (SET: the old value, INCRBY: the new one), the bits to store, whether
// they differ from the old ones, and whether OVERFLOW FAIL refused it.
func applyBitfieldWrite(str []byte, op bitfieldOp) (reply int64, newval uint64, changed, failed bool) {
	var over bool
	if op.signed {
		old := getSignedField(str, op.offset, op.bits)
		nv, base, incr := old+op.value, old, op.value
		if op.kind == bfSet {
			nv, base, incr = op.value, op.value, 0
		}
		var limit int64
		if limit, over = signedOverflow(base, incr, op.bits, op.overflow); over {
			nv = limit
		}
		reply = nv
		if op.kind == bfSet {
			reply = old
		}
		return reply, uint64(nv), nv != old, over && op.overflow == overflowFail
	}
	old := getUnsignedField(str, op.offset, op.bits)
	nv, base, incr := old+uint64(op.value), old, op.value
	if op.kind == bfSet {
		nv, base, incr = uint64(op.value), uint64(op.value), 0
	}
	var limit uint64
	if limit, over = unsignedOverflow(base, incr, op.bits, op.overflow); over {
		nv = limit
	}
	reply = int64(nv)
	if op.kind == bfSet {
		reply = int64(old)
	}
	return reply, nv, nv != old, over && op.overflow == overflowFail
}

// parseBitfieldOps parses BITFIELD's arguments from args[2:] as Redis does,
// replying with its errors.
func parseBitfieldOps(c *Ctx) ([]bitfieldOp, bool) {
	var ops []bitfieldOp
	overflow := overflowWrap
	for j := 2; j < len(c.Args); j++ {
		remaining := len(c.Args) - j - 1
		var op bitfieldOp
		switch {
		case c.ArgIs(j, "get") && remaining >= 2:
			op.kind = bfGet
		case c.ArgIs(j, "set") && remaining >= 3:
			op.kind = bfSet
		case c.ArgIs(j, "incrby") && remaining >= 3:
			op.kind = bfIncrBy
		case c.ArgIs(j, "overflow") && remaining >= 1:
			j++
			switch {
			case c.ArgIs(j, "wrap"):
				overflow = overflowWrap
			case c.ArgIs(j, "sat"):
				overflow = overflowSat
			case c.ArgIs(j, "fail"):
				overflow = overflowFail
			default:
				c.W.Error("ERR Invalid OVERFLOW type specified")
				return nil, false
			}
			continue
		default:
			c.W.Error(ErrSyntax)
			return nil, false
		}
		var ok bool
		if op.signed, op.bits, ok = parseBitfieldType(c.Args[j+1]); !ok {
			c.W.Error(errBitfieldType)
			return nil, false
		}
		if op.offset, ok = bitOffset(c, c.Args[j+2], int(op.bits)); !ok {
			return nil, false
		}
		if op.kind != bfGet {
			if op.value, ok = c.Int(j + 3); !ok {
				return nil, false
			}
			j++
		}
		op.overflow = overflow
		ops = append(ops, op)
		j += 2
	}
	return ops, true
}

// parseBitfieldType parses a type such as i16 or u8: i1..i64, u1..u63.
// Like Redis, which reads the width as a C string, it stops at a NUL byte.
func parseBitfieldType(t []byte) (signed bool, width uint, ok bool) {
	if len(t) == 0 || (t[0] != 'i' && t[0] != 'u') {
		return false, 0, false
	}
	signed = t[0] == 'i'
	digits := t[1:]
	if i := bytes.IndexByte(digits, 0); i >= 0 {
		digits = digits[:i]
	}
	n, ok := resp.ParseInt(digits)
	if !ok || n < 1 || (signed && n > 64) || (!signed && n > 63) {
		return false, 0, false
	}
	return signed, uint(n), true
}

// getUnsignedField reads the width-bit big-endian field at bit offset of
// p; bits past the end of p read as zero.
func getUnsignedField(p []byte, offset uint64, width uint) uint64 {
	var v uint64
	for i := uint(0); i < width; i++ {
		var bit uint64
		if b := offset >> 3; b < uint64(len(p)) {
			bit = uint64(p[b]>>(7-offset&7)) & 1
		}
		v = v<<1 | bit
		offset++
	}
	return v
}

// getSignedField reads a two's complement field, extending its sign bit.
func getSignedField(p []byte, offset uint64, width uint) int64 {
	v := getUnsignedField(p, offset, width)
	if width < 64 && v&(1<<(width-1)) != 0 {
		v |= ^uint64(0) << width
	}
	return int64(v)
}

// setField writes the low width bits of v at bit offset of p, which the
// caller has grown to hold them.
func setField(p []byte, offset uint64, width uint, v uint64) {
	for i := uint(0); i < width; i++ {
		mask := byte(1) << (7 - offset&7)
		if v&(1<<(width-1-i)) != 0 {
			p[offset>>3] |= mask
		} else {
			p[offset>>3] &^= mask
		}
		offset++
	}
}

// unsignedOverflow is Redis's checkUnsignedBitfieldOverflow: it reports
// whether value+incr leaves the range of a width-bit unsigned field, and
// the value to store instead under mode (wrapped or saturated).
func unsignedOverflow(value uint64, incr int64, width uint, mode overflowMode) (limit uint64, overflow bool) {
	maxv := uint64(1)<<width - 1
	maxIncr := int64(maxv - value)
	minIncr := -int64(value)
	switch {
	case value > maxv || (incr > 0 && incr > maxIncr):
		limit = maxv
	case incr < 0 && incr < minIncr:
		limit = 0
	default:
		return 0, false
	}
	if mode == overflowWrap {
		limit = (value + uint64(incr)) &^ (^uint64(0) << width)
	}
	return limit, true
}

// signedOverflow is Redis's checkSignedBitfieldOverflow for a width-bit
// two's complement field.
func signedOverflow(value, incr int64, width uint, mode overflowMode) (limit int64, overflow bool) {
	maxv := int64(1<<63 - 1)
	if width < 64 {
		maxv = 1<<(width-1) - 1
	}
	minv := -maxv - 1
	// maxIncr and minIncr may wrap; they are only used once value is
	// known to be in range, as in Redis.
	maxIncr := int64(uint64(maxv) - uint64(value))
	minIncr := minv - value
	switch {
	case value > maxv || (width != 64 && incr > maxIncr) || (value >= 0 && incr > 0 && incr > maxIncr):
		limit = maxv
	case value < minv || (width != 64 && incr < minIncr) || (value < 0 && incr < 0 && incr < minIncr):
		limit = minv
	default:
		return 0, false
	}
	if mode == overflowWrap {
		u := uint64(value) + uint64(incr)
		if width < 64 {
			if u&(1<<(width-1)) != 0 {
				u |= ^uint64(0) << width
			} else {
				u &^= ^uint64(0) << width
			}
		}
		limit = int64(u)
	}
	return limit, true
}
