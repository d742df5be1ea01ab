package commands

import (
	"math/big"
)

// longDouble is a value of C's long double as Redis on x86-64 has it: the
// x87 80-bit extended format, with a 64-bit mantissa and a 15-bit exponent.
// INCRBYFLOAT parses (strtold), adds and formats ("%.17Lf") in that type,
// so reproducing its replies takes the same precision: in float64, 0.1+0.2
// prints as 0.30000000000000004 where Redis prints 0.3. The zero value is
// +0.
//
// Values are big.Floats rounded to 64 mantissa bits (round half to even,
// the x87 default) with the exponent range checked by hand. Subnormal
// results keep more precision than the hardware would, which no reply can
// show: "%.17Lf" prints them as 0.
type longDouble struct {
	f *big.Float // nil means +0
}

const (
	// ldMantBits is the mantissa width of the x87 extended format.
	ldMantBits = 64
	// ldMaxExp is the largest big.Float exponent (x = mant × 2^exp with
	// 0.5 <= |mant| < 1) of a finite long double: LDBL_MAX < 2^16384.
	ldMaxExp = 16384
	// ldMinExp is the exponent of the smallest subnormal, 2^-16445: values
	// up to half of it round to zero, which strtold reports as a range
	// error and Redis refuses.
	ldMinExp = -16444
	// maxLongDoubleChars is Redis's MAX_LONG_DOUBLE_CHARS: longer inputs
	// are refused before parsing.
	maxLongDoubleChars = 5 * 1024
)

// parseLongDouble parses b as Redis's string2ld: strtold's syntax (decimal
// or hexadecimal mantissa and exponent, inf and infinity), no leading or
// trailing space, no NaN, and no value that overflows to infinity or
// underflows to zero.
func parseLongDouble(b []byte) (longDouble, bool) {
	if len(b) == 0 || len(b) >= maxLongDoubleChars || isSpaceByte(b[0]) {
		return longDouble{}, false
	}
	s := b
	neg := false
	if s[0] == '+' || s[0] == '-' {
		neg = s[0] == '-'
		s = s[1:]
	}
	if equalFoldASCII(s, "inf") || equalFoldASCII(s, "infinity") {
		return longDouble{new(big.Float).SetInf(neg)}, true
	}
	hex := len(s) > 2 && s[0] == '0' && s[1]|0x20 == 'x'
	base, expChar := 10, byte('e')
	if hex {
		s = s[2:]
		base, expChar = 16, 'p'
	}
	digits, frac, exp, ok := scanFloatParts(s, base, expChar)
	if !ok {
		return longDouble{}, false
	}
	m, _ := new(big.Int).SetString(string(digits), base)
	f := new(big.Float).SetPrec(ldMantBits)
	if m.Sign() != 0 {
		if !setScaled(f, m, base, exp, frac) {
			return longDouble{}, false
		}
		if e := f.MantExp(nil); e > ldMaxExp || e < ldMinExp-1 ||
			(e == ldMinExp-1 && isPowerOfTwo(f)) {
			return longDouble{}, false
		}
	}
	if neg {
		f.Neg(f)
	}
	return longDouble{f}, true
}

// setScaled sets f to m × base^exp / base^frac (base 10), or m × 2^exp /
// 16^frac (base 16), rounded to f's precision. It reports false for values
// so far out of the long double range that computing them exactly would
// only waste memory.
func setScaled(f *big.Float, m *big.Int, base int, exp, frac int64) bool {
	if base == 16 {
		e2 := exp - 4*frac
		if order := int64(m.BitLen()) + e2; order > ldMaxExp+1 || order < ldMinExp-2 {
			return false
		}
		f.SetInt(m)
		f.SetMantExp(f, int(e2))
		return true
	}
	e10 := exp - frac
	// m has at most maxLongDoubleChars digits, so the order of magnitude
	// is known within one: LDBL_MAX ~ 1.19e4932, min subnormal ~ 3.6e-4951.
	if order := int64(len(m.String())) + e10; order > 4934 || order < -4952 {
		return false
	}
	if e10 >= 0 {
		f.SetInt(m.Mul(m, pow10(e10)))
		return true
	}
	f.SetRat(new(big.Rat).SetFrac(m, pow10(-e10)))
	return true
}

