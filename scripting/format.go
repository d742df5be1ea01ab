package scripting

import (
	"fmt"
	"strings"

	lua "github.com/yuin/gopher-lua"

	"github.com/structd/structd/scripting/lualib"
)

// strFormat is Lua 5.1's string.format: C printf conversions (%d %i %o %u
// %c %x %X %e %E %f %g %G %s %q %%) with flags, width and precision, and
// Lua 5.1's error texts.
func strFormat(L *lua.LState) int {
	fs := lualib.CheckString(L, 1)
	var b strings.Builder
	arg := 1
	for i := 0; i < len(fs); i++ {
		c := fs[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(fs) {
			L.RaiseError("%s", "invalid option '%' to 'format'")
		}
		if fs[i] == '%' {
			b.WriteByte('%')
			continue
		}
		start := i
		for i < len(fs) && strings.IndexByte("-+ #0", fs[i]) >= 0 {
			i++
		}
		if i-start > 5 {
			L.RaiseError("invalid format (repeated flags)")
		}
		for k := 0; k < 2 && i < len(fs) && isDigitByte(fs[i]); k++ {
			i++
		}
		if i < len(fs) && fs[i] == '.' {
			i++
			for k := 0; k < 2 && i < len(fs) && isDigitByte(fs[i]); k++ {
				i++
			}
		}
		if i < len(fs) && isDigitByte(fs[i]) {
			L.RaiseError("invalid format (width or precision too long)")
		}
		if i >= len(fs) {
			L.RaiseError("%s", "invalid option '%' to 'format'")
		}
		spec := "%" + fs[start:i]
		conv := fs[i]
		arg++
		if conv != '%' && arg > L.GetTop() && strings.IndexByte("cdiouxXeEfgGqs", conv) >= 0 {
			L.ArgError(arg, "no value")
		}
		switch conv {
		case 'c':
			// One byte, padded; C's sprintf output is cut at its first NUL
			// (Lua 5.1 adds strlen(buff) bytes), so '%c' of 0 adds nothing.
			c := string([]byte{byte(lualib.CastInt64(lualib.CheckNumber(L, arg)))})
			out := fmt.Sprintf(spec+"s", c)
			if nul := strings.IndexByte(out, 0); nul >= 0 {
				out = out[:nul]
			}
			b.WriteString(out)
		case 'd', 'i':
			n := lualib.CastInt64(lualib.CheckNumber(L, arg))
			b.WriteString(fmt.Sprintf(spec+"d", n))
		case 'o', 'u', 'x', 'X':
			n := uint64(lualib.CastInt64(lualib.CheckNumber(L, arg)))
			verb := string(conv)
			if conv == 'u' {
				verb = "d"
			}
			if n == 0 {
				spec = strings.ReplaceAll(spec, "#", "") // C's %#x of 0 is "0", not "0x0"
			}
			b.WriteString(fmt.Sprintf(spec+verb, n))
		case 'e', 'E', 'f', 'g', 'G':
			f := lualib.CheckNumber(L, arg)
			b.WriteString(cFloat(spec, conv, f))
		case 'q':
			b.WriteString(quoteLua(lualib.CheckString(L, arg)))
		case 's':
			// luaL_checklstring: a string or a number, nothing else.
			var str string
			switch v := L.Get(arg).(type) {
			case lua.LString:
				str = string(v)
			case lua.LNumber:
				str = formatNumber(float64(v))
			default:
				L.ArgError(arg, "string expected, got "+v.Type().String())
			}
			if !strings.Contains(spec, ".") && len(str) >= 100 {
				b.WriteString(str) // Lua 5.1 keeps a long string whole, width and all
				break
			}
			// Otherwise C's sprintf formats it, reading up to its first NUL.
			if nul := strings.IndexByte(str, 0); nul >= 0 {
				str = str[:nul]
			}
			b.WriteString(fmt.Sprintf(spec+"s", str))
		default:
			L.RaiseError("invalid option '%%%c' to 'format'", conv)
		}
	}
	L.Push(lua.LString(b.String()))
	return 1
}

// cFloat formats f as C's printf with spec (flags, width, precision) and
// conversion conv, with C's inf/nan spellings.
func cFloat(spec string, conv byte, f float64) string {
	if f != f || f > 1.7976931348623157e308 || f < -1.7976931348623157e308 {
		s := formatNumber(f)
		if conv == 'E' || conv == 'G' {
			s = strings.ToUpper(s)
		}
		return fmt.Sprintf(strings.Split(spec, ".")[0]+"s", s)
	}
	return fmt.Sprintf(spec+string(conv), f)
}

// quoteLua is %q: the string in double quotes with ", \, newline, \r and
// NUL escaped as Lua 5.1 escapes them.
func quoteLua(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\', '\n':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\r':
			b.WriteString(`\r`)
		case 0:
			b.WriteString(`\000`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func isDigitByte(c byte) bool { return c >= '0' && c <= '9' }
