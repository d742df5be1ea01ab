package lua

import (
	"math"
	"strconv"
	"strings"
)

// Numbers read from strings, as Lua 5.1 reads them (C's strtod). Added by
// StructD's fork (FORK.md).

// Str2Number is Lua 5.1's luaO_str2d: s read as a whole as a number, as
// lua_tonumber and arithmetic on strings read it (strtod's decimal,
// hexadecimal, inf and nan forms, with surrounding spaces). Upstream read
// strings with Go's base prefixes, so "010" was 8 and "0b11" 3.
func Str2Number(s string) (float64, bool) {
	if f, ok := smallDecimal(s); ok {
		return f, true
	}
	t := strings.TrimLeft(s, " \t\n\v\f\r")
	f, n := Strtod(t)
	if n == 0 {
		return 0, false
	}
	if strings.TrimRight(t[n:], " \t\n\v\f\r") != "" {
		return 0, false
	}
	return f, true
}

// smallDecimal reads s when it is 1 to 15 decimal digits and nothing
// else, the common case (a counter, a timestamp, an ARGV count): its value
// is exact in a double, so it is strtod's, without strtod's cost.
func smallDecimal(s string) (float64, bool) {
	if len(s) == 0 || len(s) > 15 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return float64(n), true
}

// Strtod parses the longest prefix of s that C's strtod accepts (no leading
// spaces here): decimal and hexadecimal floats, "inf", "infinity", "nan" and
// "nan(...)", case-insensitively, with an optional sign. It returns the value
// and the number of bytes used (0: no number).
func Strtod(s string) (float64, int) {
	i := 0
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	sign := func(f float64) float64 {
		if neg {
			return -f
		}
		return f
	}
	rest := s[i:]
	if hasPrefixFold(rest, "inf") {
		if hasPrefixFold(rest, "infinity") {
			return sign(math.Inf(1)), i + 8
		}
		return sign(math.Inf(1)), i + 3
	}
	if hasPrefixFold(rest, "nan") {
		n := i + 3
		if n < len(s) && s[n] == '(' {
			j := n + 1
			for j < len(s) && (isAlnum(s[j]) || s[j] == '_') {
				j++
			}
			if j < len(s) && s[j] == ')' {
				n = j + 1
			}
		}
		return sign(math.NaN()), n
	}
	if len(rest) >= 2 && rest[0] == '0' && (rest[1]|0x20) == 'x' {
		if f, n := hexFloat(rest[2:]); n > 0 {
			return sign(f), i + 2 + n
		}
		// "0x" without hex digits: strtod reads the "0".
		return sign(0), i + 1
	}
	j, digits := scanDigits(s, i, isDigit)
	if digits == 0 {
		return 0, 0
	}
	j, _ = scanExponent(s, j, 'e')
	f, err := strconv.ParseFloat(s[i:j], 64)
	if err != nil && !isRangeError(err) {
		return 0, 0
	}
	return sign(f), j // a range error gives ±Inf or 0, as strtod does
}

// hexFloat parses hex digits with an optional point and binary exponent
// (after the "0x"), returning the value and the bytes used.
func hexFloat(s string) (float64, int) {
	j, digits := scanDigits(s, 0, isHex)
	if digits == 0 {
		return 0, 0
	}
	mant := s[:j]
	exp := "p0"
	if k, ok := scanExponent(s, j, 'p'); ok {
		exp, j = s[j:k], k
	}
	if strings.HasSuffix(mant, ".") {
		mant += "0"
	}
	if strings.HasPrefix(mant, ".") {
		mant = "0" + mant
	}
	f, err := strconv.ParseFloat("0x"+mant+exp, 64)
	if err != nil && !isRangeError(err) {
		return 0, 0
	}
	return f, j
}

// scanDigits scans digits with at most one point from s[j:], returning the
// end and the count of digits.
func scanDigits(s string, j int, digit func(byte) bool) (int, int) {
	digits := 0
	for j < len(s) && digit(s[j]) {
		j++
		digits++
	}
	if j < len(s) && s[j] == '.' {
		j++
		for j < len(s) && digit(s[j]) {
			j++
			digits++
		}
	}
	return j, digits
}

// scanExponent scans an exponent (marker, optional sign, decimal digits) at
// s[j:]; without one it returns j and false.
func scanExponent(s string, j int, marker byte) (int, bool) {
	if j >= len(s) || s[j]|0x20 != marker {
		return j, false
	}
	k := j + 1
	if k < len(s) && (s[k] == '+' || s[k] == '-') {
		k++
	}
	if k >= len(s) || !isDigit(s[k]) {
		return j, false
	}
	for k < len(s) && isDigit(s[k]) {
		k++
	}
	return k, true
}

func isRangeError(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isHex(c byte) bool   { return isDigit(c) || (c|0x20) >= 'a' && (c|0x20) <= 'f' }
func isAlnum(c byte) bool { return isDigit(c) || (c|0x20) >= 'a' && (c|0x20) <= 'z' }

// forNumber is a numeric for's control value as Lua 5.1's luaV_tonumber
// reads it: a number, or a string that reads as one.
func forNumber(v LValue) (LNumber, bool) {
	switch x := v.(type) {
	case LNumber:
		return x, true
	case LString:
		if f, ok := Str2Number(string(x)); ok {
			return LNumber(f), true
		}
	}
	return 0, false
}
