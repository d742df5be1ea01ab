package scripting

import (
	"fmt"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// Lua 5.1 names the variable behind a runtime error ("attempt to index
// local 't' (a nil value)"); gopher-lua does not ("attempt to index a
// non-table object(nil) with key 'x'"). nameRuntimeError recovers the name
// the way Lua's getobjname does, from the failing function's bytecode: the
// instruction of the error's kind on the current line, the register it
// reads, and the local variable, global, field, upvalue or method that
// register holds. The message handler applies it to uncaught errors.

// Instruction fields, as gopher-lua encodes them.
func opCode(i uint32) int { return int(i >> 26) }
func argA(i uint32) int   { return int(i>>18) & 0xff }
func argB(i uint32) int   { return int(i & 0x1ff) }
func argC(i uint32) int   { return int(i>>9) & 0x1ff }
func argBx(i uint32) int  { return int(i & 0x3ffff) }

const rkBit = 1 << 8 // an RK operand with this bit is a constant

var arithOps = map[string]int{
	"add": lua.OP_ADD, "sub": lua.OP_SUB, "mul": lua.OP_MUL, "div": lua.OP_DIV,
	"mod": lua.OP_MOD, "pow": lua.OP_POW, "unm": lua.OP_UNM,
}

// nameRuntimeError rewrites a gopher-lua runtime error raised in frame dbg
// of function fn as Lua 5.1 words it, with the variable's name when it can
// be told; other messages are returned as lua51Message words them.
func (v *vm) nameRuntimeError(L *lua.LState, dbg *lua.Debug, fn *lua.LFunction, msg string) string {
	prefix, body := splitPosition(msg)
	var out string
	switch {
	case strings.HasPrefix(body, "attempt to index a non-table object("):
		out = v.nameIndex(L, dbg, fn, body)
	case strings.HasPrefix(body, "attempt to call a ") && strings.HasSuffix(body, " value"):
		out = v.nameCall(L, dbg, fn, strings.TrimSuffix(strings.TrimPrefix(body, "attempt to call a "), " value"))
	case strings.HasPrefix(body, "cannot perform "):
		out = v.nameOperation(L, dbg, fn, body)
	case strings.HasPrefix(body, "attempt to get length of a "):
		out = v.nameUnary(L, dbg, fn, lua.OP_LEN, "get length of", typeOf(body))
	case strings.HasPrefix(body, "attempt to perform arithmetic on a "):
		out = v.nameUnary(L, dbg, fn, lua.OP_UNM, "perform arithmetic on", typeOf(body))
	}
	if out == "" {
		return lua51Message(msg)
	}
	return prefix + out
}

// splitPosition splits "user_script:1: text" into its position prefix and
// the text.
func splitPosition(msg string) (string, string) {
	i := strings.Index(msg, ": ")
	if i < 0 || !strings.Contains(msg[:i], ":") {
		return "", msg
	}
	return msg[:i+2], msg[i+2:]
}

// failingCode returns the indexes of fn's instructions that may have raised
// the error of frame dbg: the one the frame was running when it is known
// and has one of ops, else those with one of ops on its line.
func failingCode(fn *lua.LFunction, dbg *lua.Debug, ops ...int) []int {
	if pc := dbg.CurrentPC; pc >= 0 && pc < len(fn.Proto.Code) {
		for _, op := range ops {
			if opCode(fn.Proto.Code[pc]) == op {
				return []int{pc}
			}
		}
	}
	return lineCode(fn, dbg.CurrentLine, ops...)
}

// lineCode returns the indexes of fn's instructions on line with one of ops.
func lineCode(fn *lua.LFunction, line int, ops ...int) []int {
	var pcs []int
	p := fn.Proto
	for pc, inst := range p.Code {
		if pc < len(p.DbgSourcePositions) && p.DbgSourcePositions[pc] == line {
			for _, op := range ops {
				if opCode(inst) == op {
					pcs = append(pcs, pc)
				}
			}
		}
	}
	return pcs
}

func (v *vm) nameIndex(L *lua.LState, dbg *lua.Debug, fn *lua.LFunction, body string) string {
	var typ, key string
	rest := strings.TrimPrefix(body, "attempt to index a non-table object(")
	i := strings.Index(rest, ") with key '")
	if i < 0 {
		return ""
	}
	typ, key = rest[:i], strings.TrimSuffix(rest[i+len(") with key '"):], "'")
	p := fn.Proto
	for _, pc := range failingCode(fn, dbg, lua.OP_GETTABLE, lua.OP_GETTABLEKS, lua.OP_SELF, lua.OP_SETTABLE, lua.OP_SETTABLEKS) {
		inst := p.Code[pc]
		reg, k := argB(inst), argC(inst)
		if op := opCode(inst); op == lua.OP_SETTABLE || op == lua.OP_SETTABLEKS {
			reg, k = argA(inst), argB(inst)
		}
		if k&rkBit != 0 && k&^rkBit < len(p.Constants) && p.Constants[k&^rkBit].String() != key {
			continue
		}
		if name, _ := v.objName(L, dbg, fn, pc, reg); name != "" {
			return fmt.Sprintf("attempt to index %s (a %s value)", name, typ)
		}
		break
	}
	return "attempt to index a " + typ + " value"
}

// nameCall names the called value of type typ (gopher-lua's message
// gives it).
func (v *vm) nameCall(L *lua.LState, dbg *lua.Debug, fn *lua.LFunction, typ string) string {
	pcs := failingCode(fn, dbg, lua.OP_CALL, lua.OP_TAILCALL, lua.OP_TFORLOOP)
	if len(pcs) == 0 {
		return ""
	}
	inst := fn.Proto.Code[pcs[0]]
	if opCode(inst) == lua.OP_TFORLOOP {
		// A generic for calls a copy of its generator, which no
		// variable names.
		return ""
	}
	if name, _ := v.objName(L, dbg, fn, pcs[0], argA(inst)); name != "" {
		return fmt.Sprintf("attempt to call %s (a %s value)", name, typ)
	}
	return ""
}

// typeOf is the type in gopher-lua's "attempt to ... a <type> value".
func typeOf(body string) string {
	body = strings.TrimSuffix(body, " value")
	return body[strings.LastIndexByte(body, ' ')+1:]
}

// nameUnary names the operand, of type typ, of a failed # or unary minus.
func (v *vm) nameUnary(L *lua.LState, dbg *lua.Debug, fn *lua.LFunction, op int, verb, typ string) string {
	pcs := failingCode(fn, dbg, op)
	if len(pcs) == 0 {
		return ""
	}
	if name, _ := v.objName(L, dbg, fn, pcs[0], argB(fn.Proto.Code[pcs[0]])); name != "" {
		return fmt.Sprintf("attempt to %s %s (a %s value)", verb, name, typ)
	}
	return ""
}

// nameOperation names the operand of a failed arithmetic or concatenation
// ("cannot perform add operation between nil and number").
func (v *vm) nameOperation(L *lua.LState, dbg *lua.Debug, fn *lua.LFunction, body string) string {
	var op, a, b string
	if _, err := fmt.Sscanf(strings.TrimPrefix(body, "cannot perform "), "%s operation between %s and %s", &op, &a, &b); err != nil {
		return ""
	}
	verb, bad, second := "perform arithmetic on", a, a == "number"
	opc, ok := arithOps[op]
	if op == "concat" {
		verb, opc, ok = "concatenate", lua.OP_CONCAT, true
		second = a == "string" || a == "number"
	}
	if !ok {
		return ""
	}
	if second {
		bad = b
	}
	pcs := failingCode(fn, dbg, opc)
	if len(pcs) == 1 {
		inst := fn.Proto.Code[pcs[0]]
		reg := argB(inst)
		switch {
		case op == "concat" && second:
			reg = argC(inst)
		case op == "concat":
			reg = argC(inst) - 1
		case second:
			reg = argC(inst)
		}
		if reg&rkBit == 0 {
			if name, _ := v.objName(L, dbg, fn, pcs[0], reg); name != "" {
				return fmt.Sprintf("attempt to %s %s (a %s value)", verb, name, bad)
			}
		}
	}
	return "attempt to " + verb + " a " + bad + " value"
}

// objName is Lua 5.1's getobjname: what register reg holds at pc ("local
// 'x'", "global 'x'", "field 'x'", "upvalue 'x'", "method 'x'", or "") and,
// when it can be read, its value.
func (v *vm) objName(L *lua.LState, dbg *lua.Debug, fn *lua.LFunction, pc, reg int) (string, lua.LValue) {
	for depth := 0; depth < 8; depth++ {
		if name := localName(fn.Proto, reg, pc); name != "" {
			_, val := L.GetLocal(dbg, reg+1)
			return "local '" + name + "'", val
		}
		p := fn.Proto
		setter := lastSetter(p, pc, reg)
		if setter < 0 {
			return "", nil
		}
		inst := p.Code[setter]
		// kname is Lua's: a constant string key's value, else "?".
		kname := func(rk int) string {
			if k := rk &^ rkBit; rk&rkBit != 0 && k < len(p.Constants) {
				if s, ok := p.Constants[k].(lua.LString); ok {
					return string(s)
				}
			}
			return "?"
		}
		switch opCode(inst) {
		case lua.OP_MOVE:
			if b := argB(inst); b < reg {
				pc, reg = setter, b
				continue
			}
		case lua.OP_GETGLOBAL:
			name := kname(argBx(inst) | rkBit)
			return "global '" + name + "'", v.globals.RawGetString(name)
		case lua.OP_GETTABLEKS, lua.OP_GETTABLE:
			return "field '" + kname(constantKey(p, setter, argC(inst))) + "'", nil
		case lua.OP_GETUPVAL:
			if b := argB(inst); b < len(p.DbgUpvalues) {
				return "upvalue '" + p.DbgUpvalues[b] + "'", nil
			}
		case lua.OP_SELF:
			return "method '" + kname(argC(inst)) + "'", nil
		}
		return "", nil
	}
	return "", nil
}

// constantKey is the RK operand rk of the instruction at pc, turned into
// a constant when it is a temporary register a LOADK filled: where Lua's
// compiler names a constant key in the instruction, gopher-lua's sometimes
// loads it into a register first (t.x .. 'a').
func constantKey(p *lua.FunctionProto, pc, rk int) int {
	if rk&rkBit != 0 || localName(p, rk, pc) != "" {
		return rk
	}
	if i := lastSetter(p, pc, rk); i >= 0 && opCode(p.Code[i]) == lua.OP_LOADK {
		return argBx(p.Code[i]) | rkBit
	}
	return rk
}

// lastSetter is the index of the last instruction before pc that stores
// into register reg, or -1.
func lastSetter(p *lua.FunctionProto, pc, reg int) int {
	for i := pc - 1; i >= 0; i-- {
		if writesA(p.Code[i]) && argA(p.Code[i]) == reg {
			return i
		}
	}
	return -1
}

// localName is the local variable held by register reg at pc, or "": the
// n-th local active at pc lives in register n-1.
func localName(p *lua.FunctionProto, reg, pc int) string {
	n := 0
	for _, l := range p.DbgLocals {
		if l.StartPc <= pc && pc < l.EndPc {
			if n == reg {
				return l.Name
			}
			n++
		}
	}
	return ""
}

// writesA reports whether inst stores into its register A.
func writesA(inst uint32) bool {
	switch opCode(inst) {
	case lua.OP_SETGLOBAL, lua.OP_SETUPVAL, lua.OP_SETTABLE, lua.OP_SETTABLEKS, lua.OP_JMP,
		lua.OP_EQ, lua.OP_LT, lua.OP_LE, lua.OP_TEST, lua.OP_RETURN:
		return false
	}
	return true
}
