package lualib

import (
	"fmt"

	lua "github.com/yuin/gopher-lua"
)

// cjsonConfig is one cjson instance's settings (lua-cjson's json_config_t),
// with the defaults Redis 7.0 reports. Each table from NewCJSON or cjson.new
// has its own.
type cjsonConfig struct {
	sparseConvert         bool
	sparseRatio           int
	sparseSafe            int
	encodeMaxDepth        int
	decodeMaxDepth        int
	encodeNumberPrecision int
	encodeKeepBuffer      bool
	encodeInvalidNumbers  int // 0 off, 1 on, 2 "null"
	decodeInvalidNumbers  bool
	null                  *lua.LUserData // cjson.null, what decode gives for null
}

type cjsonLib struct{ cfg *cjsonConfig }

// NewCJSON returns the cjson table (lua-cjson 2.1.0 as in Redis): encode,
// decode, the settings functions, new, null, _NAME and _VERSION. cjson.null
// is a userdata that every decode of a JSON null returns and encode writes as
// null; it is shared by the tables cjson.new makes from this one.
func NewCJSON(L *lua.LState) *lua.LTable {
	null := L.NewUserData()
	// Redis's cjson.null is a NULL lightuserdata, which prints as below.
	mt := L.CreateTable(0, 1)
	mt.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LString("userdata: (nil)"))
		return 1
	}))
	null.Metatable = mt
	return newCJSON(L, null)
}

func newCJSON(L *lua.LState, null *lua.LUserData) *lua.LTable {
	c := &cjsonLib{cfg: &cjsonConfig{
		sparseRatio:           2,
		sparseSafe:            10,
		encodeMaxDepth:        1000,
		decodeMaxDepth:        1000,
		encodeNumberPrecision: 14,
		encodeKeepBuffer:      true,
		decodeInvalidNumbers:  true,
		null:                  null,
	}}
	t := newLib(L, map[string]lua.LGFunction{
		"encode":                  c.encode,
		"decode":                  c.decode,
		"encode_sparse_array":     c.encodeSparseArray,
		"encode_max_depth":        c.intOption(&c.cfg.encodeMaxDepth, 1, structIntMax),
		"decode_max_depth":        c.intOption(&c.cfg.decodeMaxDepth, 1, structIntMax),
		"encode_number_precision": c.intOption(&c.cfg.encodeNumberPrecision, 1, 14),
		"encode_keep_buffer":      c.encodeKeepBuffer,
		"encode_invalid_numbers":  c.encodeInvalidNumbers,
		"decode_invalid_numbers":  c.decodeInvalidNumbers,
		"new": func(L *lua.LState) int {
			L.Push(newCJSON(L, null))
			return 1
		},
	})
	t.RawSetString("null", null)
	t.RawSetString("_NAME", lua.LString("cjson"))
	t.RawSetString("_VERSION", lua.LString("2.1.0"))
	return t
}

// argsInit is json_arg_init: at most n arguments, padded with nils to n so
// that the results pushed next do not read as arguments.
func argsInit(L *lua.LState, n int) {
	if L.GetTop() > n {
		L.ArgError(n+1, "found too many arguments")
	}
	for L.GetTop() < n {
		L.Push(lua.LNil)
	}
}

// intOption is json_integer_option for a one-argument setting function.
func (c *cjsonLib) intOption(setting *int, lo, hi int) lua.LGFunction {
	return func(L *lua.LState) int {
		argsInit(L, 1)
		c.setInt(L, 1, setting, lo, hi)
		return 1
	}
}

func (c *cjsonLib) setInt(L *lua.LState, n int, setting *int, lo, hi int) {
	if L.Get(n) != lua.LNil {
		v := int(int32(checkInteger(L, n))) // stored in a C int
		if v < lo || v > hi {
			// The C names argument 1 whichever option is wrong.
			L.ArgError(1, fmt.Sprintf("expected integer between %d and %d", lo, hi))
		}
		*setting = v
	}
	L.Push(lua.LNumber(*setting))
}

// enumOption is json_enum_option: a boolean, or one of options by name;
// it pushes the setting back as a boolean when it is 0 or boolTrue, else
// by name.
func enumOption(L *lua.LState, n int, setting *int, options []string, boolTrue int) {
	if options == nil {
		options, boolTrue = []string{"off", "on"}, 1
	}
	if v := L.Get(n); v != lua.LNil {
		if b, ok := v.(lua.LBool); ok && boolTrue != 0 {
			*setting = 0
			if b {
				*setting = boolTrue
			}
		} else {
			*setting = checkOption(L, n, options)
		}
	}
	if boolTrue != 0 && (*setting == 0 || *setting == boolTrue) {
		L.Push(lua.LBool(*setting != 0))
	} else {
		L.Push(lua.LString(options[*setting]))
	}
}

// checkOption is luaL_checkoption without a default.
func checkOption(L *lua.LState, n int, options []string) int {
	name := CheckString(L, n)
	for i, o := range options {
		if o == name {
			return i
		}
	}
	L.ArgError(n, fmt.Sprintf("invalid option '%s'", name))
	return 0
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (c *cjsonLib) encodeSparseArray(L *lua.LState) int {
	argsInit(L, 3)
	conv := boolInt(c.cfg.sparseConvert)
	enumOption(L, 1, &conv, nil, 1)
	c.cfg.sparseConvert = conv != 0
	c.setInt(L, 2, &c.cfg.sparseRatio, 0, structIntMax)
	c.setInt(L, 3, &c.cfg.sparseSafe, 0, structIntMax)
	return 3
}

// encodeKeepBuffer only records the setting: the Go encoder builds each
// result in a fresh buffer either way.
func (c *cjsonLib) encodeKeepBuffer(L *lua.LState) int {
	argsInit(L, 1)
	v := boolInt(c.cfg.encodeKeepBuffer)
	enumOption(L, 1, &v, nil, 1)
	c.cfg.encodeKeepBuffer = v != 0
	return 1
}

func (c *cjsonLib) encodeInvalidNumbers(L *lua.LState) int {
	argsInit(L, 1)
	enumOption(L, 1, &c.cfg.encodeInvalidNumbers, []string{"off", "on", "null"}, 1)
	return 1
}

func (c *cjsonLib) decodeInvalidNumbers(L *lua.LState) int {
	argsInit(L, 1)
	v := boolInt(c.cfg.decodeInvalidNumbers)
	enumOption(L, 1, &v, []string{"off", "on"}, 1)
	c.cfg.decodeInvalidNumbers = v != 0
	return 1
}
