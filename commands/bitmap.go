package commands

import (
	"encoding/binary"
	"math/bits"

	"github.com/structd/structd/internal/resp"
	"github.com/structd/structd/memtier"
)

// Bitmaps are strings addressed bit by bit: bit 0 is the most significant
// bit of the first byte. Bit offsets stop below proto-max-bulk-len bytes
// (2^32 bits with the default 512 MB), checked before any allocation.

func init() {
	bitCmd := familyCommand("bitmap")
	register(
		bitCmd("setbit", 4, Write|DenyOOM, "slow", cmdSetBit),
		bitCmd("getbit", 3, ReadOnly|Fast, "fast", cmdGetBit),
		bitCmd("bitcount", -2, ReadOnly, "slow", cmdBitCount),
		bitCmd("bitpos", -3, ReadOnly, "slow", cmdBitPos),
		bitCmd("bitfield", -2, Write|DenyOOM, "slow", cmdBitField),
		bitCmd("bitfield_ro", -2, ReadOnly|Fast, "fast", cmdBitFieldRO),
		&Command{Name: "bitop", Arity: -4, Flags: Write | DenyOOM, FirstKey: 2, LastKey: -1, KeyStep: 1,
			Categories: []string{"write", "bitmap", "slow"}, Handler: cmdBitOp},
	)
}

// Errors of the bitmap family.
const (
	errBitOffset = "ERR bit offset is not an integer or out of range"
	errBitValue  = "ERR bit is not an integer or out of range"
	errBitArg    = "ERR The bit argument must be 1 or 0."
	errBitOpNot  = "ERR BITOP NOT must be called with a single source key."
)

// bitOffset parses a bit offset as Redis's getBitOffsetFromArgument. With
// width > 0 (BITFIELD) the "#n" form means n*width, multiplied with int64
// wrap-around as Redis does. The offset must be non-negative and address a
// byte below proto-max-bulk-len.
func bitOffset(c *Ctx, arg []byte, width int) (uint64, bool) {
	hash := width > 0 && len(arg) > 0 && arg[0] == '#'
	if hash {
		arg = arg[1:]
	}
	n, ok := resp.ParseInt(arg)
	if hash {
		n *= int64(width)
	}
	if !ok || n < 0 || n>>3 >= maxStringLen(c) {
		c.W.Error(errBitOffset)
		return 0, false
	}
	return uint64(n), true
}

// lookupStringForBits is Redis's lookupStringForBitCommand: it returns the
// string under args[1], created or grown with zero bytes so that bit maxbit
// exists, as a raw string the caller may modify in place. grown reports
// whether the key was created or lengthened.
//
// Converting an int or embstr string to raw changes OBJECT ENCODING even
// when no bit changes (and no event fires): the command is then logged as
// called, so that a replay converts it too (invariant 3). Nothing the
// callers do after this call can fail the command.
func lookupStringForBits(c *Ctx, maxbit uint64) (o *memtier.Object, grown, ok bool) {
	key := c.Args[1]
	o, ok = lookupStringWrite(c, key)
	if !ok {
		return nil, false, false
	}
	size := int(maxbit>>3) + 1
	if o == nil {
		o = memtier.NewRawString(make([]byte, size))
		c.DB.Set(key, o)
		return o, true, true
	}
	if o.Enc != memtier.EncRaw {
		c.Propagate(c.Args...)
	}
	old := len(o.Bytes())
	o.SetBytes(growZero(o.Bytes(), size))
	o.Enc = memtier.EncRaw
	c.DB.SetKeepTTL(key, o)
	return o, len(o.Bytes()) != old, true
}

