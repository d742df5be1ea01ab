package scripting

import (
	lua "github.com/yuin/gopher-lua"

	"github.com/structd/structd/scripting/lualib"
)

// tabSort is Lua 5.1's table.sort, the same quicksort (ltablib.c's
// auxsort) so that elements that compare equal end in the same order as
// in Redis, with its error texts ("attempt to compare string with number",
// "invalid order function for sorting"), raised without a position as
// Lua raises them from inside sort.
func tabSort(L *lua.LState) int {
	t, ok := L.Get(1).(*lua.LTable)
	if !ok {
		L.ArgError(1, "table expected, got "+lualib.TypeName(L, 1))
	}
	var cmp *lua.LFunction
	switch f := L.Get(2).(type) {
	case *lua.LFunction:
		cmp = f
	case *lua.LNilType:
	default:
		L.ArgError(2, "function expected, got "+f.Type().String())
	}
	s := &sorter{L: L, t: t, cmp: cmp}
	s.sort(1, t.Len())
	return 0
}

type sorter struct {
	L   *lua.LState
	t   *lua.LTable
	cmp *lua.LFunction
}

func (s *sorter) get(i int) lua.LValue { return s.t.RawGetInt(i) }

func (s *sorter) swap(i, j int) {
	a, b := s.t.RawGetInt(i), s.t.RawGetInt(j)
	s.t.RawSetInt(i, b)
	s.t.RawSetInt(j, a)
}

// less is sort_comp: the order function, or lua_lessthan.
func (s *sorter) less(a, b lua.LValue) bool {
	L := s.L
	if s.cmp != nil {
		return callBool(L, s.cmp, a, b)
	}
	switch x := a.(type) {
	case lua.LNumber:
		if y, ok := b.(lua.LNumber); ok {
			return x < y
		}
	case lua.LString:
		if y, ok := b.(lua.LString); ok {
			return x < y
		}
	}
	tm1 := L.GetMetaField(a, "__lt")
	if tm1 != lua.LNil && a.Type() == b.Type() && L.GetMetaField(b, "__lt") == tm1 {
		return callBool(L, tm1, a, b)
	}
	t1, t2 := a.Type().String(), b.Type().String()
	if t1 == t2 {
		L.Error(lua.LString("attempt to compare two "+t1+" values"), 0)
	}
	L.Error(lua.LString("attempt to compare "+t1+" with "+t2), 0)
	return false
}

// callBool calls f(a, b) and returns its result's truth.
func callBool(L *lua.LState, f, a, b lua.LValue) bool {
	L.Push(f)
	L.Push(a)
	L.Push(b)
	L.Call(2, 1)
	r := L.Get(-1)
	L.Pop(1)
	return lua.LVAsBool(r)
}

// sort is auxsort over t[l..u].
func (s *sorter) sort(l, u int) {
	for l < u {
		if s.less(s.get(u), s.get(l)) {
			s.swap(l, u)
		}
		if u-l == 1 {
			break
		}
		i := (l + u) / 2
		if s.less(s.get(i), s.get(l)) {
			s.swap(i, l)
		} else if s.less(s.get(u), s.get(i)) {
			s.swap(i, u)
		}
		if u-l == 2 {
			break
		}
		p := s.get(i)
		s.swap(i, u-1)
		i, j := l, u-1
		for {
			for i++; s.less(s.get(i), p); i++ {
				if i > u {
					s.L.RaiseError("invalid order function for sorting")
				}
			}
			for j--; s.less(p, s.get(j)); j-- {
				if j < l {
					s.L.RaiseError("invalid order function for sorting")
				}
			}
			if j < i {
				break
			}
			s.swap(i, j)
		}
		s.swap(u-1, i)
		if i-l < u-i {
			j, i, l = l, i-1, i+1
		} else {
			j, i, u = i+1, u, i-1
		}
		s.sort(j, i)
	}
}

// patternChecked wraps a string library function taking a pattern as its
// second argument so that a malformed pattern fails with Lua 5.1's text
// (gopher-lua says "unexpected EOS"). plainArg, if not 0, is the argument
// that makes string.find match literally.
func patternChecked(orig *lua.LFunction, plainArg int) lua.LGFunction {
	return func(L *lua.LState) int {
		if p, ok := L.Get(2).(lua.LString); ok && (plainArg == 0 || !lua.LVAsBool(L.Get(plainArg))) {
			if msg := malformedPattern(string(p)); msg != "" {
				L.RaiseError("%s", msg)
			}
		}
		return callThrough(L, orig)
	}
}

// callThrough calls orig with the current arguments and returns all its
// results, for wrappers of library functions. A Go function without
// upvalues runs in the wrapper's own call frame, so its argument errors
// name the function the script called ("bad argument #1 to
// 'setmetatable'", not '?'); a closure must run as itself to see its
// upvalues.
func callThrough(L *lua.LState, orig *lua.LFunction) int {
	if orig.IsG && len(orig.Upvalues) == 0 {
		return orig.GFunction(L)
	}
	n := L.GetTop()
	L.Insert(orig, 1)
	L.Call(n, lua.MultRet)
	return L.GetTop()
}

// malformedPattern returns Lua 5.1's error for a pattern that ends inside
// an escape or a set, or "".
func malformedPattern(p string) string {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '%':
			if i+1 >= len(p) {
				return "malformed pattern (ends with '%')"
			}
			i++
		case '[':
			j := i + 1
			if j < len(p) && p[j] == '^' {
				j++
			}
			for first := true; ; first = false {
				if j >= len(p) {
					return "malformed pattern (missing ']')"
				}
				c := p[j]
				j++
				if c == ']' && !first {
					break
				}
				if c == '%' {
					if j >= len(p) {
						return "malformed pattern (missing ']')"
					}
					j++
				}
			}
			i = j - 1
		}
	}
	return ""
}