func pow10(n int64) *big.Int {
	return new(big.Int).Exp(big.NewInt(10), big.NewInt(n), nil)
}

// isPowerOfTwo reports whether |f| is an exact power of two.
func isPowerOfTwo(f *big.Float) bool {
	m := new(big.Float)
	f.MantExp(m)
	return m.Abs(m).Cmp(big.NewFloat(0.5)) == 0
}

// scanFloatParts splits a strtold mantissa and exponent (without sign):
// the mantissa's digits without the radix point, how many of them follow
// it, and the exponent. At least one mantissa digit is required, and an
// exponent marker must be followed by digits; anything left over fails.
// The exponent saturates far beyond any long double.
func scanFloatParts(s []byte, base int, expChar byte) (digits []byte, frac, exp int64, ok bool) {
	isDigit := func(c byte) bool {
		if base == 16 {
			return isHexDigit(c)
		}
		return '0' <= c && c <= '9'
	}
	i, dot := 0, false
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case isDigit(c):
			digits = append(digits, c)
			if dot {
				frac++
			}
		case c == '.' && !dot:
			dot = true
		default:
			goto mantissaDone
		}
	}
mantissaDone:
	if len(digits) == 0 {
		return nil, 0, 0, false
	}
	if i < len(s) {
		if s[i]|0x20 != expChar || i+1 == len(s) {
			return nil, 0, 0, false
		}
		i++
		eneg := false
		if s[i] == '+' || s[i] == '-' {
			eneg = s[i] == '-'
			i++
		}
		if i == len(s) {
			return nil, 0, 0, false
		}
		for ; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return nil, 0, 0, false
			}
			if exp < 1<<40 {
				exp = exp*10 + int64(s[i]-'0')
			}
		}
		if eneg {
			exp = -exp
		}
	}
	return digits, frac, exp, true
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c|0x20 && c|0x20 <= 'f'
}

// equalFoldASCII reports whether b equals the lower-case word s, ignoring
// ASCII case.
func equalFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		if b[i]|0x20 != s[i] {
			return false
		}
	}
	return true
}

// add returns x+y rounded to a long double; ok is false when the sum is
// infinite or NaN (either operand infinite, or an overflow).
func (x longDouble) add(y longDouble) (longDouble, bool) {
	if x.f == nil {
		x.f = new(big.Float)
	}
	if y.f == nil {
		y.f = new(big.Float)
	}
	if x.f.IsInf() || y.f.IsInf() {
		return longDouble{}, false
	}
	z := new(big.Float).SetPrec(ldMantBits).Add(x.f, y.f)
	if z.Sign() != 0 && z.MantExp(nil) > ldMaxExp {
		return longDouble{}, false
	}
	return longDouble{z}, true
}

// appendHuman appends x as Redis's ld2string in LD_STR_HUMAN mode: C's
// "%.17Lf" (exact decimal expansion rounded half to even, as glibc does),
// then trailing zeros and a trailing point removed, and "-0" written "0".
func (x longDouble) appendHuman(dst []byte) []byte {
	f := x.f
	if f == nil {
		f = new(big.Float)
	}
	if f.IsInf() {
		if f.Sign() < 0 {
			return append(dst, "-inf"...)
		}
		return append(dst, "inf"...)
	}
	start := len(dst)
	dst = f.Append(dst, 'f', 17)
	for dst[len(dst)-1] == '0' {
		dst = dst[:len(dst)-1]
	}
	if dst[len(dst)-1] == '.' {
		dst = dst[:len(dst)-1]
	}
	if string(dst[start:]) == "-0" {
		dst = append(dst[:start], '0')
	}
	return dst
}
