package lualib

import (
	"math"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// jsonEscape maps each byte to its JSON escape, "" for bytes copied as is:
// control characters, '"', '\\', '/' and DEL are escaped (cjson's char2escape).
var jsonEscape = func() [256]string {
	var t [256]string
	const hex = "0123456789abcdef"
	for c := 0; c < 0x20; c++ {
		t[c] = `\u00` + string(hex[c>>4]) + string(hex[c&15])
	}
	t['\b'], t['\t'], t['\n'], t['\f'], t['\r'] = `\b`, `\t`, `\n`, `\f`, `\r`
	t['"'], t['\\'], t['/'], t[0x7f] = `\"`, `\\`, `\/`, `\u007f`
	return t
}()

// jsonEncoder holds one cjson.encode call.
type jsonEncoder struct {
	L   *lua.LState
	cfg *cjsonConfig
	buf strings.Builder
}

func (c *cjsonLib) encode(L *lua.LState) int {
	if L.GetTop() != 1 {
		L.ArgError(1, "expected 1 argument")
	}
	e := &jsonEncoder{L: L, cfg: c.cfg}
	// The value is the one slot on the C stack; each level adds to it.
	e.value(L.Get(1), 0, 1)
	L.Push(lua.LString(e.buf.String()))
	return 1
}

func (e *jsonEncoder) fail(typ, reason string) {
	raise(e.L, "Cannot serialise %s: %s", typ, reason)
}

// value is json_append_data; top simulates the Lua stack of the C encoder.
func (e *jsonEncoder) value(v lua.LValue, depth, top int) {
	if e.buf.Len() > MaxOutputBytes {
		raise(e.L, "Cannot serialise, output larger than %d bytes", MaxOutputBytes)
	}
	switch x := v.(type) {
	case lua.LString:
		e.str(string(x))
	case lua.LNumber:
		e.number(float64(x))
	case lua.LBool:
		if x {
			e.buf.WriteString("true")
		} else {
			e.buf.WriteString("false")
		}
	case *lua.LNilType:
		e.buf.WriteString("null")
	case *lua.LTable:
		depth++
		if depth > e.cfg.encodeMaxDepth || top+3 > maxCStack {
			raise(e.L, "Cannot serialise, excessive nesting (%d)", depth)
		}
		n := e.arrayLength(x)
		if n > 0 {
			e.array(x, n, depth, top)
		} else {
			e.object(x, depth, top)
		}
	case *lua.LUserData:
		if x == e.cfg.null {
			e.buf.WriteString("null")
			return
		}
		e.fail("userdata", "type not supported")
	default:
		e.fail(v.Type().String(), "type not supported")
	}
}

// number is json_append_number.
func (e *jsonEncoder) number(f float64) {
	bad := math.IsInf(f, 0) || f != f
	switch e.cfg.encodeInvalidNumbers {
	case 0:
		if bad {
			e.fail("number", "must not be NaN or Inf")
		}
	case 1:
		if f != f {
			e.buf.WriteString("nan")
			return
		}
	default:
		if bad {
			e.buf.WriteString("null")
			return
		}
	}
	e.buf.WriteString(formatG(f, e.cfg.encodeNumberPrecision))
}

func (e *jsonEncoder) str(s string) {
	e.buf.WriteByte('"')
	start := 0
	for i := 0; i < len(s); i++ {
		if esc := jsonEscape[s[i]]; esc != "" {
			e.buf.WriteString(s[start:i])
			e.buf.WriteString(esc)
			start = i + 1
		}
	}
	e.buf.WriteString(s[start:])
	e.buf.WriteByte('"')
}

// arrayLength is lua_array_length: the largest key when every key is an
// integer >= 1 (0 for an empty table), or -1 to encode as an object.
func (e *jsonEncoder) arrayLength(t *lua.LTable) int {
	maxKey, items := 0.0, 0
	for k, _ := t.Next(lua.LNil); k != lua.LNil; k, _ = t.Next(k) {
		n, ok := k.(lua.LNumber)
		f := float64(n)
		if !ok || f < 1 || math.Floor(f) != f {
			return -1
		}
		if f > maxKey {
			maxKey = f
		}
		items++
	}
	cfg := e.cfg
	if cfg.sparseRatio > 0 && maxKey > float64(items)*float64(cfg.sparseRatio) && maxKey > float64(cfg.sparseSafe) {
		if !cfg.sparseConvert {
			e.fail("table", "excessively sparse array")
		}
		return -1
	}
	// The C stores the maximum in an int.
	return int(int32(CastInt64(maxKey)))
}

func (e *jsonEncoder) array(t *lua.LTable, n, depth, top int) {
	e.buf.WriteByte('[')
	for i := 1; i <= n; i++ {
		if i > 1 {
			e.buf.WriteByte(',')
		}
		e.value(t.RawGetInt(i), depth, top+1)
	}
	e.buf.WriteByte(']')
}

func (e *jsonEncoder) object(t *lua.LTable, depth, top int) {
	e.buf.WriteByte('{')
	for i, k := range NextOrder(t) {
		if i > 0 {
			e.buf.WriteByte(',')
		}
		switch key := k.(type) {
		case lua.LNumber:
			e.buf.WriteByte('"')
			e.number(float64(key))
			e.buf.WriteString(`":`)
		case lua.LString:
			e.str(string(key))
			e.buf.WriteByte(':')
		default:
			e.fail(k.Type().String(), "table key must be a number or string")
		}
		e.value(t.RawGet(k), depth, top+2)
	}
	e.buf.WriteByte('}')
}