func cmdSetBit(c *Ctx) {
	off, ok := bitOffset(c, c.Args[2], 0)
	if !ok {
		return
	}
	on, ok := resp.ParseInt(c.Args[3])
	if !ok || on&^1 != 0 {
		c.W.Error(errBitValue)
		return
	}
	o, grown, ok := lookupStringForBits(c, off)
	if !ok {
		return
	}
	byteIdx, mask := off>>3, byte(1)<<(7-off&7)
	old := o.Bytes()[byteIdx]&mask != 0
	if grown || old != (on == 1) {
		if on == 1 {
			o.Bytes()[byteIdx] |= mask
		} else {
			o.Bytes()[byteIdx] &^= mask
		}
		c.KeyChanged(EventString, "setbit", c.Args[1])
	}
	c.W.Int(boolInt(old))
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func cmdGetBit(c *Ctx) {
	off, ok := bitOffset(c, c.Args[2], 0)
	if !ok {
		return
	}
	o, ok := lookupString(c, c.Args[1])
	if !ok {
		return
	}
	if o == nil || off>>3 >= uint64(len(o.Bytes())) {
		c.W.Int(0)
		return
	}
	c.W.Int(boolInt(o.Bytes()[off>>3]&(1<<(7-off&7)) != 0))
}

// bitRange converts a BITCOUNT/BITPOS start and end to an inclusive range
// of bits of a string of n bytes, counting in bytes or (isBit) in bits,
// negative values from the end; empty is true for an empty range.
func bitRange(start, end, n int64, isBit bool) (first, last int64, empty bool) {
	total := n
	if isBit {
		total <<= 3
	}
	if start < 0 {
		start += total
	}
	if end < 0 {
		end += total
	}
	start, end = max(start, 0), max(end, 0)
	if end >= total {
		end = total - 1
	}
	if start > end {
		return 0, 0, true
	}
	if !isBit {
		return start << 3, end<<3 | 7, false
	}
	return start, end, false
}

// parseBitUnit parses BITCOUNT's and BITPOS's BYTE|BIT argument.
func parseBitUnit(c *Ctx, i int) (isBit, ok bool) {
	switch {
	case c.ArgIs(i, "bit"):
		return true, true
	case c.ArgIs(i, "byte"):
		return false, true
	}
	c.W.Error(ErrSyntax)
	return false, false
}

func cmdBitCount(c *Ctx) {
	// Redis 7.0 looks the key up first: a missing key counts 0 whatever
	// the other arguments are.
	o := orZero(c, lookupString)
	if o == nil {
		return
	}
	s := o.Bytes()
	first, last := int64(0), int64(len(s))*8-1
	switch len(c.Args) {
	case 2:
	case 4, 5:
		start, ok := c.Int(2)
		if !ok {
			return
		}
		end, ok := c.Int(3)
		if !ok {
			return
		}
		if start < 0 && end < 0 && start > end {
			c.W.Int(0)
			return
		}
		isBit := false
		if len(c.Args) == 5 {
			if isBit, ok = parseBitUnit(c, 4); !ok {
				return
			}
		}
		var empty bool
		if first, last, empty = bitRange(start, end, int64(len(s)), isBit); empty {
			c.W.Int(0)
			return
		}
	default:
		c.W.Error(ErrSyntax)
		return
	}
	c.W.Int(popcountBits(s, first, last))
}

// popcountBits counts the set bits of s from bit first to bit last,
// inclusive.
func popcountBits(s []byte, first, last int64) int64 {
	if last < first {
		return 0
	}
	fb, lb := first>>3, last>>3
	headMask := byte(0xff) >> (first & 7)
	tailMask := byte(0xff) << (7 - last&7)
	if fb == lb {
		return int64(bits.OnesCount8(s[fb] & headMask & tailMask))
	}
	n := bits.OnesCount8(s[fb]&headMask) + bits.OnesCount8(s[lb]&tailMask)
	return int64(n) + popcount(s[fb+1:lb])
}

// popcount counts the set bits of b, eight bytes at a time.
func popcount(b []byte) int64 {
	var n int
	for len(b) >= 8 {
		n += bits.OnesCount64(binary.LittleEndian.Uint64(b))
		b = b[8:]
	}
	for _, x := range b {
		n += bits.OnesCount8(x)
	}
	return int64(n)
}

func cmdBitPos(c *Ctx) {
	bit, ok := c.Int(2)
	if !ok {
		return
	}
	if bit != 0 && bit != 1 {
		c.W.Error(errBitArg)
		return
	}
	// A missing key is an infinite run of zero bits.
	o, ok := lookupString(c, c.Args[1])
	if !ok {
		return
	}
	if o == nil {
		c.W.Int(-bit)
		return
	}
	s := o.Bytes()
	first, last := int64(0), int64(len(s))*8-1
	endGiven := false
	switch len(c.Args) {
	case 3:
		if len(s) == 0 {
			c.W.Int(-1)
			return
		}
	case 4, 5, 6:
		start, ok := c.Int(3)
		if !ok {
			return
		}
		isBit := false
		if len(c.Args) == 6 {
			if isBit, ok = parseBitUnit(c, 5); !ok {
				return
			}
		}
		end := int64(-1)
		if len(c.Args) >= 5 {
			if end, ok = c.Int(4); !ok {
				return
			}
			endGiven = true
		}
		var empty bool
		if first, last, empty = bitRange(start, end, int64(len(s)), isBit); empty {
			c.W.Int(-1)
			return
		}
	default:
		c.W.Error(ErrSyntax)
		return
	}
	pos := findBit(s, first, last, bit == 1)
	if pos < 0 && bit == 0 && !endGiven {
		// Looking for a clear bit with no explicit end, the string is
		// taken as padded with zeros on the right.
		pos = last + 1
	}
	c.W.Int(pos)
}

// findBit returns the position of the first bit equal to set in s between
// bits first and last inclusive, or -1. Whole words without such a bit are
// skipped eight bytes at a time.
func findBit(s []byte, first, last int64, set bool) int64 {
	var flip byte // XOR turning the bits sought into ones
	var skip uint64
	if !set {
		flip, skip = 0xff, ^uint64(0)
	}
	fb, lb := first>>3, last>>3
	for i := fb; i <= lb; i++ {
		if i > fb && i+8 <= lb && binary.LittleEndian.Uint64(s[i:]) == skip {
			i += 7
			continue
		}
		b := s[i] ^ flip
		if i == fb {
			b &= 0xff >> (first & 7)
		}
		if i == lb {
			b &= 0xff << (7 - last&7)
		}
		if b != 0 {
			return i<<3 + int64(bits.LeadingZeros8(b))
		}
	}
	return -1
}

func cmdBitOp(c *Ctx) {
	var op byte
	switch {
	case c.ArgIs(1, "and"):
		op = '&'
	case c.ArgIs(1, "or"):
		op = '|'
	case c.ArgIs(1, "xor"):
		op = '^'
	case c.ArgIs(1, "not"):
		op = '~'
	default:
		c.W.Error(ErrSyntax)
		return
	}
	if op == '~' && len(c.Args) != 4 {
		c.W.Error(errBitOpNot)
		return
	}
	dest := c.Args[2]
	srcKeys := c.Args[3:]
	srcs := make([][]byte, len(srcKeys))
	maxLen := 0
	for j, key := range srcKeys {
		o, ok := lookupString(c, key)
		if !ok {
			return
		}
		if o != nil {
			srcs[j] = o.Bytes()
			maxLen = max(maxLen, len(o.Bytes()))
		}
	}
	if maxLen == 0 {
		if c.DB.Delete(dest) {
			c.KeyChanged(EventGeneric, "del", dest)
		}
		c.W.Int(0)
		return
	}
	res := make([]byte, maxLen)
	bitOp(op, res, srcs)
	c.DB.Set(dest, memtier.NewRawString(res))
	c.KeyChanged(EventString, "set", dest)
	c.W.Int(int64(maxLen))
}

// bitOp computes op ('&', '|', '^' or '~' of the single source) over srcs
// into res, the length of the longest; shorter sources, and missing ones
// (nil), read as zero bytes.
func bitOp(op byte, res []byte, srcs [][]byte) {
	if op == '~' {
		for i := range res {
			res[i] = ^srcs[0][i]
		}
		return
	}
	copy(res, srcs[0])
	for _, s := range srcs[1:] {
		switch op {
		case '&':
			for i := range res {
				if i < len(s) {
					res[i] &= s[i]
				} else {
					res[i] = 0
				}
			}
		case '|':
			for i := range s {
				res[i] |= s[i]
			}
		case '^':
			for i := range s {
				res[i] ^= s[i]
			}
		}
	}
}
