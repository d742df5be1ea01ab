package scripting

import (
	"math"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// formatNumber formats f as Lua 5.1's tostring does, C's "%.14g" ("inf",
// "-inf", "nan", "-nan", two-digit exponents).
func formatNumber(f float64) string {
	return formatG(f, 14)
}

// formatG is C's printf("%.<prec>g"): Go's %g with a precision follows C
// but for the spelling of infinities and NaNs.
func formatG(f float64, prec int) string {
	if !math.IsInf(f, 0) && f == f {
		return strconv.FormatFloat(f, 'g', prec, 64)
	}
	s := "inf"
	if f != f {
		s = "nan"
	}
	if math.Signbit(f) {
		s = "-" + s
	}
	return s
}

// luaToString is lua_tostring for the types that have a text (strings and
// numbers), and tostring's rendering for the others.
func luaToString(v lua.LValue) string {
	switch x := v.(type) {
	case lua.LString:
		return string(x)
	case lua.LNumber:
		return formatNumber(float64(x))
	}
	return v.String()
}

// toNumber is lua_tonumber: numbers, and strings that read as a whole as
// a decimal or hexadecimal number.
func toNumber(v lua.LValue) (float64, bool) {
	switch x := v.(type) {
	case lua.LNumber:
		return float64(x), true
	case lua.LString:
		s := strings.TrimSpace(string(x))
		if s == "" {
			return 0, false
		}
		neg := false
		t := s
		if t[0] == '-' || t[0] == '+' {
			neg, t = t[0] == '-', t[1:]
		}
		if len(t) > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X') {
			n, err := strconv.ParseUint(t[2:], 16, 64)
			if err != nil {
				return 0, false
			}
			if neg {
				return -float64(n), true
			}
			return float64(n), true
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil && !isRange(err) {
			return 0, false
		}
		return f, true
	}
	return 0, false
}

func isRange(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// castInt64 converts like a C cast of a double to long long on x86-64: NaN
// and out-of-range values give math.MinInt64.
func castInt64(f float64) int64 {
	if f != f || f >= 9223372036854775808.0 || f < -9223372036854775808.0 {
		return math.MinInt64
	}
	return int64(f)
}

func floor(f float64) float64 { return math.Floor(f) }

// rand48 is Redis's redisLrand48/redisSrand48 (POSIX lrand48): a 48-bit
// linear congruential generator returning 31 bits.
type rand48 struct{ x uint64 }

const rand48Max = math.MaxInt32

func (r *rand48) seed(s int32) { r.x = (uint64(uint32(s))<<16 | 0x330E) & (1<<48 - 1) }

func (r *rand48) next() int64 {
	r.x = (0x5DEECE66D*r.x + 0xB) & (1<<48 - 1)
	return int64(r.x >> 17)
}
