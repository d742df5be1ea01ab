package scripting

import (
	"math"
	"strconv"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/structd/structd/scripting/lualib"
)

// formatNumber formats f as Lua 5.1's tostring does, C's "%.14g".
func formatNumber(f float64) string { return lualib.FormatNumber(f) }

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

func isRange(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

func floor(f float64) float64 { return math.Floor(f) }

// clockBase anchors monoNow.
var clockBase = time.Now()

// monoNow is a monotonic reading for measuring intervals: one clock read,
// where time.Now reads the wall clock as well.
func monoNow() time.Duration { return time.Since(clockBase) }

// rand48 is Redis's redisLrand48/redisSrand48 (POSIX lrand48): a 48-bit
// linear congruential generator returning 31 bits.
type rand48 struct{ x uint64 }

const rand48Max = math.MaxInt32

func (r *rand48) seed(s int32) { r.x = (uint64(uint32(s))<<16 | 0x330E) & (1<<48 - 1) }

func (r *rand48) next() int64 {
	r.x = (0x5DEECE66D*r.x + 0xB) & (1<<48 - 1)
	return int64(r.x >> 17)
}
