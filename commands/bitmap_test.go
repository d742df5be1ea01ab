package commands

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// The bitfield helpers against a model in big integers: a width-bit field
// holds [0, 2^w) unsigned or [-2^(w-1), 2^(w-1)) signed; WRAP keeps the sum
// modulo 2^w, SAT clamps it to the range.
func TestBitfieldOverflowModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	interesting := []int64{0, 1, -1, 2, -2, 3, 7, 8, 127, 128, -128, -129, 255, 256,
		math.MaxInt64, math.MinInt64, math.MaxInt64 - 1, math.MinInt64 + 1, 1 << 62, -1 << 62}
	pick := func() int64 {
		if rng.IntN(2) == 0 {
			return interesting[rng.IntN(len(interesting))]
		}
		return int64(rng.Uint64()) >> rng.IntN(64)
	}
	for i := 0; i < 200000; i++ {
		width := uint(1 + rng.IntN(64))
		signed := width == 64 || rng.IntN(2) == 0
		incr := pick()
		lo, hi := new(big.Int), new(big.Int).Lsh(big.NewInt(1), width)
		if signed {
			hi.Rsh(hi, 1)
			lo.Neg(hi)
		}
		hi.Sub(hi, big.NewInt(1)) // inclusive upper bound
		// value: a field value in range (INCRBY) or any int64 with incr 0
		// (SET), as Redis calls the checks.
		var value int64
		set := rng.IntN(3) == 0
		if set {
			value, incr = pick(), 0
		} else {
			u := rng.Uint64() >> rng.IntN(64)
			if width < 64 {
				u &= 1<<width - 1
				if signed && u&(1<<(width-1)) != 0 {
					u |= ^uint64(0) << width
				}
			}
			value = int64(u)
		}
		sum := new(big.Int).Add(bigOf(value, signed), big.NewInt(incr))
		wantOver := sum.Cmp(lo) < 0 || sum.Cmp(hi) > 0
		mod := new(big.Int).Lsh(big.NewInt(1), width)
		wrapped := new(big.Int).Mod(new(big.Int).Sub(sum, lo), mod)
		wrapped.Add(wrapped, lo)
		sat := sum
		if sum.Cmp(lo) < 0 {
			sat = lo
		} else if sum.Cmp(hi) > 0 {
			sat = hi
		}
		// Redis's quirk: for a signed field narrower than 64 bits, a SET
		// value so negative that max-value overflows int64 is taken as an
		// overflow upwards, and SAT stores the maximum.
		if signed && width < 64 && value < -(math.MaxInt64-hi.Int64()) {
			sat = hi
		}
		for _, mode := range []overflowMode{overflowWrap, overflowSat} {
			want := wrapped
			if mode == overflowSat {
				want = sat
			}
			var got *big.Int
			var over bool
			if signed {
				var limit int64
				limit, over = signedOverflow(value, incr, width, mode)
				got = big.NewInt(value + incr)
				if over {
					got = big.NewInt(limit)
				}
			} else {
				var limit uint64
				limit, over = unsignedOverflow(uint64(value), incr, width, mode)
				got = new(big.Int).SetUint64(uint64(value) + uint64(incr))
				if over {
					got = new(big.Int).SetUint64(limit)
				}
			}
			if over != wantOver || got.Cmp(want) != 0 {
				t.Fatalf("signed=%v width=%d value=%d incr=%d mode=%d: got %v overflow %v, want %v overflow %v",
					signed, width, value, incr, mode, got, over, want, wantOver)
			}
		}
	}
}

// bigOf is the value a SET or INCRBY operand has for the field: unsigned
// fields read a negative SET value as its 64-bit two's complement, as
// Redis's uint64_t conversion does.
func bigOf(v int64, signed bool) *big.Int {
	if signed {
		return big.NewInt(v)
	}
	return new(big.Int).SetUint64(uint64(v))
}

func TestBitfieldFieldRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 20000; i++ {
		p := make([]byte, 12)
		for j := range p {
			p[j] = byte(rng.Uint32())
		}
		before := append([]byte(nil), p...)
		width := uint(1 + rng.IntN(64))
		off := uint64(rng.IntN(96 - int(width) + 1))
		v := rng.Uint64()
		setField(p, off, width, v)
		mask := uint64(math.MaxUint64)
		if width < 64 {
			mask = 1<<width - 1
		}
		if got := getUnsignedField(p, off, width); got != v&mask {
			t.Fatalf("width %d offset %d: stored %x, read %x", width, off, v&mask, got)
		}
		// The sign extension of the same bits.
		s := getSignedField(p, off, width)
		if width < 64 && (s<<(64-width))>>(64-width) != s {
			t.Fatalf("width %d: %d is not sign-extended", width, s)
		}
		// Bits outside the field are untouched.
		for b := uint64(0); b < 96; b++ {
			if b >= off && b < off+uint64(width) {
				continue
			}
			if getUnsignedField(p, b, 1) != getUnsignedField(before, b, 1) {
				t.Fatalf("width %d offset %d changed bit %d", width, off, b)
			}
		}
	}
	// Reads past the end see zeros.
	if got := getUnsignedField([]byte{0xff}, 4, 8); got != 0xf0 {
		t.Errorf("read across the end = %x, want f0", got)
	}
}

func TestBitfieldType(t *testing.T) {
	for in, want := range map[string]uint{"i1": 1, "i64": 64, "u1": 1, "u63": 63, "i8\x00junk": 8} {
		if _, w, ok := parseBitfieldType([]byte(in)); !ok || w != want {
			t.Errorf("%q: width %d ok %v, want %d", in, w, ok, want)
		}
	}
	for _, in := range []string{"", "i", "u", "i0", "u0", "i65", "u64", "I8", "U8", "x8", "i08", "i-8", "i+8", "\x00i8"} {
		if _, _, ok := parseBitfieldType([]byte(in)); ok {
			t.Errorf("%q accepted", in)
		}
	}
}

// popcountBits and findBit against bit-by-bit loops.
func TestBitRangeScans(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 5000; i++ {
		s := make([]byte, 1+rng.IntN(20))
		for j := range s {
			switch rng.IntN(3) {
			case 0:
				s[j] = 0
			case 1:
				s[j] = 0xff
			default:
				s[j] = byte(rng.Uint32())
			}
		}
		n := int64(len(s)) * 8
		first := rng.Int64N(n)
		last := first + rng.Int64N(n-first)
		bit := func(i int64) bool { return s[i>>3]&(0x80>>(i&7)) != 0 }
		var count int64
		pos := [2]int64{-1, -1}
		for b := first; b <= last; b++ {
			v := 0
			if bit(b) {
				count++
				v = 1
			}
			if pos[v] < 0 {
				pos[v] = b
			}
		}
		if got := popcountBits(s, first, last); got != count {
			t.Fatalf("%x [%d,%d]: popcount %d, want %d", s, first, last, got, count)
		}
		for v, set := range []bool{false, true} {
			if got := findBit(s, first, last, set); got != pos[v] {
				t.Fatalf("%x [%d,%d]: first %d at %d, want %d", s, first, last, v, got, pos[v])
			}
		}
	}
}
