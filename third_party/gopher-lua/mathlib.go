package lua

import (
	"math"
	"math/rand"
)

func OpenMath(L *LState) int {
	mod := L.RegisterModule(MathLibName, mathFuncs).(*LTable)
	mod.RawSetString("pi", LNumber(math.Pi))
	mod.RawSetString("huge", LNumber(math.MaxFloat64))
	L.Push(mod)
	return 1
}

var mathFuncs = map[string]LGFunction{
	"abs":        mathAbs,
	"acos":       mathAcos,
	"asin":       mathAsin,
	"atan":       mathAtan,
	"atan2":      mathAtan2,
	"ceil":       mathCeil,
	"cos":        mathCos,
	"cosh":       mathCosh,
	"deg":        mathDeg,
	"exp":        mathExp,
	"floor":      mathFloor,
	"fmod":       mathFmod,
	"frexp":      mathFrexp,
	"ldexp":      mathLdexp,
	"log":        mathLog,
	"log10":      mathLog10,
	"max":        mathMax,
	"min":        mathMin,
	"mod":        mathFmod, // Lua 5.1's LUA_COMPAT_MOD alias
	"modf":       mathModf,
	"pow":        mathPow,
	"rad":        mathRad,
	"random":     mathRandom,
	"randomseed": mathRandomseed,
	"sin":        mathSin,
	"sinh":       mathSinh,
	"sqrt":       mathSqrt,
	"tan":        mathTan,
	"tanh":       mathTanh,
}

func mathAbs(L *LState) int {
	L.PushNumber(LNumber(math.Abs(float64(L.CheckNumber(1)))))
	return 1
}

func mathAcos(L *LState) int {
	L.PushNumber(LNumber(math.Acos(float64(L.CheckNumber(1)))))
	return 1
}

func mathAsin(L *LState) int {
	L.PushNumber(LNumber(math.Asin(float64(L.CheckNumber(1)))))
	return 1
}

func mathAtan(L *LState) int {
	L.PushNumber(LNumber(math.Atan(float64(L.CheckNumber(1)))))
	return 1
}

func mathAtan2(L *LState) int {
	y, x := float64(L.CheckNumber(1)), float64(L.CheckNumber(2))
	L.PushNumber(LNumber(domainNaN(math.Atan2(y, x), y, x)))
	return 1
}

func mathCeil(L *LState) int {
	L.PushNumber(LNumber(math.Ceil(float64(L.CheckNumber(1)))))
	return 1
}

func mathCos(L *LState) int {
	L.PushNumber(LNumber(math.Cos(float64(L.CheckNumber(1)))))
	return 1
}

func mathCosh(L *LState) int {
	L.PushNumber(LNumber(math.Cosh(float64(L.CheckNumber(1)))))
	return 1
}

func mathDeg(L *LState) int {
	L.PushNumber(LNumber(float64(L.CheckNumber(1)) * 180 / math.Pi))
	return 1
}

func mathExp(L *LState) int {
	L.PushNumber(LNumber(math.Exp(float64(L.CheckNumber(1)))))
	return 1
}

func mathFloor(L *LState) int {
	L.PushNumber(LNumber(math.Floor(float64(L.CheckNumber(1)))))
	return 1
}

func mathFmod(L *LState) int {
	x, y := float64(L.CheckNumber(1)), float64(L.CheckNumber(2))
	L.PushNumber(LNumber(domainNaN(math.Mod(x, y), x, y)))
	return 1
}

// domainNaN gives a NaN result of a domain error the sign glibc's gives on
// x86-64 ("-nan" when printed), where Go's math functions return a
// positive NaN; a NaN argument passes through as C passes it.
func domainNaN(r float64, args ...float64) float64 {
	if !math.IsNaN(r) {
		return r
	}
	for _, a := range args {
		if math.IsNaN(a) {
			return a
		}
	}
	return math.Copysign(math.NaN(), -1)
}

func mathFrexp(L *LState) int {
	v1, v2 := math.Frexp(float64(L.CheckNumber(1)))
	L.PushNumber(LNumber(v1))
	L.PushNumber(LNumber(v2))
	return 2
}

func mathLdexp(L *LState) int {
	L.PushNumber(LNumber(math.Ldexp(float64(L.CheckNumber(1)), L.CheckInt(2))))
	return 1
}

func mathLog(L *LState) int {
	x := float64(L.CheckNumber(1))
	L.PushNumber(LNumber(domainNaN(math.Log(x), x)))
	return 1
}

func mathLog10(L *LState) int {
	L.PushNumber(LNumber(math.Log10(float64(L.CheckNumber(1)))))
	return 1
}

func mathMax(L *LState) int {
	// No argument is argument #1's error, as Lua's (StructD's fork).
	max := L.CheckNumber(1)
	top := L.GetTop()
	for i := 2; i <= top; i++ {
		v := L.CheckNumber(i)
		if v > max {
			max = v
		}
	}
	L.PushNumber(max)
	return 1
}

func mathMin(L *LState) int {
	// No argument is argument #1's error, as Lua's (StructD's fork).
	min := L.CheckNumber(1)
	top := L.GetTop()
	for i := 2; i <= top; i++ {
		v := L.CheckNumber(i)
		if v < min {
			min = v
		}
	}
	L.PushNumber(min)
	return 1
}

func mathModf(L *LState) int {
	v1, v2 := math.Modf(float64(L.CheckNumber(1)))
	L.PushNumber(LNumber(v1))
	L.PushNumber(LNumber(v2))
	return 2
}

func mathPow(L *LState) int {
	x, y := float64(L.CheckNumber(1)), float64(L.CheckNumber(2))
	L.PushNumber(LNumber(domainNaN(math.Pow(x, y), x, y)))
	return 1
}

func mathRad(L *LState) int {
	L.PushNumber(LNumber(float64(L.CheckNumber(1)) * math.Pi / 180))
	return 1
}

func mathRandom(L *LState) int {
	switch L.GetTop() {
	case 0:
		L.PushNumber(LNumber(rand.Float64()))
	case 1:
		n := L.CheckInt(1)
		L.PushNumber(LNumber(rand.Intn(n) + 1))
	default:
		min := L.CheckInt(1)
		max := L.CheckInt(2) + 1
		L.PushNumber(LNumber(rand.Intn(max-min) + min))
	}
	return 1
}

func mathRandomseed(L *LState) int {
	rand.Seed(L.CheckInt64(1))
	return 0
}

func mathSin(L *LState) int {
	L.PushNumber(LNumber(math.Sin(float64(L.CheckNumber(1)))))
	return 1
}

func mathSinh(L *LState) int {
	L.PushNumber(LNumber(math.Sinh(float64(L.CheckNumber(1)))))
	return 1
}

func mathSqrt(L *LState) int {
	L.PushNumber(LNumber(math.Sqrt(float64(L.CheckNumber(1)))))
	return 1
}

func mathTan(L *LState) int {
	L.PushNumber(LNumber(math.Tan(float64(L.CheckNumber(1)))))
	return 1
}

func mathTanh(L *LState) int {
	L.PushNumber(LNumber(math.Tanh(float64(L.CheckNumber(1)))))
	return 1
}

//
